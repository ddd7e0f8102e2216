"""Every module of the package imports in its environment: a moved name or a broken import
fails here in seconds, not in a pipeline step at the end of a run."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
from pathlib import Path

import pytest

import kubetfx

ROOT = Path(kubetfx.__file__).resolve().parents[1]
SERVING_PYTHON = ROOT / ".venv-serving" / "bin" / "python"
MODULES = sorted(m.name for m in pkgutil.walk_packages(kubetfx.__path__, "kubetfx."))
# The model server's modules import kserve, which lives in the server's environment only.
PIPELINE_SIDE = [m for m in MODULES if not m.startswith("kubetfx.serving")]


@pytest.mark.parametrize("module", PIPELINE_SIDE)
def test_every_module_imports_in_the_pipeline_environment(module):
    importlib.import_module(module)


@pytest.mark.skipif(
    not (ROOT / ".venv-serving" / ".installed").exists(), reason="make test builds .venv-serving"
)
def test_the_server_imports_in_its_own_environment():
    script = (
        "import importlib, pkgutil, kubetfx.serving as s\n"
        "for m in pkgutil.walk_packages(s.__path__, 'kubetfx.serving.'):\n"
        "    importlib.import_module(m.name)\n"
    )
    done = subprocess.run(
        [str(SERVING_PYTHON), "-c", script],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
