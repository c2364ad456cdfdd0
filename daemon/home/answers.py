"""Replies from the devices' real state: "The front door is locked." (in Chinese too).

Applied to every decided intent before it goes out, whichever path decided it. Only
devices whose state dialogd tracks (they have a state topic) change the reply; for the
others the reply stays what the templates said, and a hub may answer from its own state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from daemon.home.registry import Command, Decision, Registry

if TYPE_CHECKING:
    from daemon.home.actuator import Result
from daemon.core.messages import Intent
from daemon.core.vocabulary import QUERY
from daemon.home.state import DeviceState, Look, Lookup, already
from daemon.understanding.replies import Replies

# Which state a question about several devices of a kind lists ("are any lights on?").
_ACTIVE = {"lock": ("unlocked", "none_unlocked"), "cover": ("open", "none_open")}
_ACTIVE["valve"] = _ACTIVE["cover"]


class Answers:
    def __init__(self, replies: Replies) -> None:
        self.registry: Registry = replies.registry
        self.replies = replies

    def refine(self, intent: Intent, look: Lookup) -> Intent:
        """The intent with a reply that tells the state where dialogd knows it."""
        if intent.status not in ("decided", "confirmed"):
            return intent
        parts: list[str] = []
        changed = False
        for c in intent.commands:
            ids = [c.device] if isinstance(c.device, str) else list(c.device or [])
            cmd = Command(c.action, tuple(ids), c.value)
            looks = [look(i) for i in ids]
            said = None
            if ids and all(lk.tracked for lk in looks):
                said = (
                    self._query(ids, looks, intent.lang)
                    if c.action == QUERY
                    else self._command(cmd, looks, intent.lang)
                )
            changed |= said is not None
            parts.append(said or self.replies.render(Decision((cmd,)), intent.lang))
        if not changed:
            return intent
        return intent.model_copy(update={"reply": self.replies.sentences(parts, intent.lang)})

    # ------------------------------------------------------------------ queries

    def _query(self, ids: Sequence[str], looks: Sequence[Look], lang: str) -> str:
        if len(ids) == 1:
            return self._one(ids[0], looks[0], lang)
        t = self._t(lang)
        dev_type = self.registry.by_id[ids[0]].type
        some, none = _ACTIVE.get(dev_type, ("on", "none_on"))
        known = [(i, lk) for i, lk in zip(ids, looks, strict=True) if _known(lk)]
        if not known:
            return t["unknown_state"].format(device=self.replies.names(ids, lang))
        active = [i for i, lk in known if _is_active(dev_type, lk.state)]
        out = [t[f"some_{some}"].format(device=self.replies.names(active, lang))] if active else []
        if not active:
            out.append(t[none])
        offline = [i for i, lk in zip(ids, looks, strict=True) if lk.online is False]
        if offline:
            out.append(t["offline"].format(device=self.replies.names(offline, lang)))
        return self.replies.sentences(out, lang)

    def _one(self, device: str, lk: Look, lang: str) -> str:
        t = self._t(lang)
        name = self.replies.names([device], lang)
        if lk.online is False:
            return t["offline"].format(device=name)
        s = lk.state
        if s is None:
            return t["unknown_state"].format(device=name)
        dev_type = self.registry.by_id[device].type
        key, value = _describe(dev_type, s)
        if key is None:
            return t["unknown_state"].format(device=name)
        return t[key].format(device=name, value=value)

    # ----------------------------------------------------------------- commands

    def _command(self, cmd: Command, looks: Sequence[Look], lang: str) -> str | None:
        """ "Already on" when the command would change nothing; "offline" when a device
        cannot take it. None: the templates' reply stands."""
        t = self._t(lang)
        offline = [i for i, lk in zip(cmd.devices, looks, strict=True) if lk.online is False]
        if offline:
            return t["offline"].format(device=self.replies.names(offline, lang))
        dev_type = self.registry.by_id[cmd.devices[0]].type
        if all(
            lk.state is not None and already(lk.state, cmd.action, cmd.value, device_type=dev_type)
            for lk in looks
        ):
            key = _ALREADY.get(cmd.action, "already")
            return t[key].format(device=self.replies.names(cmd.devices, lang))
        return None

    def after(self, result: Result) -> str:
        """What to say once the devices answered: the intent's reply when they did what
        it says, and which did not (only that, when none did)."""
        intent = result.intent
        t = self._t(intent.lang)
        bad = [d for d in result.devices if d.result in ("no_response", "failed")]
        if not bad:
            return intent.reply
        out = []
        for kind in ("no_response", "failed"):
            ids = list(dict.fromkeys(d.device for d in bad if d.result == kind))
            if not ids:
                continue
            offline = kind == "failed" and all(
                "offline" in d.detail for d in bad if d.device in ids
            )
            key = "offline" if offline else kind
            out.append(t[key].format(device=self.replies.names(ids, intent.lang)))
        if len(bad) < len(result.devices):
            out.insert(0, intent.reply)
        return self.replies.sentences(out, intent.lang)

    def _t(self, lang: str) -> dict[str, str]:
        return self.replies.state(lang)


_ALREADY = {
    "turn_on": "already_on",
    "turn_off": "already_off",
    "lock": "already_locked",
    "unlock": "already_unlocked",
    "open": "already_open",
    "close": "already_closed",
}


def _known(lk: Look) -> bool:
    return lk.state is not None and lk.online is not False


def _is_active(dev_type: str, s: DeviceState | None) -> bool:
    if s is None:
        return False
    if dev_type == "lock":
        return s.locked is False
    if dev_type in ("cover", "valve"):
        return bool(s.open) or bool(s.position)
    return s.power is True


def _describe(dev_type: str, s: DeviceState) -> tuple[str | None, object]:
    """The reply key and value that tell state `s` of a device of `dev_type`."""
    if dev_type == "lock":
        return (None if s.locked is None else "locked" if s.locked else "unlocked"), None
    if dev_type in ("cover", "valve"):
        if s.position is not None and 0 < s.position < 100:
            return "open_level", s.position
        if s.open is not None:
            return ("open" if s.open else "closed"), None
        if s.position is not None:
            return ("open" if s.position else "closed"), None
        return None, None
    if dev_type == "climate" and s.power is not False and s.temperature is not None:
        return "temperature", round(s.temperature)
    if s.power is None:
        return None, None
    if s.power and dev_type == "light" and s.brightness is not None:
        return "on_level", s.brightness
    return ("on" if s.power else "off"), None
