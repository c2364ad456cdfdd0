"""dialogd's decisions as Home Assistant's built-in intents, for the Wyoming `intent`
program: the client (Home Assistant, or any Wyoming pipeline) then carries them out.

The table is data (daemon/data/ha_intents.toml, which also says what was checked
against Home Assistant); this module applies it to one decision. A command maps exactly
or not at all: an intent that would reach other devices than the ones dialogd decided
on is worse than none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from daemon.core.data import load
from daemon.core.vocabulary import Lang
from daemon.home.registry import Command, Decision, DeviceInfo, Place, Registry

Slot = tuple[str, int | str]


@dataclass(frozen=True)
class HaIntent:
    """A Home Assistant intent: its name and its slots, in order."""

    name: str
    slots: tuple[Slot, ...] = ()


@dataclass(frozen=True)
class _Rule:
    intent: str
    value: str | None = None  # the slot that takes the command's value
    duration: bool = False  # the value is seconds: hours, minutes and seconds slots
    label: str | None = None  # the slot that takes the command's label (a timer's name)
    target: bool = True  # the intent names the device(s)


@dataclass(frozen=True)
class _Table:
    by_type: dict[str, dict[str, _Rule]]  # "any" holds the rules of every type
    deviceless: dict[str, _Rule]
    domains: dict[str, str]
    needs_confirmation: dict[str, str]


@cache
def _table() -> _Table:
    raw = load("ha_intents.toml")

    def rules(section: dict[str, Any]) -> dict[str, _Rule]:
        return {action: _Rule(**rule) for action, rule in section.items()}

    special = {"deviceless", "domains", "needs_confirmation"}
    return _Table(
        by_type={kind: rules(section) for kind, section in raw.items() if kind not in special},
        deviceless=rules(raw["deviceless"]),
        domains=dict(raw["domains"]),
        needs_confirmation=dict(raw["needs_confirmation"]),
    )


def needs_confirmation_reply(lang: Lang) -> str:
    """What a recognizer client hears instead of a sensitive action's intent."""
    return _table().needs_confirmation[lang]


def to_ha_intent(decision: Decision, registry: Registry, text: str) -> HaIntent | None:
    """The decision's first command as a Home Assistant intent; None when it has none
    (chat, unknown, clarify, cancel, an action without a built-in intent, devices that
    no intent can name exactly).

    Only the first command maps: Wyoming 1.5 answers a Recognize with a single Intent
    (lists of intents came with later versions of the protocol), and "turn off the TV and
    the lights" then does its first half. `text`: the request, to tell whether it named
    an area.
    """
    command = decision.first
    rule = _rule(command, registry)
    if rule is None:
        return None
    slots: list[Slot] = []
    if rule.target and command.devices:
        target = _target(command, registry, text)
        if target is None:
            return None
        slots.extend(target)
    if rule.value is not None:
        if command.value is None:  # "set the light" sets nothing
            return None
        slots.append((rule.value, command.value))
    if rule.duration:
        if not isinstance(command.value, int):
            return None
        slots.extend(_duration(command.value))
    if rule.label is not None and command.label:
        slots.append((rule.label, command.label))
    return HaIntent(rule.intent, tuple(slots))


def _rule(command: Command, registry: Registry) -> _Rule | None:
    table = _table()
    if not command.devices:
        return table.deviceless.get(command.action)
    kinds = {registry.by_id[d].type for d in command.devices if d in registry.by_id}
    if len(kinds) != 1:  # one intent acts on one kind of device ("pause" differs)
        return None
    (kind,) = kinds
    return table.by_type.get(kind, {}).get(command.action) or table.by_type["any"].get(
        command.action
    )


def _target(command: Command, registry: Registry, text: str) -> list[Slot] | None:
    """`name` (and `area` when the request named one) for one device; `area` and
    `domain` for several, when they are every device of their type in one area."""
    devices = [registry.by_id[d] for d in command.devices if d in registry.by_id]
    if not devices:
        return None
    if len(devices) == 1:
        device = devices[0]
        slots: list[Slot] = [("name", device.name)]
        area = _named_area(text, device, registry)
        if area is not None:
            slots.append(("area", area.name))
        return slots
    areas = {d.area for d in devices}
    kind = devices[0].type
    if len(areas) != 1 or None in areas:
        return None
    (area_id,) = areas
    assert area_id is not None
    everything = {d.id for d in registry.devices if d.area == area_id and d.type == kind}
    domain = _table().domains.get(kind)
    if domain is None or everything != {d.id for d in devices}:
        return None  # area + domain would reach devices that dialogd left out
    return [("area", registry.area_by_id[area_id].name), ("domain", domain)]


def _named_area(text: str, device: DeviceInfo, registry: Registry) -> Place | None:
    """The device's area, when the request names it besides the device's own name ("the
    lamp in the study"; not the "kitchen" of "kitchen light")."""
    if device.area is None or device.area not in registry.area_by_id:
        return None
    rest = text.lower()
    for phrase in sorted(device.phrases, key=len, reverse=True):
        rest = rest.replace(phrase.lower(), " ")
    area = registry.area_by_id[device.area]
    return area if any(_mentions(rest, p.lower()) for p in area.phrases) else None


def _mentions(text: str, phrase: str) -> bool:
    if not phrase:
        return False
    if phrase.isascii():
        return re.search(rf"(?<![\w]){re.escape(phrase)}(?![\w])", text) is not None
    return phrase in text  # Chinese has no spaces between words


def _duration(seconds: int) -> list[Slot]:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [("hours", hours), ("minutes", minutes), ("seconds", secs)]
    return [(name, n) for name, n in parts if n] or [("seconds", 0)]
