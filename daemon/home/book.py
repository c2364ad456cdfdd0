"""The last state and availability each device told on its topics.

Plain and synchronous: the MQTT task feeds it messages, the reply and actuation steps
read it. Listeners hear which devices changed (the actuator waits on them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from daemon.home.endpoint import Endpoint
from daemon.home.state import (
    DeviceState,
    Look,
    parse_availability,
    parse_state,
    state_topics,
)

_LOG = logging.getLogger(__name__)
MAX_STATE_BYTES = 64 * 1024  # a state message is a few hundred bytes; more is not one


class StateBook:
    def __init__(self) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.types: dict[str, str] = {}
        self._by_topic: dict[str, list[str]] = {}
        self._tracked: set[str] = set()
        self._state: dict[str, DeviceState] = {}
        self._online: dict[str, bool] = {}
        self.listeners: list[Callable[[str], None]] = []

    def track(self, endpoints: dict[str, Endpoint], types: dict[str, str]) -> set[str]:
        """Follow these devices (id -> endpoint, id -> type); returns every topic to
        subscribe. What is known of devices that stay is kept."""
        self.endpoints = dict(endpoints)
        self.types = dict(types)
        by_topic: dict[str, list[str]] = {}
        for did, ep in self.endpoints.items():
            for topic in state_topics(ep):
                by_topic.setdefault(topic, []).append(did)
        self._by_topic = by_topic
        self._tracked = {d for ids in by_topic.values() for d in ids}
        for gone in set(self._state) - set(endpoints):
            self._state.pop(gone, None)
            self._online.pop(gone, None)
        return set(by_topic)

    def tracked(self, device: str) -> bool:
        """Whether dialogd hears the device's state (it has a state topic)."""
        return device in self._tracked

    def feed(self, topic: str, payload: bytes) -> list[str]:
        """One message on a state or availability topic; the devices it changed."""
        if len(payload) > MAX_STATE_BYTES:
            return []
        changed = []
        for did in self._by_topic.get(topic, ()):
            ep = self.endpoints[did]
            online = parse_availability(ep, topic, payload)
            if online is not None:
                if self._online.get(did) != online:
                    _LOG.info("device %s is %s", did, "online" if online else "offline")
                self._online[did] = online
                changed.append(did)
                continue
            state = parse_state(ep, topic, payload, device_type=self.types.get(did, "switch"))
            if state is None:
                continue
            old = self._state.get(did)
            self._state[did] = old.merged(state) if old is not None else state
            # A device that reports a state is up, whatever an old retained LWT said.
            if self._online.get(did) is False and not ep.availability_topic:
                self._online[did] = True
            changed.append(did)
        for did in changed:
            for listener in list(self.listeners):
                listener(did)
        return changed

    def state(self, device: str) -> DeviceState | None:
        return self._state.get(device)

    def online(self, device: str) -> bool | None:
        return self._online.get(device)

    def look(self, device: str) -> Look:
        return Look(self.tracked(device), self._state.get(device), self._online.get(device))

    def known(self) -> Iterable[tuple[str, DeviceState | None, bool | None]]:
        for did in self.endpoints:
            yield did, self._state.get(did), self._online.get(did)
