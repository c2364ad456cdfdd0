"""The serial channel end to end: a pty plays the ESP32, the real daemon answers."""

from __future__ import annotations

import json
import os
import select
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.core.messages import ErrorReply, Intent
from tests.conftest import Broker, DaemonProcess, Listener, need_model, write_config


class Esp32:
    """The device end of a pseudo-terminal pair; the daemon opens the other end by path."""

    def __init__(self, link: Path) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.ttyname(self.slave))
        self.buf = b""

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def line(self, timeout: float = 30) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line from dialogd (have {self.buf!r})")
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                self.buf += os.read(self.master, 4096)
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def ask(self, data: bytes, timeout: float = 30) -> dict:  # type: ignore[type-arg]
        self.send(data)
        return json.loads(self.line(timeout))  # type: ignore[no-any-return]

    def unplug(self) -> None:
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def setup(broker: Broker, tmp_path: Path) -> Iterator[tuple[DaemonProcess, Listener, Esp32, Path]]:
    need_model()
    link = tmp_path / "ttyESP32"
    dev = Esp32(link)
    extra = f'[serial]\nenabled = true\nport = "{link}"\nmax_line_bytes = 200\nreconnect_s = 0.2\n'
    bus = Listener(broker.port)
    d = DaemonProcess(write_config(tmp_path / "config.toml", port=broker.port, extra=extra))
    bus.wait_for("dialogd/test/status", 90, lambda p: p == b"online")
    yield d, bus, dev, link
    bus.close()
    d.stop()


def _wait_answer(dev: Esp32, payload: bytes, timeout: float = 30) -> dict:  # type: ignore[type-arg]
    """pyserial flushes input when it opens the port: repeat until dialogd answers."""
    deadline = time.monotonic() + timeout
    while True:
        dev.send(payload)
        try:
            return json.loads(dev.line(1.0))  # type: ignore[no-any-return]
        except TimeoutError:
            if time.monotonic() > deadline:
                raise


def test_command_line_gets_intent_line_and_mqtt_intent(
    setup: tuple[DaemonProcess, Listener, Esp32, Path],
) -> None:
    _, bus, dev, _ = setup
    first = _wait_answer(dev, b'{"text": "turn on the tv", "id": "esp-1"}\n')
    intent = Intent.model_validate(first)
    assert (intent.action, intent.device, intent.source, intent.id) == (
        "turn_on",
        "tv",
        "serial",
        "esp-1",
    )
    on_bus = Intent.model_validate(bus.wait_json("dialogd/test/intent", id="esp-1"))
    assert on_bus == intent
    reply = Intent.model_validate(dev.ask("把空调调到二十二度\r\n".encode()))
    assert (reply.action, reply.value, reply.lang) == ("set_temperature", 22, "zh")


def test_noise_long_and_empty_lines_get_error_lines(
    setup: tuple[DaemonProcess, Listener, Esp32, Path],
) -> None:
    _, _, dev, _ = setup
    _wait_answer(dev, b"turn on the tv\n")
    for payload, kind in (
        (b"\xff\xfe\x00\x9fgarbage\n", "not_utf8"),
        (b"A" * 5000 + b"\n", "too_long"),
        (b"\n", "empty"),
        (b"{broken json\n", "bad_json"),
    ):
        err = ErrorReply.model_validate(dev.ask(payload))
        assert (err.error, err.source) == (kind, "serial")
    assert Intent.model_validate(dev.ask(b"open the curtains\n")).action == "open"


def test_unplug_and_replug_resumes(setup: tuple[DaemonProcess, Listener, Esp32, Path]) -> None:
    d, bus, dev, link = setup
    _wait_answer(dev, b"turn on the tv\n")
    bus.detail(lambda s: s["serial_connected"] is True, 10)
    dev.unplug()
    link.unlink()
    bus.detail(lambda s: s["serial_connected"] is False, 10)  # the port is seen gone
    time.sleep(1.0)
    assert d.proc.poll() is None, "the daemon survives the unplug"
    back = time.monotonic()
    dev2 = Esp32(link)
    try:
        reply = _wait_answer(dev2, b"stop the washer\n", timeout=10)
        assert time.monotonic() - back < 2.5
        assert Intent.model_validate(reply).action == "stop"
    finally:
        dev2.unplug()
    assert d.output().count("lost") + d.output().count("not available") <= 2


def test_intents_decided_during_a_broker_outage_are_published_after_it(
    broker: Broker, setup: tuple[DaemonProcess, Listener, Esp32, Path]
) -> None:
    d, bus, dev, _ = setup
    _wait_answer(dev, b"turn on the tv\n")
    bus.close()
    broker.stop()
    d.wait_status("lost; reconnecting", timeout=15)
    # The serial channel keeps working while the broker is away...
    reply = Intent.model_validate(dev.ask(b'{"text": "close the blinds", "id": "offline-1"}\n'))
    assert reply.action == "close"
    broker.start()
    # ...and the intent it decided reaches the bus once the broker is back.
    bus2 = Listener(broker.port)
    try:
        got = Intent.model_validate(bus2.wait_json("dialogd/test/intent", 30, id="offline-1"))
        assert got == reply
    finally:
        bus2.close()
