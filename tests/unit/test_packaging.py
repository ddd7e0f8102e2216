"""The distribution says what it needs: `pip install kubetfx` (with the lock as constraints)
gives a package whose every import is satisfied, and only the lock pins exact versions."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _setup_kwargs() -> dict:
    """install_requires and extras_require as setup.py passes them (without running setup)."""
    import setuptools

    captured = {}
    real = setuptools.setup
    setuptools.setup = lambda **kwargs: captured.update(kwargs)
    try:
        source = (ROOT / "setup.py").read_text()
        exec(compile(source, "setup.py", "exec"), {"__name__": "setup"})
    finally:
        setuptools.setup = real
    return captured


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", Requirement(requirement).name).lower()


def _locked(lock: str) -> set[str]:
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / "requirements" / lock).open()]
    return {_name(line) for line in lines if line and not line.startswith("-")}


def _imports(side: str) -> set[str]:
    """Top-level third-party modules the pipeline side (or the server) imports."""
    found = set()
    for path in (ROOT / "kubetfx").rglob("*.py"):
        if (side == "server") != ("serving" in path.parts):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found |= {n.split(".")[0] for n in names}
    return found - set(sys.stdlib_module_names) - {"kubetfx", "__future__"}


# Imported, but provided by a direct requirement on purpose: kfp's generated API client, and
# the `google` namespace (protobuf, google-auth, google-cloud-*).
THROUGH = {"kfp_server_api": "kfp", "google": "google-cloud-aiplatform"}


def _missing(direct: set[str]) -> list[str]:
    """Imported modules that no direct requirement provides."""
    providers = metadata.packages_distributions()
    return sorted(
        module
        for module in _imports("pipelines")
        if not ({_name(d) for d in providers.get(module, [])} | {THROUGH.get(module)}) & direct
    )


def test_every_import_of_the_pipeline_side_is_a_direct_requirement():
    direct = {_name(r) for r in _setup_kwargs()["install_requires"]}
    assert _missing(direct) == [], "add their distributions to install_requires in setup.py"
    assert {_name(THROUGH[m]) for m in THROUGH} <= direct
    # read as package data by name, not imported: the built-in dataset
    assert "palmerpenguins" in direct


def test_the_package_imports_nothing_from_the_source_tree_around_it():
    """infra/, bench/, tests/ ... are not installed: an import of them works only in a checkout
    (run from its root) and fails for `pip install kubetfx`."""
    beside = {p.stem for p in ROOT.iterdir() if p.is_dir() or p.suffix == ".py"} - {"kubetfx"}
    assert (_imports("pipelines") | _imports("server")) & beside == set()


def test_the_check_sees_a_dropped_requirement():
    direct = {_name(r) for r in _setup_kwargs()["install_requires"]}
    assert _missing(direct - {"pyyaml"}) == ["yaml"]
    assert _missing(direct - {"tensorflow-data-validation"}) == ["tensorflow_data_validation"]


def test_the_server_extra_names_what_the_server_imports():
    server = {_name(r) for r in _setup_kwargs()["extras_require"]["server"]}
    # module -> distribution, for what the server imports (kserve's own deps bring starlette)
    needed = {
        "fastapi": "fastapi", "kserve": "kserve", "uvicorn": "uvicorn", "orjson": "orjson",
        "prometheus_client": "prometheus-client", "tensorflow": "tensorflow",
        "pydantic": "pydantic", "tensorflow_serving": "tensorflow-serving-api",
        "grpc": "grpcio", "google": "protobuf",
    }  # fmt: skip
    unknown = _imports("server") - set(needed) - {"numpy", "starlette", "tensorflow_metadata"}
    assert unknown == set(), "a new server import: add it here and to the server extra"
    assert set(needed.values()) <= server


def test_requirements_are_ranges_and_the_lock_pins_each_of_them():
    kwargs = _setup_kwargs()
    groups = {"install_requires": kwargs["install_requires"], **kwargs["extras_require"]}
    for group, requirements in groups.items():
        lock = {"server": "serving-lock.txt", "dev": "dev-lock.txt"}.get(group, "lock.txt")
        # dev-lock.txt includes lock.txt (TFMA's own requirements bring nbformat, ipykernel...)
        pinned = _locked(lock) | (_locked("lock.txt") if group == "dev" else set())
        for requirement in requirements:
            assert "==" not in requirement, f"{group}: {requirement} is a pin; pins live in {lock}"
            assert _name(requirement) in pinned, f"{requirement} is not in {lock}"


def test_the_wheel_holds_one_package_and_its_data(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("kubetfx-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("kubetfx-")}
    assert tops == {"kubetfx"}, "no other top-level package may be installed"
    assert "kubetfx/pipelines/defaults/example.yaml" in names
    assert "kubetfx/serving/__main__.py" in names and "kubetfx/errors.py" in names


@pytest.mark.parametrize("extra", ["server", "dev"])
def test_extras_exist(extra):
    assert _setup_kwargs()["extras_require"][extra]
