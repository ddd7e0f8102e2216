"""Prometheus metrics of the model server, in their own registry (served at /metrics).

Label values come only from what the server serves: a model name from the URL that is not
served is counted as `unknown`, versions and labels are the routed servable's. So a client
cannot add series (or put bytes that are not UTF-8 into them) by asking for names.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from kubetfx.serving.logs import DROP_REASONS

UNKNOWN = "unknown"
# Sub-millisecond to seconds: a single-row call takes about a millisecond, a big batch more.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, manager, request_log):
        self._manager, self._log = manager, request_log
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "kubetfx_requests",
            "Answered prediction requests.",
            ["model", "version", "label"],
            registry=r,
        )
        self.examples = Counter(
            "kubetfx_examples", "Examples predicted.", ["model", "version"], registry=r
        )
        self.latency = Histogram(
            "kubetfx_request_latency_seconds",
            "Prediction request latency, body read to answer.",
            ["model", "version"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "kubetfx_request_errors",
            "Refused or failed requests, by served model ('unknown' for any other name).",
            ["model", "code"],
            registry=r,
        )
        self.available = Gauge(
            "kubetfx_model_versions_available", "Loaded versions.", ["model"], registry=r
        )
        self.failed = Gauge(
            "kubetfx_model_versions_failed", "Versions that failed to load.", ["model"], registry=r
        )
        r.register(_RequestLogCollector(request_log))
        ProcessCollector(registry=r)  # process_resident_memory_bytes and friends

    def model_label(self, name: str) -> str:
        return name if self._manager.view(name) is not None else UNKNOWN

    def observe(self, model: str, version: int, label: str, examples: int, seconds: float):
        self.requests.labels(model, str(version), label).inc()
        self.examples.labels(model, str(version)).inc(examples)
        self.latency.labels(model, str(version)).observe(seconds)

    def error(self, model: str, code: int) -> None:
        """A refused request for `model` as the client named it (bounded here)."""
        self.errors.labels(self.model_label(model), str(code)).inc()

    def render(self) -> tuple[bytes, str]:
        for name in self._manager.names():
            view = self._manager.view(name)
            self.available.labels(name).set(len(view.servables))
            self.failed.labels(name).set(sum(s.state == "END" for s in view.statuses.values()))
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _RequestLogCollector:
    """The request log's own counts, read at scrape time."""

    def __init__(self, request_log):
        self._log = request_log

    def collect(self):
        written = CounterMetricFamily("kubetfx_request_log_written", "Request log records written.")
        written.add_metric([], self._log.written)
        dropped = CounterMetricFamily(
            "kubetfx_request_log_dropped",
            "Request log records not written, by reason.",
            labels=["reason"],
        )
        counts = dict(self._log.dropped_by_reason)
        for reason in DROP_REASONS:
            dropped.add_metric([reason], counts.get(reason, 0))
        restarts = CounterMetricFamily(
            "kubetfx_request_log_writer_restarts", "Times the request log writer was restarted."
        )
        restarts.add_metric([], self._log.restarts)
        queued = GaugeMetricFamily(
            "kubetfx_request_log_queued", "Request log records waiting for the writer."
        )
        queued.add_metric([], self._log.queued)
        yield from (written, dropped, restarts, queued)
