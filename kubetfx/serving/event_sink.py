"""`python -m kubetfx.serving.event_sink`: store KServe request-logger CloudEvents for monitoring.

KServe's logger (an InferenceService's `spec.predictor.logger`) POSTs each request and each
answered response of the predictor as a CloudEvent in HTTP binary mode: the body is the
request or response as sent, the attributes are `ce-*` headers (`ce-id`, shared by a request
and its response; `ce-type` org.kubeflow.serving.inference.request or .response;
`ce-source`, `ce-time`, and the extensions `ce-inferenceservicename`, `ce-namespace`,
`ce-component`, `ce-endpoint`, `ce-metadata`, `ce-annotations`). This sink turns each into
the CloudEvents structured JSON form, one line per event:

    {dir}/{inferenceservicename}/{YYYY-MM-DD}/events-{HH}-{host}-{pid}.jsonl        local
    {dir}/{inferenceservicename}/{YYYY-MM-DD}/events-{HHMMSS}-{host}-{pid}-{n}.jsonl  gs://

(the day and hour of the event's `time`, UTC), where `kubetfx monitor` with
serving.request_log.source 'kserve' reads them (kubetfx/components/monitor/sources.py).
A structured-mode POST (Content-Type application/cloudevents+json) is stored as it is.
Events are buffered and written every `--flush-seconds` by one thread, and on SIGTERM.
Standard library only (plus tf.io.gfile for gs://), so it runs in the server image.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import http.server
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import urllib.parse

from kubetfx.components import fileio

log = logging.getLogger("kubetfx.event_sink")

REQUIRED = ("id", "source", "type", "specversion")
STRUCTURED = "application/cloudevents+json"
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?$")  # a Kubernetes object name


def to_structured(headers: dict[str, str], body: bytes) -> dict:
    """One binary-mode event (lower-case header names) as a structured JSON event. Raises
    ValueError naming what is missing or wrong."""
    content_type = headers.get("content-type", "")
    if content_type.split(";")[0].strip() == STRUCTURED:
        event = json.loads(body)
        if not isinstance(event, dict):
            raise ValueError("a structured CloudEvent must be a JSON object")
    else:
        # Header values are percent-encoded by the CloudEvents HTTP binding.
        event = {
            name[3:]: urllib.parse.unquote(value)
            for name, value in headers.items()
            if name.startswith("ce-")
        }
        if content_type:
            event["datacontenttype"] = content_type
        if _is_json(content_type):
            try:
                event["data"] = json.loads(body) if body else None
            except ValueError as e:
                raise ValueError(f"the body is not the JSON its Content-Type says ({e})") from e
        else:  # TF Serving reads any content type as JSON; keep the bytes exactly
            event["data_base64"] = base64.b64encode(body).decode()
    missing = [a for a in REQUIRED if not event.get(a)]
    if missing:
        raise ValueError(f"not a CloudEvent: no {', '.join('ce-' + a for a in missing)} header")
    if not _NAME_RE.match(str(event.get("inferenceservicename", ""))):
        raise ValueError(
            "ce-inferenceservicename must name the InferenceService (KServe's logger sets it), "
            f"got {event.get('inferenceservicename')!r}"
        )
    event.setdefault("time", _now().isoformat().replace("+00:00", "Z"))
    return event


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def event_time(event: dict) -> datetime.datetime:
    """The event's `time` (RFC 3339), in UTC; naive means UTC."""
    text = str(event["time"])
    # Go writes nanoseconds; Python's fromisoformat takes at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    value = datetime.datetime.fromisoformat(text)
    return (value if value.tzinfo else value.replace(tzinfo=datetime.UTC)).astimezone(datetime.UTC)


class EventStore:
    """Buffers events and appends them to their day's file (one object per flush on gs://)."""

    def __init__(self, directory: str):
        self.directory = directory
        self.written = 0
        self._buffer: list[dict] = []
        self._lock = threading.Lock()
        self._origin = f"{socket.gethostname()}-{os.getpid()}"
        self._parts = 0

    def add(self, event: dict) -> None:
        with self._lock:
            self._buffer.append(event)

    def path(self, event: dict) -> str:
        when = event_time(event)
        folder = fileio.join(self.directory, event["inferenceservicename"], f"{when:%Y-%m-%d}")
        if fileio.is_remote(self.directory):
            self._parts += 1
            return fileio.join(folder, f"events-{when:%H%M%S}-{self._origin}-{self._parts}.jsonl")
        return fileio.join(folder, f"events-{when:%H}-{self._origin}.jsonl")

    def flush(self) -> None:
        with self._lock:
            events, self._buffer = self._buffer, []
        by_file: dict[str, list[str]] = {}
        for event in events:
            by_file.setdefault(self.path(event), []).append(json.dumps(event, sort_keys=True))
        for path, lines in by_file.items():
            data = ("\n".join(lines) + "\n").encode()
            try:
                if fileio.is_remote(path):
                    fileio.write_bytes(path, data)  # objects cannot be appended to
                else:
                    with fileio.open_file(path, "ab") as f:
                        f.write(data)
                self.written += len(lines)
            except OSError as e:  # the logger does not retry: say what was lost
                log.error("lost %d events: writing %s failed: %s", len(lines), path, e)


def handler(store: EventStore, max_bytes: int):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = self.headers.get("Content-Length", "")
            if not length.isdigit():
                return self._answer(411, "send a Content-Length")
            if int(length) > max_bytes:
                return self._answer(413, f"an event of at most {max_bytes} bytes (--max-bytes)")
            body = self.rfile.read(int(length))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                store.add(to_structured(headers, body))
            except ValueError as e:
                return self._answer(400, str(e))
            self._answer(200, "stored")

        def do_GET(self):
            self._answer(200, "ok")  # liveness and readiness

        def _answer(self, status: int, message: str) -> None:
            data = json.dumps({"status": message} if status < 400 else {"error": message})
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data.encode())

        def log_message(self, *args):  # no access log: one line per event is too many
            pass

    return Handler


def serve(
    directory: str,
    host: str,
    port: int,
    flush_seconds: float = 1.0,
    max_bytes: int = 16 << 20,
    stop: threading.Event | None = None,
) -> None:
    """Run until `stop` is set (or SIGTERM when run as a program); flush on the way out."""
    store = EventStore(directory)
    server = http.server.ThreadingHTTPServer((host, port), handler(store, max_bytes))
    stop = stop or threading.Event()
    threading.Thread(target=server.serve_forever, name="event-sink", daemon=True).start()
    log.info("event sink on http://%s:%d, storing under %s", host, server.server_port, directory)
    try:
        while not stop.wait(flush_seconds):
            store.flush()
    finally:
        server.shutdown()
        server.server_close()
        store.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kubetfx.serving.event_sink", description=__doc__
    )
    parser.add_argument("--dir", required=True, help="where events go, local or gs://")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 in a pod)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--flush-seconds", type=float, default=1.0)
    parser.add_argument("--max-bytes", type=int, default=16 << 20, help="largest event body")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serve(args.dir, args.host, args.port, args.flush_seconds, args.max_bytes, stop=stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
