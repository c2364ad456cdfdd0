"""systemd service notifications (sd_notify(3)) and the watchdog ping.

`Notifier` speaks the sd_notify datagram protocol itself: one AF_UNIX datagram of
newline-separated ``KEY=value`` assignments sent to ``$NOTIFY_SOCKET`` (a path, or an
abstract socket written with a leading ``@``). With ``NOTIFY_SOCKET`` unset (run from a
shell, in tests, under another supervisor) every method is a cheap no-op, so callers never
need to check.

The unit (systemd/dialogd.service) is ``Type=notify`` with ``WatchdogSec=``: call
`Notifier.ready` once the model is loaded and the channels are up, `Notifier.stopping` when
SIGTERM starts the drain, and run `watchdog_task` on the event loop so a loop that stops
turning also stops the pings and gets the daemon restarted.

Create one `Notifier` per process, in the run loop. ``unset_environment=True`` removes
``NOTIFY_SOCKET`` and ``WATCHDOG_*`` from ``os.environ`` so that child processes (the
private mosquitto, which calls sd_notify itself, espeak, aplay) don't talk to systemd on
our behalf; any `Notifier` created after that is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from typing import Final

__all__ = ["Notifier", "healthy", "watchdog_task"]

log = logging.getLogger(__name__)

_ENV_KEYS: Final = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
_SEND_TIMEOUT_S: Final = 2.0


def _socket_address(value: str | None) -> str | None:
    """The address to send to, or None when notifications are off or the value is unusable."""
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]  # Linux abstract namespace
    if value.startswith("/"):
        return value
    # systemd >= 254 may also hand out vsock: addresses (VMs); nothing to do with a Pi.
    log.warning("ignoring unsupported NOTIFY_SOCKET address %r", value)
    return None


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    """WATCHDOG_USEC if the watchdog is on and meant for this process (sd_watchdog_enabled)."""
    raw = env.get("WATCHDOG_USEC")
    if not raw:
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("ignoring malformed WATCHDOG_USEC=%r", raw)
        return None
    if usec <= 0:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None  # meant for another process (e.g. we are a child of the daemon)
        except ValueError:
            log.warning("ignoring malformed WATCHDOG_PID=%r", pid)
            return None
    return usec


def _one_line(text: str) -> str:
    # A newline would end the assignment and start a new (bogus) one.
    return " ".join(text.splitlines()).strip()


class Notifier:
    """Send service state to systemd. Every method is a no-op without ``NOTIFY_SOCKET``.

    Sending never raises: a failure is logged (once per streak of failures) and reported by
    the return value, because a notification problem must not take the daemon down.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        unset_environment: bool = False,
    ) -> None:
        env: Mapping[str, str] = os.environ if environ is None else environ
        self._address = _socket_address(env.get("NOTIFY_SOCKET"))
        usec = _watchdog_usec(env) if self._address is not None else None
        self._watchdog_usec = usec
        self._sock: socket.socket | None = None
        self._failing = False
        if unset_environment and environ is None:
            for key in _ENV_KEYS:
                os.environ.pop(key, None)

    @property
    def enabled(self) -> bool:
        """True when systemd (or something speaking its protocol) is listening."""
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings (half of WATCHDOG_USEC), or None if no watchdog."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2_000_000

    def notify(self, *assignments: str) -> bool:
        """Send raw ``KEY=value`` assignments in one datagram. True if it was sent."""
        if self._address is None or not assignments:
            return False
        payload = "\n".join(assignments).encode("utf-8", "replace")
        try:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.settimeout(_SEND_TIMEOUT_S)
                self._sock = sock
            self._sock.sendto(payload, self._address)
        except OSError as exc:
            if not self._failing:
                log.warning("sd_notify to %r failed: %s", self._printable_address(), exc)
            self._failing = True
            self.close()  # start afresh next time (e.g. systemd re-executed itself)
            return False
        if self._failing:
            log.info("sd_notify works again")
            self._failing = False
        return True

    def ready(self, status: str = "") -> bool:
        """Start-up is complete: systemd marks the unit active and arms the watchdog."""
        return self.notify("READY=1", *self._status(status))

    def status(self, text: str) -> bool:
        """Free-form one-line status, shown by ``systemctl status dialogd``."""
        return self.notify(*self._status(text))

    def watchdog(self) -> bool:
        """Ping the watchdog: "still alive"."""
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str = "") -> bool:
        """Shutdown has begun (the drain); TimeoutStopSec= applies from now on."""
        return self.notify("STOPPING=1", *self._status(status))

    def reloading(self, status: str = "") -> bool:
        """A reload (SIGHUP) has begun; send `ready` when it is done."""
        return self.notify("RELOADING=1", *self._status(status))

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for `seconds` more before the current start/stop timeout fires (systemd >= 236)."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={max(0, round(seconds * 1_000_000))}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _status(self, text: str) -> tuple[str, ...]:
        line = _one_line(text)
        return (f"STATUS={line}",) if line else ()

    def _printable_address(self) -> str:
        addr = self._address or ""
        return "@" + addr[1:] if addr.startswith("\0") else addr


async def watchdog_task(
    notifier: Notifier,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Send WATCHDOG=1 every `Notifier.watchdog_interval` seconds, from the event loop itself.

    Run it as a task on the daemon's loop (not in a thread): if the loop is blocked, the
    pings stop and systemd kills and restarts the daemon after WatchdogSec=. `alive`, if
    given, is asked before each ping; while it returns False (or raises), pings are withheld
    so that a daemon that is running but not working also gets restarted.

    Returns at once when there is no watchdog; otherwise runs until cancelled.
    """
    interval = notifier.watchdog_interval()
    if interval is None:
        return
    withheld = False
    while True:
        try:
            healthy = True if alive is None else bool(alive())
        except Exception:
            log.exception("watchdog health check raised; treating as unhealthy")
            healthy = False
        if healthy:
            if withheld:
                log.warning("health check passes again; watchdog pings resumed")
                withheld = False
            notifier.watchdog()
        elif not withheld:
            log.error("health check failed; withholding watchdog pings (systemd will restart)")
            withheld = True
        await asyncio.sleep(interval)


def healthy(tasks: list[asyncio.Task[None]], stuck: Callable[[], str | None]) -> bool:
    """The watchdog pings only while every long-lived task runs and no engine call is
    stuck (the pings come from the event loop, so a blocked loop stops them too)."""
    dead = [t.get_name() for t in tasks if t.done() and t.get_name() != "watchdog"]
    if dead:
        log.error("long-lived task(s) ended: %s", ", ".join(dead))
        return False
    problem = stuck()
    if problem:
        log.error("engine stuck: %s", problem)
    return not problem
