"""Nothing accepted is lost, nothing is answered twice: the real daemon, a real Mosquitto
(really stopped and restarted), the real model. Short versions of the runs in
benchmarks/reliability.py, which prints the full counts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, Broker, DaemonProcess, Listener, need_model, write_config

TEXT, INTENT, ERROR, STATUS = (f"dialogd/test/{t}" for t in ("text", "intent", "error", "status"))

pytestmark = pytest.mark.model


@pytest.fixture
def kept_broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path, persistent=True)
    b.start()
    yield b
    b.stop()


def _config(tmp: Path, port: int, request: str = "") -> Path:
    state = tmp / "state"
    cfg = write_config(tmp / "config.toml", port=port, extra=f"[request]\n{request}\n")
    cfg.write_text(f'state_dir = "{state}"\n' + cfg.read_text())
    return cfg


def _answers(bus: Listener) -> Counter[str]:
    """How many intents or errors each request id got."""
    got: Counter[str] = Counter()
    for topic, payload in bus.history:
        if topic in (INTENT, ERROR):
            rid = json.loads(payload).get("id")
            if rid is not None:
                got[rid] += 1
    return got


def _wait_answers(bus: Listener, ids: list[str], timeout: float) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = _answers(bus)
        if all(got[i] for i in ids):
            time.sleep(0.5)  # a duplicate would arrive about now
            return _answers(bus)
        time.sleep(0.1)
    return _answers(bus)


def test_broker_outage_every_request_answered_once(kept_broker: Broker, tmp_path: Path) -> None:
    need_model()
    d = DaemonProcess(_config(tmp_path, kept_broker.port))
    bus = Listener(kept_broker.port)
    try:
        bus.wait_for(STATUS, 90, lambda p: p == b"online")
        ids = [f"o{i}" for i in range(40)]
        for i, rid in enumerate(ids[:20]):
            bus.publish(TEXT, json.dumps({"text": f"set the tv volume to {i}", "id": rid}))
        kept_broker.stop()
        time.sleep(2)
        kept_broker.start()
        bus.close()
        bus = Listener(kept_broker.port)
        for i, rid in enumerate(ids[20:]):
            bus.publish(TEXT, json.dumps({"text": f"set the tv volume to {i}", "id": rid}))
        got = _wait_answers(bus, ids[20:], 60)
        # Answers to the first half may have gone out before the outage, to the first
        # listener: what matters is that none is answered twice and the rest arrive.
        assert all(got[i] == 1 for i in ids[20:]), got
        assert all(got[i] <= 1 for i in ids), got
        lost = d.wait_status("lost; reconnecting", 10)
        d.wait_status("serving on", 10, after=lost)
    finally:
        bus.close()
        assert d.stop() == 0


def test_requests_sent_while_the_daemon_is_down_are_answered(
    kept_broker: Broker, tmp_path: Path
) -> None:
    need_model()
    cfg = _config(tmp_path, kept_broker.port)
    bus = Listener(kept_broker.port)
    d = DaemonProcess(cfg)
    try:
        bus.wait_for(STATUS, 90, lambda p: p == b"online")
        assert d.stop() == 0  # its persistent session stays with the broker
        ids = [f"r{i}" for i in range(20)]
        for rid in ids:
            bus.publish(TEXT, json.dumps({"text": "turn off the kitchen light", "id": rid}))
        d = DaemonProcess(cfg)
        got = _wait_answers(bus, ids, 90)
        assert {rid: got[rid] for rid in ids} == dict.fromkeys(ids, 1), got
    finally:
        bus.close()
        d.stop()


def test_sigterm_with_a_backlog_answers_every_request(broker: Broker, tmp_path: Path) -> None:
    need_model()
    d = DaemonProcess(_config(tmp_path, broker.port, "drain_timeout_s = 1"))
    bus = Listener(broker.port)
    try:
        bus.wait_for(STATUS, 90, lambda p: p == b"online")
        ids = [f"s{i}" for i in range(30)]
        for rid in ids:  # small talk: each one goes to the model
            bus.publish(TEXT, json.dumps({"text": "tell me a joke", "id": rid}))
        time.sleep(0.5)
        assert d.stop() == 0
        got = _answers(bus)
        assert all(got[rid] == 1 for rid in ids), got
        kinds = Counter(
            json.loads(p)["error"] for t, p in bus.history if t == ERROR
        )  # those still queued when the drain ran out
        assert set(kinds) <= {"shutdown"}, kinds
    finally:
        bus.close()


def test_flood_gets_intents_or_busy_errors_none_missing(broker: Broker, tmp_path: Path) -> None:
    need_model()
    d = DaemonProcess(_config(tmp_path, broker.port, "queue_size = 20"))
    bus = Listener(broker.port)
    try:
        bus.wait_for(STATUS, 90, lambda p: p == b"online")
        ids = [f"f{i}" for i in range(300)]
        for rid in ids:
            bus.client.publish(
                TEXT, json.dumps({"text": "turn on the kitchen light", "id": rid}), qos=1
            )
        got = _wait_answers(bus, ids, 90)
        assert all(got[rid] == 1 for rid in ids), [rid for rid in ids if got[rid] != 1]
        errors = Counter(json.loads(p)["error"] for t, p in bus.history if t == ERROR)
        assert set(errors) <= {"busy"}, errors
    finally:
        bus.close()
        assert d.stop() == 0


def test_fast_command_does_not_wait_behind_the_model(broker: Broker, tmp_path: Path) -> None:
    need_model()
    d = DaemonProcess(_config(tmp_path, broker.port))
    bus = Listener(broker.port)
    try:
        bus.wait_for(STATUS, 90, lambda p: p == b"online")
        for i in range(30):
            bus.client.publish(TEXT, json.dumps({"text": "tell me a joke", "id": f"m{i}"}), qos=1)
        time.sleep(0.3)
        t0 = time.monotonic()
        bus.publish(TEXT, json.dumps({"text": "turn on the kitchen light", "id": "fast"}))
        bus.wait_json(INTENT, 10, id="fast")
        waited = time.monotonic() - t0
        assert waited < 1.0, f"fast command answered after {waited:.2f} s"
        assert len(_answers(bus)) < 31, "the model backlog was still being worked through"
    finally:
        bus.close()
        d.stop()


def test_old_requests_expire_instead_of_running(broker: Broker, tmp_path: Path) -> None:
    need_model()
    d = DaemonProcess(_config(tmp_path, broker.port, "max_age_s = 0.5"))
    bus = Listener(broker.port)
    try:
        bus.wait_for(STATUS, 90, lambda p: p == b"online")
        ids = [f"e{i}" for i in range(20)]
        for rid in ids:  # about 0.1 s each on the model: the later ones age out
            bus.client.publish(TEXT, json.dumps({"text": "tell me a joke", "id": rid}), qos=1)
        got = _wait_answers(bus, ids, 60)
        assert all(got[rid] == 1 for rid in ids), got
        kinds = Counter(json.loads(p)["error"] for t, p in bus.history if t == ERROR)
        assert set(kinds) == {"expired"}, kinds
    finally:
        bus.close()
        d.stop()


def test_soak_script_quick_run_loses_nothing() -> None:
    """benchmarks/reliability.py soak, small: every request answered, RSS reported (the
    full 10,000-request run is the script's default, outside CI)."""
    need_model()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "reliability.py"),
            "soak",
            "--quick",
            "--fail-on-loss",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = json.loads(proc.stdout.splitlines()[0])
    assert counts["missing"] == 0 and counts["duplicates"] == 0, counts
    after = next(v for k, v in counts.items() if k.startswith("rss_kb_after_"))
    assert counts["rss_kb_end"] <= 1.1 * after, counts  # no growth past the warm-up
