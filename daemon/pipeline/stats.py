"""Counters for the retained status message: requests, errors, latency percentiles."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    requests: int = 0
    errors: int = 0
    by_engine: dict[str, int] = field(default_factory=dict)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=500))

    def record(self, latency_ms: float, engine: str) -> None:
        self.requests += 1
        self.by_engine[engine] = self.by_engine.get(engine, 0) + 1
        self.latencies.append(latency_ms)

    def record_error(self) -> None:
        self.errors += 1

    def snapshot(self) -> dict[str, object]:
        lat = list(self.latencies)
        return {
            "uptime_s": round(time.monotonic() - self.started),
            "requests": self.requests,
            "errors": self.errors,
            "by_engine": dict(self.by_engine),
            "latency_ms": {"p50": round(percentile(lat, 50)), "p95": round(percentile(lat, 95))},
        }
