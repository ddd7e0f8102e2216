"""Prometheus metrics of the model server, in their own registry (served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

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
            "kubetfx_request_errors", "Refused or failed requests.", ["model", "code"], registry=r
        )
        self.available = Gauge(
            "kubetfx_model_versions_available", "Loaded versions.", ["model"], registry=r
        )
        self.failed = Gauge(
            "kubetfx_model_versions_failed", "Versions that failed to load.", ["model"], registry=r
        )
        self.log_written = Gauge(
            "kubetfx_request_log_written", "Request log records written.", registry=r
        )
        self.log_dropped = Gauge(
            "kubetfx_request_log_dropped", "Request log records dropped.", registry=r
        )

    def observe(self, model: str, version: int, label: str, examples: int, seconds: float):
        self.requests.labels(model, str(version), label).inc()
        self.examples.labels(model, str(version)).inc(examples)
        self.latency.labels(model, str(version)).observe(seconds)

    def error(self, model: str, code: int) -> None:
        self.errors.labels(model, str(code)).inc()

    def render(self) -> tuple[bytes, str]:
        for name in self._manager.names():
            view = self._manager.view(name)
            self.available.labels(name).set(len(view.servables))
            self.failed.labels(name).set(sum(s.state == "END" for s in view.statuses.values()))
        self.log_written.set(self._log.written)
        self.log_dropped.set(self._log.dropped)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
