"""Serial channel: one text line in, one reply line out, over a USB serial port (an ESP32).

`SerialLink` is plain blocking pyserial with line framing; `serial_task` is the long-lived
asyncio side that keeps the port open across unplugging and hands each line to a handler.
Lines are passed on as bytes, undecoded: what counts as a valid command is the handler's
business, so binary noise on the wire becomes an error reply rather than an exception here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import termios
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import serial

from daemon.config.channels import LineEnding, SerialSettings
from daemon.home.actuator import Result
from daemon.outputs.mqtt import result_json
from daemon.pipeline.workers import ThreadWorker

_LOG = logging.getLogger(__name__)

Handler = Callable[[bytes, bool], Awaitable[bytes]]
# A line (UTF-8) and whether it was cut off, to the request path; its answer as JSON.
SerialSubmit = Callable[[bytes, bool], Awaitable[bytes]]
"""Called once per received line with (line without terminator, truncated); returns the reply
line without terminator."""

_EOL_BYTES: dict[str, bytes] = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}
# `\r\n?` first so that CRLF is one terminator, not a line plus an empty line.
_EOL = re.compile(rb"\r\n?|\n")
# Upper bound on one read: keeps the unscanned buffer small whatever the peer sends.
_CHUNK = 4096


class SerialLink:
    """One serial port, read and written a line at a time. Blocking; not for the event loop.

    Reads are meant for a single thread. `write_line` may be called from any thread: a lock
    keeps concurrent replies from interleaving on the wire.
    """

    def __init__(
        self,
        port: str,
        *,
        baud: int = 115200,
        line_ending: LineEnding = "lf",
        max_line_bytes: int = 512,
        poll_s: float = 0.25,
        write_timeout_s: float = 2.0,
    ) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be at least 1")
        self.port = port
        self._baud = baud
        self._eol = _EOL_BYTES[line_ending]
        self._max = max_line_bytes
        self._poll_s = poll_s
        self._write_timeout_s = write_timeout_s
        self._ser: Any = None  # serial.Serial; pyserial has no type information
        self._write_lock = threading.Lock()
        self._reset_framing()

    @classmethod
    def from_settings(cls, settings: SerialSettings, *, poll_s: float = 0.25) -> SerialLink:
        return cls(
            settings.port,
            baud=settings.baud,
            line_ending=settings.line_ending,
            max_line_bytes=settings.max_line_bytes,
            poll_s=poll_s,
        )

    def _reset_framing(self) -> None:
        self._pending = b""  # raw bytes read but not yet scanned for a line end
        self._pos = 0
        self._line = bytearray()
        self._truncated = False
        # A CR ended the last line at the very end of a read: a LF opening the next read is
        # the rest of that CRLF, not an empty line.
        self._after_cr = False

    @property
    def is_open(self) -> bool:
        return self._ser is not None

    def open(self) -> None:
        """Open the port. Raises OSError (pyserial's SerialException is one) if it cannot."""
        self.close()
        ser = serial.Serial()
        ser.port = self.port
        ser.baudrate = self._baud
        ser.timeout = self._poll_s
        # Without it a peer that stops reading (flow control, wedged firmware) would block
        # the writing thread for ever.
        ser.write_timeout = self._write_timeout_s
        # Two readers on one tty each get arbitrary halves of the lines; refuse the second.
        ser.exclusive = True
        # DTR and RTS stay as pyserial leaves them (both asserted, as the kernel does on
        # open): an ESP32's auto-reset circuit resets the chip only when they differ.
        ser.open()
        self._ser = ser
        self._reset_framing()

    def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            # The device is usually already gone when we get here; nothing to save.
            with contextlib.suppress(OSError):
                ser.close()

    def __enter__(self) -> SerialLink:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def read_line(self) -> tuple[bytes, bool] | None:
        """The next line, without its terminator, and whether it was cut to max_line_bytes.

        Returns None if no line was completed within about poll_s, so that the caller gets
        a chance to stop even while the peer streams bytes without line ends. Raises OSError
        when the port fails (unplugged).
        """
        ser = self._ser
        if ser is None:
            raise serial.PortNotOpenError()
        deadline = time.monotonic() + self._poll_s
        while True:
            got = self._take_line()
            if got is not None:
                return got
            if time.monotonic() >= deadline:
                return None
            chunk: bytes = ser.read(max(1, min(ser.in_waiting, _CHUNK)))
            if not chunk:
                return None
            self._pending, self._pos = chunk, 0

    def _take_line(self) -> tuple[bytes, bool] | None:
        data, pos = self._pending, self._pos
        if pos >= len(data):
            return None
        if self._after_cr:
            self._after_cr = False
            if data[pos] == 0x0A:
                pos += 1
        m = _EOL.search(data, pos)
        if m is None:
            self._keep(data[pos:])
            self._pending, self._pos = b"", 0
            return None
        self._keep(data[pos : m.start()])
        if m.group() == b"\r" and m.end() == len(data):
            self._after_cr = True
        self._pos = m.end()
        line, truncated = bytes(self._line), self._truncated
        self._line.clear()
        self._truncated = False
        return line, truncated

    def _keep(self, segment: bytes) -> None:
        room = self._max - len(self._line)
        if len(segment) > room:
            # Memory stays bounded however long the line: the excess is dropped on arrival.
            self._line += segment[:room]
            self._truncated = True
        else:
            self._line += segment

    def write_line(self, data: bytes) -> None:
        """Write one line followed by the configured line ending."""
        if b"\n" in data or b"\r" in data:
            raise ValueError("a line must not contain CR or LF")
        ser = self._ser
        if ser is None:
            raise serial.PortNotOpenError()
        with self._write_lock:
            ser.write(data + self._eol)


async def serial_task(
    settings: SerialSettings,
    handler: Handler,
    later: asyncio.Queue[bytes] | None = None,
    on_state: Callable[[bool], None] | None = None,
) -> None:
    """Serve `settings.port` until cancelled: each line received goes to `handler`, and its
    reply is written back followed by the configured line ending. Lines put on `later`
    (what a request's devices did, once they answered) are written as they come.

    A missing or unplugged port is waited for, polling every `reconnect_s`; errors other than
    cancellation never end the task. Returns at once if the channel is disabled.
    """
    if not settings.enabled:
        _LOG.debug("serial channel disabled")
        return
    loop = asyncio.get_running_loop()
    link = SerialLink.from_settings(settings)
    # Every port operation runs on this one thread, in turn: reads never block the event
    # loop, a reply cannot interleave with another, and close never races a read.
    pool = ThreadWorker("serial")
    ever_open = False
    down = False  # the loss has been logged; stay quiet until the port is back
    try:
        while True:
            try:
                await pool.run(link.open)
                if down and ever_open:
                    _LOG.info("serial port %s is back", settings.port)
                else:
                    _LOG.info("serial port %s open at %d baud", settings.port, settings.baud)
                ever_open, down = True, False
                if on_state is not None:
                    on_state(True)
                await _serve(loop, pool, link, settings.port, handler, later)
            except asyncio.CancelledError:
                raise
            # pyserial lets some termios errors through unwrapped when the device vanishes
            # half-way through opening it.
            except (OSError, termios.error) as exc:
                if not down:
                    what = "lost" if ever_open else "not available"
                    _LOG.warning("serial port %s %s: %s; retrying", settings.port, what, exc)
                    down = True
                    if on_state is not None:
                        on_state(False)
            except Exception:
                # A bug rather than the device; still no reason to give up the channel, but
                # once is enough in the log of a daemon that retries for months.
                if not down:
                    _LOG.exception("serial port %s: unexpected error; retrying", settings.port)
                    down = True
            await pool.run(link.close)
            await asyncio.sleep(settings.reconnect_s)
    finally:
        # Not awaited: a cancelled task should end now. The worker finishes its current read
        # (at most about poll_s), closes the port and exits.
        pool.submit(link.close)
        pool.close(wait=False, cancel_pending=False)


async def _serve(
    loop: asyncio.AbstractEventLoop,
    pool: ThreadWorker,
    link: SerialLink,
    port: str,
    handler: Handler,
    later: asyncio.Queue[bytes] | None = None,
) -> None:
    writer = None
    if later is not None:
        writer = asyncio.create_task(_write_later(loop, link, later), name="serial-later")
    try:
        await _answer_lines(loop, pool, link, port, handler)
    finally:
        if writer is not None:
            writer.cancel()


async def _write_later(
    loop: asyncio.AbstractEventLoop, link: SerialLink, later: asyncio.Queue[bytes]
) -> None:
    """Lines that are not a reply: written between replies (write_line holds a lock), on
    a thread of their own so that a read in progress does not hold them up."""
    while True:
        line = await later.get()
        try:
            await loop.run_in_executor(None, link.write_line, _one_line(line))
        except (OSError, serial.SerialException) as exc:
            _LOG.warning("serial port: a result line was lost with the port: %s", exc)
            return  # the port is gone; the serving loop notices and reopens it


def _one_line(data: bytes) -> bytes:
    return data.replace(b"\r", b" ").replace(b"\n", b" ")


async def _answer_lines(
    loop: asyncio.AbstractEventLoop,
    pool: ThreadWorker,
    link: SerialLink,
    port: str,
    handler: Handler,
) -> None:
    # One line at a time: the peer is expected to wait for each reply, and anything it sends
    # meanwhile waits in the kernel's tty buffer.
    while True:
        got = await pool.run(link.read_line)
        if got is None:
            continue
        line, truncated = got
        if truncated:
            _LOG.debug("serial port %s: line longer than the limit, truncated", port)
        try:
            reply = await handler(line, truncated)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Without a reply the peer times out, which beats the channel going down.
            _LOG.exception("serial port %s: handler failed on %r", port, line[:80])
            continue
        if b"\n" in reply or b"\r" in reply:
            _LOG.error("serial port %s: handler reply contains a line break; flattened", port)
            reply = reply.replace(b"\r", b" ").replace(b"\n", b" ")
        await pool.run(link.write_line, reply)


class SerialChannel:
    """The serial port as a channel: each line a request, its answer one JSON line back
    (the intent or the error); for devices dialogd switches itself, the result follows as
    a second line once they answered."""

    def __init__(
        self,
        settings: SerialSettings,
        submit: SerialSubmit,
        on_state: Callable[[bool], None] | None = None,
    ) -> None:
        self.settings = settings
        self.submit = submit
        self.on_state = on_state  # the port opened (True) or went away (False)
        self.later: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)

    async def line(self, line: bytes, truncated: bool) -> bytes:
        enc = self.settings.encoding
        if enc.lower().replace("-", "") != "utf8":
            # Undecodable lines stay as they are: the request path answers not_utf8.
            with contextlib.suppress(UnicodeDecodeError):
                line = line.decode(enc).encode("utf-8")
        return await self.submit(line, truncated)

    def result_output(self, result: Result, reply: str) -> None:
        """An output of device results (HomeLive.result_outputs): those of requests that
        came in on this port go back out on it."""
        if result.request is not None and result.request.source == "serial":
            self.result(result.intent.id, result_json(result, reply))

    def result(self, request_id: str, line: bytes) -> None:
        """A request's result: written after its answer, between replies."""
        try:
            self.later.put_nowait(line)
        except asyncio.QueueFull:
            _LOG.warning("serial port: results are not being read; %s's is dropped", request_id)

    async def run(self) -> None:
        await serial_task(self.settings, self.line, self.later, self.on_state)
