"""The fast path: the templates, clause by clause, and nothing else.

A request with conjunctions is cut there and each clause is matched ("turn off the tv
and close the curtains"); if a clause fails, the request is matched whole. A clause that
only names a target repeats the previous clause's action ("turn on the kitchen light
and the fan"). The fast path decides only when every clause matched; anything else
returns None and goes to the model.
"""

from __future__ import annotations

import logging
import re

from daemon.home.registry import Command, Decision, Registry
from daemon.home.vocabulary import CANCEL, DEVICELESS, UNKNOWN
from daemon.understanding.lang import Lang, grammar, phrase_pattern
from daemon.understanding.resolve import Resolver
from daemon.understanding.templates import TemplateMatcher

_LOG = logging.getLogger(__name__)

MAX_CLAUSES = 6


class FastPath:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.matcher = TemplateMatcher(registry)
        self.resolver = Resolver(registry)
        self._targets = self._target_pattern(registry)
        self._longest_first = sorted(self._targets, key=len, reverse=True)

    @property
    def load_ms(self) -> float:
        return self.matcher.load_ms

    @staticmethod
    def _target_pattern(registry: Registry) -> dict[str, tuple[str, str]]:
        """Every device, area and floor phrase, lower-cased: (kind, id)."""
        out: dict[str, tuple[str, str]] = {}
        for f in registry.floors:
            out.update({p.lower(): ("floor", f.id) for p in f.phrases})
        for a in registry.areas:
            out.update({p.lower(): ("area", a.id) for p in a.phrases})
        for d in registry.devices:
            out.update({p.lower(): ("device", d.id) for p in d.phrases})
        return out

    def decide(
        self, text: str, lang: Lang, area: str | None, focus: frozenset[str] = frozenset()
    ) -> Decision | None:
        clauses = [c.strip() for c in grammar(lang).separators.split(text) if c and c.strip()]
        if 2 <= len(clauses) <= MAX_CLAUSES:
            # Clauses first: a failed whole match of a compound costs as much as its
            # clauses. A name with "and" in it fails as clauses and matches whole.
            compound = self._clauses(clauses, lang, area, focus)
            if compound is not None:
                return compound
        whole = self._clause(text, lang, area, focus)
        return None if whole is None else Decision((whole,))

    def _clauses(
        self, clauses: list[str], lang: Lang, area: str | None, focus: frozenset[str]
    ) -> Decision | None:
        commands: list[Command] = []
        for clause in clauses:
            # A later clause that only names targets repeats the last action ("turn off
            # the light and the fan"); Home Assistant would read a bare name as "on".
            c = self.repeat(commands[-1], clause, lang) if commands else None
            if c is None:
                c = self._clause(clause, lang, area, focus)
            if c is None or c.action == UNKNOWN:
                return None
            if c not in commands:
                commands.append(c)
        if any(c.action == CANCEL for c in commands):
            return Decision.one(CANCEL)  # "never mind, forget it": nothing else counts
        return Decision(tuple(commands))

    def _clause(
        self, text: str, lang: Lang, area: str | None, focus: frozenset[str]
    ) -> Command | None:
        m = self.matcher.match(text, lang, area)
        if m is None:
            return None
        everything = bool(grammar(lang).everything.search(text.lower()))
        return self.resolver.resolve(m, area, everything, focus).command

    def repeat(self, last: Command, clause: str, lang: Lang) -> Command | None:
        """A clause that only names targets does what the previous clause did (within a
        request, or the last turn's command in a conversation: "and the bedroom too")."""
        if last.action in DEVICELESS:
            return None
        rest = clause.lower()
        found: list[tuple[str, str]] = []
        for phrase in self._longest_first:
            pattern = phrase_pattern(phrase)
            if pattern.search(rest):
                found.append(self._targets[phrase])
                rest = pattern.sub(" ", rest)
        leftover = grammar(lang).fillers.sub(" ", rest)
        if not found or re.sub(r"[\W_]+", "", leftover):
            return None
        ids: list[str] = []
        for kind, ident in found:
            if kind == "device":
                ids.append(ident)
                continue
            # "and the bedroom": the same kind of device as before, in that place.
            kinds = {self.registry.by_id[d].type for d in last.devices}
            for dev in self.registry.devices:
                here = dev.area == ident if kind == "area" else self.registry.floor_of(dev) == ident
                if here and dev.type in kinds:
                    ids.append(dev.id)
        ids = [i for i in dict.fromkeys(ids) if self.registry.by_id[i].accepts(last.action)]
        if not ids:
            return Command(UNKNOWN)
        return Command(last.action, tuple(ids), last.value)
