"""A timer asked for in words no template has: "timer, five minutes", "I need a timer
for an hour and a half", "can you time 10 minutes", "scrap the timer", "how much time's
left on my timer".

A clause about a timer (a timer word, or the verb "time" right before a length) with a
length of time starts one; with a word that ends things, cancels it; with a word that
asks what is left, asks after it. Lengths are read after normalize() has written number
words as digits. The words are data (`[timer]` in daemon/data/lang); a Chinese request
also takes the English words, as mixed requests are common ("set a timer for shiwu fenzhong").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from daemon.core.vocabulary import CANCEL_TIMER, START_TIMER, TIMER_STATUS, Lang
from daemon.home.registry import Command
from daemon.understanding.lang import alternation, lexicon

_SECONDS = {"hours": 3600, "minutes": 60, "seconds": 1}


@dataclass(frozen=True)
class _Words:
    noun: re.Pattern[str]
    verb: re.Pattern[str]  # "time" before a length
    cancel: re.Pattern[str]
    status: re.Pattern[str]
    length: re.Pattern[str]  # one number and its unit
    units: tuple[tuple[str, re.Pattern[str]], ...]


def timer_command(text: str, lang: Lang) -> Command | None:
    """The timer command `text` asks for by its words, or None."""
    low = text.lower()
    w = _words(lang)
    seconds = _seconds(low, w)
    timer = bool(w.noun.search(low))
    if w.cancel.search(low) and timer:
        return Command(CANCEL_TIMER)
    if w.status.search(low) and timer and seconds is None:
        return Command(TIMER_STATUS)
    if seconds and (timer or w.verb.search(low)):
        return Command(START_TIMER, (), seconds)
    return None


def _seconds(low: str, w: _Words) -> int | None:
    total = 0.0
    found = False
    for m in w.length.finditer(low):
        unit = m.group("unit")
        for name, pattern in w.units:
            if pattern.fullmatch(unit):
                total += float(m.group("n")) * _SECONDS[name]
                found = True
                break
    return round(total) if found else None


@cache
def _words(lang: Lang) -> _Words:
    """The request's language's words, and English's too for a Chinese request."""
    langs: tuple[Lang, ...] = (lang, "en") if lang != "en" else ("en",)
    tables = [(lexicon(one)["timer"], one == "en") for one in langs]

    def alt(key: str) -> re.Pattern[str]:
        parts = [alternation(t[key], words=edge).pattern for t, edge in tables if t[key]]
        return re.compile("|".join(f"(?:{p})" for p in parts) or r"(?!x)x")

    units = tuple(
        (name, re.compile("|".join(f"(?:{t['units'][name]})" for t, _ in tables)))
        for name in _SECONDS
    )
    unit_alt = "|".join(f"(?:{p.pattern})" for _, p in units)
    verbs = [v for t, _ in tables for v in t["verbs"]]
    return _Words(
        noun=alt("nouns"),
        verb=re.compile(rf"\b(?:{'|'.join(verbs)})\s+(?=\d)") if verbs else re.compile("(?!x)x"),
        cancel=alt("cancel"),
        status=alt("status"),
        # A number and its unit; an English unit ends at a word's end ("5 m" is no
        # "5 minutes" inside "5 mice").
        length=re.compile(rf"(?P<n>\d+(?:\.\d+)?)\s*-?\s*(?P<unit>{unit_alt})(?![a-z])"),
        units=units,
    )
