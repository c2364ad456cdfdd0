"""Home Assistant as a source of devices, state and actuation, over one websocket.

At every connect it reads floors, areas, devices, entities, what is exposed to Assist and
every state, and subscribes to `state_changed` and the registries' update events. The
exposed entities go to the catalog as one discovery source (`$hass/registry`), so a
change in HA reaches the engine through the same coalesced, atomic swap as MQTT
discovery. States are fed to the state book on `$hass/state/<entity_id>`; commands come
back as `$hass/call` bodies and go out as `call_service`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daemon.config.home import Area, Floor
from daemon.home.discovery import Discovered
from daemon.home.hass.client import Event, HassClient, HassError
from daemon.home.hass.registry import home_from
from daemon.home.protocols.hass import STATE_PREFIX

_LOG = logging.getLogger(__name__)

SOURCE = "$hass/registry"
# Registry changes that can change what dialogd knows (a rename, an alias, an area, an
# entity exposed or hidden): each makes the registries be read again.
REGISTRY_EVENTS = (
    "entity_registry_updated",
    "device_registry_updated",
    "area_registry_updated",
    "floor_registry_updated",
    "homeassistant_exposed_entities_updated",
)
REREAD_AFTER_S = 1.0  # a rename fires several events: one read for them all


def token_or_config_error(path: Path | None) -> str:
    """read_token() for start-up: a problem is a ConfigError, reported like any other."""
    from daemon.config.settings import ConfigError

    try:
        return read_token(path)
    except ValueError as exc:
        raise ConfigError([f"config: {exc}"]) from None


def read_token(path: Path | None) -> str:
    """The long-lived token, from its file; ValueError with a clear reason."""
    if path is None:
        raise ValueError("[homeassistant] url is set but token_file is not")
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"[homeassistant] token_file {path}: {exc.strerror}") from None
    if not token:
        raise ValueError(f"[homeassistant] token_file {path} is empty")
    return token


class HassSource:
    def __init__(
        self,
        url: str,
        token: str,
        found: Callable[[str, list[Discovered], list[Area], list[Floor]], None],
        state: Callable[[str, bytes], None],
        refused: Callable[[str, str], None] = lambda entity_id, reason: None,
    ) -> None:
        self.found = found  # the catalog learns HA's home (source, devices, areas, floors)
        self.state = state  # the state book hears an entity's state (topic, payload)
        self.refused = refused  # a command HA refused (entity id, its reason)
        self.client = HassClient(url, token, self._on_connect, self._on_event)
        self._states: dict[str, bytes] = {}
        self._reread: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        await self.client.run()

    async def _on_connect(self, client: HassClient) -> None:
        await client.command({"type": "subscribe_events", "event_type": "state_changed"})
        for event in REGISTRY_EVENTS:
            await client.command({"type": "subscribe_events", "event_type": event})
        await self._read_home()

    async def _read_home(self) -> None:
        c = self.client
        floors = await c.command({"type": "config/floor_registry/list"})
        areas = await c.command({"type": "config/area_registry/list"})
        devices = await c.command({"type": "config/device_registry/list"})
        shown = await c.command({"type": "config/entity_registry/list_for_display"})
        exposed = (await c.command({"type": "homeassistant/expose_entity/list"}))[
            "exposed_entities"
        ]
        states = await c.command({"type": "get_states"})
        wanted = [e for e, where in exposed.items() if where.get("conversation")]
        # Aliases are only in the full entries; list_for_display says which exist.
        known = {e.get("ei") for e in shown.get("entities", [])}
        entries = await c.command(
            {
                "type": "config/entity_registry/get_entries",
                "entity_ids": [e for e in wanted if e in known],
            }
        )
        home = home_from(floors, areas, devices, entries or {}, exposed, states)
        self._states = {
            str(s["entity_id"]): json.dumps(s).encode() for s in states if "entity_id" in s
        }
        _LOG.info(
            "Home Assistant: %d exposed entities as devices (%d of domains dialogd does not "
            "switch), %d areas, %d floors",
            len(home.devices),
            home.skipped,
            len(home.areas),
            len(home.floors),
        )
        self.found(SOURCE, list(home.devices), list(home.areas), list(home.floors))
        self.replay_states()

    def replay_states(self) -> None:
        """Every entity's last state again: devices tracked since (a new home) learn it."""
        for eid, payload in self._states.items():
            self.state(STATE_PREFIX + eid, payload)

    def _on_event(self, event: Event) -> None:
        kind = event.get("event_type")
        if kind == "state_changed":
            data = event.get("data") or {}
            new = data.get("new_state")
            eid = str(data.get("entity_id", ""))
            if not eid:
                return
            payload = json.dumps(new or {"entity_id": eid, "state": "unavailable"}).encode()
            self._states[eid] = payload
            self.state(STATE_PREFIX + eid, payload)
        elif kind in REGISTRY_EVENTS:
            if self._reread is not None:
                self._reread.cancel()
            loop = asyncio.get_running_loop()
            self._reread = loop.call_later(
                REREAD_AFTER_S, lambda: loop.create_task(self._reread_home())
            )

    async def _reread_home(self) -> None:
        try:
            await self._read_home()
        except (HassError, OSError, TimeoutError) as exc:
            _LOG.warning("Home Assistant's registries could not be read again: %s", exc)

    def call(self, payload: bytes) -> bool:
        """A `$hass/call` body: sent as `call_service`; False when HA is not connected.
        Its outcome shows in the entity's state (the actuator waits for it); a refusal is
        logged here."""
        if not self.client.connected.is_set():
            return False
        body: dict[str, Any] = json.loads(payload)
        asyncio.get_running_loop().create_task(self._call(body))
        return True

    async def _call(self, body: dict[str, Any]) -> None:
        what = f"{body.get('domain')}.{body.get('service')} on {body.get('target')}"
        try:
            await self.client.command(body)
        except (HassError, OSError, TimeoutError) as exc:
            _LOG.error("Home Assistant refused %s: %s", what, exc)
            eid = str((body.get("target") or {}).get("entity_id", ""))
            self.refused(eid, f"Home Assistant refused it: {exc}")
            return
        # The service has run: the entity's state now is its answer. Heard again, it
        # confirms a command that changed nothing ("turn on" a light that is on), for
        # which Home Assistant sends no state_changed.
        eid = str((body.get("target") or {}).get("entity_id", ""))
        if eid in self._states:
            self.state(STATE_PREFIX + eid, self._states[eid])
