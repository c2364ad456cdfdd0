"""Devices from retained discovery messages: zigbee2mqtt's `bridge/devices` and Home
Assistant's MQTT discovery configs.

Pure parsers: bytes in, `Parsed` out; no client, no I/O, no logging. The caller subscribes,
feeds each message here, logs the warnings and merges the devices into the registry.

Retained messages can be written by anybody on the broker, so everything here is
untrusted: a message, component or device that makes no sense is skipped with exactly one
warning line, nothing raises, every topic a device may use is complete and free of
wildcards, and no discovered topic may point into dialogd's own tree (`forbidden`) or
outside the places the user allows (`allowed`).

Shapes follow the documentation: zigbee2mqtt.io guide/usage/mqtt_topics_and_messages and
guide/usage/exposes; home-assistant.io/integrations/mqtt (discovery topic, abbreviations,
"~" base topic, device-based discovery with `cmps`).
"""

from __future__ import annotations

from daemon.home.discovery.common import (
    MAX_NAME,
    MAX_PAYLOAD,
    MAX_WARNINGS,
    Discovered,
    Parsed,
)
from daemon.home.discovery.ha_abbreviations import (
    HA_ABBREVIATIONS,
    HA_DEVICE_ABBREVIATIONS,
    HA_ORIGIN_ABBREVIATIONS,
)
from daemon.home.discovery.homeassistant import (
    HA_NOT_OPTIONS,
    HA_PASSIVE,
    HA_SHARED,
    HA_TYPES,
    ha_config_topics,
    ha_source,
    parse_ha_config,
)
from daemon.home.discovery.zigbee2mqtt import (
    Z2M_KINDS,
    parse_zigbee2mqtt_devices,
    parse_zigbee2mqtt_groups,
)

__all__ = [
    "HA_ABBREVIATIONS",
    "HA_DEVICE_ABBREVIATIONS",
    "HA_NOT_OPTIONS",
    "HA_ORIGIN_ABBREVIATIONS",
    "HA_PASSIVE",
    "HA_SHARED",
    "HA_TYPES",
    "MAX_NAME",
    "MAX_PAYLOAD",
    "MAX_WARNINGS",
    "Z2M_KINDS",
    "Discovered",
    "Parsed",
    "ha_config_topics",
    "ha_source",
    "parse_ha_config",
    "parse_zigbee2mqtt_devices",
    "parse_zigbee2mqtt_groups",
]
