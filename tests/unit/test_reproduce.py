"""`kubetfx run --reproduce RUN`: what is refused before any step starts (exit 2, one line).
The full rerun and its prediction check run in tests/pipeline/test_local_run.py."""

from __future__ import annotations

import json
import os

import pytest

from kubetfx.cli import main
from kubetfx.components.config import PipelineConfig
from kubetfx.components.ingest.core import input_fingerprint
from kubetfx.pipelines.artifacts import EXECUTOR_OUTPUT

RUN = "kubetfx-training-2026-12-07-01-00-00-000001"


@pytest.fixture
def finished_run(tmp_path):
    """A run directory as `kubetfx run` leaves it, as far as --reproduce reads it: the config
    it ran with and ingest's record of the data it read."""
    data = tmp_path / "data.csv"
    data.write_text("x,y\n1,a\n2,b\n")
    root = tmp_path / "pipeline_root"
    examples = root / RUN / "ingest" / "examples"
    examples.mkdir(parents=True)
    files = [str(data)]
    (examples / "ingest.json").write_text(
        json.dumps({"files": files, "fingerprint": input_fingerprint(files)})
    )
    record = {"artifacts": {"examples": {"artifacts": [{"uri": str(examples), "metadata": {}}]}}}
    (root / RUN / "ingest" / EXECUTOR_OUTPUT).write_text(json.dumps(record))
    cfg = PipelineConfig.model_validate(
        {"data": {"path": str(data), "label": "y"}, "pipeline_root": str(root)}
    )
    (root / RUN / "config.json").write_text(cfg.to_json())
    return root, data


def _refused(capsys, *argv) -> str:
    assert main(["run", *argv]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    return error


def test_rewritten_data_is_refused_naming_both_fingerprints(finished_run, capsys):
    root, data = finished_run
    data.write_text("x,y\n1,a\n2,b\n3,c\n")
    error = _refused(capsys, "--reproduce", RUN, "--pipeline-root", str(root))
    assert f"the data of run {RUN!r} changed" in error
    assert "rewritten since" in error and "restore the data" in error
    os.remove(data)
    error = _refused(capsys, "--reproduce", RUN, "--pipeline-root", str(root))
    assert f"data.path: no file matches {str(data)!r}" in error


def test_a_run_without_a_recorded_config_or_with_other_flags_is_refused(finished_run, capsys):
    root, _ = finished_run
    error = _refused(capsys, "--reproduce", RUN, "--pipeline-root", str(root), "--label", "x")
    assert "drop --label" in error
    os.remove(root / RUN / "config.json")
    error = _refused(capsys, "--reproduce", RUN, "--pipeline-root", str(root))
    assert "recorded no config" in error
    error = _refused(capsys, "--reproduce", "nope", "--pipeline-root", str(root))
    assert "no run 'nope'" in error
