"""Sampled request/response logs as JSONL: the input of drift and skew monitoring.

    {dir}/{model}/{YYYY-MM-DD}/requests-{HH}-{host}-{pid}.jsonl      local: appended
    {dir}/{model}/{YYYY-MM-DD}/requests-{HHMMSS}-{host}-{pid}-{n}.jsonl   gs://: one per flush

One record per request: ts, request_id, model, version, label, role ("served", or "shadow"
for the challenger's copy), signature, features (one object per example, null = missing),
predictions, latency_ms. Records are queued and written by a background thread, so a slow
disk or bucket never delays an answer.

Nothing is lost silently. Every record that is not written is counted under its reason
(`dropped_by_reason`, served as `kubetfx_request_log_dropped_total{reason}`):

    queue_full    the queue holds `max_queue` records: the newest is dropped (the request
                  path never waits for the writer, and what is queued is kept in order)
    unencodable   the record cannot be written as JSON; the writer goes on with the next
    write_failed  the file or bucket refused the write
    writer_died   the writer thread ended with records in hand; it is restarted at once

and `health()` says "degraded" while the writer is down or for `degraded_seconds` after any
of these.
"""

from __future__ import annotations

import datetime
import logging
import os
import queue
import random
import socket
import threading
import time
from collections.abc import Callable

import orjson

from kubetfx.components import fileio

log = logging.getLogger("kubetfx.serving")

QUEUE_FULL, UNENCODABLE, WRITE_FAILED, WRITER_DIED = (
    "queue_full",
    "unencodable",
    "write_failed",
    "writer_died",
)
DROP_REASONS = (QUEUE_FULL, UNENCODABLE, WRITE_FAILED, WRITER_DIED)


class RequestLog:
    def __init__(
        self,
        directory: str,
        sample_rate: float,
        flush_seconds: float = 1.0,
        rand: Callable[[], float] = random.random,
        max_queue: int = 10_000,
        degraded_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.directory = directory
        self.sample_rate = sample_rate
        self.flush_seconds = flush_seconds
        self.max_queue = max_queue
        self.degraded_seconds = degraded_seconds
        self.written = 0
        self.dropped_by_reason = dict.fromkeys(DROP_REASONS, 0)
        self.restarts = 0
        self._rand, self._clock = rand, clock
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._origin = f"{socket.gethostname()}-{os.getpid()}"
        self._parts = 0
        self._lock = threading.Lock()  # the counters: the event loop and the writer both count
        self._stop = threading.Event()
        self._in_hand = 0  # records taken off the queue and not yet written or counted
        self._problem: tuple[float, str] | None = None  # (clock, what) of the latest loss
        self._death = ""
        self._thread: threading.Thread | None = None
        if sample_rate > 0:
            self._start()

    @property
    def dropped(self) -> int:
        return sum(self.dropped_by_reason.values())

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def sampled(self) -> bool:
        return self.sample_rate >= 1.0 or (self.sample_rate > 0 and self._rand() < self.sample_rate)

    def write(self, record: dict) -> None:
        self._ensure_writer()
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._drop(QUEUE_FULL, 1, f"the queue holds {self.max_queue} records")

    def health(self) -> dict:
        """ok, degraded (the writer is down, or records were lost lately) or off."""
        if self.sample_rate <= 0:
            return {"status": "off"}
        self._ensure_writer()
        problem = self._problem
        recent = problem is not None and self._clock() - problem[0] < self.degraded_seconds
        status = {
            "status": "degraded" if recent else "ok",
            "written": self.written,
            "dropped": dict(self.dropped_by_reason),
            "queued": self.queued,
            "writer_restarts": self.restarts,
        }
        if recent:
            status["reason"] = problem[1]
        return status

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=10)

    # --- the writer thread ---------------------------------------------------------------
    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self._thread.start()

    def _ensure_writer(self) -> None:
        """Restart a writer that died (it never should: this is the last line of defence)."""
        thread = self._thread
        if thread is None or thread.is_alive() or self._stop.is_set():
            return
        with self._lock:
            if self._thread is not thread:  # another caller restarted it
                return
            lost, self._in_hand = self._in_hand, 0
            self.dropped_by_reason[WRITER_DIED] += lost
            self.restarts += 1
            self._problem = (self._clock(), f"the writer thread died ({self._death}); restarted")
            log.error(
                "request log writer died (%s), %d records lost; restarting", self._death, lost
            )
            self._start()

    def _drop(self, reason: str, count: int, detail: str) -> None:
        with self._lock:
            self.dropped_by_reason[reason] += count
            self._problem = (self._clock(), f"{count} record(s) dropped ({reason}): {detail}")

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._stop.wait(self.flush_seconds)
                self._drain()
            self._drain()
        except BaseException as e:  # noted for the restart, then the thread ends
            self._death = f"{type(e).__name__}: {e}"
            raise

    def _drain(self) -> None:
        records = []
        while True:
            try:
                records.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if not records:
            return
        self._in_hand = len(records)
        self._parts += 1
        for path, lines in self._encode(records).items():
            try:
                self._append(path, b"\n".join(lines) + b"\n")
                with self._lock:
                    self.written += len(lines)
            except Exception as e:  # the answer was already sent; keep serving and say so
                self._drop(WRITE_FAILED, len(lines), f"{path}: {type(e).__name__}: {e}")
                log.exception("could not write %d request log records to %s", len(lines), path)
            self._in_hand -= len(lines)

    def _encode(self, records: list[dict]) -> dict[str, list[bytes]]:
        """JSON lines by file; a record that cannot be encoded is counted and skipped."""
        by_file: dict[str, list[bytes]] = {}
        failed, first = 0, ""
        for record in records:
            try:
                line = orjson.dumps(record)
                path = self._path(record)
            except Exception as e:  # e.g. an integer past 64 bits: skip it, keep the rest
                failed, first = failed + 1, first or f"{type(e).__name__}: {e}"
                continue
            by_file.setdefault(path, []).append(line)
        if failed:
            self._in_hand -= failed
            self._drop(UNENCODABLE, failed, first)
            log.warning("%d request log record(s) cannot be written as JSON: %s", failed, first)
        return by_file

    def _path(self, record: dict) -> str:
        ts = datetime.datetime.fromisoformat(record["ts"])
        day = ts.strftime("%Y-%m-%d")
        if fileio.is_remote(self.directory):
            name = f"requests-{ts:%H%M%S}-{self._origin}-{self._parts}.jsonl"
        else:
            name = f"requests-{ts:%H}-{self._origin}.jsonl"
        return fileio.join(self.directory, record["model"], day, name)

    def _append(self, path: str, data: bytes) -> None:
        if fileio.is_remote(path):
            fileio.write_bytes(path, data)  # objects cannot be appended to: one per flush
            return
        with fileio.open_file(path, "ab") as f:
            f.write(data)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
