"""The merge of the config's devices with those found on the broker (daemon/home/catalog.py)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.config.home import Area, Device, registry_problems
from daemon.config.settings import HomeSettings
from daemon.home.catalog import Catalog
from daemon.home.discovery import parse_ha_config, parse_zigbee2mqtt_devices
from daemon.home.registry import Command, Registry
from tests.test_home_daemon import ATTIC_FAN, PORCH_LAMP, Z2M_DEVICES

AREAS = [Area(id="kitchen", name="kitchen"), Area(id="hallway", name="hallway")]


def catalog(devices: list[Device] | None = None, **home: object) -> Catalog:
    c = Catalog(HomeSettings(**home), devices or [], AREAS, [])  # type: ignore[arg-type]
    z2m = parse_zigbee2mqtt_devices("zigbee2mqtt", json.dumps(Z2M_DEVICES).encode())
    c.put("zigbee2mqtt/bridge/devices", z2m.devices)
    porch = "homeassistant/light/porch-node/porch_lamp/config"
    c.put(porch, parse_ha_config(porch, json.dumps(PORCH_LAMP).encode()).devices)
    return c


def test_devices_from_the_broker_with_their_areas_and_origins() -> None:
    home = catalog().merged()
    by_id = {d.id: d for d in home.devices}
    assert set(by_id) == {"kitchen_ceiling", "coffee_plug", "front_door", "porch_lamp"}
    assert by_id["kitchen_ceiling"].area == "kitchen"  # its zigbee2mqtt description
    assert by_id["porch_lamp"].area == "porch"  # Home Assistant's suggested area, made
    assert "porch" in {a.id for a in home.areas}
    assert home.origins["porch_lamp"] == "homeassistant"
    assert home.endpoints["coffee_plug"].command_topic == "zigbee2mqtt/Coffee Plug/set"
    assert registry_problems(home.devices, home.areas, home.floors) == []


def test_a_discovered_lock_needs_a_yes_unless_the_config_exempts_it() -> None:
    home = catalog().merged()
    lock = next(d for d in home.devices if d.id == "front_door")
    assert lock.sensitive == ["unlock"]
    registry = Registry.from_config(home.devices, home.areas)
    assert registry.is_sensitive(Command("unlock", ("front_door",)))
    exempt = Device(id="front_door", type="lock", name="front door", sensitive=[])
    home = catalog([exempt]).merged()
    assert next(d for d in home.devices if d.id == "front_door").sensitive == []
    # The config that names the device without a word on sensitivity keeps the guard.
    named = Device(id="front_door", type="lock", name="entrance", area="hallway")
    home = catalog([named]).merged()
    merged = next(d for d in home.devices if d.id == "front_door")
    assert (merged.name, merged.area, merged.sensitive) == ("entrance", "hallway", ["unlock"])
    assert home.origins["front_door"] == "config + zigbee2mqtt"


def test_exclude_and_names_that_are_taken() -> None:
    home = catalog(exclude=["coffee_plug"]).merged()
    assert "coffee_plug" not in {d.id for d in home.devices}
    mine = Device(id="espresso", type="switch", name="coffee plug")
    home = catalog([mine]).merged()
    ids = {d.id for d in home.devices}
    assert "espresso" in ids and "coffee_plug" not in ids  # the config's name wins


def test_a_flood_of_discovery_configs_is_bounded() -> None:
    c = catalog(max_devices=20)
    for i in range(500):
        cfg = {**ATTIC_FAN, "name": f"Fan {i}", "unique_id": f"fan{i}"}
        cfg["command_topic"] = f"cmnd/fan{i}/POWER"
        cfg["device"] = {"identifiers": [f"fan{i}"], "name": f"Fan {i}"}
        topic = f"homeassistant/switch/fan{i}/relay/config"
        c.put(topic, parse_ha_config(topic, json.dumps(cfg).encode()).devices)
    home = c.merged()
    assert len(home.devices) == 20


def test_an_emptied_config_removes_its_device() -> None:
    c = catalog()
    c.put("homeassistant/light/porch-node/porch_lamp/config", ())
    assert "porch_lamp" not in {d.id for d in c.merged().devices}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=30), st.sampled_from(["light", "switch", "lock"]))))
def test_whatever_the_broker_says_the_registry_stays_valid(
    entries: list[tuple[str, str]],
) -> None:
    c = catalog([Device(id="front_door", type="lock", name="front door")])
    for i, (name, component) in enumerate(entries):
        cfg = {"name": name or "x", "command_topic": f"cmnd/d{i}/POWER", "unique_id": f"u{i}"}
        topic = f"homeassistant/{component}/n{i}/config"
        c.put(topic, parse_ha_config(topic, json.dumps(cfg).encode()).devices)
    home = c.merged()
    assert registry_problems(home.devices, home.areas, home.floors) == []
    Registry.from_config(home.devices, home.areas, home.floors)


def test_a_discovered_device_cannot_take_another_ones_command_topic() -> None:
    """A "night light" whose command topic is the front door's (and whose payload would
    unlock it) is left out: the door stays behind its confirmation."""
    evil = {
        "name": "Night Light",
        "unique_id": "nl",
        "command_topic": "zigbee2mqtt/Front Door/set",
        "payload_on": '{"state": "UNLOCK"}',
    }
    topic = "homeassistant/switch/nl/config"
    # Both from the broker: which one lies cannot be told, so neither is switched.
    c = catalog()
    c.put(topic, parse_ha_config(topic, json.dumps(evil).encode()).devices)
    home = c.merged()
    assert "night_light" not in {d.id for d in home.devices}
    assert "front_door" not in home.endpoints
    # The config says how to reach the door: the topic is the door's.
    door = Device(
        id="front_door", type="lock", name="front door", integration="zigbee2mqtt",
        topic="Front Door",
    )  # fmt: skip
    c = catalog([door])
    c.put(topic, parse_ha_config(topic, json.dumps(evil).encode()).devices)
    home = c.merged()
    assert "night_light" not in {d.id for d in home.devices}
    assert home.endpoints["front_door"].command_topic == "zigbee2mqtt/Front Door/set"


def test_a_discovered_garage_door_needs_a_yes_to_open_or_move() -> None:
    garage = {
        "name": "Garage Door",
        "unique_id": "gd",
        "device_class": "garage",
        "command_topic": "garage/door/set",
        "set_position_topic": "garage/door/position/set",
        "position_topic": "garage/door/position",
    }
    c = catalog()
    topic = "homeassistant/cover/gd/config"
    c.put(topic, parse_ha_config(topic, json.dumps(garage).encode()).devices)
    door = next(d for d in c.merged().devices if d.id == "garage_door")
    assert set(door.sensitive) == {"open", "set_position"}
