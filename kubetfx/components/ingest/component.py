"""KFP wrapper of ingest (ExampleGen). The body runs inside the component image or venv."""

from kfp.dsl import Dataset, Output


def ingest(config: str, examples: Output[Dataset]) -> None:
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.ingest import core

    cfg = PipelineConfig.from_json(config)
    result = core.run(data=cfg.data, ingest=cfg.ingest, output_uri=examples.path)
    examples.metadata.update(
        {
            "tfx_type": "Examples",
            "split_names": list(result.rows),
            "rows": result.rows,
            "span": result.span if result.span is not None else -1,
            "fingerprint": result.fingerprint,
            "input_files": result.files[:20],
        }
    )
