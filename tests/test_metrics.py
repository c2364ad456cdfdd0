"""daemon.outputs.metrics: counts, the JSON snapshot and the real HTTP endpoint."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from daemon.config.settings import MetricsSettings, Settings
from daemon.outputs.metrics import Metrics


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    m = Metrics()
    yield m
    m.stop()


def test_counts_and_snapshot(metrics: Metrics) -> None:
    for _ in range(3):
        metrics.request("mqtt", "intent", "rules", 0.004)
    metrics.request("serial", "intent", "model", 0.8)
    metrics.request("mqtt", "busy", None, 0.0)
    metrics.request("mqtt", "expired", None, 61.0)
    metrics.error("publish_failed")
    metrics.queue_depth(7)
    metrics.broker_connected(True)

    snap = metrics.snapshot()
    json.dumps(snap)  # JSON-able as it is
    assert snap["requests"] == {
        "total": 6,
        "by_source": {"mqtt": {"intent": 3, "busy": 1, "expired": 1}, "serial": {"intent": 1}},
    }
    assert snap["errors"] == {"busy": 1, "expired": 1, "publish_failed": 1}
    assert snap["latency"]["rules"]["count"] == 3
    assert snap["latency"]["model"]["count"] == 1
    assert snap["latency"]["rules"]["mean_ms"] == pytest.approx(4.0)
    assert 0 < snap["latency"]["rules"]["p95_ms"] <= 5.0
    assert 500 <= snap["latency"]["model"]["p50_ms"] <= 1000
    assert snap["queue_depth"] == 7 and snap["broker_connected"] is True

    metrics.broker_connected(False)
    metrics.queue_depth(0)
    snap = metrics.snapshot()
    assert snap["queue_depth"] == 0 and snap["broker_connected"] is False


def test_fresh_snapshot_is_zero(metrics: Metrics) -> None:
    snap = metrics.snapshot()
    assert snap["requests"] == {"total": 0, "by_source": {}}
    assert snap["errors"] == {}
    assert snap["latency"]["rules"] == {"count": 0, "mean_ms": 0.0, "p50_ms": 0.0, "p95_ms": 0.0}
    assert snap["broker_connected"] is False


def test_two_instances_do_not_share_figures() -> None:
    a, b = Metrics(), Metrics()  # private registries: no "duplicated timeseries" error
    a.request("cli", "intent", "rules", 0.01)
    assert b.snapshot()["requests"]["total"] == 0


def test_http_endpoint_serves_text_format(metrics: Metrics) -> None:
    metrics.request("mqtt", "intent", "rules", 0.003)
    metrics.request("voice", "model_failure", None, 1.0)
    metrics.queue_depth(2)
    metrics.broker_connected(True)
    port = metrics.start("127.0.0.1", 0)
    assert port > 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        body = resp.read().decode()
    lines = body.splitlines()
    assert 'dialogd_requests_total{outcome="intent",source="mqtt"} 1.0' in lines
    assert 'dialogd_requests_total{outcome="model_failure",source="voice"} 1.0' in lines
    assert 'dialogd_errors_total{kind="model_failure"} 1.0' in lines
    assert 'dialogd_errors_total{kind="busy"} 0.0' in lines  # known kinds start at 0
    assert 'dialogd_request_latency_seconds_count{engine="rules"} 1.0' in lines
    assert 'dialogd_request_latency_seconds_count{engine="model"} 0.0' in lines
    assert 'dialogd_request_latency_seconds_bucket{engine="rules",le="0.005"} 1.0' in lines
    assert "dialogd_queue_depth 2.0" in lines
    assert "dialogd_broker_connected 1.0" in lines
    assert any(line.startswith("dialogd_process_resident_memory_bytes ") for line in lines)
    # Nothing from prometheus_client's global registry leaks in.
    assert "python_gc_objects_collected_total" not in body
    metrics.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_settings_default_off() -> None:
    s = MetricsSettings()
    assert (s.enabled, s.host, s.port) == (False, "127.0.0.1", 9464)
    assert Settings.model_fields["metrics"].default_factory is MetricsSettings
    assert all(f.description for f in MetricsSettings.model_fields.values())
