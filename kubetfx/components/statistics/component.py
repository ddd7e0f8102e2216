"""KFP wrapper of statistics (StatisticsGen)."""

from kfp.dsl import HTML, Artifact, Dataset, Input, Output


def statistics(
    config: str, examples: Input[Dataset], statistics: Output[Artifact], view: Output[HTML]
) -> None:
    from kubetfx.components import fileio
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.statistics import core
    from kubetfx.components.step_process import skip_gc_at_exit

    skip_gc_at_exit()
    cfg = PipelineConfig.from_json(config)
    splits = list(cfg.ingest.splits)
    paths = core.run(
        examples_uri=cfg.beam_location("statistics", examples),
        splits=splits,
        output_uri=cfg.beam_location("statistics", statistics),
        beam_args=cfg.beam_args_for("statistics", fileio.tree_size(examples.path)),
    )
    page = core.render_html(stats_by_split=paths, title=f"Statistics: {cfg.data.name}")
    fileio.write_text(view.path, page)
    statistics.metadata.update({"tfx_type": "ExampleStatistics", "split_names": splits})
