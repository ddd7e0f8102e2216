"""StatisticsGen: TFDV statistics of every split in one Beam pipeline, plus an HTML view."""

from __future__ import annotations

from kubetfx.components import fileio
from kubetfx.components.statistics import html

STATS_FILE = "FeatureStats.pb"


def split_dir(uri: str, split: str) -> str:
    return fileio.join(uri, f"Split-{split}")


def stats_path(uri: str, split: str) -> str:
    return fileio.join(split_dir(uri, split), STATS_FILE)


def examples_pattern(examples_uri: str, split: str) -> str:
    return fileio.join(split_dir(examples_uri, split), "*.gz")


def run(
    examples_uri: str, splits: list[str], output_uri: str, beam_args: list[str]
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


def load(path: str):
    """A DatasetFeatureStatisticsList from a FeatureStats.pb file."""
    import tensorflow_data_validation as tfdv

    return tfdv.load_stats_binary(path)


def render_html(stats_by_split: dict[str, str], title: str) -> str:
    """A self-contained HTML page comparing the splits' statistics (no CDN)."""
    return html.render({split: load(path) for split, path in stats_by_split.items()}, title)
