"""How dialogd reaches a device over MQTT: its integration, topics and payload options.

This is the contract between the parts of home integration:
- discovery (`daemon/home/discovery/`) builds Endpoints from retained zigbee2mqtt and
  Home Assistant discovery messages, and the config builds them for hand-written devices;
- actuation (`daemon/home/payloads.py`) turns a command into the messages an Endpoint
  takes;
- state (`daemon/home/state.py`) reads what an Endpoint's state topics say.

An Endpoint is plain data: topics are complete (no "~" base, no wildcards), and `options`
holds the integration's own settings with Home Assistant's abbreviations expanded
(`cmd_t` -> `command_topic`), e.g. `payload_on`, `brightness_scale`, `schema`,
`position_topic`, `state_value_template`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# "hass": an entity of Home Assistant itself, over its websocket API (protocols/hass.py).
Integration = Literal["zigbee2mqtt", "tasmota", "esphome", "homeassistant", "custom", "hass"]
Origin = Literal["config", "zigbee2mqtt", "homeassistant", "hass"]


class Endpoint(BaseModel):
    """One device's MQTT interface."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    integration: Integration
    # zigbee2mqtt: <base>/<friendly_name>/set; Tasmota: cmnd/<topic> (the leaf, POWER,
    # Dimmer..., is added per action); ESPHome: <node>/<component>/<id>/command; Home
    # Assistant discovery: the config's command_topic; custom: the config's.
    command_topic: str | None = None
    # zigbee2mqtt: <base>/<friendly_name>; Tasmota: stat/<topic>/RESULT; ESPHome:
    # <node>/<component>/<id>/state; discovery: its state_topic.
    state_topic: str | None = None
    availability_topic: str | None = None
    payload_available: str = "online"
    payload_not_available: str = "offline"
    # The integration's own keys (expanded, JSON-compatible values).
    options: dict[str, Any] = Field(default_factory=dict)
    # Per action, a payload template for hand-written devices: "{value}" is replaced by
    # the command's value ({"turn_on": "ON", "set_brightness": "{value}"}).
    payloads: dict[str, str] = Field(default_factory=dict)

    def topics(self) -> list[str]:
        """Every topic whose messages tell this device's state or availability."""
        out = [t for t in (self.state_topic, self.availability_topic) if t]
        for key, v in self.options.items():
            if key.endswith("state_topic") and isinstance(v, str) and v not in out:
                out.append(v)
        return out
