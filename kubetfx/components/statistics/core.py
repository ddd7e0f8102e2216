"""StatisticsGen: TFDV statistics of every split in one Beam pipeline, plus an HTML view."""

from __future__ import annotations

from kubetfx.components import fileio
from kubetfx.components import stats_html as html
from kubetfx.components.contracts import STATS_FILE, examples_pattern, split_dir, stats_path
from kubetfx.components.contracts import load_statistics as load

__all__ = [
    "STATS_FILE",
    "examples_pattern",
    "load",
    "render_html",
    "run",
    "split_dir",
    "stats_path",
]


def run(
    *, examples_uri: str, splits: list[str], output_uri: str, beam_args: list[str]
) -> dict[str, str]:
    """Write {output_uri}/Split-{split}/FeatureStats.pb for each split; return the paths."""
    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    from apache_beam.options.pipeline_options import PipelineOptions
    from tfx_bsl.public import tfxio

    outputs = {split: stats_path(output_uri, split) for split in splits}
    for split in splits:
        fileio.makedirs(split_dir(output_uri, split))
    options = tfdv.StatsOptions()
    # One Beam pipeline for all splits: start-up is paid once, not per split.
    with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
        for split in splits:
            source = tfxio.TFExampleRecord(
                file_pattern=examples_pattern(examples_uri, split),
                telemetry_descriptors=["kubetfx", "statistics"],
            )
            _ = (
                pipeline
                | f"Read[{split}]" >> source.BeamSource()
                | f"Stats[{split}]" >> tfdv.GenerateStatistics(options)
                | f"Write[{split}]" >> tfdv.WriteStatisticsToBinaryFile(outputs[split])
            )
    return outputs


def render_html(stats_by_split: dict[str, str], title: str) -> str:
    """A self-contained HTML page comparing the splits' statistics (no CDN)."""
    return html.render({split: load(path) for split, path in stats_by_split.items()}, title)
