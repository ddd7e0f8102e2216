"""The registry under SIGKILL: a pushing process is killed at random points, and after every
kill the published state is checked, then a push that asks for the same version number.

Each trial starts a `python -c` process that pushes a small fake model (a few files, one of
several MB so kills land mid-copy) with `next_version` pinned to one number, kills it with
SIGKILL after a random delay within the measured length of a push, and checks: every numeric
version directory is a complete, byte-identical copy of one source; every metadata file
parses and names an existing version holding the source it records; champion.json points at
a complete version. Then a push from this process, pinned to the same number and with a
different source, must publish exactly that source's files (an aborted copy's leftovers must
not leak in). At the end, gc with the default grace period keeps every leftover (they are
young) and gc with grace 0 removes them all and nothing else.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from kubetfx.components.registry import (
    CHAMPION_FILE,
    SAVED_MODEL,
    STAGING_PREFIX,
    TEMP_MARK,
    ModelRegistry,
)

REPO = Path(__file__).resolve().parents[2]
TRIALS = 80
BIG = 6 << 20  # bytes in each source's variables file: a copy takes a few ms
PINNED = 20260101000000  # every push asks for this version number

CHILD = """
import sys, time
from kubetfx.components.registry import ModelRegistry
root, source, version = sys.argv[1], sys.argv[2], int(sys.argv[3])
ModelRegistry.next_version = lambda self: version
registry = ModelRegistry(root, "m")
print("ready", flush=True)
start = time.perf_counter()
registry.push(source, {"source": source})
print(time.perf_counter() - start, flush=True)
"""


def _source(path: Path, k: int, rng: random.Random) -> str:
    files = {
        SAVED_MODEL: rng.randbytes(200_000),
        "fingerprint.pb": rng.randbytes(64),
        "variables/variables.index": rng.randbytes(2_000),
        "variables/variables.data-00000-of-00001": rng.randbytes(BIG),
        "assets/vocab.txt": f"vocabulary of source {k}\n".encode() * 50,
        f"assets.extra/only-in-source-{k}.txt": b"a file no other source has",
    }
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return str(path)


def _manifest(directory: str) -> dict[str, str]:
    found = {}
    for root, _, files in os.walk(directory):
        for name in files:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                found[os.path.relpath(full, directory)] = hashlib.sha256(f.read()).hexdigest()
    return found


def _leftovers(registry: ModelRegistry) -> set[str]:
    found = set()
    for directory in (registry.directory, os.path.join(registry.directory, "metadata")):
        for name in os.listdir(directory) if os.path.isdir(directory) else []:
            if name.startswith(STAGING_PREFIX) or (name.startswith(".") and TEMP_MARK in name):
                found.add(os.path.join(directory, name))
    return found


def _snapshot(registry: ModelRegistry, leftovers: set[str]) -> dict[str, tuple]:
    """Every path in the registry that is not a leftover: a file's size, mtime and inode, a
    directory's inode (its mtime moves when a leftover inside it goes)."""
    found = {}
    for root, dirs, files in os.walk(registry.directory):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in leftovers]
        for name in dirs + files:
            full = os.path.join(root, name)
            if full not in leftovers:
                st = os.lstat(full)
                found[full] = (
                    (st.st_ino,) if name in dirs else (st.st_size, st.st_mtime_ns, st.st_ino)
                )
    return found


def _check_published(registry: ModelRegistry, manifests: dict[str, dict]) -> None:
    complete = registry.versions()
    holds = {}
    for name in os.listdir(registry.directory):
        if name.isdigit():
            assert int(name) in complete, f"version {name} has no {SAVED_MODEL}"
            manifest = _manifest(registry.version_dir(int(name)))
            matches = [source for source, m in manifests.items() if m == manifest]
            assert matches, f"version {name} is a copy of no source: {sorted(manifest)}"
            holds[int(name)] = matches[0]
    metadata_dir = os.path.join(registry.directory, "metadata")
    for name in os.listdir(metadata_dir):
        if name.startswith("."):
            continue  # a temporary file: never read
        with open(os.path.join(metadata_dir, name)) as f:
            record = json.load(f)  # parses
        version = int(name.removesuffix(".json"))
        assert record["version"] == version and version in complete, record
        assert holds[version] == record["source"], "metadata names the source its version holds"
        assert registry.metadata(version) == record
    with open(os.path.join(registry.directory, CHAMPION_FILE)) as f:
        champion = json.load(f)
    assert champion["version"] in complete
    assert champion["path"] == registry.version_dir(champion["version"])


def _outcome(registry, before_versions, before_leftovers, champion_before, sources) -> str:
    """Where the kill landed, read from what it left."""
    new = _leftovers(registry) - before_leftovers
    staging = [p for p in new if os.path.basename(p).startswith(STAGING_PREFIX)]
    if staging:
        (path,) = staging
        if os.path.exists(os.path.join(path, SAVED_MODEL)):
            return "copied, not yet renamed"
        source = sources[0]
        for root, _, files in os.walk(path):
            for name in files:
                rel = os.path.relpath(os.path.join(root, name), path)
                if os.path.getsize(os.path.join(path, rel)) != os.path.getsize(
                    os.path.join(source, rel)
                ):
                    return "mid-copy, inside a file"
        return "mid-copy, between files"
    if any(os.path.basename(os.path.dirname(p)) == "metadata" for p in new):
        return "writing metadata"
    if any(os.path.basename(p).startswith(f".{CHAMPION_FILE}") for p in new):
        return "writing champion.json"
    added = set(registry.versions()) - set(before_versions)
    if not added:
        return "before the copy began"
    (version,) = added
    if not os.path.exists(registry.metadata_path(version)):
        return "renamed, metadata not written"
    if registry.champion() == champion_before:
        return "metadata written, champion not moved"
    return "completed"


def _prune(registry: ModelRegistry) -> None:
    """Keep only the champion (the checks above read every version; keep them few)."""
    keep = registry.champion()["version"]
    for version in registry.versions():
        if version != keep:
            shutil.rmtree(registry.version_dir(version))
            with contextlib.suppress(FileNotFoundError):  # a kill before it was written
                os.remove(registry.metadata_path(version))


def _child(root: str, source: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, root, source, str(PINNED)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )


def test_sigkill_during_push_never_publishes_a_partial_state(tmp_path, monkeypatch):
    started = time.monotonic()
    rng = random.Random(17)
    sources = [_source(tmp_path / f"source-{k}", k, rng) for k in range(3)]
    manifests = {s: _manifest(s) for s in sources}
    root = str(tmp_path / "registry")
    registry = ModelRegistry(root, "m")
    registry.push(sources[0], {"source": sources[0]})

    # How long a push takes here, from "ready": the kills are spread over that window, which
    # follows the pushes that finished (the first ones run on a cold cache).
    durations = []
    for _ in range(3):
        child = _child(root, sources[1])
        out, _ = child.communicate(timeout=60)
        assert child.returncode == 0, out
        durations.append(float(out.split()[-1]))

    def window() -> float:
        return max(statistics.median(durations[-9:]) * 1.2, 0.002)

    _prune(registry)

    monkeypatch.setattr(ModelRegistry, "next_version", lambda self: PINNED)
    outcomes = collections.Counter()
    for trial in range(TRIALS):
        killed, follow = sources[trial % 3], sources[(trial + 1) % 3]
        before = (registry.versions(), _leftovers(registry), registry.champion())
        child = _child(root, killed)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0, window()))
        child.send_signal(signal.SIGKILL)  # nothing if it already finished
        out, _ = child.communicate(timeout=30)
        if child.returncode == 0:
            durations.append(float(out.split()[-1]))
        outcome = _outcome(registry, *before, [killed])
        outcomes[outcome] += 1
        _check_published(registry, manifests)

        # The next push asks for the same number, from another source: exactly its files.
        version = registry.push(follow, {"source": follow})
        assert _manifest(registry.version_dir(version)) == manifests[follow], outcome
        assert registry.champion()["version"] == version
        assert registry.metadata(version)["source"] == follow
        _check_published(registry, manifests)
        _prune(registry)

    mid_copy = sum(n for outcome, n in outcomes.items() if outcome.startswith("mid-copy"))
    print(f"\n{TRIALS} kills, push window {window() * 1000:.1f} ms: {dict(outcomes)}")
    assert mid_copy >= 5, outcomes

    # Every kill during the copy left its staging directory; the default grace keeps them all.
    leftovers = _leftovers(registry)
    staged = sum(n for o, n in outcomes.items() if o.startswith(("mid-copy", "copied")))
    assert len([p for p in leftovers if STAGING_PREFIX in p]) == staged
    published = _snapshot(registry, leftovers)
    kept = registry.collect_garbage()
    assert {item.path for item in kept} == leftovers
    assert {item.action for item in kept} == {"kept"}
    assert _leftovers(registry) == leftovers and _snapshot(registry, leftovers) == published

    # Grace 0: every leftover goes, nothing else is touched.
    removed = registry.collect_garbage(grace_seconds=0)
    assert {item.path for item in removed} == leftovers
    assert {item.action for item in removed} == {"removed"}
    assert _leftovers(registry) == set()
    assert _snapshot(registry, set()) == published
    _check_published(registry, manifests)
    assert time.monotonic() - started < 120
