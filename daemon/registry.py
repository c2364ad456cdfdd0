"""The device registry: which devices exist, what they are called, what they accept.

Built from the `[[devices]]` config. It is the single authority on validity: an
intent that `Registry.check` accepts names a real device and an action it takes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from daemon.vocabulary import ACTIONS, CHAT, QUERY, UNKNOWN


@dataclass(frozen=True)
class DeviceInfo:
    id: str
    name: str
    aliases: tuple[str, ...]
    actions: tuple[str, ...]

    @property
    def phrases(self) -> tuple[str, ...]:
        """Every way to name it, the id's words included ("kitchen_light")."""
        return (self.name, *self.aliases, self.id.replace("_", " "))

    def set_actions(self) -> tuple[str, ...]:
        return tuple(a for a in self.actions if ACTIONS[a] is not None)


@dataclass(frozen=True)
class Decision:
    """What the intent engine decided, before it is dressed as an Intent."""

    action: str
    device: str | None = None
    value: int | None = None


@dataclass(frozen=True)
class Hint:
    """What the words of a request pin down, for the model's decoder to respect.

    None leaves a dimension open. `values` empty means "no number was said", so no
    set_* answer; a dimension that would rule out every answer is ignored.
    """

    devices: frozenset[str] | None = None
    actions: frozenset[str] | None = None
    values: frozenset[int] | None = None


class Registry:
    def __init__(self, devices: Iterable[DeviceInfo]) -> None:
        self.devices: tuple[DeviceInfo, ...] = tuple(devices)
        self.by_id = {d.id: d for d in self.devices}

    @classmethod
    def from_config(cls, devices: Sequence[object]) -> Registry:
        return cls(
            DeviceInfo(
                id=d.id,  # type: ignore[attr-defined]
                name=d.name,  # type: ignore[attr-defined]
                aliases=tuple(d.aliases),  # type: ignore[attr-defined]
                actions=tuple(d.actions),  # type: ignore[attr-defined]
            )
            for d in devices
        )

    def check(self, d: Decision) -> str | None:
        """Why `d` is not a valid intent for this home, or None when it is."""
        if d.action in (CHAT, UNKNOWN):
            if d.device is not None or d.value is not None:
                return f"{d.action} takes no device or value"
            return None
        dev = self.by_id.get(d.device or "")
        if dev is None:
            return f"no device {d.device!r}"
        if d.action == QUERY:
            return None if d.value is None else "query takes no value"
        if d.action not in dev.actions:
            return f"{dev.id} does not accept {d.action}"
        spec = ACTIONS[d.action]
        if spec is None:
            return None if d.value is None else f"{d.action} takes no value"
        if d.value is None or not spec.lo <= d.value <= spec.hi:
            return f"{d.action} needs a value from {spec.lo} to {spec.hi}"
        return None


# Words people use around device names, for the speech recognizer's command grammar.
SPOKEN_WORDS = (
    "turn on", "turn off", "switch on", "switch off", "open", "close", "lock", "unlock",
    "start", "stop", "set", "the", "to", "please", "percent", "degrees", "speed", "volume",
    "brightness", "is", "what", "on", "off",
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy",
    "eighty", "ninety", "hundred",
    "打开", "关闭", "关掉", "开", "关", "锁上", "解锁", "启动", "停止", "调到", "把", "度",
    "档", "百分之", "吗", "一", "二", "两", "三", "四", "五", "六", "七", "八", "九", "十", "百",
)  # fmt: skip


def spoken_phrases(registry: Registry) -> list[str]:
    """Device names and aliases plus the words around them (see SPOKEN_WORDS)."""
    return [p for d in registry.devices for p in (d.name, *d.aliases)] + list(SPOKEN_WORDS)
