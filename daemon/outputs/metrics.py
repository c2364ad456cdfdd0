"""Operational figures: a Prometheus text endpoint and the same figures as JSON.

One `Metrics` per daemon, always made (its `snapshot()` feeds the retained status/detail
message); its HTTP endpoint runs only when `[metrics] enabled = true`. It uses a private
`CollectorRegistry`, so nothing else in the process (nor a second `Metrics` in tests)
shows up in it or clashes with it.

Every method is cheap (a dict look-up and a locked add) and thread-safe: the request
path calls it per request from the event loop, paho's network thread may call
`broker_connected`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)

from daemon.config.settings import MetricsSettings
from daemon.core.messages import Intent, Outcome, Request

_LOG = logging.getLogger(__name__)

INTENT = "intent"
ENGINES = ("rules", "model")
# The error kinds of ErrorReply plus `expired`, shown at 0 before they first happen so
# that rate() and alerts work from the start.
ERROR_KINDS = (
    "empty",
    "too_long",
    "not_utf8",
    "bad_json",
    "model_failure",
    "busy",
    "expired",
)
# Seconds: the rules answer in milliseconds, the model in a fraction of a second to
# a few seconds (more on a Pi, and more while a queue waits ahead of a request).
LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    math.inf,
)


class Metrics:
    """Counters, histograms and gauges of one daemon; see the module docstring."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "dialogd_requests",
            "Requests answered, by channel and outcome (intent, or the error kind).",
            ("source", "outcome"),
            registry=self.registry,
        )
        self._errors = Counter(
            "dialogd_errors",
            "Error replies and other failures, by kind.",
            ("kind",),
            registry=self.registry,
        )
        self._latency = Histogram(
            "dialogd_request_latency_seconds",
            "From a request's arrival to its intent, by the engine that decided it.",
            ("engine",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._queue = Gauge(
            "dialogd_queue_depth",
            "Requests accepted but not yet answered.",
            registry=self.registry,
        )
        self._broker = Gauge(
            "dialogd_broker_connected",
            "1 while the MQTT connection is up, else 0.",
            registry=self.registry,
        )
        # RSS, CPU time, open files of this process (read from /proc at scrape time only).
        ProcessCollector(namespace="dialogd", registry=self.registry)
        # Label children cached: labels() validates and locks on every call.
        self._req_children: dict[tuple[str, str], Counter] = {}
        self._err_children: dict[str, Counter] = {}
        self._lat_children: dict[str, Histogram] = {}
        self._lock = threading.Lock()
        for kind in ERROR_KINDS:
            self._error_child(kind)
        for engine in ENGINES:
            self._latency_child(engine)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.open_requests: Callable[[], int] = lambda: 0  # the request path's, once it runs
        self._started = time.monotonic()
        self._decided = self._refused = 0
        self._by_engine: dict[str, int] = {}
        self._latencies: deque[float] = deque(maxlen=500)

    # ------------------------------------------------------------ the request path

    def outcome(self, req: Request | None, outcome: Outcome) -> None:
        """Output: every answered request counted, and the queue depth after it."""
        latency_s = (time.monotonic() - req.received) if req is not None else 0.0
        if isinstance(outcome, Intent):
            self.request(outcome.source, INTENT, outcome.engine, latency_s)
            if req is not None:  # a decision, not a refusal made for a silent "yes?"
                self._decided += 1
                self._by_engine[outcome.engine] = self._by_engine.get(outcome.engine, 0) + 1
                self._latencies.append(outcome.latency_ms)
        else:
            self.request(outcome.source, outcome.error, None, latency_s)
            self._refused += 1
        self.queue_depth(self.open_requests())

    def status_figures(self) -> dict[str, object]:
        """The short figures at the top of status/detail: uptime, decided and refused
        requests, by engine, and the decision latency of the last 500 (exact, not from
        the histogram buckets)."""
        lat = list(self._latencies)
        return {
            "uptime_s": round(time.monotonic() - self._started),
            "requests": self._decided,
            "errors": self._refused,
            "by_engine": dict(self._by_engine),
            "latency_ms": {"p50": round(percentile(lat, 50)), "p95": round(percentile(lat, 95))},
        }

    def request(self, source: str, outcome: str, engine: str | None, latency_s: float) -> None:
        """One request answered: `outcome` is "intent" or the error kind of its error reply.

        Counts it by source and outcome; an error outcome also counts in errors by kind
        (do not call `error()` for it as well); an intent's latency goes into the
        histogram of its engine ("rules" or "model").
        """
        key = (source, outcome)
        child = self._req_children.get(key)
        if child is None:
            with self._lock:
                child = self._requests.labels(source, outcome)
                self._req_children[key] = child
        child.inc()
        if outcome != INTENT:
            self._error_child(outcome).inc()
        elif engine is not None:
            self._latency_child(engine).observe(max(0.0, latency_s))

    def error(self, kind: str) -> None:
        """A failure that is not the answer to a request (those count via `request()`):
        e.g. "publish_failed", "inbox_full", "broker_lost"."""
        self._error_child(kind).inc()

    def queue_depth(self, n: int) -> None:
        """Requests accepted but not yet answered, now."""
        self._queue.set(n)

    def broker_connected(self, up: bool) -> None:
        self._broker.set(1 if up else 0)

    # -------------------------------------------------------------------- output

    def serve(self, settings: MetricsSettings) -> None:
        """The Prometheus endpoint, when enabled; a port in use is logged, not fatal."""
        if not settings.enabled:
            return
        try:
            port = self.start(settings.host, settings.port)
            _LOG.info("metrics on http://%s:%d/metrics", settings.host, port)
        except OSError as exc:
            _LOG.error("metrics endpoint %s:%d: %s", settings.host, settings.port, exc)

    def start(self, host: str, port: int) -> int:
        """Serve /metrics (any path, in fact) on host:port from a daemon thread.

        Returns the port bound (useful with port 0). Raises OSError if it is taken.
        """
        if self._server is not None:
            raise RuntimeError("the metrics endpoint is already running")
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._server.server_address[1])

    def stop(self) -> None:
        """Stop the HTTP endpoint, if running; the figures stay."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(5)

    def snapshot(self) -> dict[str, Any]:
        """The same figures as JSON-able data (for the retained status/detail message).

        {"requests": {"total", "by_source": {src: {outcome: n}}},
         "errors": {kind: n (non-zero only)},
         "latency": {engine: {"count", "mean_ms", "p50_ms", "p95_ms"}},
         "queue_depth": n, "broker_connected": bool}

        Percentiles are estimated from the histogram buckets (as PromQL's
        histogram_quantile does), so they are approximate.
        """
        by_source: dict[str, dict[str, int]] = {}
        total = 0
        for (source, outcome), c in list(self._req_children.items()):
            n = int(_value(c))
            by_source.setdefault(source, {})[outcome] = n
            total += n
        errors = {k: int(v) for k, c in list(self._err_children.items()) if (v := _value(c))}
        latency = {e: _latency_summary(h) for e, h in list(self._lat_children.items())}
        return {
            "requests": {"total": total, "by_source": by_source},
            "errors": errors,
            "latency": latency,
            "queue_depth": int(_value(self._queue)),
            "broker_connected": _value(self._broker) >= 1,
        }

    # ------------------------------------------------------------------ helpers

    def _error_child(self, kind: str) -> Counter:
        child = self._err_children.get(kind)
        if child is None:
            with self._lock:
                child = self._errors.labels(kind)
                self._err_children[kind] = child
        return child

    def _latency_child(self, engine: str) -> Histogram:
        child = self._lat_children.get(engine)
        if child is None:
            with self._lock:
                child = self._latency.labels(engine)
                self._lat_children[engine] = child
        return child


def _value(metric: Counter | Gauge) -> float:
    """The current value of an unlabelled metric or a label child."""
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith(("_total", family.name)) and not sample.name.endswith(
                "_created"
            ):
                return float(sample.value)
    return 0.0


def _latency_summary(h: Histogram) -> dict[str, float | int]:
    buckets: list[tuple[float, float]] = []
    count = 0.0
    total = 0.0
    for family in h.collect():
        for s in family.samples:
            if s.name.endswith("_bucket"):
                buckets.append((float(s.labels["le"]), float(s.value)))
            elif s.name.endswith("_count"):
                count = float(s.value)
            elif s.name.endswith("_sum"):
                total = float(s.value)
    buckets.sort()
    return {
        "count": int(count),
        "mean_ms": round(total / count * 1000, 1) if count else 0.0,
        "p50_ms": round(_quantile(0.5, buckets, count) * 1000, 1),
        "p95_ms": round(_quantile(0.95, buckets, count) * 1000, 1),
    }


def _quantile(q: float, buckets: list[tuple[float, float]], count: float) -> float:
    """histogram_quantile over cumulative (upper bound, count) buckets, in seconds."""
    if count <= 0:
        return 0.0
    rank = q * count
    prev_bound, prev_count = 0.0, 0.0
    for bound, cum in buckets:
        if cum >= rank:
            if math.isinf(bound):
                return prev_bound  # beyond the largest finite bucket: its bound
            width = cum - prev_count
            frac = (rank - prev_count) / width if width else 1.0
            return prev_bound + (bound - prev_bound) * frac
        prev_bound, prev_count = bound, cum
    return prev_bound


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile of `values` (nearest rank); 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]
