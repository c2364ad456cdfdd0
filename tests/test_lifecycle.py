"""The real `dialogd run` as systemd runs it: notify protocol, SIGTERM drain, SIGHUP reload."""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.core.messages import Intent
from tests.conftest import (
    Broker,
    DaemonProcess,
    Listener,
    need_model,
    write_config,
)


def _notify_socket(tmp: Path) -> tuple[socket.socket, str]:
    path = str(tmp / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.5)
    return sock, path


def _read_until(sock: socket.socket, needle: str, timeout: float) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got.extend(sock.recv(4096).decode().splitlines())
        except TimeoutError:
            continue
        if needle in got:
            return got
    raise TimeoutError(f"{needle} not received; got {got}")


def test_notify_ready_watchdog_stopping(broker: Broker, tmp_path: Path) -> None:
    need_model()
    sock, path = _notify_socket(tmp_path)
    cfg = write_config(tmp_path / "config.toml", port=broker.port)
    started = time.monotonic()
    d = DaemonProcess(cfg, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    try:
        before_ready = _read_until(sock, "READY=1", 90)
        ready_s = time.monotonic() - started
        assert any(line.startswith("STATUS=loading") for line in before_ready)
        assert "model" in d.output() and "loaded" in d.output(), "READY only after the model"
        pings = [line for line in _read_until(sock, "WATCHDOG=1", 5) if line == "WATCHDOG=1"]
        time.sleep(2.2)
        while True:
            try:
                pings += [x for x in sock.recv(4096).decode().splitlines() if x == "WATCHDOG=1"]
            except TimeoutError:
                break
        assert len(pings) >= 4, f"pings every WATCHDOG_USEC/2: {pings}"
        d.signal(signal.SIGTERM)
        assert "STOPPING=1" in _read_until(sock, "STOPPING=1", 10)
        assert d.stop() == 0
        print(f"start to READY: {ready_s:.2f} s")
    finally:
        d.stop()
        sock.close()


@pytest.fixture
def served(broker: Broker, tmp_path: Path) -> Iterator[tuple[DaemonProcess, Listener, Path]]:
    """`dialogd run` on the test broker, online; its config file, to edit and reload."""
    need_model()
    bus = Listener(broker.port)
    cfg = write_config(tmp_path / "config.toml", port=broker.port)
    d = DaemonProcess(cfg)
    try:
        bus.wait_for("dialogd/test/status", 90, lambda p: p == b"online")
        yield d, bus, cfg
    finally:
        bus.close()
        d.stop()


def test_sigterm_while_answering_finishes_the_requests(
    served: tuple[DaemonProcess, Listener, Path],
) -> None:
    d, bus, _ = served
    # Small talk goes to the model: five of them queue up on its one thread.
    for i in range(5):
        bus.publish("dialogd/test/text", json.dumps({"text": "tell me a joke", "id": f"j{i}"}))
    time.sleep(0.3)  # all five taken before the signal (a busy CI machine is slow)
    d.signal(signal.SIGTERM)
    for i in range(5):
        Intent.model_validate(bus.wait_json("dialogd/test/intent", 60, id=f"j{i}"))
    bus.wait_for("dialogd/test/status", 30, lambda p: p == b"offline")
    assert d.stop() == 0
    assert "open request(s)" in d.output(), "SIGTERM came while requests were open"


def test_sighup_reloads_devices_without_restart(
    served: tuple[DaemonProcess, Listener, Path],
) -> None:
    d, bus, cfg = served
    ask = "turn on the greenhouse lamp"
    bus.publish("dialogd/test/text", json.dumps({"text": ask, "id": "a"}))
    before = Intent.model_validate(bus.wait_json("dialogd/test/intent", id="a"))
    assert before.action == "unknown"
    garden = (
        '\n[[devices]]\nid = "greenhouse_lamp"\ntype = "light"\nname = "greenhouse lamp"\n'
        'aliases = ["温室灯"]\narea = "garden"\n'
    )
    cfg.write_text(cfg.read_text() + garden)
    pid_before = d.proc.pid
    d.signal(signal.SIGHUP)
    bus.detail(lambda s: s["reloads"] == 1)
    assert "greenhouse_lamp" in d.output()
    bus.publish("dialogd/test/text", json.dumps({"text": ask, "id": "b"}))
    after = Intent.model_validate(bus.wait_json("dialogd/test/intent", id="b"))
    assert (after.action, after.device) == ("turn_on", "greenhouse_lamp")
    assert d.proc.pid == pid_before and d.proc.poll() is None
    # The rest of the home is still there.
    bus.publish("dialogd/test/text", json.dumps({"text": "turn on the tv", "id": "c"}))
    assert Intent.model_validate(bus.wait_json("dialogd/test/intent", id="c")).device == "tv"
    assert d.stop() == 0


def test_sighup_moves_to_new_topics(served: tuple[DaemonProcess, Listener, Path]) -> None:
    d, bus, cfg = served
    cfg.write_text(cfg.read_text().replace('site_id = "test"', 'site_id = "attic"'))
    d.signal(signal.SIGHUP)
    bus.wait_for("dialogd/test/status", 30, lambda p: p == b"offline")
    bus.wait_for("dialogd/attic/status", 30, lambda p: p == b"online")
    bus.publish("dialogd/attic/text", json.dumps({"text": "turn on the tv", "id": "moved"}))
    intent = Intent.model_validate(bus.wait_json("dialogd/attic/intent", id="moved"))
    assert intent.site == "attic"
    assert "topics are now dialogd/attic" in d.output()
    assert d.stop() == 0
    assert "lost" not in d.output(), "a planned move is not reported as an outage"


def test_bad_reload_keeps_the_old_config_and_stays_ready(broker: Broker, tmp_path: Path) -> None:
    """A registry the model's context cannot hold: refused whole, READY follows
    RELOADING, the old home still answers, status/detail shows why; offline at exit."""
    need_model()
    sock, path = _notify_socket(tmp_path)
    bus = Listener(broker.port)
    cfg = write_config(tmp_path / "config.toml", port=broker.port)
    d = DaemonProcess(cfg, env={"NOTIFY_SOCKET": path})
    try:
        _read_until(sock, "READY=1", 90)
        good = cfg.read_text()
        cfg.write_text(good.replace("threads = 2\n", "threads = 2\nn_ctx = 512\n"))
        d.signal(signal.SIGHUP)
        lines = _read_until(sock, "READY=1", 30)
        assert "RELOADING=1" in lines and lines.index("RELOADING=1") < lines.index("READY=1")
        bus.detail(lambda s: s["reload_error"] is not None, 10)
        bus.publish("dialogd/test/text", json.dumps({"text": "turn on the tv", "id": "r1"}))
        assert Intent.model_validate(bus.wait_json("dialogd/test/intent", id="r1")).device == "tv"
        # status/detail names the problem (it is refreshed on the next round, or at exit).
        cfg.write_text(good)
        assert d.stop() == 0
        details = [json.loads(p) for t, p in bus.history if t == "dialogd/test/status/detail"]
        assert details and details[-1]["state"] == "offline"
        assert "llm.n_ctx" in (details[-1]["reload_error"] or ""), details[-1]
    finally:
        d.stop()
        bus.close()
        sock.close()
