"""The fast path: the templates, clause by clause, and nothing else.

A request is matched whole first; failing that, it is cut at its conjunctions and each
clause is matched ("turn off the tv and close the curtains"). A clause that only names
a target repeats the previous clause's action ("turn on the kitchen light and the
fan"). The fast path decides only when every clause matched; anything else returns
None and goes to the model.
"""

from __future__ import annotations

import logging
import re

from daemon.home.registry import Command, Decision, Registry
from daemon.home.vocabulary import CANCEL, DEVICELESS, UNKNOWN
from daemon.understanding.lang import Lang, grammar
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

    def decide(self, text: str, lang: Lang, area: str | None) -> Decision | None:
        whole = self._clause(text, lang, area)
        if whole is not None and whole.action != UNKNOWN:
            return Decision((whole,))
        # A whole match that names nothing this home has may still be two clauses that
        # do ("lock the front door, then close the garage").
        fallback = None if whole is None else Decision((whole,))
        clauses = [c.strip() for c in grammar(lang).separators.split(text) if c and c.strip()]
        if len(clauses) < 2 or len(clauses) > MAX_CLAUSES:
            return fallback
        commands: list[Command] = []
        for clause in clauses:
            # A later clause that only names targets repeats the last action ("turn off
            # the light and the fan"); Home Assistant would read a bare name as "on".
            c = self._repeat(commands[-1], clause, lang, area) if commands else None
            if c is None:
                c = self._clause(clause, lang, area)
            if c is None:
                return fallback
            if c not in commands:
                commands.append(c)
        if any(c.action == CANCEL for c in commands):
            return Decision.one(CANCEL)  # "never mind, forget it": nothing else counts
        return Decision(tuple(commands))

    def _clause(self, text: str, lang: Lang, area: str | None) -> Command | None:
        m = self.matcher.match(text, lang, area)
        if m is None:
            return None
        everything = bool(grammar(lang).everything.search(text.lower()))
        return self.resolver.resolve(m, area, everything).command

    def _repeat(self, last: Command, clause: str, lang: Lang, area: str | None) -> Command | None:
        """A clause that only names targets does what the previous clause did."""
        if last.action in DEVICELESS:
            return None
        rest = clause.lower()
        found: list[tuple[str, str]] = []
        for phrase in sorted(self._targets, key=len, reverse=True):
            pattern = re.escape(phrase) if lang == "zh" else rf"\b{re.escape(phrase)}\b"
            if re.search(pattern, rest):
                found.append(self._targets[phrase])
                rest = re.sub(pattern, " ", rest)
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
