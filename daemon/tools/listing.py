"""`dialogd devices`: the merged registry as the daemon would build it, and its origins.

Connects to the configured broker, reads the retained discovery messages that
`[home] discover` names until they stop coming, merges them with the config's devices
and prints one line per device (or JSON).
"""

from __future__ import annotations

import json
import logging
import queue
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from daemon.config.settings import Settings
from daemon.home.catalog import Catalog, Home
from daemon.home.discovery import (
    ha_config_topics,
    parse_ha_config,
    parse_zigbee2mqtt_devices,
    parse_zigbee2mqtt_groups,
)
from daemon.mqtt.security import configure as configure_security

_LOG = logging.getLogger(__name__)


class BrokerUnreachable(Exception):
    pass


def _credentials(settings: Settings) -> tuple[str, str] | None:
    """The private broker's `local` user, when dialogd runs one (no [mqtt] host)."""
    if settings.mqtt.host is not None:
        return None
    path = Path(settings.state_dir) / "broker" / "credentials.toml"
    try:
        import tomllib

        users = tomllib.loads(path.read_text(encoding="utf-8"))["users"]
        return "local", str(users["local"])
    except (OSError, KeyError, ValueError):
        return None


def collect(settings: Settings, wait_s: float = 5.0, quiet_s: float = 1.0) -> Home:
    """The merged home after reading discovery for at most `wait_s` (less once nothing
    new has come for `quiet_s`)."""
    h = settings.home
    catalog = Catalog(h, settings.devices, settings.areas, settings.floors)
    if not h.discover:
        return catalog.merged()
    topics: list[str] = []
    if "homeassistant" in h.discover:
        topics += ha_config_topics(h.discovery_prefix)
    if "zigbee2mqtt" in h.discover:
        topics += [f"{h.zigbee2mqtt_base}/bridge/devices", f"{h.zigbee2mqtt_base}/bridge/groups"]
    inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
    connected: queue.Queue[bool] = queue.Queue()
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        protocol=mqtt.MQTTv5 if settings.mqtt.protocol == 5 else mqtt.MQTTv311,
    )
    configure_security(client, settings.mqtt, _credentials(settings))

    def on_connect(c: mqtt.Client, u: object, f: object, rc: object, p: object) -> None:
        for t in topics:
            c.subscribe(t, qos=1)
        connected.put(True)

    def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        inbox.put((m.topic, bytes(m.payload)))

    client.on_connect = on_connect
    client.on_message = on_message
    host = settings.mqtt.host or "127.0.0.1"
    try:
        client.connect(host, settings.mqtt.port, keepalive=settings.mqtt.keepalive)
    except OSError as exc:
        raise BrokerUnreachable(f"broker {host}:{settings.mqtt.port}: {exc}") from None
    client.loop_start()
    try:
        try:
            connected.get(timeout=10)
        except queue.Empty:
            raise BrokerUnreachable(f"broker {host}:{settings.mqtt.port} did not answer") from None
        deadline = time.monotonic() + wait_s
        forbidden = [f"{settings.mqtt.prefix}/", "$", "hermes/"]
        while time.monotonic() < deadline:
            try:
                topic, payload = inbox.get(timeout=min(quiet_s, deadline - time.monotonic()))
            except (queue.Empty, ValueError):
                break
            if topic.endswith("/bridge/groups"):
                catalog.groups = parse_zigbee2mqtt_groups(payload)
                continue
            if topic.endswith("/bridge/devices"):
                parsed = parse_zigbee2mqtt_devices(
                    h.zigbee2mqtt_base,
                    payload,
                    allowed=h.topic_prefixes,
                    forbidden=forbidden,
                    max_devices=h.max_devices,
                )
            else:
                parsed = parse_ha_config(
                    topic,
                    payload,
                    prefix=h.discovery_prefix,
                    allowed=h.topic_prefixes,
                    forbidden=forbidden,
                )
            for w in parsed.warnings:
                _LOG.warning("discovery: %s", w)
            catalog.put(topic, parsed.devices)
    finally:
        client.loop_stop()
        client.disconnect()
    return catalog.merged()


def render(home: Home, as_json: bool = False) -> str:
    rows = []
    for d in home.devices:
        ep = home.endpoints.get(d.id)
        rows.append(
            {
                "id": d.id,
                "type": d.type,
                "name": d.name,
                "area": d.area,
                "origin": home.origins.get(d.id, "config"),
                "integration": ep.integration if ep else None,
                "command_topic": ep.command_topic if ep else None,
                "state_topic": ep.state_topic if ep else None,
            }
        )
    if as_json:
        return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
    cols = ("id", "type", "name", "area", "origin", "command_topic")
    table = [[str(r[c] if r[c] is not None else "-") for c in cols] for r in rows]
    widths = [
        max(len(c), *(len(row[i]) for row in table)) if table else len(c)
        for i, c in enumerate(cols)
    ]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in table]
    lines.append(f"{len(rows)} device(s)")
    return "\n".join(line.rstrip() for line in lines)
