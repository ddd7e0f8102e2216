"""Sampled request/response logs as JSONL: the input of drift and skew monitoring.

    {dir}/{model}/{YYYY-MM-DD}/requests-{HH}-{host}-{pid}.jsonl      local: appended
    {dir}/{model}/{YYYY-MM-DD}/requests-{HHMMSS}-{host}-{pid}-{n}.jsonl   gs://: one per flush

One record per request: ts, request_id, model, version, label, role ("served", or "shadow"
for the challenger's copy), signature, features (one object per example, null = missing),
predictions, latency_ms. Records are queued and written by a background thread, so a slow
disk or bucket never delays an answer; a full queue drops records and counts them.
"""

from __future__ import annotations

import datetime
import logging
import os
import queue
import random
import socket
import threading
from collections.abc import Callable

import orjson

from kubetfx.components import fileio

log = logging.getLogger("kubetfx.serving")


class RequestLog:
    def __init__(
        self,
        directory: str,
        sample_rate: float,
        flush_seconds: float = 1.0,
        rand: Callable[[], float] = random.random,
        max_queue: int = 100_000,
    ):
        self.directory = directory
        self.sample_rate = sample_rate
        self.flush_seconds = flush_seconds
        self.dropped = 0
        self.written = 0
        self._rand = rand
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._origin = f"{socket.gethostname()}-{os.getpid()}"
        self._parts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        if sample_rate > 0:
            self._thread.start()

    def sampled(self) -> bool:
        return self.sample_rate >= 1.0 or (self.sample_rate > 0 and self._rand() < self.sample_rate)

    def write(self, record: dict) -> None:
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.flush_seconds)
            self._drain()
        self._drain()

    def _drain(self) -> None:
        records = []
        while True:
            try:
                records.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if not records:
            return
        self._parts += 1
        by_file: dict[str, list[str]] = {}
        for record in records:
            by_file.setdefault(self._path(record), []).append(orjson.dumps(record))
        for path, lines in by_file.items():
            try:
                self._append(path, b"\n".join(lines) + b"\n")
                self.written += len(lines)
            except OSError:  # the answer was already sent; keep serving and say so
                self.dropped += len(lines)
                log.exception("could not write %d request log records to %s", len(lines), path)

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
