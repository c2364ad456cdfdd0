"""Every reply dialogd says, from templates: free, instant and always in the user's
language.

One reply for a whole request: a sentence per command, joined. The templates and words
are data (daemon/data/replies.toml), in three tables per language: `templates` for
commands, `dialogue` for confirmations and timers (dialogue/manager.py), `state` for the
devices' real state (home/answers.py). Command and dialogue templates can be overridden
per language and key in `[replies.<lang>]` of config.toml; `{device}` is the device's
name (or a list of names) and `{value}` the value. Small talk gets a canned answer by
topic unless `llm.chat_replies` lets the model write it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from daemon.core.data import load
from daemon.core.durations import spoken_duration
from daemon.core.vocabulary import CHAT, CLARIFY
from daemon.home.registry import Command, Decision, RangeProblem, Registry


@dataclass(frozen=True)
class _Language:
    """One language's replies (daemon/data/replies.toml)."""

    templates: dict[str, str]
    dialogue: dict[str, str]
    state: dict[str, str]
    sentence_separator: str
    list_separator: str
    units: dict[str, str]
    colors: dict[str, str]
    small_talk: tuple[tuple[re.Pattern[str], str], ...]


@cache
def _languages() -> dict[str, _Language]:
    return {
        lang: _Language(
            templates=dict(raw["templates"]),
            dialogue=dict(raw["dialogue"]),
            state=dict(raw["state"]),
            sentence_separator=raw["sentence_separator"],
            list_separator=raw["list_separator"],
            units=dict(raw["units"]),
            colors=dict(raw["colors"]),
            small_talk=tuple((re.compile(t["pattern"]), t["reply"]) for t in raw["small_talk"]),
        )
        for lang, raw in load("replies.toml").items()
    }


def _language(lang: str) -> _Language:
    languages = _languages()
    return languages.get(lang, languages["en"])


class Replies:
    def __init__(self, registry: Registry, overrides: Mapping[str, Mapping[str, str]]) -> None:
        self.registry = registry
        self.tables = {
            lang: {**language.templates, **language.dialogue, **overrides.get(lang, {})}
            for lang, language in _languages().items()
        }

    def line(self, kind: str, lang: str, **values: object) -> str:
        """A dialogue line ("confirm", "timer_started", ...), as a sentence."""
        text = self._table(lang)[kind].format(**values)
        return text[:1].upper() + text[1:]

    @staticmethod
    def state(lang: str) -> dict[str, str]:
        """The words for devices' real state (home/answers.py)."""
        return _language(lang).state

    def small_talk(self, text: str, lang: str) -> str:
        """A canned answer to small talk, by topic; the configured chat template else."""
        low = text.lower()
        for pattern, reply in _language(lang).small_talk:
            m = pattern.search(low)
            if m:
                time_of_day = m.group(1) if m.re.groups else ""
                return reply.format(time=time_of_day)
        return self._table(lang)[CHAT]

    def render(self, d: Decision, lang: str) -> str:
        if d.problem is not None:
            return self._out_of_range(d.problem, lang)
        return self.sentences((self._one(c, lang) for c in d.commands), lang)

    @staticmethod
    def sentences(parts: Iterable[str], lang: str) -> str:
        """Sentences as one reply, the way `lang` writes them one after another."""
        return _language(lang).sentence_separator.join(parts)

    def _one(self, c: Command, lang: str) -> str:
        t = self._table(lang)
        joiner = t["or"] if c.action == CLARIFY else t["and"]
        names = self.names(c.devices, lang, joiner)
        return t[c.action].format(device=names, value=self._value(c, lang))

    def _value(self, c: Command, lang: str) -> object:
        v = c.value
        if c.action == "set_color" and isinstance(v, str):
            return _language(lang).colors.get(v, v)
        if c.action == "start_timer" and isinstance(v, int):
            return spoken_duration(v, lang)
        return v

    def _out_of_range(self, p: RangeProblem, lang: str) -> str:
        if p.device is None:  # a timer's length
            return self._table(lang)["timer_out_of_range"]
        t = self._table(lang)
        device = self.names((p.device,) if p.device else (), lang, t["and"])
        unit = _language(lang).units.get(p.unit, p.unit)
        return t["out_of_range"].format(device=device, lo=p.lo, hi=p.hi, unit=unit)

    def names(self, ids: Sequence[str], lang: str, joiner: str | None = None) -> str:
        """The devices' names in `lang`, joined ("a, b and c"; in Chinese with its
        enumeration comma and no spaces)."""
        joiner = self._table(lang)["and"] if joiner is None else joiner
        names = []
        for i in ids:
            dev = self.registry.by_id.get(i)
            if dev is None:
                continue
            name = dev.name
            if lang == "zh":
                name = next((a for a in dev.aliases if _is_cjk(a)), dev.name)
            names.append(name)
        if len(names) <= 1:
            return "".join(names)
        return _language(lang).list_separator.join(names[:-1]) + joiner + names[-1]

    def _table(self, lang: str) -> dict[str, str]:
        return self.tables.get(lang, self.tables["en"])


def _is_cjk(s: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" for c in s)
