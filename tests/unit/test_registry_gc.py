"""The registry's crash safety in small: published files are replaced whole, a push never
reuses what an aborted one left, unreadable metadata is a RegistryError, and gc (the library
call, `kubetfx registry gc`, the model server at start) removes only leftovers older than the
grace period."""

from __future__ import annotations

import json
import logging
import os
import time

import pytest

from kubetfx import cli
from kubetfx.components import registry as registry_module
from kubetfx.components.registry import GC_GRACE_SECONDS, ModelRegistry
from kubetfx.errors import RegistryError

SOURCE = {
    "saved_model.pb": b"graph",
    "variables/variables.index": b"index",
    "variables/variables.data-00000-of-00001": b"weights",
}


def _model(path) -> str:
    for name, data in SOURCE.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return str(path)


def _files(directory) -> dict[str, bytes]:
    found = {}
    for root, _, names in os.walk(directory):
        for name in names:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                found[os.path.relpath(full, directory)] = f.read()
    return found


def _tree(directory, skip=()) -> dict[str, bytes | None]:
    """Every path under directory but those in skip: a file's bytes, None for a directory."""
    found = {}
    for root, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in skip]
        for name in dirs:
            found[os.path.join(root, name)] = None
        for name in names:
            if os.path.join(root, name) not in skip:
                with open(os.path.join(root, name), "rb") as f:
                    found[os.path.join(root, name)] = f.read()
    return found


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    registry = ModelRegistry(str(tmp_path / "reg"), "m")
    registry.push(_model(tmp_path / "model"), {"run": "r1"})
    return registry


def _litter(registry: ModelRegistry) -> dict[str, str]:
    """What killed pushes and writes leave, by name -> kind."""
    d = registry.directory
    stale = os.path.join(d, ".staging-7-123-abcd1234")
    os.makedirs(os.path.join(stale, "variables"))
    with open(os.path.join(stale, "variables", "variables.data-00000-of-00001"), "wb") as f:
        f.write(b"half")
    os.makedirs(os.path.join(d, ".staging-8"))  # an earlier release's name
    for name in (
        ".champion.json.tmp-99-0f0f0f0f",
        "champion.json.tmp",
        os.path.join("metadata", ".7.json.tmp-99-0f0f0f0f"),
    ):
        with open(os.path.join(d, name), "w") as f:
            f.write("")
    return {
        stale: "staging directory",
        os.path.join(d, ".staging-8"): "staging directory",
        os.path.join(d, ".champion.json.tmp-99-0f0f0f0f"): "temporary file",
        os.path.join(d, "champion.json.tmp"): "temporary file",
        os.path.join(d, "metadata", ".7.json.tmp-99-0f0f0f0f"): "temporary file",
    }


def _bystanders(registry: ModelRegistry) -> None:
    """Things gc must never touch: they look a little like leftovers, or are someone else's."""
    d = registry.directory
    os.makedirs(os.path.join(d, ".kserve", "1"))  # push's KServe copies
    os.makedirs(os.path.join(d, ".staging"))  # not a staging name
    os.makedirs(os.path.join(d, "staging-9"))
    with open(os.path.join(d, "notes.tmp-1"), "w") as f:
        f.write("mine")
    os.symlink(os.path.join(d, ".kserve"), os.path.join(d, ".staging-link"))


# --- published files and pushes -------------------------------------------------------------


def test_published_files_are_replaced_whole(registry, monkeypatch):
    champion = registry.champion()
    metadata = registry.metadata(champion["version"])

    def dying_fsync(fd):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "fsync", dying_fsync)
    with pytest.raises(OSError, match="disk gone"):
        registry.set_champion(champion["version"])
    with pytest.raises(OSError, match="disk gone"):
        registry.push(str(_model_dir(registry)), {"run": "r2"})
    # The old files are whole, and the failed writes' temporary files are gone.
    assert registry.champion() == champion
    assert registry.metadata(champion["version"]) == metadata
    assert registry.collect_garbage(grace_seconds=0) == []


def _model_dir(registry: ModelRegistry):
    return os.path.join(os.path.dirname(registry.root), "model")


def test_a_push_never_reuses_an_aborted_copy_or_a_taken_number(registry, tmp_path, monkeypatch):
    taken = registry.versions()[0]
    # Aborted pushes that got the same number left staging copies (the old and the new name).
    for name in (f".staging-{taken}", f".staging-{taken}-1-deadbeef"):
        os.makedirs(os.path.join(registry.directory, name, "assets"))
        with open(os.path.join(registry.directory, name, "assets", "stale.txt"), "w") as f:
            f.write("from the aborted copy")
    monkeypatch.setattr(ModelRegistry, "next_version", lambda self: taken)
    version = registry.push(_model(tmp_path / "model"), {"run": "r2"})
    assert version == taken + 1  # the first free number from the one asked for
    assert _files(registry.version_dir(version)) == SOURCE
    assert _files(registry.version_dir(taken)) == SOURCE
    assert registry.metadata(version)["run"] == "r2" and registry.metadata(taken)["run"] == "r1"
    # The aborted copies are still there, untouched, for gc.
    assert len([n for n in os.listdir(registry.directory) if n.startswith(".staging-")]) == 2


def test_next_version_skips_an_incomplete_numeric_directory(registry):
    incomplete = registry.versions()[-1] + 5
    os.makedirs(registry.version_dir(incomplete))
    assert registry.next_version() > incomplete


def test_a_push_whose_staging_copy_gc_removed_fails_cleanly(registry, tmp_path, monkeypatch):
    before = (registry.versions(), registry.champion())
    real_copy_tree = registry_module.fileio.copy_tree

    def copy_then_gc(src, dst, last=None, extra=None):
        real_copy_tree(src, dst, last, extra)
        registry.collect_garbage(grace_seconds=0)  # an impatient gc, right before the rename

    monkeypatch.setattr(registry_module.fileio, "copy_tree", copy_then_gc)
    with pytest.raises(RegistryError, match="was removed while the push ran"):
        registry.push(_model(tmp_path / "model"), {"run": "r2"})
    assert (registry.versions(), registry.champion()) == before
    assert not [n for n in os.listdir(registry.directory) if n.startswith(".")]


def test_a_push_needs_a_saved_model(registry, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RegistryError, match="has no saved_model.pb"):
        registry.push(str(tmp_path / "empty"), {})


# --- reading --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, r"has no metadata file .*interrupted"),
        ("", r"is not valid JSON"),
        ('{"version": 1', r"is not valid JSON"),
        (b"\xff\xfe", r"is not valid JSON"),
        ("[1, 2]", r"is not a JSON object"),
    ],
)
def test_missing_or_corrupt_metadata_is_a_registry_error(registry, body, expected):
    version = registry.versions()[0]
    path = registry.metadata_path(version)
    if body is None:
        os.remove(path)
    else:
        with open(path, "wb") as f:
            f.write(body if isinstance(body, bytes) else body.encode())
    with pytest.raises(RegistryError, match=expected) as error:
        registry.metadata(version)
    assert f"version {version} of m" in str(error.value)


def test_metadata_of_an_unknown_version_and_a_corrupt_champion(registry):
    with pytest.raises(RegistryError, match=r"version 5 of m is not in the registry"):
        registry.metadata(5)
    with open(os.path.join(registry.directory, "champion.json"), "w") as f:
        f.write("")
    with pytest.raises(RegistryError, match=r"champion pointer of m .* is not valid JSON"):
        registry.champion()


# --- gc -------------------------------------------------------------------------------------


def test_gc_respects_the_grace_period_and_dry_run_and_touches_nothing_else(registry):
    leftovers = _litter(registry)
    _bystanders(registry)
    published = _tree(registry.directory, skip=leftovers)

    young = registry.collect_garbage()  # everything was just written
    assert {i.path: i.kind for i in young} == leftovers
    assert {i.action for i in young} == {"kept"}
    assert all(i.idle_seconds < 60 for i in young)
    assert "may be a push in progress" in young[0].describe()

    later = time.time() + GC_GRACE_SECONDS + 1
    listed = registry.collect_garbage(dry_run=True, now=later)
    assert {i.path for i in listed} == set(leftovers)
    assert {i.action for i in listed} == {"would remove"}
    assert all(os.path.lexists(p) for p in leftovers)

    removed = registry.collect_garbage(now=later)
    assert {i.path for i in removed} == set(leftovers)
    assert {i.action for i in removed} == {"removed"}
    assert not any(os.path.lexists(p) for p in leftovers)
    assert _tree(registry.directory) == published
    assert registry.collect_garbage(grace_seconds=0) == []


def test_gc_ages_a_staging_directory_by_its_newest_change(registry, monkeypatch):
    """A copy keeps the source's old mtimes; what counts is the last change anywhere inside,
    so a push still writing (or renaming) keeps its directory young."""
    staging = os.path.join(registry.directory, ".staging-5-1-00000000")
    os.makedirs(os.path.join(staging, "variables"))
    deep = os.path.join(staging, "variables", "data")
    with open(deep, "w") as f:
        f.write("x")
    os.utime(deep, (0, 0))  # an mtime from 1970, as copy2 leaves a file's
    os.utime(staging, (0, 0))
    (item,) = registry.collect_garbage(grace_seconds=600)
    assert item.action == "kept" and item.idle_seconds < 60

    ages = {staging: 7200.0}
    monkeypatch.setattr(registry_module, "_last_change", lambda p: time.time() - ages[p])
    (item,) = registry.collect_garbage(grace_seconds=3600, dry_run=True)
    assert item.action == "would remove" and item.idle_seconds == pytest.approx(7200, abs=5)
    ages[staging] = 1800.0
    (item,) = registry.collect_garbage(grace_seconds=3600)
    assert item.action == "kept" and os.path.isdir(staging)


def test_gc_of_a_registry_without_the_model_or_with_a_failing_removal(tmp_path, monkeypatch):
    assert ModelRegistry(str(tmp_path / "none"), "m").collect_garbage(grace_seconds=0) == []
    registry = ModelRegistry(str(tmp_path / "reg"), "m")
    os.makedirs(os.path.join(registry.directory, ".staging-1-1-00000000"))

    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(registry_module.os, "rename", refuse)
    (item,) = registry.collect_garbage(grace_seconds=0)
    assert item.action == "failed" and "read-only" in item.describe()


# --- `kubetfx registry gc` ------------------------------------------------------------------


def _gc(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["registry", "gc", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _lines(out: str, action: str) -> int:
    return sum(line.startswith(f"{action} ") for line in out.splitlines())


def test_cli_registry_gc(tmp_path, capsys):
    root = tmp_path / "reg"
    first = ModelRegistry(str(root), "m")
    first.push(_model(tmp_path / "model"), {})
    other = ModelRegistry(str(root), "other")
    other.push(str(tmp_path / "model"), {})
    leftovers = _litter(first)
    other_staging = os.path.join(other.directory, ".staging-3-3-33333333")
    os.makedirs(other_staging)

    code, out, _ = _gc(capsys, "--registry", str(root))  # default grace: all young
    assert code == 0 and _lines(out, "kept") == len(leftovers) + 1, out
    assert "within the grace period" in out

    code, out, _ = _gc(capsys, "--registry", str(root), "--grace-seconds", "0", "--dry-run")
    assert code == 0 and _lines(out, "would remove") == len(leftovers) + 1, out
    assert all(os.path.lexists(p) for p in [*leftovers, other_staging])

    code, out, _ = _gc(capsys, "--registry", str(root), "--model", "m", "--grace-seconds", "0")
    assert code == 0 and _lines(out, "removed") == len(leftovers), out
    assert not any(os.path.lexists(p) for p in leftovers)
    assert os.path.isdir(other_staging)  # --model m only
    assert first.versions() and first.champion() and other.versions()

    code, out, _ = _gc(capsys, "--registry", str(root), "--grace-seconds", "0")
    assert code == 0 and not os.path.lexists(other_staging)
    code, out, _ = _gc(capsys, "--registry", str(root), "--grace-seconds", "0")
    assert code == 0 and "nothing to remove" in out


def test_cli_registry_defaults_to_push_registry_from_the_config(tmp_path, capsys):
    root = tmp_path / "reg"
    registry = ModelRegistry(str(root), "m")
    registry.push(_model(tmp_path / "model"), {})
    leftovers = _litter(registry)
    config = tmp_path / "kubetfx.yaml"
    config.write_text(json.dumps({"push": {"registry": str(root)}}))
    code, out, _ = _gc(capsys, "--config", str(config), "--grace-seconds", "0")
    assert code == 0 and str(root) in out
    assert not any(os.path.lexists(p) for p in leftovers)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--registry", "{tmp}/nowhere"], r"--registry: .*nowhere does not exist"),
        (["--registry", "{tmp}/reg", "--model", "nope"], r"--model: .* no model 'nope' .*\bm\b"),
        (["--registry", "{tmp}/reg", "--grace-seconds", "-1"], r"--grace-seconds: .* got -1"),
    ],
)
def test_cli_registry_gc_mistakes_exit_2(tmp_path, capsys, argv, expected):
    import re

    ModelRegistry(str(tmp_path / "reg"), "m").push(_model(tmp_path / "model"), {})
    code, _, err = _gc(capsys, *(a.format(tmp=tmp_path) for a in argv))
    assert code == 2 and re.search(expected, err), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_registry_gc_a_removal_that_fails_exits_1(tmp_path, capsys, monkeypatch):
    registry = ModelRegistry(str(tmp_path / "reg"), "m")
    registry.push(_model(tmp_path / "model"), {})
    os.makedirs(os.path.join(registry.directory, ".staging-1-1-00000000"))

    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(registry_module.os, "rename", refuse)
    code, out, err = _gc(capsys, "--registry", str(tmp_path / "reg"), "--grace-seconds", "0")
    assert code == 1 and "failed" in out and "RegistryError" in err


# --- the model server at start --------------------------------------------------------------


def test_the_model_server_collects_garbage_at_start(registry, monkeypatch, caplog):
    from kubetfx.components.config import ServingConfig
    from kubetfx.errors import LoadError
    from kubetfx.serving.models import ModelManager

    young = os.path.join(registry.directory, ".staging-9-9-99999999")  # a push in progress
    old = os.path.join(registry.directory, ".staging-8-8-88888888")  # a killed one
    for path in (young, old):
        os.makedirs(path)
    ages = {young: 5.0, old: GC_GRACE_SECONDS + 60}
    monkeypatch.setattr(registry_module, "_last_change", lambda p: time.time() - ages.get(p, 0))

    def no_tensorflow(name, version, path):
        raise LoadError("not loaded in this test")

    manager = ModelManager(ServingConfig(registry=registry.root), no_tensorflow)
    with caplog.at_level(logging.INFO, logger="kubetfx.serving"):
        manager.start()
        manager.stop()
    assert os.path.isdir(young) and not os.path.exists(old)
    assert f"removed {old}" in caplog.text and f"kept {young}" in caplog.text
    assert registry.versions() and registry.champion()


def test_a_failing_gc_does_not_stop_the_model_server(tmp_path, monkeypatch, caplog):
    from kubetfx.components.config import ServingConfig
    from kubetfx.serving.models import ModelManager

    def broken(*args, **kwargs):
        raise OSError("registry unreachable")

    monkeypatch.setattr(ModelRegistry, "collect_garbage", broken)
    (tmp_path / "m").mkdir()
    manager = ModelManager(ServingConfig(registry=str(tmp_path)), lambda *a: None)
    with caplog.at_level(logging.WARNING, logger="kubetfx.serving"):
        manager.start()
        manager.stop()
    assert "registry gc at start failed" in caplog.text
