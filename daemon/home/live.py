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
from dataclasses import replace

import paho.mqtt.client as mqtt

from daemon.config.home import Area, Floor
from daemon.config.settings import Settings
from daemon.core.messages import Intent, Outcome, Request
from daemon.home.actuator import Actuator, Result
from daemon.home.answers import Answers
from daemon.home.book import StateBook
from daemon.home.catalog import Catalog, Home
from daemon.home.discovery import (
    Discovered,
    Parsed,
    ha_config_topics,
    parse_ha_config,
    parse_zigbee2mqtt_devices,
    parse_zigbee2mqtt_groups,
)
from daemon.home.hass.source import HassSource
from daemon.home.payloads import Publish
from daemon.home.protocols.hass import CALL_TOPIC
from daemon.home.registry import Registry
from daemon.mqtt.link import Inbound, MqttLink, reserved_prefixes
from daemon.understanding.replies import Replies

_LOG = logging.getLogger(__name__)

# At start, discovery is taken as complete once no config came for this long: the broker
# sends what it kept right after the subscription, in one burst.
SETTLE_QUIET_S = 0.5

# A new home is applied through this (the engine's prompt and the channels' registries);
# False: it was refused, and the old home stays.
ApplyHome = Callable[[Home, Registry], Awaitable[bool]]


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
        self._generation = 0  # bumped by a config reload: an older rebuild is stale
        self._discovery_routes: list[tuple[str, Callable[[Inbound], None]]] = []
        self._discovery_undo: list[Callable[[], None]] = []
        self._state_undo: dict[str, Callable[[], None]] = {}
        self._first_change: float | None = None  # of the changes waiting for the debounce
        self._heard = 0.0  # loop time of the last discovery message
        self._actuating: set[asyncio.Task[None]] = set()
        self.hass: HassSource | None = None
        self._hass_pending = False  # at start: Home Assistant's home not read yet

    # ------------------------------------------------------------------ set-up

    def start(self) -> None:
        """Listen for discovery (as configured) and for the state of known devices."""
        self._route_discovery()
        self._track()

    def _route_discovery(self) -> None:
        for undo in self._discovery_undo:
            undo()
        h = self.settings.home
        routes: list[tuple[str, Callable[[Inbound], None]]] = []
        if "homeassistant" in h.discover:
            routes += [(t, self._on_ha_config) for t in ha_config_topics(h.discovery_prefix)]
        if "zigbee2mqtt" in h.discover:
            base = h.zigbee2mqtt_base
            routes += [
                (f"{base}/bridge/devices", self._on_z2m_devices),
                (f"{base}/bridge/groups", self._on_z2m_groups),
            ]
        self._discovery_undo = [self.link.route(t, handler, qos=1) for t, handler in routes]
        self._discovery_routes = routes
        # What a source no longer read said is forgotten (Home Assistant's websocket
        # source is not a topic subscription).
        for topic in self.catalog.topics():
            if topic.startswith("$hass/"):
                continue
            if not any(mqtt.topic_matches_sub(f, topic) for f, _ in routes):
                self.catalog.put(topic, ())

    async def settle(self, bound_s: float) -> bool:
        """Wait until the discovery configs kept on the broker are applied: they come
        right after subscribing, so the home is complete once discovery has been quiet
        for a moment and its rebuild is done. At most `bound_s`; False if it was not.
        The debounce is skipped here: nothing is being decided yet."""
        if not self._discovery_routes and self.hass is None:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + bound_s
        self._heard = max(self._heard, loop.time())
        quiet = min(SETTLE_QUIET_S, self.settings.home.debounce_s or SETTLE_QUIET_S)
        while loop.time() < deadline:
            applying = self._applying is not None and not self._applying.done()
            if loop.time() - self._heard >= quiet and not applying and not self._hass_pending:
                if self._pending is None:
                    return True
                self._pending.cancel()
                self._fire()
            await asyncio.sleep(0.02)
        return False

    async def known_at_start(
        self, connected: asyncio.Event, status: Callable[[str], object], bound_s: float
    ) -> None:
        """Start with the home complete: the discovery configs the broker kept are applied
        before anything is decided (at most `bound_s`). Without a broker within 10 s,
        dialogd serves what its config knows and takes the rest as it comes."""
        try:
            await asyncio.wait_for(connected.wait(), 10)
        except TimeoutError:
            _LOG.warning("MQTT broker not reachable yet; serving once it is")
            return
        status("reading the home from the broker")
        await self.settle_and_log(bound_s)

    async def settle_and_log(self, bound_s: float) -> None:
        """`settle`, and the log line saying what the home is (or that discovery was
        still changing when the bound ran out)."""
        t0 = asyncio.get_running_loop().time()
        complete = await self.settle(bound_s)
        home = self.home
        found = sum(1 for o in home.origins.values() if o != "config")
        if complete:
            _LOG.info(
                "home: %d device(s), %d of them from discovery, known after %.1f s",
                len(home.devices),
                found,
                asyncio.get_running_loop().time() - t0,
            )
        else:
            _LOG.warning(
                "home: discovery still changing after home.startup_wait_s = %g s; serving "
                "with the %d device(s) known so far (%d from discovery)",
                bound_s,
                len(home.devices),
                found,
            )

    def device_topics(self) -> list[str | None]:
        """Every topic of every device dialogd knows (command, state, availability):
        no caller may have an answer published there."""
        out: list[str | None] = []
        for d in self.settings.devices:
            out += [d.command_topic, d.state_topic, d.availability_topic]
        for e in self.home.endpoints.values():
            out += [e.command_topic, *e.topics()]
            out += [v for k, v in e.options.items() if k.endswith("topic") and isinstance(v, str)]
        return out

    def configure(self, settings: Settings) -> None:
        """A reloaded config (SIGHUP): same discovered devices, new config devices."""
        self.settings = settings
        s = settings
        self.catalog.configure(s.home, s.devices, s.areas, s.floors)
        self.actuator.timeout = s.home.confirm_timeout_s
        self._generation += 1
        self._route_discovery()
        self.home = self.catalog.merged()
        self._track()

    def registry(self, home: Home | None = None) -> Registry:
        """The registry of `home` (the one applied now, by default)."""
        home = home or self.home
        return Registry.from_config(
            home.devices, home.areas, home.floors, self.settings.temperature_unit
        )

    # --------------------------------------------------------------- discovery

    def _forbidden(self) -> list[str]:
        return reserved_prefixes(self.settings.mqtt.prefix)

    def _on_ha_config(self, msg: Inbound) -> None:
        self._heard = asyncio.get_running_loop().time()
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
        self._heard = asyncio.get_running_loop().time()
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
        self._heard = asyncio.get_running_loop().time()
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
        """Apply once discovery is quiet for debounce_s, but no later than ten debounce
        periods after the first change (a device that keeps republishing)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._first_change is None:
            self._first_change = now
        if self._pending is not None:
            self._pending.cancel()
        debounce = self.settings.home.debounce_s
        at = min(now + debounce, self._first_change + 10 * debounce)
        self._pending = loop.call_at(at, self._fire)

    def _fire(self) -> None:
        self._pending = None
        self._first_change = None
        if self._applying is not None and not self._applying.done():
            self._schedule()  # one rebuild at a time; this one follows
            return
        self._applying = asyncio.get_running_loop().create_task(self._apply(), name="home-apply")

    async def _apply(self) -> None:
        generation = self._generation
        home = self.catalog.merged()
        same = (home.devices, home.areas) == (self.home.devices, self.home.areas)
        if not same:
            registry = self.registry(home)
            try:
                ok = await self.apply(home, registry)
            except Exception:
                _LOG.exception("the discovered home could not be applied; keeping the old one")
                return
            if not ok:
                return
            if generation != self._generation:
                # The config was reloaded meanwhile (with the discovered devices): this
                # home is built from the old one, and is dropped.
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
            undo = self._state_undo.pop(gone, None)
            if undo is not None:
                undo()
        for topic in topics - self._topics:
            if not topic.startswith("$hass/"):  # fed by the websocket, not the broker
                self._state_undo[topic] = self.link.route(topic, self._on_state, qos=0)
        self._topics = topics
        if self.hass is not None:
            self.hass.replay_states()

    def _on_state(self, msg: Inbound) -> None:
        self.book.feed(msg.topic, msg.payload)

    # ------------------------------------------------------------------ outputs

    def refine(self, intent: Intent) -> Intent:
        """The reply told from real state (query answers, "already on", "offline")."""
        return Answers(self.replies()).refine(intent, self.book.look)

    def output(self, req: Request | None, outcome: Outcome) -> None:
        """Output of the request path: an intent whose devices dialogd reaches switches
        them (decided or confirmed only); the results follow on `result_outputs`."""
        if isinstance(outcome, Intent) and self.reaches(outcome):
            task = asyncio.get_running_loop().create_task(self.actuate(outcome, req))
            self._actuating.add(task)
            task.add_done_callback(self._actuating.discard)

    def reaches(self, intent: Intent) -> bool:
        return self.settings.home.actuate and self.actuator.reaches(intent)

    async def actuate(self, intent: Intent, request: Request | None = None) -> None:
        """Switch what the intent says; every result output hears how it went (also when
        switching failed: the reply, held back for the result, is then said as it was).
        `request`: the one the intent answers, whose caller hears the result too."""
        if not self.reaches(intent):
            return
        result: Result | None = None
        try:
            result = await self.actuator.run(intent)
        except Exception:
            _LOG.exception("request %s: switching its devices failed", intent.id)
        if result is None:
            result = Result(intent, ())
        result = replace(result, request=request)
        reply = Answers(self.replies()).after(result)
        for output in self.result_outputs:
            try:
                output(result, reply)
            except Exception:
                _LOG.exception("a result output failed on %s", intent.id)

    def _send(self, m: Publish) -> bool:
        if m.topic == CALL_TOPIC:
            return self.hass is not None and self.hass.call(m.payload)
        return self.link.send_now(m.topic, m.payload)

    # ---------------------------------------------------------- Home Assistant

    def use_hass(self, url: str, token: str) -> HassSource:
        """Home Assistant's exposed entities join the home (its websocket source); the
        caller runs the returned source as a long-lived task."""
        self.hass = HassSource(url, token, self._found_hass, self._hass_state, self._hass_refused)
        self._hass_pending = True
        return self.hass

    def _found_hass(
        self, source: str, found: list[Discovered], areas: list[Area], floors: list[Floor]
    ) -> None:
        self._heard = asyncio.get_running_loop().time()
        self._hass_pending = False
        changed = self.catalog.put_places(source, areas, floors)
        if self.catalog.put(source, found) or changed:
            self._schedule()

    def _hass_state(self, topic: str, payload: bytes) -> None:
        self.book.feed(topic, payload)

    def _hass_refused(self, entity_id: str, reason: str) -> None:
        for device, ep in self.home.endpoints.items():
            if ep.integration == "hass" and ep.options.get("entity_id") == entity_id:
                self.actuator.refused(device, reason)
