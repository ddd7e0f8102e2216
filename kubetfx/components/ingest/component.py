"""KFP wrappers of ingest (ExampleGen) and of the step that fingerprints its input. The bodies
run inside the component image or venv."""

from kfp.dsl import Dataset, Output


def data_fingerprint(config: str) -> str:
    """What ingest will read (span, files, sizes, write times), taken when the run starts. On
    a cluster this step is never cached and ingest takes its answer as an input, so ingest's
    cache key changes with the data (TFX ExampleGen's driver does the same)."""
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.ingest import core

    return core.data_fingerprint(path=PipelineConfig.from_json(config).data.path)


def ingest(config: str, examples: Output[Dataset], data_fingerprint: str = "") -> None:
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.ingest import core
    from kubetfx.components.step_process import skip_gc_at_exit

    skip_gc_at_exit()
    cfg = PipelineConfig.from_json(config)
    result = core.run(data=cfg.data, ingest=cfg.ingest, output_uri=examples.path)
    examples.metadata.update(
        {
            "tfx_type": "Examples",
            "split_names": list(result.rows),
            "rows": result.rows,
            "span": result.span if result.span is not None else -1,
            "fingerprint": result.fingerprint,
            "data_fingerprint": data_fingerprint,  # as the run started (cluster targets)
            "input_files": result.files[:20],
        }
    )
