"""kubetfx.serving.process: which Python starts the model server, and what it can import.

A stand-in `python` records how it was started; the real server process is exercised by
tests/serving and tests/component/test_infra_validate.py.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from kubetfx.errors import ConfigError
from kubetfx.serving import process


def _fake_python(directory: Path) -> tuple[Path, Path]:
    record = directory / "started.txt"
    script = directory / "python"
    script.write_text(
        "#!/bin/sh\n"
        f'{{ echo "args $*"; echo "cwd $(pwd)"; echo "path $PYTHONPATH"; '
        f'ls -A "$PYTHONPATH"; readlink "$PYTHONPATH/kubetfx"; }} > {record}.part\n'
        f"mv {record}.part {record}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, record


def test_the_server_imports_only_the_package_not_the_environment_around_it(tmp_path, monkeypatch):
    """Installed, the package's parent is site-packages: on the server's path it would shadow
    the serving environment's pandas and protobuf with the pipeline environment's."""
    python, record = _fake_python(tmp_path)
    monkeypatch.chdir(tmp_path)
    with process.ServerProcess(str(python), ["--registry", "reg"], str(tmp_path / "log")):
        deadline = time.monotonic() + 30
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    lines = record.read_text().splitlines()
    args, cwd, path, *listing, target = lines
    assert args.startswith("args -P -m kubetfx.serving --host 127.0.0.1 --port ")
    assert args.endswith("--registry reg")
    assert cwd == f"cwd {tmp_path}"  # relative arguments mean what they mean to the caller
    assert listing == ["kubetfx"]
    assert Path(target) == process.PACKAGE
    assert not os.path.exists(path.removeprefix("path ")), "removed when the server stops"


def test_the_default_python_is_the_source_trees_serving_venv(monkeypatch, tmp_path):
    monkeypatch.delenv("KUBETFX_SERVING_PYTHON", raising=False)
    monkeypatch.setattr(process, "SOURCE_ROOT", tmp_path)
    (tmp_path / "setup.py").write_text("")
    with pytest.raises(ConfigError, match=r"\.venv-serving/bin/python.*make serving-setup"):
        process.serving_python()
    python, _ = _fake_python(tmp_path)
    assert process.serving_python(str(python)) == str(python)
    monkeypatch.setenv("KUBETFX_SERVING_PYTHON", str(python))
    assert process.serving_python() == str(python)


def test_an_installed_package_says_it_has_no_default_and_what_to_set(monkeypatch, tmp_path):
    monkeypatch.delenv("KUBETFX_SERVING_PYTHON", raising=False)
    monkeypatch.setattr(process, "SOURCE_ROOT", tmp_path)  # site-packages: no setup.py
    with pytest.raises(ConfigError) as raised:
        process.serving_python()
    message = str(raised.value)
    assert "installed" in message and "no .venv-serving" in message
    assert "infra_validate.server_python" in message and "KUBETFX_SERVING_PYTHON" in message
    assert "make serving-setup" not in message  # there is no Makefile beside an install
    with pytest.raises(ConfigError, match=r"'/nowhere/python' is not an executable.*Set infra_"):
        process.serving_python("/nowhere/python")
