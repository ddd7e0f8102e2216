"""The reference store: per dataset, the curated schema and the last accepted statistics.

Layout (outside any run's pipeline root, so it outlives runs)::

    {reference_root}/{dataset}/schema.pbtxt                  the reference schema (edit it freely)
    {reference_root}/{dataset}/statistics/FeatureStats.pb    train statistics of the last run
                                                             whose data passed validation
    {reference_root}/{dataset}/history.jsonl                 what changed, when, by which run

The first successful run of a dataset sets the schema; later runs import it, so bad new data
is reported as anomalies instead of being silently re-inferred (the TFX schema-curation
workflow). `kubetfx reference show|reset` inspects or clears it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json

from kubetfx.components import fileio

SCHEMA_FILE = "schema.pbtxt"
STATS_FILE = "statistics/FeatureStats.pb"
HISTORY_FILE = "history.jsonl"


@dataclasses.dataclass(frozen=True)
class ReferenceStore:
    root: str
    dataset: str

    @property
    def directory(self) -> str:
        return fileio.join(self.root, self.dataset)

    @property
    def schema_path(self) -> str:
        return fileio.join(self.directory, SCHEMA_FILE)

    @property
    def statistics_path(self) -> str:
        return fileio.join(self.directory, STATS_FILE)

    def has_schema(self) -> bool:
        return fileio.exists(self.schema_path)

    def has_statistics(self) -> bool:
        return fileio.exists(self.statistics_path)

    def _install(self, src: str, dst: str) -> None:
        # Copy beside the target, then rename over it: a reader never sees half a file.
        staging = dst + ".staging"
        fileio.copy(src, staging)
        fileio.replace_file(staging, dst)

    def set_schema(self, schema_path: str, run: str) -> None:
        self._install(schema_path, self.schema_path)
        self._log("schema", schema_path, run)

    def set_statistics(self, stats_path: str, run: str) -> None:
        self._install(stats_path, self.statistics_path)
        self._log("statistics", stats_path, run)

    def _log(self, what: str, source: str, run: str) -> None:
        entry = {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "set": what,
            "from": source,
            "run": run,
        }
        history = fileio.join(self.directory, HISTORY_FILE)
        previous = fileio.read_text(history) if fileio.exists(history) else ""
        fileio.write_text(history, previous + json.dumps(entry) + "\n")

    def describe(self) -> dict[str, object]:
        history = fileio.join(self.directory, HISTORY_FILE)
        lines = fileio.read_text(history).splitlines() if fileio.exists(history) else []
        return {
            "dataset": self.dataset,
            "directory": self.directory,
            "schema": self.schema_path if self.has_schema() else None,
            "statistics": self.statistics_path if self.has_statistics() else None,
            "history": [json.loads(line) for line in lines[-10:]],
        }

    def reset(self) -> bool:
        """Forget the reference: the next run infers a new schema. True if anything existed."""
        if not fileio.exists(self.directory):
            return False
        fileio.rmtree(self.directory)
        return True
