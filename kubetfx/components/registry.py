"""The model registry: TF Serving layout on local disk or GCS, plus metadata and a champion.

    {root}/{model}/{version}/saved_model.pb, variables/, assets/   (TF Serving reads these)
    {root}/{model}/metadata/{version}.json                         run, data, metrics, reasons
    {root}/{model}/champion.json                                   the current champion

A version is written under a staging name TF Serving ignores (`.staging-...`), with
saved_model.pb copied last, then renamed into place; only then does the champion pointer
move (itself written to a temporary file and renamed). A reader never sees half a model.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os

from kubetfx.components import fileio
from kubetfx.errors import RegistryError

CHAMPION_FILE = "champion.json"
SAVED_MODEL = "saved_model.pb"


@dataclasses.dataclass(frozen=True)
class ModelRegistry:
    root: str
    model_name: str

    @property
    def directory(self) -> str:
        return fileio.join(self.root, self.model_name)

    def version_dir(self, version: int) -> str:
        return fileio.join(self.directory, str(version))

    def versions(self) -> list[int]:
        """Complete versions (numeric directories holding saved_model.pb), ascending."""
        if not fileio.exists(self.directory):
            return []
        found = []
        for entry in fileio.listdir(self.directory):
            name = entry.rstrip("/")
            if name.isdigit() and fileio.exists(fileio.join(self.directory, name, SAVED_MODEL)):
                found.append(int(name))
        return sorted(found)

    def champion(self) -> dict | None:
        path = fileio.join(self.directory, CHAMPION_FILE)
        return json.loads(fileio.read_text(path)) if fileio.exists(path) else None

    def champion_path(self) -> str | None:
        champion = self.champion()
        return self.version_dir(champion["version"]) if champion else None

    def metadata(self, version: int) -> dict:
        return json.loads(
            fileio.read_text(fileio.join(self.directory, "metadata", f"{version}.json"))
        )

    def next_version(self) -> int:
        # TF Serving versions are integers; a timestamp keeps them readable and increasing.
        stamp = int(datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S"))
        existing = self.versions()
        return max(stamp, existing[-1] + 1) if existing else stamp

    def push(self, model_dir: str, metadata: dict, make_champion: bool = True) -> int:
        """Copy model_dir in as a new version; return it. Atomic for readers."""
        version = self.next_version()
        final = self.version_dir(version)
        # Object stores cannot rename a directory atomically: there the files go straight to
        # the version, saved_model.pb last (the file TF Serving waits for).
        staging = (
            final if fileio.is_remote(final) else fileio.join(self.directory, f".staging-{version}")
        )
        fileio.copy_tree(model_dir, staging, last=SAVED_MODEL)
        if staging != final:
            os.rename(staging, final)  # the version appears whole, or not at all
        record = {
            "version": version,
            "path": final,
            "pushed_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            **metadata,
        }
        fileio.write_text(
            fileio.join(self.directory, "metadata", f"{version}.json"), json.dumps(record, indent=2)
        )
        if make_champion:
            self.set_champion(version)
        return version

    def set_champion(self, version: int) -> None:
        if version not in self.versions():
            raise RegistryError(f"version {version} of {self.model_name} is not in the registry")
        pointer = fileio.join(self.directory, CHAMPION_FILE)
        body = {
            "version": version,
            "path": self.version_dir(version),
            "since": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        fileio.write_text(pointer + ".tmp", json.dumps(body, indent=2))
        fileio.replace_file(pointer + ".tmp", pointer)
