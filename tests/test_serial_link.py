"""The serial channel against real pseudo-terminals: the test plays the ESP32 on the master
side, dialogd opens the slave by name (or through a symlink standing in for a
/dev/serial/by-id/ path, which is how unplugging and replugging is simulated)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from daemon.channels.serial import Handler, SerialLink, SerialSettings, serial_task

LOGGER = "daemon.channels.serial"


class FakeEsp32:
    """The device end of a pseudo-terminal pair."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        # Raw on both ends: the tty must not echo or translate what we send before dialogd
        # has opened and configured the slave.
        tty.setraw(self.master)
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._buf = b""
        self.closed = False

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view) :]

    def read_exact(self, n: int, timeout: float = 3.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self._buf) < n:
            self._fill(deadline)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def read_line(self, timeout: float = 3.0) -> bytes:
        """The next line the daemon wrote, without its LF."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            self._fill(deadline)
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def drain(self, quiet_s: float = 0.2) -> None:
        """Drop whatever the daemon writes until it has been quiet for quiet_s."""
        self._buf = b""
        while select.select([self.master], [], [], quiet_s)[0]:
            os.read(self.master, 65536)

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete reply; have {self._buf[:200]!r}")
        if select.select([self.master], [], [], left)[0]:
            self._buf += os.read(self.master, 65536)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.master)
            os.close(self._slave)


@pytest.fixture
def make_esp() -> Iterator[Callable[[], FakeEsp32]]:
    made: list[FakeEsp32] = []

    def make() -> FakeEsp32:
        made.append(FakeEsp32())
        return made[-1]

    yield make
    for esp in made:
        esp.close()


def echo_handler(calls: list[tuple[bytes, bool]]) -> Handler:
    """Stands in for the dialogue handler: says what it got."""

    async def handler(line: bytes, truncated: bool) -> bytes:
        calls.append((line, truncated))
        text = line.decode("utf-8", "backslashreplace")
        return json.dumps({"text": text, "len": len(line), "truncated": truncated}).encode()

    return handler


async def wait_until_served(esp: FakeEsp32, timeout: float = 5.0) -> float:
    """Ping until dialogd answers; returns when the first answer came (time.monotonic()).

    Pinging rather than sending once: pyserial flushes input on open, so whatever the device
    sent before dialogd (re)opened the port is gone, as with a real board.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.to_thread(esp.send, b"ping\n")
        try:
            await asyncio.to_thread(esp.read_line, 0.05)
        except TimeoutError:
            continue
        answered = time.monotonic()
        # Replies to pings still in flight would be mistaken for the next answers.
        await asyncio.to_thread(esp.drain)
        return answered
    raise AssertionError(f"dialogd did not answer on {esp.path} within {timeout} s")


async def ask(esp: FakeEsp32, line: bytes) -> dict[str, Any]:
    await asyncio.to_thread(esp.send, line)
    reply: dict[str, Any] = json.loads(await asyncio.to_thread(esp.read_line, 3.0))
    return reply


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def wait_for_record(
    caplog: pytest.LogCaptureFixture, level: int, text: str, timeout: float = 2.0
) -> logging.LogRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rec in caplog.records:
            if rec.levelno == level and text in rec.getMessage():
                return rec
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {logging.getLevelName(level)} record containing {text!r}")


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# --- the async channel -------------------------------------------------------------------


@pytest.mark.timeout(15)
def test_command_line_gets_the_handlers_reply(make_esp: Callable[[], FakeEsp32]) -> None:
    esp = make_esp()
    calls: list[tuple[bytes, bool]] = []
    settings = SerialSettings(enabled=True, port=esp.path)

    async def main() -> None:
        task = asyncio.create_task(serial_task(settings, echo_handler(calls)))
        try:
            await wait_until_served(esp)
            calls.clear()
            await asyncio.to_thread(esp.send, b"turn on the kitchen light\r\n")
            raw = await asyncio.to_thread(esp.read_line, 3.0)
            assert not raw.endswith(b"\r"), "line_ending=lf writes a bare LF"
            assert json.loads(raw) == {
                "text": "turn on the kitchen light",
                "len": 25,
                "truncated": False,
            }
            assert calls == [(b"turn on the kitchen light", False)]
        finally:
            await stop(task)

    asyncio.run(main())


@pytest.mark.timeout(20)
def test_unplug_and_replug(
    make_esp: Callable[[], FakeEsp32], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    link = tmp_path / "ttyESP"
    first = make_esp()
    link.symlink_to(first.path)
    settings = SerialSettings(enabled=True, port=str(link), reconnect_s=0.5)

    async def main() -> None:
        task = asyncio.create_task(serial_task(settings, echo_handler([])))
        try:
            await wait_until_served(first)
            assert (await ask(first, b"hello\n"))["text"] == "hello"

            # Unplug: the by-id link disappears and the device end goes away.
            link.unlink()
            first.close()
            lost = await wait_for_record(caplog, logging.WARNING, "lost")
            assert lost.getMessage().startswith(f"serial port {link} lost: ")
            assert lost.getMessage().endswith("; retrying")
            await asyncio.sleep(1.6)  # three more attempts at reconnect_s=0.5
            assert not task.done()
            assert warnings_of(caplog) == [lost.getMessage()], "lost is logged once"

            # Replug: a new tty appears behind the same link.
            second = make_esp()
            appeared = time.monotonic()
            link.symlink_to(second.path)
            answered = await wait_until_served(second)
            assert answered - appeared < 2.0, f"resumed after {answered - appeared:.2f} s"
            await wait_for_record(caplog, logging.INFO, f"serial port {link} is back")
            assert (await ask(second, b"after the replug\n"))["text"] == "after the replug"
            assert len(warnings_of(caplog)) == 1
        finally:
            await stop(task)

    asyncio.run(main())


@pytest.mark.timeout(15)
def test_missing_port_at_start_is_waited_for(
    make_esp: Callable[[], FakeEsp32], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    link = tmp_path / "ttyESP"
    settings = SerialSettings(enabled=True, port=str(link), reconnect_s=0.5)

    async def main() -> None:
        task = asyncio.create_task(serial_task(settings, echo_handler([])))
        try:
            await wait_for_record(caplog, logging.WARNING, "not available")
            await asyncio.sleep(1.1)
            assert not task.done()
            assert len(warnings_of(caplog)) == 1

            esp = make_esp()
            appeared = time.monotonic()
            link.symlink_to(esp.path)
            answered = await wait_until_served(esp)
            assert answered - appeared < 2.0, f"served after {answered - appeared:.2f} s"
            await wait_for_record(caplog, logging.INFO, f"serial port {link} open at 115200 baud")
        finally:
            await stop(task)

    asyncio.run(main())


@pytest.mark.timeout(15)
def test_noise_long_and_empty_lines_each_get_a_reply(
    make_esp: Callable[[], FakeEsp32], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    esp = make_esp()
    calls: list[tuple[bytes, bool]] = []
    settings = SerialSettings(enabled=True, port=esp.path, max_line_bytes=512)
    noise = b"\xff\xfe\x00garbage"

    async def main() -> None:
        gaps: list[float] = []

        async def watch_loop() -> None:
            # A read blocking the event loop would show up as a gap of about the poll time.
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        watcher = asyncio.create_task(watch_loop())
        task = asyncio.create_task(serial_task(settings, echo_handler(calls)))
        try:
            await wait_until_served(esp)
            calls.clear()

            got = await ask(esp, noise + b"\n")
            assert (got["len"], got["truncated"]) == (len(noise), False)

            got = await ask(esp, b"A" * 5000 + b"\n")
            assert got == {"text": "A" * 512, "len": 512, "truncated": True}

            got = await ask(esp, b"\n")
            assert got == {"text": "", "len": 0, "truncated": False}

            got = await ask(esp, b"still there?\n")
            assert got["text"] == "still there?"

            assert calls == [
                (noise, False),
                (b"A" * 512, True),
                (b"", False),
                (b"still there?", False),
            ]
            assert not task.done()
            assert warnings_of(caplog) == []
            assert max(gaps) < 0.2, f"event loop stalled for {max(gaps):.3f} s"
        finally:
            watcher.cancel()
            await stop(task)

    asyncio.run(main())


@pytest.mark.timeout(15)
def test_handler_failure_does_not_stop_the_channel(make_esp: Callable[[], FakeEsp32]) -> None:
    esp = make_esp()

    async def handler(line: bytes, truncated: bool) -> bytes:
        if line == b"boom":
            raise RuntimeError("handler bug")
        return b"ok " + line

    async def main() -> None:
        task = asyncio.create_task(
            serial_task(SerialSettings(enabled=True, port=esp.path), handler)
        )
        try:
            await wait_until_served(esp)
            await asyncio.to_thread(esp.send, b"boom\nnext\n")
            assert await asyncio.to_thread(esp.read_line, 3.0) == b"ok next"
        finally:
            await stop(task)

    asyncio.run(main())


def test_disabled_channel_returns_at_once() -> None:
    async def handler(line: bytes, truncated: bool) -> bytes:
        raise AssertionError("not called")

    asyncio.run(asyncio.wait_for(serial_task(SerialSettings(), handler), 1.0))


# --- the blocking link -------------------------------------------------------------------


def read_lines(link: SerialLink, n: int, timeout: float = 3.0) -> list[tuple[bytes, bool]]:
    out: list[tuple[bytes, bool]] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        assert time.monotonic() < deadline, f"only got {out!r}"
        got = link.read_line()
        if got is not None:
            out.append(got)
    return out


@pytest.mark.timeout(10)
def test_link_accepts_lf_crlf_and_cr(make_esp: Callable[[], FakeEsp32]) -> None:
    esp = make_esp()
    with SerialLink(esp.path) as link:
        esp.send(b"one\ntwo\r\nthree\rfour\r")
        assert read_lines(link, 4) == [
            (b"one", False),
            (b"two", False),
            (b"three", False),
            (b"four", False),
        ]
        # The LF of a CRLF arriving in a later read is not an extra, empty line.
        esp.send(b"\nfive\n")
        assert read_lines(link, 1) == [(b"five", False)]
        esp.send(b"\n\r\r\nsix\n")
        assert read_lines(link, 4) == [(b"", False)] * 3 + [(b"six", False)]


@pytest.mark.timeout(10)
def test_link_truncates_long_lines(make_esp: Callable[[], FakeEsp32]) -> None:
    esp = make_esp()
    with SerialLink(esp.path, max_line_bytes=8, poll_s=0.05) as link:
        esp.send(b"12345678\n123456789\nok\n")
        assert read_lines(link, 3) == [(b"12345678", False), (b"12345678", True), (b"ok", False)]
        # Far more than the tty buffer, in pieces: kept to 8 bytes however it arrives.
        for _ in range(20):
            esp.send(b"x" * 1000)
            link.read_line()
        esp.send(b"\nafter\n")
        assert read_lines(link, 2) == [(b"x" * 8, True), (b"after", False)]


@pytest.mark.timeout(10)
def test_link_read_times_out_when_idle(make_esp: Callable[[], FakeEsp32]) -> None:
    esp = make_esp()
    with SerialLink(esp.path, poll_s=0.1) as link:
        start = time.monotonic()
        assert link.read_line() is None
        assert time.monotonic() - start < 1.0


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("ending", "raw"), [("lf", b"\n"), ("crlf", b"\r\n"), ("cr", b"\r")])
def test_link_writes_the_configured_line_ending(
    make_esp: Callable[[], FakeEsp32], ending: Any, raw: bytes
) -> None:
    esp = make_esp()
    with SerialLink(esp.path, line_ending=ending) as link:
        link.write_line(b'{"ok":true}')
        assert esp.read_exact(len(b'{"ok":true}') + len(raw)) == b'{"ok":true}' + raw
        with pytest.raises(ValueError):
            link.write_line(b"two\nlines")


@pytest.mark.timeout(10)
def test_link_open_missing_port_raises_oserror(tmp_path: Path) -> None:
    link = SerialLink(str(tmp_path / "nothing"))
    with pytest.raises(OSError):
        link.open()
    assert not link.is_open


# --- settings ----------------------------------------------------------------------------


def test_settings_defaults_and_validation() -> None:
    s = SerialSettings()
    assert (s.enabled, s.port, s.baud, s.line_ending) == (False, "/dev/ttyUSB0", 115200, "lf")
    assert (s.encoding, s.max_line_bytes, s.reconnect_s) == ("utf-8", 512, 0.5)
    for field in SerialSettings.model_fields.values():
        assert field.description
    for bad in (
        {"encoding": "no-such-codec"},
        {"line_ending": "lfcr"},
        {"max_line_bytes": 0},
        {"reconnect_s": 0},
        {"baud": 0},
        {"prot": "/dev/ttyACM0"},
    ):
        with pytest.raises(ValidationError):
            SerialSettings(**bad)
