"""The locks install on every Python the project claims: each locked package's own
Requires-Python (read from the installed distributions' metadata) admits the minimum the
Makefile checks and setup.py declares."""

from __future__ import annotations

import json
import re
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {
    "runtime": ROOT / "requirements" / "lock.txt",
    "dev": ROOT / "requirements" / "dev-lock.txt",
}
SERVING = ROOT / "requirements" / "serving-lock.txt"
SERVING_PYTHON = ROOT / ".venv-serving" / "bin" / "python"
SERVING_INSTALLED = ROOT / ".venv-serving" / ".installed"  # the Makefile's stamp


def _minimum() -> str:
    makefile = (ROOT / "Makefile").read_text()
    return re.search(r"^MIN_PYTHON := (\S+)$", makefile, re.M).group(1)


def _locked(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            pins[requirement.name.lower().replace("_", "-")] = str(requirement.specifier)
    return pins


def _too_new(requires: dict[str, str | None], minimum: str) -> list[str]:
    return sorted(
        f"{name} requires Python {spec}"
        for name, spec in requires.items()
        if spec and minimum not in SpecifierSet(spec)
    )


def test_makefile_and_setup_py_claim_the_same_minimum():
    setup = (ROOT / "setup.py").read_text()
    assert f'python_requires=">={_minimum()},<3.12"' in setup


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_locked_package_installs_on_the_minimum_python(lock):
    minimum = _minimum()
    locked = _locked(LOCKS[lock])
    requires = {}
    for name in locked:
        try:
            requires[name] = metadata.metadata(name).get("Requires-Python")
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name} is in the lock but not installed: run `make setup`")
    assert _too_new(requires, minimum) == [], f"resolve the lock for Python {minimum}"


@pytest.mark.skipif(not SERVING_INSTALLED.exists(), reason="make test builds .venv-serving")
def test_every_serving_package_installs_on_the_minimum_python():
    script = (
        "import json, sys; from importlib import metadata as m; "
        "print(json.dumps({n: m.metadata(n).get('Requires-Python') for n in sys.argv[1:]}))"
    )
    names = list(_locked(SERVING))
    done = subprocess.run(
        [str(SERVING_PYTHON), "-c", script, *names], capture_output=True, text=True, check=True
    )
    assert _too_new(json.loads(done.stdout), _minimum()) == []


def test_the_check_itself_catches_a_package_too_new():
    assert _too_new({"soupsieve": ">=3.11.5", "ok": ">=3.8"}, "3.11.2") == [
        "soupsieve requires Python >=3.11.5"
    ]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution the requirements pull in, extras followed, from installed metadata."""
    seen: set[tuple[str, frozenset]] = set()
    todo = [(_norm(r.name), frozenset(r.extras)) for r in requirements]
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        name, extras = item
        for text in metadata.requires(name) or []:
            r = Requirement(text)
            if r.marker and not any(r.marker.evaluate({"extra": e}) for e in extras or {""}):
                continue
            todo.append((_norm(r.name), frozenset(r.extras)))
    return {name for name, _ in seen}


def test_the_runtime_lock_holds_exactly_what_the_package_needs():
    """lock.txt (what the component image installs) is the closure of setup.py's
    install_requires; every other pin of the dev environment is in dev-lock.txt, which
    includes lock.txt. So no test or lint tool reaches an image, and nothing is missing."""
    needed = _closure([Requirement(t) for t in metadata.requires("kubetfx") or [] if ";" not in t])
    runtime = {_norm(n) for n in _locked(LOCKS["runtime"])}
    dev = {_norm(n) for n in _locked(LOCKS["dev"])}
    assert "-r lock.txt" in LOCKS["dev"].read_text().splitlines()
    assert runtime == needed - {"setuptools"}  # the venv's own
    assert not runtime & dev
    assert {"pytest", "ruff", "checkov", "kubernetes-validate", "tritonclient"} <= dev
    installed = {_norm(d.metadata["Name"]) for d in metadata.distributions()}
    assert installed - runtime - dev <= {"kubetfx", "pip", "setuptools", "wheel"}
