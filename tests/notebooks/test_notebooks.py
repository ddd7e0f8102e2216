"""Each notebook runs top to bottom in a real kernel (nbclient, this venv's Python) against one
fresh local pipeline run, as a reader runs it after `make run`; and none is stored with outputs.

The kernel spec, Jupyter's runtime files and IPython's profile go to a temp dir: nothing is
written to the home directory.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys

import pytest

from tests.conftest import FAST_BEAM
from tests.notebooks import check_clean

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[2] / "notebooks"
KERNEL = "kubetfx-test"


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    """A kernel spec for this venv's Python, and Jupyter/IPython state, in a temp dir."""
    home = tmp_path_factory.mktemp("jupyter")
    spec = home / "data" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "language": "python"}))
    with pytest.MonkeyPatch.context() as patch:
        for variable, folder in (
            ("JUPYTER_DATA_DIR", "data"),
            ("JUPYTER_PATH", "data"),
            ("JUPYTER_CONFIG_DIR", "config"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("IPYTHONDIR", "ipython"),
        ):
            patch.setenv(variable, str(home / folder))
        patch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
        yield home


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """One `kubetfx run` (in-process Beam) shared by every notebook: a pipeline root and the
    registry it pushed to, as `make run` leaves them."""
    work = tmp_path_factory.mktemp("run")
    beam = [f"--beam-arg={arg}" for arg in FAST_BEAM]
    done = subprocess.run(
        [sys.executable, "-m", "kubetfx.cli", "run", *beam],
        cwd=work,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work


def execute(name: str, parameters: dict) -> str:
    """Run the notebook with `parameters` set after its parameters cell (as papermill does);
    return every output's text. A cell that raises fails the test (CellExecutionError)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    index = next(
        i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])
    )
    assignments = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(assignments))
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=300,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            for kind in ("text/plain", "text/markdown", "text/html"):
                texts.append(output.get("data", {}).get(kind, ""))
    return "\n".join(texts)


def only_run(workdir) -> str:
    (name,) = os.listdir(workdir / "pipeline_root")
    return name


@pytest.mark.pipeline  # one full local run, shared
def test_data_validation(jupyter, workdir):
    root = str(workdir / "pipeline_root")
    run = only_run(workdir)
    out = execute("01_data_validation.ipynb", {"PIPELINE_ROOT": root})
    assert f"Run {run}: SUCCEEDED" in out
    assert "# Data validation: PASSED" in out  # validate's report
    assert "Only one run so far" in out and "train against eval:" in out
    assert "L-infinity" in out and "Jensen-Shannon" in out  # the drift table
    assert "srcdoc=" in out and "&lt;svg" in out  # self-contained pages with inline SVG
    assert not re.search(r"(src|href)=(&quot;|\"|')?(https?:)?//", out)  # nothing to fetch

    # A second run (here: a copy with a later name) is compared with the first.
    later = re.sub(r"\d+$", lambda m: str(int(m.group()) + 1).zfill(len(m.group())), run)
    shutil.copytree(os.path.join(root, run), os.path.join(root, later))
    try:
        out = execute("01_data_validation.ipynb", {"PIPELINE_ROOT": root})
    finally:
        shutil.rmtree(os.path.join(root, later))
    assert f"{later} (train) against {run} (train): 0 features drifted" in out


@pytest.mark.pipeline  # one full local run, shared
def test_model_analysis(jupyter, workdir):
    out = execute("02_model_analysis.ipynb", {"PIPELINE_ROOT": str(workdir / "pipeline_root")})
    assert "**BLESSED**" in out and "**INFRA_BLESSED**" in out and "**Pushed**" in out
    assert "island=Biscoe" in out and "auc[Gentoo]" in out  # metrics by slice and class
    assert "sex=female" in out and "false_negative_rate@0.5[Adelie]" in out  # fairness
    assert "No champion when this run was evaluated" in out
    assert "Confusion matrix" in out
    # runs compare (the only run against itself: nothing differs) and the history chart.
    assert "Config (keys that differ):" in out and "the same" in out
    assert "<polyline" in out  # the chart of accuracy over the runs


@pytest.mark.pipeline  # one full local run, shared
def test_serving_and_monitoring(jupyter, workdir, tmp_path):
    logs = tmp_path / "serving_logs"
    out = execute(
        "03_serving_and_monitoring.ipynb",
        {
            "PIPELINE_ROOT": str(workdir / "pipeline_root"),
            "SERVER": "start",
            "REQUEST_LOG_DIR": str(logs),
            "MONITORING_DIR": str(tmp_path / "monitoring"),
        },
    )
    (version,) = os.listdir(workdir / "model_registry" / "penguins" / "metadata")
    assert f"Answered by version {version.removesuffix('.json')} (champion)" in out
    records = [
        json.loads(line)
        for path in logs.glob("penguins/*/requests-*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert [len(r["features"]) for r in records] == [8]  # the notebook's one request
    assert records[0]["request_id"] in out  # shown in the notebook's log table
    assert "is not in" not in out
    assert "No monitoring report in" in out
    port = re.search(r"Started a model server on http://127\.0\.0\.1:(\d+)", out).group(1)
    with pytest.raises(OSError):  # the last cell stopped it
        socket.create_connection(("127.0.0.1", int(port)), timeout=2).close()


def test_notebooks_are_stored_without_outputs(tmp_path, capsys):
    assert check_clean.main([str(NOTEBOOKS)]) == 0
    body = json.loads((NOTEBOOKS / "02_model_analysis.ipynb").read_text())
    code = next(c for c in body["cells"] if c["cell_type"] == "code")
    code["execution_count"] = 3
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["run x\n"]}]
    dirty = tmp_path / "dirty.ipynb"
    dirty.write_text(json.dumps(body))
    assert check_clean.main([str(tmp_path)]) == 1
    assert "has outputs; cell" in capsys.readouterr().out
    assert check_clean.main(["--fix", str(dirty)]) == 0
    assert (
        check_clean.main([str(dirty)]) == 0
        and check_clean.problems(json.loads(dirty.read_text())) == []
    )
