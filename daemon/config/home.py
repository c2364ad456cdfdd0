"""The home's TOML schema ([[floors]], [[areas]], [[devices]]) and what makes a home
inconsistent. Discovery builds the same `Device` entries, so that one check and one
registry constructor serve both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from daemon.config.base import Section
from daemon.core.vocabulary import COLOR_ACTION, TYPES

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
_ID = ID_PATTERN


class Floor(Section):
    id: str = Field(pattern=_ID, description="Stable id, used in area entries.")
    name: str = Field(min_length=1, description="What people call it.")
    aliases: list[str] = Field(default_factory=list, description="Other names, any language.")


class Area(Section):
    id: str = Field(pattern=_ID, description="Stable id, used by devices and `area`.")
    name: str = Field(min_length=1, description="What people call it.")
    aliases: list[str] = Field(default_factory=list, description="Other names, any language.")
    floor: str | None = Field(None, description="The floor id it is on, if any.")


class Device(Section):
    id: str = Field(pattern=_ID, description="Stable id used in intents.")
    type: str = Field(description="One of: " + ", ".join(TYPES) + ".")
    name: str = Field(min_length=1, description="What people call it, in the main language.")
    aliases: list[str] = Field(default_factory=list, description="Other names, any language.")
    area: str | None = Field(None, description="The area id it is in, if any.")
    actions: list[str] | None = Field(
        None, description="Narrows the type's actions to these; unset: all of the type's."
    )
    sensitive: list[str] = Field(
        default_factory=list, description="Actions that need a confirmation (e.g. unlock)."
    )
    color: bool = Field(False, description="Lights only: accepts set_color.")
    speeds: int = Field(3, ge=1, le=10, description="Fans: number of speed levels.")
    integration: Literal["zigbee2mqtt", "tasmota", "esphome", "custom"] | None = Field(
        None,
        description=(
            "How dialogd switches it: zigbee2mqtt, tasmota or esphome (with `topic`), or "
            "custom (with `command_topic` and `payloads`). Unset: dialogd only publishes "
            "intents for it (or it comes from discovery)."
        ),
    )
    topic: str | None = Field(
        None,
        description=(
            "zigbee2mqtt: the friendly name; tasmota: its %topic%; esphome: "
            "<node>/<component>/<object_id> (e.g. porch/light/lamp)."
        ),
    )
    command_topic: str | None = Field(None, description="custom: where commands go.")
    state_topic: str | None = Field(None, description="custom: where the device tells its state.")
    availability_topic: str | None = Field(
        None, description="Where the device says online/offline, if anywhere."
    )
    payloads: dict[str, str] = Field(
        default_factory=dict,
        description='custom: payload per action; "{value}" is the value ({turn_on = "ON"}).',
    )


def registry_problems(
    devices: Sequence[Device], areas: Sequence[Area], floors: Sequence[Floor]
) -> list[str]:
    """Every way the registry makes no sense, one line each (config error lines)."""
    out: list[str] = []
    floor_ids: set[str] = set()
    for i, f in enumerate(floors):
        fid = f.id
        if fid in floor_ids:
            out.append(f"config: floors[{i}]: floor id {fid!r} is used twice")
        floor_ids.add(fid)
    area_ids: set[str] = set()
    for i, place in enumerate(areas):
        aid, fl = place.id, place.floor
        if aid in area_ids:
            out.append(f"config: areas[{i}]: area id {aid!r} is used twice")
        area_ids.add(aid)
        if fl is not None and fl not in floor_ids:
            out.append(f"config: areas[{i}] ({aid}): floor {fl!r} does not exist")
    ids: set[str] = set()
    names: dict[str, str] = {}
    for i, d in enumerate(devices):
        did, typ = d.id, d.type
        where = f"config: devices[{i}] ({did})"
        if did in ids:
            out.append(f"{where}: device id {did!r} is used twice")
        ids.add(did)
        if typ not in TYPES:
            out.append(f"{where}: unknown type {typ!r}; use one of {', '.join(TYPES)}")
            continue
        offered = [a for a in TYPES[typ] if a != COLOR_ACTION or d.color]
        for a in d.actions or ():
            if a not in offered:
                extra = (
                    " (lights need color = true)" if a == COLOR_ACTION and typ == "light" else ""
                )
                out.append(f"{where}: a {typ} has no action {a!r}{extra}")
        accepted = set(d.actions or offered)
        for a in d.sensitive:
            if a not in accepted:
                out.append(f"{where}: sensitive action {a!r} is not one the device has")
        if d.area is not None and d.area not in area_ids:
            out.append(f"{where}: area {d.area!r} does not exist")
        if d.color and typ != "light":
            out.append(f"{where}: color = true is only for lights")
        for phrase in (d.name, *d.aliases):
            key = " ".join(phrase.lower().split())
            other = names.get(key)
            if other is not None and other != did:
                out.append(f"{where}: the name {phrase!r} is also a name of {other}")
            names[key] = did
    return out
