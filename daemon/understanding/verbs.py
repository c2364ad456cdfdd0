"""Which actions a request's verbs ask for, by Home Assistant's own templates.

The verbs come from `daemon/data/verbs.toml`, which `python -m daemon.tools.verbs`
generates from the `home-assistant-intents` package. Only specific verbs count: a phrase
the templates use for SPREAD actions or more ("set", "make", Chinese tiao) narrows nothing.
The model path uses this to leave out candidate commands whose action the request's verbs
rule out ("unmute the tv" is never scored as "mute tv").
"""

from __future__ import annotations

import re
from functools import cache

from daemon.core.data import load

SPREAD = 3


@cache
def _index() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """Every phrase -> its actions, for spaced and unspaced languages."""
    data = load("verbs.toml")
    spaced: dict[str, set[str]] = {}
    unspaced: dict[str, set[str]] = {}
    for lang, actions in data.items():
        table = unspaced if lang == "zh" else spaced
        for action, phrases in actions.items():
            for phrase in phrases:
                table.setdefault(phrase, set()).add(action)
    return (
        {p: frozenset(a) for p, a in spaced.items()},
        {p: frozenset(a) for p, a in unspaced.items()},
    )


def _phrases(text: str) -> list[frozenset[str]]:
    """The actions of each template phrase in `text`, longest phrases first; a phrase
    inside a longer one found does not count: Chinese "cancel mute" (unmute) is not
    also "mute"."""
    spaced, unspaced = _index()
    low = text.lower()
    words = re.findall(r"[a-z0-9']+", low)
    grams = {" ".join(words[i : i + n]) for n in (1, 2, 3) for i in range(len(words) - n + 1)}
    rest = f" {' '.join(words)} "
    found: list[frozenset[str]] = []
    for phrase in sorted(grams & spaced.keys(), key=len, reverse=True):
        if f" {phrase} " in rest:
            found.append(spaced[phrase])
            rest = rest.replace(f" {phrase} ", " | ")
    if re.search(r"[\u4e00-\u9fff]", low):
        for phrase in sorted((p for p in unspaced if p in low), key=len, reverse=True):
            if phrase in low:
                found.append(unspaced[phrase])
                low = low.replace(phrase, "|")
    return found


def actions_said(text: str, among: frozenset[str] | None = None) -> frozenset[str] | None:
    """The actions the specific verbs in `text` ask for; None when it says none.

    A phrase is specific when it is used for fewer than SPREAD actions. With `among` (one
    device's actions) it also is when it is used for one of those alone: "start" is a
    vacuum's start, whatever timers it also starts. A specific phrase for none of them
    ("timer" in "start the timer for rosie") says something else: nothing is said."""
    found: set[str] = set()
    for actions in _phrases(text):
        if among is None:
            found |= actions if len(actions) < SPREAD else set()
            continue
        mine = actions & among
        if not mine and len(actions) < SPREAD:
            return None
        if len(mine) == 1 or len(actions) < SPREAD:
            found |= mine
    return frozenset(found) or None


@cache
def _all_phrases(action: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    data = load("verbs.toml")
    spaced = sorted({p for lang, t in data.items() if lang != "zh" for p in t.get(action, ())})
    unspaced = tuple(p for lang, t in data.items() if lang == "zh" for p in t.get(action, ()))
    words = "|".join(re.escape(p) for p in sorted(spaced, key=len, reverse=True)) or "(?!)"
    return re.compile(rf"(?<![\w'])(?:{words})(?![\w'])"), unspaced


def says(text: str, action: str) -> bool:
    """Whether `text` says one of Home Assistant's verbs for `action`, however many
    actions share it: the safety policy lets the model choose a sensitive action only
    then ("unlock", "open", and Chinese "open" for a lock, as Home Assistant's Chinese
    templates have it)."""
    spaced, unspaced = _all_phrases(action)
    low = text.lower()
    return bool(spaced.search(low)) or any(p in low for p in unspaced)


def verb_starts(text: str) -> list[int]:
    """Where in `text` a template verb phrase begins (an English phrase at a word's
    start, a Chinese one anywhere): where a command said right after another, with
    nothing between them, may start."""
    spaced, unspaced = _index()
    low = text.lower()
    starts: set[int] = set()
    for m in re.finditer(r"[a-z][a-z']*", low):
        if low[m.start() :].split(" ", 1)[0] in spaced:
            starts.add(m.start())
    if re.search(r"[\u4e00-\u9fff]", low):
        for phrase in unspaced:
            at = low.find(phrase)
            while at >= 0:
                starts.add(at)
                at = low.find(phrase, at + 1)
    return sorted(starts)
