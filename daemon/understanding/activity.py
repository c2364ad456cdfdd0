"""A kind of device named by what it does, as the verb of an order: "vacuum downstairs",
"please start cleaning", "water the front yard", "stop vacuuming", "kaishi saodi".

The activity names the kind of device and its start action (or, after a verb of
stopping, its stop action); the rest of the clause names the place. Only at the head
of a clause, after `activity_lead` (daemon/data/lang): "the kitchen is clean" and "the
kids are watering the garden" order nothing. The words are data (`[activities]`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from daemon.core.vocabulary import Lang
from daemon.understanding.lang import lexicon, longest_first

# What each kind of device does when it starts and when it stops its activity.
START_STOP: dict[str, tuple[str, str]] = {
    "vacuum": ("start", "stop"),
    "valve": ("open", "close"),
    "appliance": ("start", "stop"),
}

# Kinds that do their work away from where they stand: a robot vacuum docked in the
# hall cleans the kitchen.
ROAMING = frozenset({"vacuum"})


@dataclass(frozen=True)
class Activity:
    kind: str  # a device type
    action: str  # its start or stop action
    rest: str  # the clause without the activity: the place, if any


@cache
def _patterns(lang: Lang) -> list[tuple[str, re.Pattern[str]]]:
    lex = lexicon(lang)
    edge = r"\b" if lang == "en" else ""
    out = []
    for kind, words in lex.get("activities", {}).items():
        out.append((kind, re.compile(f"{lex['activity_lead']}(?:{longest_first(words)}){edge}")))
    return out


def activity(text: str, lang: Lang) -> Activity | None:
    """The activity `text` (normalised, lower case) orders at its head, if any."""
    low = text.strip().lower()
    for kind, pattern in _patterns(lang):
        m = pattern.match(low)
        if m is None or kind not in START_STOP:
            continue
        start, stop = START_STOP[kind]
        return Activity(kind, stop if m.group("stop") else start, low[m.end() :].strip())
    return None


@cache
def objects(kind: str, lang: Lang) -> re.Pattern[str] | None:
    """What the activity of `kind` works on, said where a place would be ("water the
    lawn"): `[activity_objects]` in daemon/data/lang."""
    words = lexicon(lang).get("activity_objects", {}).get(kind, [])
    if not words:
        return None
    body = longest_first(words)
    return re.compile(rf"\b(?:{body})\b" if lang == "en" else f"(?:{body})")
