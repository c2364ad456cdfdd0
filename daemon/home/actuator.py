"""Direct actuation: dialogd switches the devices it can reach, and tells the truth.

An intent's commands go to every device that has an endpoint, as that device's own
payloads. Where the device has a state topic, dialogd waits up to
`home.confirm_timeout_s` for its state to show the change: `executed`; silence is
`no_response`; an offline device, a payload it cannot take or a broker that is away is
`failed`. A device without a state topic is `sent`: nobody can tell more.

Only intents whose status is `decided` or `confirmed` act (a sensitive command waiting
for its yes does not), and a device that never answers holds up nothing but its own
result: every device is waited for at once, and the request path has moved on already.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from daemon.core.messages import Intent, Request
from daemon.core.vocabulary import ACTUATING, Value
from daemon.home.book import StateBook
from daemon.home.payloads import Publish, Unsupported, messages_for
from daemon.home.state import satisfies

_LOG = logging.getLogger(__name__)

DeviceOutcome = Literal["executed", "no_response", "failed", "sent"]
# The worst outcome of a request's devices is the request's.
_RANK: dict[DeviceOutcome, int] = {"sent": 0, "executed": 1, "no_response": 2, "failed": 3}


@dataclass(frozen=True)
class DeviceResult:
    device: str
    action: str
    value: Value
    result: DeviceOutcome
    detail: str = ""


@dataclass(frozen=True)
class Result:
    intent: Intent
    devices: tuple[DeviceResult, ...]
    # The request it answers (where its caller wants answers: a response topic, a serial
    # port); None for an intent not born of a request here.
    request: Request | None = None

    @property
    def result(self) -> DeviceOutcome:
        return max((d.result for d in self.devices), key=_RANK.__getitem__, default="sent")


Send = Callable[[Publish], bool]  # False: the broker is away, nothing went out


class Actuator:
    def __init__(self, book: StateBook, send: Send, confirm_timeout_s: float) -> None:
        self.book = book
        self.send = send
        self.timeout = confirm_timeout_s
        # Reports per device, and an event set (and replaced) at each report: a waiter
        # counts only reports of its own device that came after its command.
        self._reports: dict[str, int] = {}
        self._refused: dict[str, str] = {}  # device -> why its last command was refused
        self._changed = asyncio.Event()
        book.listeners.append(self._on_change)

    def refused(self, device: str, reason: str) -> None:
        """The device's owner (Home Assistant) refused the command just sent: its waiter
        ends now, `failed` with the reason, instead of waiting for a state."""
        self._refused[device] = reason
        self._on_change(device)

    def _on_change(self, device: str) -> None:
        self._reports[device] = self._reports.get(device, 0) + 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _steps(self, intent: Intent) -> list[tuple[str, str, Value]]:
        """The steps that move a device dialogd switches itself (a question moves none)."""
        if intent.status not in ("decided", "confirmed"):
            return []
        return [
            (s.device, s.action, s.value)
            for s in intent.steps
            if s.device is not None and s.device in self.book.endpoints and s.action in ACTUATING
        ]

    def reaches(self, intent: Intent) -> bool:
        """Whether this intent moves a device dialogd switches itself."""
        return bool(self._steps(intent))

    async def run(self, intent: Intent) -> Result | None:
        steps = self._steps(intent)
        if not steps:
            return None
        jobs = [self._one(device, action, value) for device, action, value in steps]
        results = tuple(await asyncio.gather(*jobs))
        result = Result(intent, results)
        _LOG.info(
            "request %s: %s",
            intent.id,
            ", ".join(f"{r.device} {r.action} {r.result}" for r in results),
        )
        return result

    async def _one(self, device: str, action: str, value: Value) -> DeviceResult:
        ep = self.book.endpoints[device]
        dev_type = self.book.types.get(device, "switch")
        if self.book.online(device) is False:
            return DeviceResult(device, action, value, "failed", "the device is offline")
        try:
            messages = messages_for(
                ep, action, value, device_type=dev_type, current=self.book.state(device)
            )
        except Unsupported as exc:
            return DeviceResult(device, action, value, "failed", str(exc))
        before = self._reports.get(device, 0)
        self._refused.pop(device, None)
        for m in messages:
            if not self.send(m):
                away = "Home Assistant" if ep.integration == "hass" else "the broker"
                return DeviceResult(device, action, value, "failed", f"{away} is unreachable")
        if not self.book.tracked(device):
            return DeviceResult(device, action, value, "sent")
        if await self._until(
            lambda: (
                device in self._refused
                or (
                    self._reports.get(device, 0) > before
                    and self._done(device, action, value, dev_type)
                )
            )
        ):
            if device in self._refused:
                return DeviceResult(device, action, value, "failed", self._refused.pop(device))
            return DeviceResult(device, action, value, "executed")
        if self.book.online(device) is False:
            return DeviceResult(device, action, value, "failed", "the device went offline")
        return DeviceResult(
            device, action, value, "no_response", f"no state change in {self.timeout:g} s"
        )

    def _done(self, device: str, action: str, value: Value, dev_type: str) -> bool:
        state = self.book.state(device)
        if state is None or self.book.online(device) is False:
            return False
        return satisfies(state, action, value, device_type=dev_type) is not False

    async def _until(self, ok: Callable[[], bool]) -> bool:
        """Wait for `ok()` to hold after a state change, up to the timeout."""
        deadline = time.monotonic() + self.timeout
        # Only a report that comes after the command counts (`ok` checks): the state held
        # before it may match already ("turn on" a light that is on) and proves nothing.
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return False
            if ok():
                return True
