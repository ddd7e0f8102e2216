"""The model registry: TF Serving layout on local disk or GCS, plus metadata and a champion.

    {root}/{model}/{version}/saved_model.pb, variables/, assets/   (TF Serving reads these)
    {root}/{model}/{version}/assets.extra/model_card.{json,md,html}   the version's model card
    {root}/{model}/metadata/{version}.json                         run, data, metrics, reasons
    {root}/{model}/champion.json                                   the current champion

Crash safety. A process killed at any point of a push (SIGKILL, a lost node) never leaves a
reader a half-written file or half a model:

- On local disk a version is copied into a staging directory of its own,
  `.staging-{version}-{pid}-{random}` (TF Serving ignores dot names), saved_model.pb last, and
  renamed into place: it appears whole or not at all. A fresh name per attempt means a push
  never starts from what an aborted one left, and the rename never lands on a version that
  exists (if another push took the number, the next free one is used).
- Every file the registry publishes (metadata, the champion pointer) is written to a temporary
  name beside it (`.{name}.tmp-{pid}-{random}`), flushed to disk and renamed over the target.
- On object stores (gs://) a directory cannot be renamed atomically, so, as before, the files
  of a version go straight to its directory with saved_model.pb last (the file TF Serving
  waits for), and a published file is written as one object, which the store replaces whole:
  a reader sees the old object or the new one, never a part.

What a killed push leaves behind (a staging directory, a temporary file) is never read and is
removed by `collect_garbage` (`kubetfx registry gc`, and the model server at start) once it has
not changed for a grace period: a younger one may belong to a push still running.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import errno
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable

from kubetfx.components import fileio
from kubetfx.errors import RegistryError

CHAMPION_FILE = "champion.json"
SAVED_MODEL = "saved_model.pb"
METADATA_DIR = "metadata"
STAGING_PREFIX = ".staging-"
TEMP_MARK = ".tmp-"
LEGACY_TEMP_FILES = (CHAMPION_FILE + ".tmp",)  # the fixed temporary name of earlier releases
GC_GRACE_SECONDS = 3600.0  # leftovers younger than this may be a push in progress
# The model card travels inside its version (assets.extra, TF Serving's directory for files
# beside the model), so it appears with the version or not at all. model_digest reads only
# fingerprint.pb and assets/, so the card (run name, dates) never changes a model's identity.
CARD_FORMATS = {"json": "application/json", "md": "text/markdown", "html": "text/html"}


def card_file(fmt: str) -> str:
    """A card's path inside its version: assets.extra/model_card.{json,md,html}."""
    return f"assets.extra/model_card.{fmt}"


def _attempt_id() -> str:
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def _local(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def _publish_text(path: str, text: str) -> None:
    """Write a file readers never see half-written: locally a temporary name beside it, fsync,
    rename; on an object store one object write (replaced whole)."""
    if fileio.is_remote(path):
        fileio.write_text(path, text)
        return
    directory, name = os.path.split(_local(path))
    temp = os.path.join(directory, f".{name}{TEMP_MARK}{_attempt_id()}")
    try:
        with fileio.open_file(temp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, _local(path))
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise


@dataclasses.dataclass(frozen=True)
class Leftover:
    """Something an interrupted push or write left in the registry, and what gc did with it."""

    path: str
    kind: str  # "staging directory" or "temporary file"
    idle_seconds: float  # since anything in it last changed
    bytes: int
    action: str  # "removed", "would remove" (dry run), "kept" (younger than grace), "failed"
    error: str = ""

    def describe(self) -> str:
        what = f"{self.kind}, {_size(self.bytes)}, last changed {_duration(self.idle_seconds)} ago"
        if self.action == "kept":
            what += ": within the grace period, may be a push in progress"
        elif self.action == "failed":
            what += f": {self.error}"
        return f"{self.action} {self.path} ({what})"


@dataclasses.dataclass(frozen=True)
class ModelRegistry:
    root: str
    model_name: str

    @property
    def directory(self) -> str:
        return fileio.join(self.root, self.model_name)

    def version_dir(self, version: int) -> str:
        return fileio.join(self.directory, str(version))

    def card_path(self, version: int, fmt: str = "json") -> str:
        return fileio.join(self.version_dir(version), card_file(fmt))

    def metadata_path(self, version: int) -> str:
        return fileio.join(self.directory, METADATA_DIR, f"{version}.json")

    def _numeric_entries(self) -> list[str]:
        if not fileio.exists(self.directory):
            return []
        names = (entry.rstrip("/") for entry in fileio.listdir(self.directory))
        return [name for name in names if name.isdigit()]

    def versions(self) -> list[int]:
        """Complete versions (numeric directories holding saved_model.pb), ascending."""
        return sorted(
            int(name)
            for name in self._numeric_entries()
            if fileio.exists(fileio.join(self.directory, name, SAVED_MODEL))
        )

    def champion(self) -> dict | None:
        path = fileio.join(self.directory, CHAMPION_FILE)
        if not fileio.exists(path):
            return None
        pointer = self._read_record(path, f"the champion pointer of {self.model_name}")
        if not isinstance(pointer.get("version"), int):
            raise RegistryError(f"the champion pointer {path} names no version: {pointer}")
        return pointer

    def champion_path(self) -> str | None:
        champion = self.champion()
        return self.version_dir(champion["version"]) if champion else None

    def metadata(self, version: int) -> dict:
        path = self.metadata_path(version)
        if not fileio.exists(path):
            if version not in self.versions():
                raise RegistryError(
                    f"version {version} of {self.model_name} is not in the registry "
                    f"{self.root} (versions: {self.versions() or 'none'})"
                )
            raise RegistryError(
                f"version {version} of {self.model_name} has no metadata file ({path}): the "
                "push that wrote the version was interrupted before recording it"
            )
        return self._read_record(path, f"the metadata of version {version} of {self.model_name}")

    def _read_record(self, path: str, what: str) -> dict:
        try:
            record = json.loads(fileio.read_text(path))
        except FileNotFoundError as e:  # removed between the check and the read
            raise RegistryError(f"{what} ({path}) disappeared while being read") from e
        except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
            raise RegistryError(f"{what} ({path}) is not valid JSON: {e}") from e
        if not isinstance(record, dict):
            raise RegistryError(f"{what} ({path}) is not a JSON object")
        return record

    def next_version(self) -> int:
        # TF Serving versions are integers; a timestamp keeps them readable and increasing.
        # Any numeric directory counts, even an incomplete one (an aborted remote push).
        stamp = int(datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S"))
        taken = [int(name) for name in self._numeric_entries()]
        return max(stamp, max(taken) + 1) if taken else stamp

    def push(
        self,
        model_dir: str,
        metadata: dict,
        make_champion: bool = True,
        extra_files: dict[str, bytes] | None = None,
        version_files: Callable[[int], dict[str, bytes]] | None = None,
    ) -> int:
        """Copy model_dir in as a new version, plus `extra_files` (path in the version ->
        bytes, e.g. the warmup requests) and `version_files(version)` (files that name their
        version, e.g. the model card: made once the number is final); return the version.
        Atomic for readers: if `version_files` raises, no version appears."""
        if not fileio.exists(fileio.join(model_dir, SAVED_MODEL)):
            raise RegistryError(f"{model_dir} is not a SavedModel: it has no {SAVED_MODEL}")
        version = self.next_version()
        if fileio.is_remote(self.directory):
            # No atomic directory rename on object stores: the files go straight to the
            # version, saved_model.pb last (the file TF Serving waits for).
            while fileio.exists(self.version_dir(version)):
                version += 1
            extra = {**(extra_files or {}), **(version_files(version) if version_files else {})}
            fileio.copy_tree(model_dir, self.version_dir(version), last=SAVED_MODEL, extra=extra)
        else:
            version = self._push_local(model_dir, version, extra_files, version_files)
        record = {
            "version": version,
            "path": self.version_dir(version),
            "pushed_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            **metadata,
        }
        _publish_text(self.metadata_path(version), json.dumps(record, indent=2))
        if make_champion:
            self.set_champion(version)
        return version

    def _push_local(
        self,
        model_dir: str,
        version: int,
        extra: dict[str, bytes] | None,
        version_files: Callable[[int], dict[str, bytes]] | None = None,
    ) -> int:
        """Copy into a staging directory of this attempt's own, then rename it to the first
        free version number from `version` on; return the number. `version_files` are
        written into the staging copy for each number tried, just before its rename."""
        staging = _local(fileio.join(self.directory, f"{STAGING_PREFIX}{version}-{_attempt_id()}"))
        if os.path.lexists(staging):  # not with a random name; never start from a stale copy
            shutil.rmtree(staging)
        try:
            fileio.copy_tree(model_dir, staging, last=SAVED_MODEL, extra=extra)
            for _ in range(10_000):
                final = _local(self.version_dir(version))
                if not os.path.lexists(final):
                    for relative, data in (version_files(version) if version_files else {}).items():
                        fileio.write_bytes(os.path.join(staging, relative), data)
                    try:
                        os.rename(staging, final)  # the version appears whole, or not at all
                        return version
                    except FileNotFoundError as e:
                        if os.path.lexists(staging):
                            raise
                        raise RegistryError(
                            f"the staging copy {staging} was removed while the push ran (by "
                            "`kubetfx registry gc` with a grace period shorter than a push?); "
                            "push again"
                        ) from e
                    except OSError as e:
                        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR):
                            raise
                version += 1  # another push took this number
            raise RegistryError(f"no free version number for {self.model_name} from {version}")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def version_with_digest(self, digest: str) -> int | None:
        """The newest version whose model has this `model_digest`, if any. The digest comes
        from its metadata, else (versions pushed before digests were recorded) its files."""
        for version in reversed(self.versions()):
            try:
                known = self.metadata(version).get("model_digest")
            except RegistryError:  # no or unreadable metadata: judge by the files
                known = None
            if (known or model_digest(self.version_dir(version))) == digest:
                return version
        return None

    def set_champion(self, version: int) -> None:
        if version not in self.versions():
            raise RegistryError(f"version {version} of {self.model_name} is not in the registry")
        body = {
            "version": version,
            "path": self.version_dir(version),
            "since": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        _publish_text(fileio.join(self.directory, CHAMPION_FILE), json.dumps(body, indent=2))

    def collect_garbage(
        self,
        grace_seconds: float = GC_GRACE_SECONDS,
        dry_run: bool = False,
        now: float | None = None,
    ) -> list[Leftover]:
        """Find what interrupted pushes and writes left (staging directories, temporary files)
        and remove those unchanged for `grace_seconds`; younger ones are kept and reported,
        as they may belong to a push in progress. Nothing else is ever touched."""
        now = time.time() if now is None else now
        found = []
        for path, kind in self._leftovers():
            try:
                idle = max(0.0, now - _last_change(path))
                size = fileio.tree_size(path)
            except FileNotFoundError:  # a push renamed it into place, or another gc won
                continue
            if idle < grace_seconds:
                action, error = "kept", ""
            elif dry_run:
                action, error = "would remove", ""
            else:
                action, error = _remove(path, kind)
                if action == "gone":
                    continue
            found.append(Leftover(path, kind, idle, size, action, error))
        return found

    def _leftovers(self) -> list[tuple[str, str]]:
        found = []
        for directory in (self.directory, fileio.join(self.directory, METADATA_DIR)):
            if not fileio.exists(directory):
                continue
            for entry in sorted(fileio.listdir(directory)):
                name = entry.rstrip("/")
                path = fileio.join(directory, name)
                if directory == self.directory and name.startswith(STAGING_PREFIX):
                    if not fileio.is_remote(path) and os.path.islink(_local(path)):
                        continue  # not something a push makes
                    found.append((path, "staging directory"))
                elif (name.startswith(".") and TEMP_MARK in name) or name in LEGACY_TEMP_FILES:
                    found.append((path, "temporary file"))
        return found


def model_names(root: str) -> list[str]:
    """The models in a registry root: its directories whose names do not start with a dot."""
    if not fileio.exists(root):
        return []
    names = []
    for entry in fileio.listdir(root):
        name = entry.rstrip("/")
        if not name.startswith(".") and _is_dir(fileio.join(root, name)):
            names.append(name)
    return sorted(names)


def collect_garbage(
    root: str,
    models: list[str] | None = None,
    grace_seconds: float = GC_GRACE_SECONDS,
    dry_run: bool = False,
) -> list[Leftover]:
    """`ModelRegistry.collect_garbage` for the given models (default: all in the root)."""
    found = []
    for name in model_names(root) if models is None else models:
        found += ModelRegistry(root, name).collect_garbage(grace_seconds, dry_run)
    return found


def _is_dir(path: str) -> bool:
    if fileio.is_remote(path):
        import tensorflow as tf

        return tf.io.gfile.isdir(path)
    return os.path.isdir(_local(path))


def _last_change(path: str) -> float:
    """When anything in a file or tree last changed, in epoch seconds. Locally the newest
    ctime: a copy keeps its source's mtimes, but creating or touching a file sets its ctime."""
    if fileio.is_remote(path):
        import tensorflow as tf

        gfile = tf.io.gfile
        if not gfile.isdir(path):
            return gfile.stat(path).mtime_nsec / 1e9
        stamps = [
            gfile.stat(fileio.join(d, f)).mtime_nsec / 1e9
            for d, _, files in gfile.walk(path)
            for f in files
        ]
        return max(stamps, default=0.0)
    local = _local(path)
    newest = os.lstat(local).st_ctime
    for directory, dirs, files in os.walk(local):
        for name in dirs + files:
            with contextlib.suppress(FileNotFoundError):
                newest = max(newest, os.lstat(os.path.join(directory, name)).st_ctime)
    return newest


def _remove(path: str, kind: str) -> tuple[str, str]:
    """Remove one leftover; ("removed", ""), ("gone", "") if it vanished, or ("failed", why)."""
    try:
        if fileio.is_remote(path):
            (fileio.rmtree if kind == "staging directory" else fileio.remove)(path)
        elif kind == "staging directory":
            # Claim it first with an atomic rename: a push that is about to rename it into
            # place then fails cleanly instead of publishing a half-deleted version. The new
            # name is still a staging name, so a gc killed mid-delete is finished by the next.
            claimed = f"{_local(path)}-gc-{_attempt_id()}"
            os.rename(_local(path), claimed)
            shutil.rmtree(claimed)
        else:
            os.remove(_local(path))
    except FileNotFoundError:
        return "gone", ""
    except OSError as e:
        return "failed", f"{type(e).__name__}: {e}"
    return "removed", ""


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def model_digest(model_dir: str) -> str | None:
    """The identity of a SavedModel's behaviour: TensorFlow's own fingerprint (fingerprint.pb,
    written by tf.saved_model.save since TF 2.12) without its checksum of the raw bytes, plus
    the asset files (e.g. tf.Transform vocabularies). TF's hashes are of the regularized graph
    (node names and UIDs that differ between identical runs are left out), the signatures, the
    object graph and the variables, so the same data and config give the same digest: two
    deterministic runs of the default pipeline, one in the venv and one in the component image,
    did. None when the model has no fingerprint (saved by an older TensorFlow)."""
    path = fileio.join(model_dir, "fingerprint.pb")
    if not fileio.exists(path):
        return None
    from tensorflow.core.protobuf import fingerprint_pb2

    fp = fingerprint_pb2.FingerprintDef.FromString(fileio.read_bytes(path))
    digest = hashlib.sha256()
    for part in (
        fp.graph_def_program_hash, fp.signature_def_hash, fp.saved_object_graph_hash,
        fp.checkpoint_hash,
    ):  # fmt: skip
        digest.update(f"{part}\n".encode())
    assets = fileio.join(model_dir, "assets")
    for name in sorted(fileio.listdir(assets)) if fileio.exists(assets) else []:
        if not _is_dir(fileio.join(assets, name)):
            digest.update(name.encode() + b"\0" + fileio.read_bytes(fileio.join(assets, name)))
    return "sha256:" + digest.hexdigest()
