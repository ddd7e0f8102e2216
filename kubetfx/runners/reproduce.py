"""`kubetfx run --reproduce RUN`: run a finished run again, with the config it recorded, on the
same data, and check that the model it trains answers as the recorded one did.

Refused before any step starts (exit 2, one line) when the run recorded no config or when the
data's fingerprint (the files, their sizes and modification times, as ingest records them)
differs from the run's: a rerun on other data reproduces nothing. Training is deterministic
(train.deterministic), so the new model's predictions on the recorded run's eval examples
must equal the recorded model's within TOLERANCE.
"""

from __future__ import annotations

import json

import numpy as np

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.contracts import INGEST_FILE
from kubetfx.errors import ConfigError, DataError, RunNotFound
from kubetfx.pipelines.artifacts import Run, open_run

TOLERANCE = 1e-5


def recorded(root: str, name: str) -> tuple[PipelineConfig, Run]:
    """The run and the config it ran with; ConfigError when it kept none."""
    try:
        run = open_run(root, name)
    except RunNotFound as e:  # a wrong flag: exit 2, like every other bad flag
        raise ConfigError(f"--reproduce: {e}") from e
    body = run.config()
    if body is None:
        raise ConfigError(
            f"--reproduce: run {run.name!r} recorded no config (runs before kubetfx kept "
            "config.json); rerun it with the same --config and flags instead"
        )
    return PipelineConfig.model_validate(body), run


def check_data(run: Run, cfg: PipelineConfig) -> None:
    """DataError naming what changed when data.path no longer holds the run's data."""
    from kubetfx.components.ingest.core import input_fingerprint, resolve_input

    try:
        then = json.loads(fileio.read_text(fileio.join(run.uri("ingest", "examples"), INGEST_FILE)))
    except FileNotFoundError as e:
        raise DataError(f"--reproduce: run {run.name!r} has no ingest record ({e})") from e
    files, _ = resolve_input(cfg.data.path)
    now = input_fingerprint(files)
    if now == then.get("fingerprint"):
        return
    added = sorted(set(files) - set(then.get("files", [])))
    gone = sorted(set(then.get("files", [])) - set(files))
    what = (
        f"files added {added}, gone {gone}"
        if added or gone
        else "the same files, rewritten since (size or modification time)"
    )
    raise DataError(
        f"--reproduce: the data of run {run.name!r} changed: fingerprint {then.get('fingerprint')}"
        f" then, {now} now ({what}); restore the data, or start a new run without --reproduce"
    )


def max_difference(recorded_dir: str, new_dir: str, examples: list[bytes]) -> float:
    """The largest absolute difference between the two models' outputs on the examples (the
    serving_tf_example signature); inf when they output different things."""
    import tensorflow as tf

    def outputs(model_dir):
        fn = tf.saved_model.load(model_dir).signatures["serving_tf_example"]
        return {k: v.numpy() for k, v in fn(examples=tf.constant(examples)).items()}

    a, b = outputs(recorded_dir), outputs(new_dir)
    if a.keys() != b.keys():
        return float("inf")
    worst = 0.0
    for key in a:
        if a[key].shape != b[key].shape:
            return float("inf")
        if np.issubdtype(a[key].dtype, np.number):
            worst = max(worst, float(np.max(np.abs(a[key] - b[key]), initial=0.0)))
        elif not np.array_equal(a[key], b[key]):
            return float("inf")
    return worst


def verdict(original: Run, new_run: Run) -> tuple[bool, str]:
    """(reproduced, the line that says so) from the two runs' models."""
    examples = original.examples("eval")
    worst = max_difference(original.model.path, new_run.model.path, examples)
    if worst <= TOLERANCE:
        return True, (
            f"Reproduced {original.name}: the new model's predictions equal the recorded "
            f"model's within {TOLERANCE:g} (largest difference {worst:.3g} over "
            f"{len(examples):,} eval examples)"
        )
    return False, (
        f"NOT reproduced {original.name}: predictions differ by up to {worst:.3g} (tolerance "
        f"{TOLERANCE:g}); is train.deterministic off, or did the environment change?"
    )
