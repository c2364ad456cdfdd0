"""The fixed action vocabulary that device registries draw from.

Device actions are the verbs appliances implement; `query`, `chat` and `unknown` are
the three intents that are not a command. Each `set_*` action carries a number whose
unit and range are fixed here, so that an intent is valid for any registry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ValueSpec:
    unit: str
    lo: int
    hi: int


ACTIONS: dict[str, ValueSpec | None] = {
    "turn_on": None,
    "turn_off": None,
    "open": None,
    "close": None,
    "lock": None,
    "unlock": None,
    "start": None,
    "stop": None,
    "set_brightness": ValueSpec("percent", 0, 100),
    "set_volume": ValueSpec("percent", 0, 100),
    "set_temperature": ValueSpec("celsius", 5, 35),
    "set_speed": ValueSpec("level", 1, 3),
}

QUERY = "query"
CHAT = "chat"
UNKNOWN = "unknown"
NON_COMMANDS = (QUERY, CHAT, UNKNOWN)

LANGS = {"en", "zh"}
