"""Shared by the modeling and serving tests: the pipeline's stages run in-process."""

from __future__ import annotations

import os

from kubetfx.components.config import PipelineConfig
from kubetfx.components.ingest import core as ingest
from kubetfx.components.schema import core as schema
from kubetfx.components.statistics import core as statistics
from kubetfx.components.train import core as train_core
from kubetfx.components.transform import core as transform
from tests.conftest import FAST_BEAM

SPLITS = ["train", "eval"]


def prepare(root, cfg: PipelineConfig) -> dict:
    """ingest -> statistics -> schema -> transform, as the pipeline does; the artifact paths."""
    paths = {k: str(root / k) for k in ("examples", "stats", "schema", "graph", "transformed")}
    ingest.run(data=cfg.data, ingest=cfg.ingest, output_uri=paths["examples"])
    statistics.run(
        examples_uri=paths["examples"],
        splits=SPLITS,
        output_uri=paths["stats"],
        beam_args=FAST_BEAM,
    )
    schema.run(
        stats_paths={split: statistics.stats_path(paths["stats"], split) for split in SPLITS},
        label=cfg.data.label,
        cfg=cfg.schema_,
        reference_schema=None,  # a fresh dataset: inferred
        output_uri=paths["schema"],
    )
    task = transform.resolve_task(paths["examples"], cfg.data.label, cfg.train.task, cfg.transform)
    transform.run(
        examples_uri=paths["examples"],
        schema_path=os.path.join(paths["schema"], schema.SCHEMA_FILE),
        splits=SPLITS,
        task=task,
        label=cfg.data.label,
        cfg=cfg.transform,
        graph_uri=paths["graph"],
        transformed_uri=paths["transformed"],
        beam_args=FAST_BEAM,
    )
    return paths


def train(cfg: PipelineConfig, paths: dict, name: str) -> str:
    model_dir = os.path.join(os.path.dirname(paths["examples"]), name)
    train_core.run_from_artifacts(
        cfg=cfg,
        transformed_uri=paths["transformed"],
        graph_uri=paths["graph"],
        schema_uri=paths["schema"],
        model_dir=model_dir,
        model_run_dir=model_dir + "-logs",
    )
    return model_dir
