"""`pip install .` into an empty venv, then the installed `kubetfx` command, run from outside
the source tree: --version, compile for Kubeflow and Vertex, and a real `kubetfx run` that
pushes a model and writes nothing into the checkout.

Offline: the wheel is built from a copy of the checkout with this environment's setuptools
(`--no-build-isolation --no-index`), installed without dependencies, and the dependencies
come from this venv's site-packages through a `.pth` path line (a plain path line: the
editable-install hook in that site-packages is not run, so the source tree's `kubetfx` stays
out of reach). The same install from PyPI, with the lock as constraints, is a step of
.ci/run, where there is network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml

from kubetfx.components.registry import ModelRegistry
from kubetfx.serving.process import serving_python

pytestmark = pytest.mark.pipeline
ROOT = Path(__file__).resolve().parents[2]
# Not part of the checkout that `pip install .` is given: environments, run outputs, caches.
NOT_SOURCE = (".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")
NOT_SOURCE += ("pipeline_root", "model_registry", "references", "serving_logs", "compiled")
GS_ROOT = "gs://example-bucket/pipeline_root"


def _run(command: list[str], cwd, env=None, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A fresh venv with the kubetfx wheel installed, and the environment to run it in."""
    tmp = tmp_path_factory.mktemp("install")
    # A copy, because setuptools builds in the tree (build/, kubetfx.egg-info/) and this test
    # must leave the checkout as it found it.
    source = tmp / "checkout"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE), symlinks=True)
    offline = ["--quiet", "--no-index", "--disable-pip-version-check"]
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", *offline, "--no-deps", "--no-build-isolation", "-w", tmp, source], tmp)
    (wheel,) = tmp.glob("kubetfx-*.whl")

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp)
    python = str(venv / "bin" / "python")
    _run([python, "-m", "pip", "install", *offline, "--no-deps", wheel], tmp)
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp)
    # The dependencies, as the lock installed them here (instead of downloading them again).
    lock_env = sysconfig.get_paths()["purelib"]
    (Path(site.stdout.strip()) / "kubetfx-test-dependencies.pth").write_text(lock_env + "\n")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {
        "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        # An installed kubetfx has no source tree to find .venv-serving in: say where it is.
        "KUBETFX_SERVING_PYTHON": serving_python(),
    }
    work = tmp / "work"
    work.mkdir()
    return {
        "source": source,
        "venv": venv,
        "python": python,
        "wheel": wheel,
        "env": env,
        "work": work,
    }


def kubetfx(installed, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    command = [str(installed["venv"] / "bin" / "kubetfx"), *args]
    return _run(command, installed["work"], installed["env"], timeout)


def test_the_wheel_carries_the_package_data(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    source = installed["source"]
    in_tree = {str(p.relative_to(source)) for p in (source / "kubetfx").rglob("*") if p.is_file()}
    assert in_tree - set(names) == set(), "add these files to package_data in setup.py"


def test_the_venv_imports_the_installed_package_not_the_source_tree(installed):
    probe = (
        "import kubetfx, kubetfx.cli, importlib.resources as r; "
        "from kubetfx.serving import process; "
        "print(kubetfx.__file__); print(process.in_source_tree()); "
        "print((r.files('kubetfx.pipelines') / 'defaults' / 'example.yaml').is_file())"
    )
    done = _run([installed["python"], "-c", probe], installed["work"], installed["env"])
    location, in_source_tree, example = done.stdout.split()
    assert Path(location).resolve().is_relative_to(installed["venv"].resolve())
    assert not Path(location).resolve().is_relative_to(ROOT)
    assert (in_source_tree, example) == ("False", "True")


def test_without_a_source_tree_the_server_python_must_be_given_and_it_says_so(installed):
    probe = (
        "from kubetfx.serving.process import serving_python\n"
        "try:\n    serving_python()\nexcept Exception as e:\n    print(e)"
    )
    env = {k: v for k, v in installed["env"].items() if k != "KUBETFX_SERVING_PYTHON"}
    message = _run([installed["python"], "-c", probe], installed["work"], env).stdout
    assert "installed" in message and "infra_validate.server_python" in message


def test_version(installed):
    version = re.match(r"kubetfx-([^-]+)-", installed["wheel"].name).group(1)
    assert kubetfx(installed, "--version").stdout.strip() == f"kubetfx {version}"


@pytest.mark.parametrize("platform", ["kubeflow", "vertex"])
def test_compile_for_the_cluster_targets(installed, platform):
    out = installed["work"] / f"training-{platform}.yaml"
    args = ["--platform", platform, "--pipeline-root", GS_ROOT, "--output", str(out)]
    kubetfx(installed, "compile", "--pipeline", "training", *args)
    spec = next(yaml.safe_load_all(out.read_text()))
    assert spec["pipelineInfo"]["name"] and "push" in spec["root"]["dag"]["tasks"]


def _files(root: Path) -> dict[str, int]:
    """path -> mtime of every file in the checkout, outside environments and caches."""
    found = {}
    for directory, dirs, files in os.walk(root):
        dirs[:] = [
            d for d in dirs if d not in (".git", "__pycache__") and not d.startswith(".venv")
        ]
        for name in files:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, root)] = os.stat(path, follow_symlinks=False).st_mtime_ns
    return found


def _edited_by_people(root: Path) -> re.Pattern:
    """Paths others may change in a shared checkout while the run goes, which are not the
    run's doing: tracked files and the source directories that hold them (people's edits,
    new modules), build/ and *.egg-info/ (the wheel tests/unit/test_packaging.py builds in the
    tree) and tool caches. What is left is where a run's outputs would land: the checkout's
    root and its untracked output directories (pipeline_root/, model_registry/, ...)."""
    tracked = _run(["git", "ls-files"], root).stdout.splitlines()
    dirs = sorted({path.split("/")[0] for path in tracked if "/" in path})
    alternatives = [re.escape(path) + "$" for path in tracked if "/" not in path]
    alternatives += [re.escape(d) + "/" for d in dirs] + [r"build/", r"[^/]*\.egg-info/"]
    alternatives += [r"\.[a-z]+_cache/"]
    return re.compile("^(" + "|".join(alternatives) + ")")


def test_run_on_the_default_data_pushes_a_model_and_writes_only_where_it_runs(installed):
    edited_by_people = _edited_by_people(ROOT)
    before = _files(ROOT)
    done = kubetfx(installed, "run", timeout=900)
    after = _files(ROOT)

    work = installed["work"]
    (name,) = re.findall(r"^Run (\S+): SUCCEEDED$", done.stdout, re.MULTILINE)
    assert (work / "pipeline_root" / name / "run.log").is_file()
    champion = ModelRegistry(str(work / "model_registry"), "penguins").champion()
    assert champion is not None, done.stdout[-3000:]
    assert Path(champion["path"], "saved_model.pb").is_file()
    assert Path(champion["path"]).is_relative_to(work)
    assert f"Pushed: version {champion['version']}" in done.stdout
    assert "Infra validation: INFRA_BLESSED" in done.stdout

    written = sorted(
        path
        for path, mtime in after.items()
        if before.get(path) != mtime and not edited_by_people.match(path)
    )
    assert written == [], "the installed kubetfx wrote into the source tree"
    assert not [path for path in after if name in path]
