"""From a template match to dialogd commands: intents to actions, slots to devices.

Targets follow FORMAT.md, as in Home Assistant: a device's own name wins; otherwise an
area, a floor and a kind of device mean every device of that kind there; with no place
said, the site's own area; with none, every device of the kind, and a question back
(`clarify`) when several in different places fit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from daemon.core.vocabulary import (
    CANCEL,
    CANCEL_TIMER,
    CLARIFY,
    DEVICELESS,
    QUERY,
    START_TIMER,
    TIMER_STATUS,
    UNKNOWN,
    Lang,
    Value,
)
from daemon.home.registry import Command, DeviceInfo, Registry
from daemon.understanding.lang import alternation, lexicon
from daemon.understanding.templates import NO_AREA, Match, domain_of

# Home Assistant's on/off intents mean a different dialogd action per kind of device.
_MOVING = ("cover", "valve")
_ON = {"cover": "open", "valve": "open", "lock": "lock", "scene": "activate",
       "vacuum": "start", "appliance": "start"}  # fmt: skip
_OFF = {"cover": "close", "valve": "close", "lock": "unlock", "vacuum": "stop",
        "appliance": "stop"}  # fmt: skip

# Intents whose action does not depend on the device.
_FIXED = {
    "HassClimateSetTemperature": "set_temperature",
    "HassSetVolume": "set_volume",
    "HassSetVolumeRelative": "change_volume",
    "HassMediaPause": "pause",
    "HassMediaUnpause": "resume",
    "HassMediaNext": "next_track",
    "HassMediaPrevious": "previous_track",
    "HassMediaPlayerMute": "mute",
    "HassMediaPlayerUnmute": "unmute",
    "HassVacuumStart": "start",
    "HassVacuumReturnToBase": "return_to_base",
    "HassSetPosition": "set_position",
    "HassListAddItem": "add_item",
    "HassShoppingListAddItem": "add_item",
    "HassGetState": QUERY,
    "HassClimateGetTemperature": QUERY,
    "HassFanSetSpeed": "set_speed",
}
_DEVICELESS = {
    "HassNevermind": CANCEL,
    "HassStartTimer": START_TIMER,
    "HassCancelTimer": CANCEL_TIMER,
    "HassCancelAllTimers": CANCEL_TIMER,
    "HassTimerStatus": TIMER_STATUS,
}
# Default domain of intents that only make sense for one kind of device.
_INTENT_DOMAIN = {
    "HassClimateSetTemperature": "climate",
    "HassClimateGetTemperature": "climate",
    "HassSetVolume": "media_player",
    "HassSetVolumeRelative": "media_player",
    "HassMediaPause": "media_player",
    "HassMediaUnpause": "media_player",
    "HassMediaNext": "media_player",
    "HassMediaPrevious": "media_player",
    "HassMediaPlayerMute": "media_player",
    "HassMediaPlayerUnmute": "media_player",
    "HassVacuumStart": "vacuum",
    "HassVacuumReturnToBase": "vacuum",
    "HassListAddItem": "todo",
    "HassShoppingListAddItem": "todo",
    "HassFanSetSpeed": "fan",
    "HassLightSet": "light",
}
_VALUE_SLOTS = ("value", "brightness", "temperature", "volume_level", "position", "item",
                "color", "volume_step", "percentage")  # fmt: skip


@dataclass(frozen=True)
class Resolved:
    """One clause's command, or the reason it can be only `unknown`."""

    command: Command
    target_said: bool  # the clause named a device, area or floor itself


_ON_OFF = re.compile(r"\b(?:on|off|out)\b")


class Resolver:
    def __init__(
        self, registry: Registry, motion: dict[str, re.Pattern[str]] | None = None
    ) -> None:
        self.registry = registry
        # A clause that starts with an open/close verb ("shut the garage") moves what
        # opens and closes there, not everything that turns off.
        self.motion = motion or {}

    def resolve(
        self,
        m: Match,
        site_area: str | None,
        everything: bool = False,
        focus: frozenset[str] = frozenset(),
    ) -> Resolved:
        """`everything`: the clause said "all" (or suoyou...) of a kind of device. `focus`:
        the devices a conversation is about ("make it brighter"), used before the site's
        area when the clause names no target."""
        generic = self._generic_action(m)
        if m.intent in _DEVICELESS or generic in DEVICELESS:
            own = _DEVICELESS.get(m.intent, generic)
            seconds = _timer_seconds(m) if own == START_TIMER else None
            label = (
                _value_of(m, "name") if own in (START_TIMER, CANCEL_TIMER, TIMER_STATUS) else None
            )
            name = str(label).strip() or None if label is not None else None
            return Resolved(Command(own, (), seconds, label=name), False)
        kinds = self._kinds(m)
        candidates, said, pinned = self._targets(m, kinds, site_area, everything, focus)
        return self.resolve_on(m, candidates, said, pinned, said_kind=bool(kinds) or pinned)

    def resolve_on(
        self,
        m: Match,
        candidates: Iterable[DeviceInfo],
        said: bool,
        pinned: bool,
        said_kind: bool = True,
    ) -> Resolved:
        """The match's command on `candidates`: the action per kind of device ("turn
        off" closes a cover), the devices that accept it, its value; a question back
        when several in different places fit and nothing `pinned` them."""
        generic = self._generic_action(m)
        candidates = list(candidates)
        if m.intent in ("HassTurnOn", "HassTurnOff"):
            moving = "open" if m.intent == "HassTurnOn" else "close"
            verb = self.motion.get(moving)
            movers = [d for d in candidates if d.accepts(moving)]
            low = m.text.lower()
            # "shut everything off" turns off: with on/off, "shut" is not "close".
            if verb is not None and verb.search(low) and movers and not _ON_OFF.search(low):
                candidates, said_kind = movers, True
        by_action: dict[str, list[str]] = {}
        for dev in candidates:
            act = self._action_for(m, generic, dev, said_kind=said_kind)
            if act is not None and dev.accepts(act):
                by_action.setdefault(act, []).append(dev.id)
        if not by_action and generic in ("turn_on", "turn_off"):
            # Nothing there turns on: what opens there is what was meant (open the
            # garage, in Chinese "da kai"), as Home Assistant's HassTurnOn opens a cover.
            # Only what moves: "turn off the hallway" never unlocks its door.
            table = _ON if generic == "turn_on" else _OFF
            for dev in candidates:
                act = table.get(domain_of(dev.type)) if domain_of(dev.type) in _MOVING else None
                if act is not None and dev.accepts(act):
                    by_action.setdefault(act, []).append(dev.id)
        if not by_action:
            return Resolved(Command(UNKNOWN), said)
        # Several actions happen only for a place target ("turn off the kitchen"):
        # FORMAT.md keeps the devices that accept the action that was said.
        action = (
            generic if generic in by_action else max(by_action, key=lambda a: len(by_action[a]))
        )
        ids = by_action[action]
        value = self._value(m, action, ids)
        # A question needs no single device: "are any lights on?" asks about them all.
        if action != QUERY and not pinned and len(ids) > 1 and self._spread(ids):
            return Resolved(Command(CLARIFY, tuple(ids), asked=Command(action, (), value)), said)
        return Resolved(Command(action, tuple(ids), value), said)

    # ----------------------------------------------------------------- targets

    def _kinds(self, m: Match) -> set[str]:
        """The domains the clause is about (empty: any)."""
        if m.name_domain:
            return {m.name_domain}
        dom = m.slots.get("domain")
        if dom is not None and dom.value:
            return {str(dom.value)}
        if "device_class" in m.slots:
            return {"cover"}
        default = _INTENT_DOMAIN.get(m.intent)
        return {default} if default else set()

    def _targets(
        self,
        m: Match,
        kinds: set[str],
        site_area: str | None,
        said_all: bool,
        focus: frozenset[str] = frozenset(),
    ) -> tuple[list[DeviceInfo], bool, bool]:
        """(candidates, a target was said, the target is settled: no question back)."""
        reg = self.registry
        name = m.slots.get("name")
        if name is not None and name.value in reg.by_id:
            return [reg.by_id[name.value]], True, True
        pool = [d for d in reg.devices if not kinds or domain_of(d.type) in kinds]
        dc = m.slots.get("device_class")
        if dc is not None and dc.value:
            word = str(dc.value).replace("_", " ").split()[0]
            # "close the curtains" in a home without curtains closes nothing else.
            pool = [d for d in pool if any(word in p.lower() for p in (d.id, *d.phrases))]
        area = m.slots.get("area")
        floor = m.slots.get("floor")
        everything = (
            said_all
            or str(_value_of(m, "all")).lower() == "true"
            or "all" in str(m.metadata.get("slot_combination", ""))
        )
        if area is not None and area.text:
            return [d for d in pool if d.area == area.value], True, True
        if floor is not None and floor.text:
            return [d for d in pool if reg.floor_of(d) == floor.value], True, True
        here = site_area if site_area not in (None, NO_AREA) else None
        if everything and not said_all and here is not None:
            # "turn everything off" from the garage: the garage's (the template's "all"
            # is "everything"; no quantifier and no whole home was said).
            local = [d for d in pool if d.area == here]
            if local:
                return local, True, True
        if everything:
            return pool, True, True
        talked_about = [d for d in pool if d.id in focus]
        if talked_about:
            return talked_about, False, True
        if here is not None:
            local = [d for d in pool if d.area == here]
            if local:
                return local, False, True
        # Nothing local: one device of the kind settles it; several ask (see resolve).
        return pool, False, False

    def _spread(self, ids: Iterable[str]) -> bool:
        """The devices are in different places (or some in none)."""
        areas = {self.registry.by_id[i].area for i in ids}
        return len(areas) > 1 or None in areas

    # ----------------------------------------------------------------- actions

    @staticmethod
    def _generic_action(m: Match) -> str:
        if m.intent.startswith("dialogd."):
            return m.intent.removeprefix("dialogd.")
        if m.intent == "HassTurnOn":
            return "turn_on"
        if m.intent == "HassTurnOff":
            return "turn_off"
        if m.intent == "HassLightSet":
            return "set_color" if "color" in m.slots else "set_brightness"
        return _FIXED.get(m.intent, UNKNOWN)

    @staticmethod
    def _action_for(m: Match, generic: str, dev: DeviceInfo, said_kind: bool) -> str | None:
        dom = domain_of(dev.type)
        if dom == "lock" and m.intent in ("HassTurnOn", "HassTurnOff"):
            door = _door_verb(m)
            if door is not None:
                return door
        if m.intent == "HassTurnOn":
            return _ON.get(dom, "turn_on") if said_kind else "turn_on"
        if m.intent == "HassTurnOff":
            return _OFF.get(dom, "turn_off") if said_kind else "turn_off"
        if m.intent == "HassFanSetSpeed" and _number(m, "percentage") == 0:
            return "turn_off"
        return generic

    # ------------------------------------------------------------------ values

    def _value(self, m: Match, action: str, ids: list[str]) -> Value:
        reg = self.registry
        if action in ("set_color", "add_item"):
            for key in ("value", "color", "item"):
                slot = m.slots.get(key)
                if slot is not None and slot.value is not None:
                    v = str(slot.value).strip()
                    return v.lower() if action == "set_color" else v
            return None
        rule = reg.rule(action, ids[0] if ids else None)
        if rule is None:
            return None
        sign = -1 if str(_value_of(m, "sign")) == "-1" else 1
        raw: object = None
        for key in _VALUE_SLOTS:
            slot = m.slots.get(key)
            if slot is not None and slot.value is not None:
                raw = slot.value
                break
        if action == "set_speed":
            speeds = min(reg.by_id[i].speeds for i in ids) if ids else 3
            if raw == "max":
                return speeds
            if raw == "min":
                return 1
            if m.intent == "HassFanSetSpeed":
                pct = _number(m, "percentage")
                if pct is None:
                    return None
                percent = _percentage().search(m.text.lower())
                if percent is None:
                    return round(pct)  # "fan speed to 3": a level (7 is out of range)
                return max(1, math.ceil(pct * speeds / 100))
        if raw in ("up", "down"):  # HA's volume_step
            sign, raw = (1 if raw == "up" else -1), None
        if raw is None:
            return sign * rule.default_step if rule.default_step else None
        try:
            number = float(str(raw).rstrip("%"))
        except ValueError:
            return None
        n = round(number)
        return sign * abs(n) if rule.default_step is not None else n


@cache
def _percentage() -> re.Pattern[str]:
    """A percentage said as one, in any language (`percentage` in daemon/data/lang)."""
    return re.compile("|".join([*lexicon("en")["percentage"], *lexicon("zh")["percentage"]]))


def _value_of(m: Match, key: str) -> object:
    slot = m.slots.get(key)
    return None if slot is None else slot.value


def _number(m: Match, key: str) -> float | None:
    slot = m.slots.get(key)
    try:
        return None if slot is None else float(slot.value)
    except (TypeError, ValueError):
        return None


def _timer_seconds(m: Match) -> int | None:
    total: float | None = None
    for key, scale in (("hours", 3600), ("minutes", 60), ("seconds", 1), ("value", 1)):
        v = _number(m, key)
        if v is not None:
            total = (total or 0.0) + v * scale
    return None if total is None else round(total)


def _door_verb(m: Match) -> str | None:
    """What an on/off template means for a lock by the verb said around its name:
    "ba damen guan shang" (close the front door) locks it, "damen kai yixia" unlocks it.
    Home Assistant's on/off of a lock is lock/unlock, which its generic on/off templates
    turn inside out for doors (`door_verbs` in daemon/data/lang)."""
    name = m.slots.get("name")
    return door_action(m.text, name.text if name is not None else "")


def door_action(text: str, name: str = "") -> str | None:
    """ "lock" or "unlock" by the open/close verb of `text` said of a lock, its `name`'s
    own words left out ("mensuo" holds "suo"); None when it says neither."""
    lang: Lang = "zh" if re.search(r"[\u3400-\u9fff]", text) else "en"
    low = text.lower()
    if name:
        low = low.replace(name.lower(), " ")
    for action, pattern in _door_verbs(lang):
        if pattern.search(low):
            return action
    return None


@cache
def _door_verbs(lang: Lang) -> tuple[tuple[str, re.Pattern[str]], ...]:
    verbs = lexicon(lang)["door_verbs"]
    return tuple(
        (action, alternation(verbs[action], words=lang == "en")) for action in ("unlock", "lock")
    )
