"""KFP wrapper of statistics (StatisticsGen)."""

from kfp.dsl import HTML, Artifact, Dataset, Input, Output


def statistics(
    config: str, examples: Input[Dataset], statistics: Output[Artifact], view: Output[HTML]
) -> None:
    from kubetfx.components import fileio
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.statistics import core

    cfg = PipelineConfig.from_json(config)
    splits = list(cfg.ingest.splits)
    paths = core.run(
        examples.path,
        splits,
        statistics.path,
        cfg.beam_args_for("statistics", fileio.tree_size(examples.path)),
    )
    fileio.write_text(view.path, core.render_html(paths, f"Statistics: {cfg.data.name}"))
    statistics.metadata.update({"tfx_type": "ExampleStatistics", "split_names": splits})
