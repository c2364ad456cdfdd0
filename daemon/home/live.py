"""The home on the broker: devices found there, their state, and switching them.

Discovery messages are parsed as they come (untrusted: each bad one is one warning) and
kept per topic; the merged registry is applied once discovery has been quiet for
`home.debounce_s`, so that a burst of retained configs at connect (or a flood) costs one
rebuild of the model's prompt, not one per message. Each (re)applied home re-subscribes
the state topics of the devices it can reach.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from daemon.config import Settings
from daemon.home.actuator import Actuator, Result
from daemon.home.answers import Answers
from daemon.home.book import StateBook
from daemon.home.catalog import Catalog, Home
from daemon.home.discovery import (
    Parsed,
    ha_config_topics,
    parse_ha_config,
    parse_zigbee2mqtt_devices,
    parse_zigbee2mqtt_groups,
)
from daemon.home.payloads import Publish
from daemon.home.registry import Registry
from daemon.messages import Intent
from daemon.mqtt import Inbound, MqttLink
from daemon.understanding.replies import Replies

_LOG = logging.getLogger(__name__)

# A new home is applied through this (the engine's prompt and the channels' registries);
# False: it was refused, and the old home stays.
ApplyHome = Callable[[Home, Registry], Awaitable[bool]]


def home_registry(settings: Settings, home: Home) -> Registry:
    return Registry.from_config(home.devices, home.areas, home.floors, settings.temperature_unit)


class HomeLive:
    def __init__(
        self,
        settings: Settings,
        link: MqttLink,
        apply: ApplyHome,
        replies: Callable[[], Replies],
    ) -> None:
        self.settings = settings
        self.link = link
        self.apply = apply
        self.replies = replies  # the engine's, for the registry it has now
        s = settings
        self.catalog = Catalog(s.home, s.devices, s.areas, s.floors)
        self.home = self.catalog.merged()
        self.book = StateBook()
        self.actuator = Actuator(self.book, self._send, s.home.confirm_timeout_s)
        self.result_outputs: list[Callable[[Result, str], None]] = []
        self._topics: set[str] = set()
        self._pending: asyncio.TimerHandle | None = None
        self._applying: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ set-up

    def start(self) -> None:
        """Listen for discovery (as configured) and for the state of known devices."""
        h = self.settings.home
        if "homeassistant" in h.discover:
            for topic in ha_config_topics(h.discovery_prefix):
                self.link.route(topic, self._on_ha_config, qos=1)
        if "zigbee2mqtt" in h.discover:
            base = h.zigbee2mqtt_base
            self.link.route(f"{base}/bridge/devices", self._on_z2m_devices, qos=1)
            self.link.route(f"{base}/bridge/groups", self._on_z2m_groups, qos=1)
        self._track()

    def configure(self, settings: Settings) -> None:
        """A reloaded config (SIGHUP): same discovered devices, new config devices."""
        self.settings = settings
        s = settings
        self.catalog.configure(s.home, s.devices, s.areas, s.floors)
        self.actuator.timeout = s.home.confirm_timeout_s
        self.home = self.catalog.merged()
        self._track()

    def registry(self) -> Registry:
        return home_registry(self.settings, self.home)

    # --------------------------------------------------------------- discovery

    def _forbidden(self) -> list[str]:
        return [f"{self.settings.mqtt.prefix}/", "$", "hermes/"]

    def _on_ha_config(self, msg: Inbound) -> None:
        h = self.settings.home
        parsed = parse_ha_config(
            msg.topic,
            msg.payload,
            prefix=h.discovery_prefix,
            allowed=h.topic_prefixes,
            forbidden=self._forbidden(),
        )
        self._found(msg.topic, parsed)

    def _on_z2m_devices(self, msg: Inbound) -> None:
        h = self.settings.home
        parsed = parse_zigbee2mqtt_devices(
            h.zigbee2mqtt_base,
            msg.payload,
            allowed=h.topic_prefixes,
            forbidden=self._forbidden(),
            max_devices=h.max_devices,
        )
        self._found(msg.topic, parsed)

    def _on_z2m_groups(self, msg: Inbound) -> None:
        groups = parse_zigbee2mqtt_groups(msg.payload)
        if groups != self.catalog.groups:
            self.catalog.groups = groups
            self._schedule()

    def _found(self, topic: str, parsed: Parsed) -> None:
        for w in parsed.warnings:
            _LOG.warning("discovery: %s", w)
        if self.catalog.put(topic, parsed.devices):
            self._schedule()

    def _schedule(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        loop = asyncio.get_running_loop()
        self._pending = loop.call_later(self.settings.home.debounce_s, self._fire)

    def _fire(self) -> None:
        self._pending = None
        if self._applying is not None and not self._applying.done():
            self._schedule()  # one rebuild at a time; this one follows
            return
        self._applying = asyncio.get_running_loop().create_task(self._apply(), name="home-apply")

    async def _apply(self) -> None:
        home = self.catalog.merged()
        same = (home.devices, home.areas) == (self.home.devices, self.home.areas)
        if not same:
            registry = home_registry(self.settings, home)
            try:
                ok = await self.apply(home, registry)
            except Exception:
                _LOG.exception("the discovered home could not be applied; keeping the old one")
                return
            if not ok:
                return
            old = {d.id for d in self.home.devices}
            new = {d.id for d in home.devices}
            _LOG.info(
                "home: %d device(s) (%d discovered); added %s, removed %s",
                len(home.devices),
                sum(1 for o in home.origins.values() if o != "config"),
                sorted(new - old) or "none",
                sorted(old - new) or "none",
            )
        self.home = home
        self._track()

    # -------------------------------------------------------------------- state

    def _track(self) -> None:
        types = {d.id: d.type for d in self.home.devices}
        endpoints = {k: v for k, v in self.home.endpoints.items() if k in types}
        topics = self.book.track(endpoints, types)
        for gone in self._topics - topics:
            self.link.unroute(gone)
        for topic in topics - self._topics:
            self.link.route(topic, self._on_state, qos=0)
        self._topics = topics

    def _on_state(self, msg: Inbound) -> None:
        self.book.feed(msg.topic, msg.payload)

    # ------------------------------------------------------------------ outputs

    def refine(self, intent: Intent) -> Intent:
        """The reply told from real state (query answers, "already on", "offline")."""
        return Answers(self.replies()).refine(intent, self.book.look)

    def reaches(self, intent: Intent) -> bool:
        return self.settings.home.actuate and self.actuator.reaches(intent)

    async def actuate(self, intent: Intent) -> None:
        """Switch what the intent says; every result output hears how it went."""
        if not self.reaches(intent):
            return
        result = await self.actuator.run(intent)
        if result is None:
            return
        reply = Answers(self.replies()).after(result)
        for output in self.result_outputs:
            try:
                output(result, reply)
            except Exception:
                _LOG.exception("a result output failed on %s", intent.id)

    def _send(self, m: Publish) -> bool:
        return self.link.send_now(m.topic, m.payload)
