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
from functools import cache

from daemon.core.vocabulary import (
    ABSOLUTE_TO_RELATIVE,
    ACTUATING,
    CANCEL,
    CLARIFY,
    COLOR_ACTION,
    COLORS,
    DEVICELESS,
    OPPOSITE,
    QUERY,
    RELATIVE_TO_ABSOLUTE,
    SWITCHED_PROPERTY,
    TYPES,
    UNKNOWN,
    Lang,
    value_kind,
)
from daemon.home.registry import Command, Decision, Registry
from daemon.understanding.activity import ROAMING, activity, objects
from daemon.understanding.lang import (
    alternation,
    color_names,
    direction,
    grammar,
    lexicon,
    longest_first,
    marks,
    phrase_pattern,
    query_kinds,
)
from daemon.understanding.policy import mood
from daemon.understanding.resolve import Resolver, door_action
from daemon.understanding.setting import asks_nothing, states
from daemon.understanding.targets import (
    PLACEHOLDER,
    Mentions,
    TargetFinder,
    says_everywhere,
    without_spans,
)
from daemon.understanding.templates import PLACEHOLDER_ID, Match, TemplateMatcher, domain_of
from daemon.understanding.timing import timer_command
from daemon.understanding.verbs import actions_said, verb_starts

_LOG = logging.getLogger(__name__)

MAX_CLAUSES = 6


# "<word> and <word> <head words>": two modifiers of one head ("front and back sprinklers").
_SHARED_HEAD = re.compile(r"\b([\w']+) (and|or) ([\w']+) (\w+(?: \w+)?)")


def _shared_kind(registry: Registry) -> re.Pattern[str]:
    """Two places and a kind of device said once after them (English)."""
    places = sorted(
        {p.lower() for x in (*registry.areas, *registry.floors) for p in x.phrases if p.isascii()},
        key=len,
        reverse=True,
    )
    kinds = sorted({k for ws in lexicon("en")["kinds"].values() for k in ws}, key=len, reverse=True)
    if not places:
        return re.compile(r"(?!x)(x)(x)(x)(x)")  # the four groups of the replacement
    place = "|".join(map(re.escape, places))
    kind = "|".join(map(re.escape, kinds))
    return re.compile(rf"\b({place}) (and|or) ({place}) ({kind})\b")


@cache
def _shortages(lang: Lang) -> tuple[list[re.Pattern[str]], re.Pattern[str]]:
    lex = lexicon(lang)
    return [re.compile(p) for p in lex["shortage"]], alternation(lex["shortage_not"], lang == "en")


def shortage(text: str, lang: Lang) -> str | None:
    """What the clause says the home has run out of (`shortage` in daemon/data/lang),
    unless it is no thing to buy ("we're out of time"; `shortage_not`) or a definite
    place ("out of the house")."""
    patterns, unlike = _shortages(lang)
    low = text.strip().lower().rstrip(marks("stop", "exclamation"))
    for pattern in patterns:
        m = pattern.match(low)
        if m is None:
            continue
        item = m.group("item").strip()
        if not item or _determined(lang).match(item):
            return None
        if unlike.fullmatch(item):
            return None
        return item
    return None


@cache
def _determined(lang: Lang) -> re.Pattern[str]:
    """A phrase that opens with a definite determiner (`definite` in daemon/data/lang)."""
    words = lexicon(lang)["definite"]
    return re.compile(rf"(?:{longest_first(words)})\s") if words else re.compile(r"(?!x)x")


@cache
def _glue(lang: Lang) -> re.Pattern[str]:
    """The words that lead into a place ("the", "in"): `lead` and `prepositions`."""
    lex = lexicon(lang)
    return alternation([*lex["lead"], *lex.get("prepositions", ())], lang == "en")


@cache
def _statement_start(lang: Lang) -> re.Pattern[str]:
    """A clause's opening subject and "be" (`statement_start` in daemon/data/lang)."""
    words = sorted(lexicon(lang)["statement_start"], key=len, reverse=True)
    return re.compile(rf"\s*{alternation(words, lang == 'en').pattern}")


@cache
def _purposes(lang: Lang) -> list[re.Pattern[str]]:
    return [re.compile(p) for p in lexicon(lang).get("purpose", [])]


@cache
def _measures(lang: Lang) -> re.Pattern[str]:
    """How much of a thing made, at its start (`purpose_measures`)."""
    body = longest_first(lexicon(lang).get("purpose_measures", []))
    return re.compile(rf"^(?:(?:{body})\s+)+" if lang == "en" else f"^(?:{body})+")


def _makes(thing: str, name: str, lang: Lang) -> bool:
    """`thing` is part of `name`: every word of it begins a word of the name ("dishes",
    "dishwasher"), or in Chinese it stands inside it ("fan", "dianfanbao")."""
    name = name.lower()
    if lang != "en":
        return not name.isascii() and thing in name
    words = name.replace("-", " ").split()
    return all(
        any(w.startswith(stem) for w in words)
        for word in thing.split()
        for stem in [word[:-2] if word.endswith("es") and len(word) > 4 else word.rstrip("s")]
    )


def _ends(rest: str, lang: Lang) -> bool:
    """Nothing but particles, a tag question or a few words of time is left."""
    rest = grammar(lang).skip.sub(" ", rest)
    if lang == "zh":
        ends = lexicon(lang)["final_particles"] + marks("comma", "stop", "exclamation", "question")
        return not re.sub(rf"[\s{re.escape(ends)}]", "", rest)
    return len(re.findall(r"[a-z']+", rest)) <= 3


@cache
def _complaints(lang: Lang) -> dict[str, re.Pattern[str]]:
    """What is said to be too much, by the action that undoes it (`complaint`)."""
    return {a: re.compile(p) for a, p in lexicon(lang).get("complaint", {}).items()}


@cache
def _list_preposition(lang: Lang) -> re.Pattern[str]:
    """What leads from an item into its list, at the item's end ("... to the")."""
    lex = lexicon(lang)
    body = longest_first(lex.get("list_prepositions", []))
    lead = longest_first(lex["lead"])
    if lang == "en":
        return re.compile(rf"\s*\b(?:{body})\b(?:\s+\b(?:{lead})\b)*\s*$")
    return re.compile(rf"(?:{body})(?:{lead})*$")


@cache
def _filler_edges(lang: Lang) -> re.Pattern[str]:
    """The words around another item, at its start or end (`item_fillers`, and the
    fillers every request may have: "oh and coffee creamer")."""
    lex = lexicon(lang)
    body = longest_first([*lex["item_fillers"], *lex["skip_words"]])
    if lang == "en":
        body = rf"\b(?:{body})\b"
    return re.compile(rf"^(?:\s*(?:{body}))+\s*|\s*(?:(?:{body})\s*)+$")


@cache
def _item_verbs(lang: Lang) -> re.Pattern[str]:
    """The list verbs at an item's edges (`item_verbs` in daemon/data/lang)."""
    words = alternation(sorted(lexicon(lang)["item_verbs"], key=len, reverse=True), lang == "en")
    return re.compile(rf"^\s*(?:{words.pattern})\s*|\s*(?:{words.pattern})\s*$")


@cache
def _other_colors(lang: Lang) -> re.Pattern[str]:
    """Colours no light here takes (`other_colors` in daemon/data/lang)."""
    return alternation(lexicon(lang)["other_colors"], words=lang == "en")


@cache
def _known_colors() -> tuple[str, ...]:
    """Every language's words for FORMAT.md's nine colours."""
    return (*color_names(), *COLORS)


@cache
def _new_value(lang: Lang) -> re.Pattern[str]:
    """A clause's leftover that is only a new value: "to 70", "70%" (daemon/data/lang)."""
    return re.compile(lexicon(lang)["new_value"])


class FastPath:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.matcher = TemplateMatcher(registry)
        self.resolver = Resolver(registry, self.matcher.motion["en"])
        self.targets = TargetFinder(registry)
        self._targets = self._target_pattern(registry)
        self._shared_kind = _shared_kind(registry)
        self._longest_first = sorted(self._targets, key=len, reverse=True)

    @property
    def load_ms(self) -> float:
        return self.matcher.load_ms

    def shared_head(self, text: str, lang: Lang) -> str:
        """Targets that share their last word, said once: "the front and back
        sprinklers" is "the front sprinklers and back sprinklers", when both are the
        home's own names (English; the conjunction would split the clause)."""
        if lang != "en" or (" and " not in text and " or " not in text):
            return text

        def spread(m: re.Match[str]) -> str:
            a, conj, b, head = m.group(1), m.group(2), m.group(3), m.group(4)
            names = self._targets
            for n in range(len(head.split()), 0, -1):
                tail = " ".join(head.split()[:n])
                rest = head[len(tail) :]
                # One name each: "the left and right bedside lamps" names two lamps.
                for one in (tail, tail[:-1] if tail.endswith("s") else tail):
                    if f"{a} {one}".lower() in names and f"{b} {one}".lower() in names:
                        return f"{a} {one} {conj} {b} {one}{rest}"
            return m.group(0)

        # "the living room and kitchen lights": each place's lights.
        text = self._shared_kind.sub(r"\1 \4 \2 \3 \4", text)
        return _SHARED_HEAD.sub(spread, text)

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
        decision = None
        if 2 <= len(clauses) <= MAX_CLAUSES:
            # Clauses first: a failed whole match of a compound costs as much as its
            # clauses. A name with "and" in it fails as clauses and matches whole.
            decision = self._clauses(clauses, lang, area, focus)
        if decision is None:
            if len(clauses) == 1:
                text = clauses[0]  # "and set a timer ...": the conjunction carries nothing
            whole = self._clause(text, lang, area, focus)
            decision = None if whole is None else Decision((whole,))
        if decision is not None and any(self._item_points_back(c, lang) for c in decision.commands):
            return None  # "we're out of rice, add it to the list": the model reads what "it" is
        return decision

    def _item_points_back(self, c: Command, lang: Lang) -> bool:
        if c.action != "add_item" or not isinstance(c.value, str):
            return False
        m = self.targets.mentions(c.value, lang)
        return m.back and not re.sub(r"[\W_]+", "", without_spans(c.value, m.spans))

    def _clauses(
        self, clauses: list[str], lang: Lang, area: str | None, focus: frozenset[str]
    ) -> Decision | None:
        commands: list[Command] = []
        context = 0
        waiting: list[str] = []  # targets named before the verb that is about them too
        for i, clause in enumerate(clauses):
            if not commands and i + 1 < len(clauses) and self.bare_target(clause, lang):
                # "ba jiashiqi he ciwo deng yiqi guandiao": the verb comes last.
                waiting.append(clause)
                continue
            # A later clause that only names targets repeats the last action ("turn off
            # the light and the fan"); Home Assistant would read a bare name as "on".
            refined = self.refine(commands[-1], clause, lang) if commands else None
            if refined is not None:
                commands[-1] = refined  # "make the telly louder, volume 60": to 60
                continue
            c = self.repeat(commands[-1], clause, lang, area) if commands else None
            if c is None and waiting and not self.targets.mentions(clause, lang).said:
                # "doudou, hui wo qu" (Doudou, back to your dock): the name said first
                # is what the clause after it is about.
                said = self.targets.mentions(" ".join(waiting), lang)
                about = frozenset(d.id for d in self.targets.resolve(said, area).devices)
                c = self._clause(clause, lang, area, about) if said.devices else None
                if c is not None and set(c.devices) <= about:
                    waiting = []
            if c is None:
                c = self._clause(clause, lang, area, self._within(commands, clause, lang, focus))
            if c is None and self._context(clause, lang, after=bool(commands)):
                # "boiling dumplings, set eight minutes", "..., my hands are cold": what
                # they are doing or why, not a command.
                context += 1
                continue
            if c is None or c.action == UNKNOWN:
                return None
            for named in waiting:
                before = self.repeat(c, named, lang, area)
                if before is None or before.action == UNKNOWN:
                    # "movie night and pause the speaker": a scene said alone is its own
                    # command (a device said alone is not: Home Assistant reads "on").
                    alone = self._clause(named, lang, area, focus)
                    if alone is not None and alone.action == "activate":
                        before = alone
                if before is None:
                    return None
                commands.append(before)
            waiting = []
            if c not in commands:
                commands.append(c)
        if waiting or not commands or context >= len(commands) + 1:
            return None
        # "tai chao le, dianshi shengyin xiao yidian": a clause that asks which device,
        # beside one that names it for the same action, asks nothing more.
        commands = [
            c
            for c in commands
            if not (
                c.action == CLARIFY
                and c.asked is not None
                and any(
                    o.action == c.asked.action and set(o.devices) & set(c.devices)
                    for o in commands
                    if o is not c
                )
            )
        ]
        if any(c.action == CANCEL for c in commands):
            return Decision.one(CANCEL)  # "never mind, forget it": nothing else counts
        return Decision(tuple(commands))

    def _within(
        self, commands: list[Command], clause: str, lang: Lang, focus: frozenset[str]
    ) -> frozenset[str]:
        """What a clause that names nothing is about: the devices of the command before
        it in the same request ("dianshi dakai, yinliang tiao dao shiwu": the TV's
        volume), else the conversation's."""
        if (
            commands
            and commands[-1].devices
            and not self.targets.mentions(clause, lang).said
            and not asks_nothing(clause, verbs_only=False)
        ):
            return frozenset(commands[-1].devices)
        return focus  # "..., would you? thank you": nothing asked of the TV

    def _context(self, clause: str, lang: Lang, after: bool) -> bool:
        """A clause that asks for nothing: no target, no number. After a command it must
        also have no verb of any action and point back at nothing ("..., I'm cold" is a
        reason; "..., and make it brighter" is a second command for the model)."""
        m = self.targets.mentions(clause, lang)
        if re.search(r"\d", clause):
            return False
        complains = any(p.search(clause.lower()) for p in _complaints(lang).values())
        if m.said and not (_only_here(m) and (states(clause, lang) or complains)):
            # "..., the driver is here": a reason, whatever "here" is; "zhe wu tai an le,
            # liang yidian": a complaint about here, then what to do about it.
            return False
        if not after:
            return True
        return not m.back and not ((actions_said(clause) or frozenset()) - {QUERY})

    def _clause(
        self, text: str, lang: Lang, area: str | None, focus: frozenset[str]
    ) -> Command | None:
        c = self._clause_of(text, lang, area, focus)
        return None if c is None else self.property_switched(c, text, lang)

    def property_switched(self, c: Command, clause: str, lang: Lang) -> Command:
        """On/off said of a property that has its own on/off ("ba dianshi shengyin guan le", "turn
        the sound off on the tv": mute): that action, on the devices that take it."""
        if c.action not in ("turn_on", "turn_off") or not c.devices:
            return c
        low = clause.lower()
        for prop, (on, off) in SWITCHED_PROPERTY.items():
            words = lexicon(lang)["value_words"].get(prop, ())
            if not any(phrase_pattern(w).search(low) if lang == "en" else w in low for w in words):
                continue
            action = on if c.action == "turn_on" else off
            ids = tuple(d for d in c.devices if self.registry.by_id[d].accepts(action))
            if ids:
                return Command(action, ids)
        return c

    def _clause_of(
        self, text: str, lang: Lang, area: str | None, focus: frozenset[str]
    ) -> Command | None:
        if focus:
            # A clause with no target of its own in a conversation is about the devices
            # talked about before anything else ("stop" after "open the hatch").
            about = self._on_focus(text, lang, focus)
            if about is not None:
                return about
        m = self.matcher.match(text, lang, area)
        if m is None:
            return (
                self._canonical(text, lang, area, focus)
                or self._by_verb(text, lang)
                or self._activity(text, lang, area, focus)
                or self._purpose(text, lang)
                or self._agent(text, lang)
                or self._shortage(text, lang)
                or self._odd_color(text, lang, area)
                or self._timer(text, lang)
                or self._lacking(text, lang, area)
            )
        placed = any(m.slots[k].text for k in ("name", "area", "floor") if k in m.slots)
        if not placed and self._kind_in(text, lang):
            # "taideng ye guan diao" after the ceiling light: a template's "deng" (the
            # lights) would take the light talked about; the desk lamp is meant.
            narrower = self._canonical(text, lang, area, focus)
            if narrower is not None:
                return self._narrow_query(narrower, text, lang)
        # "all", or the whole home said: every one; "everything" alone is everything
        # where the speaker is (FORMAT.md: no place said is the site's area).
        said = text.lower()
        for word in lexicon(lang).get("all_here", ()):
            said = re.sub(rf"\b{word}\b", " ", said)
        everything = bool(grammar(lang).everything.search(said)) or says_everywhere(said, lang)
        command = self.resolver.resolve(m, area, everything, focus).command
        if command.action == UNKNOWN and "device_class" in m.slots:
            # A device's own name wins over a word a template took for a class of device
            # ("kai yixia damen": the front door lock called "damen", not a gate).
            named = self.targets.mentions(text, lang)
            other = named.names and (
                self._canonical(text, lang, area, focus) or self._door(text, named)
            )
            if other and other.action != UNKNOWN:
                return other
        if command.action == QUERY and not mood(text, lang).question:
            # "every lamp off on the ground floor" fits "[are] all lights off ...": a
            # statement that reads as a command is one.
            other = self._canonical(text, lang, area, focus)
            if other is not None and other.action in ACTUATING:
                return other
        return self._elided(self._narrow_query(command, text, lang), text, lang, focus)

    def _elided(self, c: Command, text: str, lang: Lang, focus: frozenset[str]) -> Command:
        """A place with a possessive and no noun after it ("ertongfang de guan le", "na
        zhuwo de ne"): the kind of device talked about, in that place."""
        if not focus or len(c.devices) < 2 or lang != "zh":
            return c
        m = self.targets.mentions(text, lang)
        if m.devices or m.kinds is not None or not (m.areas or m.floors):
            return c
        particles = tuple(lexicon("zh")["possessive"])
        if not any(text[b:].startswith(particles) for _, b in m.spans):
            return c
        kind = self.targets.narrowest_kind(tuple(sorted(focus)))
        kept = tuple(d for d in c.devices if d in kind)
        return Command(c.action, kept, c.value) if kept else c

    def _door(self, text: str, named: Mentions) -> Command | None:
        """One lock named, and an open or close verb said of it: unlock or lock."""
        if len(named.devices) != 1 or len(named.names) != 1:
            return None
        device = self.registry.by_id[named.devices[0]]
        a, b = named.names[0]
        action = door_action(text, text[a:b]) if device.type == "lock" else None
        return Command(action, (device.id,)) if action and device.accepts(action) else None

    def _kind_in(self, text: str, lang: Lang) -> bool:
        """The clause names a kind of device narrower than a whole domain ("taideng",
        the desk lamps, not every light)."""
        kinds = self.targets.mentions(text, lang).kinds
        if kinds is None:
            return False
        types = {self.registry.by_id[d].type for d in kinds}
        return any(d.type in types and d.id not in kinds for d in self.registry.devices)

    def _narrow_query(self, command: Command, text: str, lang: Lang) -> Command:
        """A question about a place, narrowed to the kind of device it asks about
        ("how warm is it upstairs": the thermostat upstairs, not every device there)."""
        if command.action != QUERY or len(command.devices) < 2:
            return command
        kinds = self.targets.mentions(text, lang).kinds or frozenset()
        types = query_kinds(text, lang)
        # What is asked decides first: "are the doors locked" asks the locks, not the
        # garage door, though the word "doors" covers it.
        narrowed = tuple(d for d in command.devices if self.registry.by_id[d].type in types)
        if not narrowed:
            narrowed = tuple(d for d in command.devices if d in kinds)
        return Command(QUERY, narrowed) if narrowed else command

    def _on_focus(self, text: str, lang: Lang, focus: frozenset[str]) -> Command | None:
        """A clause with no target of its own, about the devices talked about: "stop",
        "turn it off", "set to 26" after a device was named. The placeholder stands where
        the object would (`focus_frames` in daemon/data/lang)."""
        if not focus:
            return None
        m = self.targets.mentions(text, lang)
        if m.said and not _only_kinds_of(m, focus):
            return None  # its own target ("suo shang ba" says lock, the kind of the focus)
        if (
            not grammar(lang)
            .fillers.sub("", grammar(lang).skip.sub("", text.lower()))
            .strip(" " + marks("comma", "stop", "exclamation", "question"))
        ):
            return None  # "hey", "please": no command at all
        devices = [self.registry.by_id[d] for d in sorted(focus) if d in self.registry.by_id]
        domains = frozenset(domain_of(d.type) for d in devices)
        match: Match | None = None
        for frame in lexicon(lang)["focus_frames"]:
            canon = frame.format(placeholder=PLACEHOLDER, text=text)
            match = self.matcher.match(canon, lang, None, placeholder=(PLACEHOLDER, domains))
            if match is not None:
                break
        if match is None or self._placeholder(match) is None:
            return None
        command = self.resolver.resolve_on(match, devices, False, True).command
        return None if command.action == UNKNOWN else command

    def complaint(
        self, text: str, lang: Lang, area: str | None, focus: frozenset[str]
    ) -> Command | None:
        """A request that only says a device does too much of what it does: one step
        the other way ("the TV is way too loud", "dianshi tai chao le"; `complaint` in
        daemon/data/lang). Said of a place ("it's too bright in here", "the bedroom is
        too hot"), it is about the devices there that do it, when they are of one kind of
        action; a request that goes on after the complaint ("..., drop it by 20") is the
        scene of its command, not this."""
        low = text.lower().strip()
        said_of = set()
        for action, pattern in _complaints(lang).items():
            hit = pattern.search(low)
            if hit is not None and _ends(low[hit.end() :], lang):
                said_of.add(action)
        if not said_of or (actions_said(text) or frozenset()) - {QUERY} - said_of:
            return None
        said = mood(text, lang)
        way = direction(text, lang)
        if way is None or said.question or said.asks_for_nothing:
            return None
        m = self.targets.mentions(text, lang)
        if not (m.devices or m.kinds is not None or m.areas or m.here or area):
            return None
        target = self.targets.resolve(m, area, focus)
        if not target.settled:
            return None
        commands = {a: tuple(d.id for d in target.devices if d.accepts(a)) for a in said_of}
        fit = [(a, ids) for a, ids in commands.items() if ids]
        if not fit and said_of == {"change_brightness"} and way > 0:
            # Too dark where the lights only switch: on is the step towards more light.
            ids = tuple(d.id for d in target.devices if d.type == "light" and d.accepts("turn_on"))
            return Command("turn_on", ids) if ids else None
        if len(fit) != 1:
            return None  # "the bedroom is too hot": which of its devices, and how?
        action, ids = fit[0]
        rule = self.registry.rule(action, ids[0])
        if rule is None or not rule.default_step:
            return None
        return Command(action, ids, way * rule.default_step)

    def _odd_color(self, text: str, lang: Lang, area: str | None = None) -> Command | None:
        """`unknown` for a light asked for a colour no light here takes ("make the lamp
        brown"): never another colour, nor another action on it (`other_colors`)."""
        m = self.targets.mentions(text, lang)
        if not m.said:
            return None
        low = text.lower()
        rest = without_spans(low, m.names)
        odd = _other_colors(lang)
        if not odd.search(rest) or any(c in rest for c in _known_colors()):
            return None
        # Only where a colour the lights take would set one: "it's pitch black in the
        # study, lights on" asks for no colour.
        red = "red" if lang == "en" else next(w for w, c in color_names().items() if c == "red")
        said = self._clause_of(odd.sub(red, low), lang, area, frozenset())
        if said is not None and said.action == CLARIFY and said.asked is not None:
            said = said.asked  # which light is asked after the colour is known
        return Command(UNKNOWN) if said is not None and said.action == "set_color" else None

    def _activity(
        self, text: str, lang: Lang, area: str | None, focus: frozenset[str]
    ) -> Command | None:
        """A kind of device ordered by what it does ("vacuum downstairs", "water the
        front yard"; activity.py): its start or stop action, on the devices of that kind
        in the place the rest of the clause names, else the site's, else the home's."""
        said = activity(text, lang)
        if said is None:
            return None
        rest = said.rest
        mentions = self.targets.mentions(rest, lang)
        worked_on = objects(said.kind, lang)
        if worked_on is not None and not (mentions.areas or mentions.floors or mentions.devices):
            # "water the lawn", "vacuum the floors": what it works on, not where.
            rest = worked_on.sub(" ", rest)
            mentions = self.targets.mentions(rest, lang)
        if _content_left(without_spans(rest, mentions.spans), lang):
            return None  # "clean the filter", "water the plants": an object not of the home
        reg = self.registry
        if mentions.devices or mentions.kinds is not None:
            # "clean the coffee maker": a device of another kind is the object.
            ids = (*mentions.devices, *sorted(mentions.kinds or ()))
            devices = [reg.by_id[d] for d in ids if reg.by_id[d].type == said.kind]
            if not devices:
                return None
            settled = True
        elif mentions.elsewhere or (mentions.strange_room and not mentions.said):
            return Command(UNKNOWN)  # "water the garden" in a home with no garden
        else:
            kind = frozenset({said.kind})
            target = self.targets.resolve(mentions, area, focus, domains=kind)
            devices, settled = list(target.devices), target.settled
            if not devices and said.kind in ROAMING:
                # "clean the kitchen" with the robot docked in the hall.
                target = self.targets.resolve(Mentions(), None, frozenset(), domains=kind)
                devices, settled = list(target.devices), target.settled
        ids = tuple(d.id for d in devices if d.accepts(said.action))
        if not ids:
            return Command(UNKNOWN)
        if len(ids) > 1 and not settled:
            return Command(CLARIFY, ids, asked=Command(said.action, ()))
        _LOG.debug("%r: %s by its activity", text, said.action)
        return Command(said.action, ids)

    def _purpose(self, text: str, lang: Lang) -> Command | None:
        """A device ordered by what it makes: "make me a coffee" starts the coffee maker,
        "zhu ge fan" (cook some rice) the rice cooker (`purpose` in daemon/data/lang).
        What is made must be part of the name of one appliance or switch, and nothing
        else of the home."""
        low = text.lower().strip()
        made = next((m for p in _purposes(lang) if (m := p.match(low))), None)
        if made is None:
            return None
        thing = _measures(lang).sub("", made.group("object")).strip()
        said = self.targets.mentions(thing, lang)
        if not thing or said.areas or said.floors or said.here or said.back:
            return None  # "make it warmer": a target, not a thing made
        if made.groupdict().get("want") and any(
            thing == p.lower() for d in self.registry.devices for p in d.phrases
        ):
            return None  # "I want a coffee machine": a thing to buy
        makers = [
            d
            for d in self.registry.devices
            if d.type in ("appliance", "switch")
            and (d.id in said.devices or any(_makes(thing, p, lang) for p in d.phrases))
        ]
        if len(makers) != 1:
            return None
        device = makers[0]
        action = "start" if device.accepts("start") else "turn_on"
        if not device.accepts(action):
            return None
        _LOG.debug("%r: %s by what it makes", text, action)
        return Command(action, (device.id,))

    def _agent(self, text: str, lang: Lang) -> Command | None:
        """A machine ordered by the verb it is named after ("go mow the lawn": the robot
        mower; "dry the towels": the dryer): the verb's "-er" noun is a word of exactly
        one machine's names. English; no numbers, which need a template."""
        if lang != "en" or re.search(r"\d", text):
            return None
        m = _AGENT_LEAD.match(text.lower())
        if m is None:
            return None
        verb = m.group("verb")
        if verb_starts(verb):
            return None  # a template's verb ("make the tv brighter") means what it says
        nouns = {verb + "er", verb + "r", verb + verb[-1] + "er"}
        machines = [
            d
            for d in self.registry.devices
            if d.type in ("appliance", "vacuum", "switch")
            and any(nouns & set(p.lower().replace("-", " ").split()) for p in d.phrases)
        ]
        if len(machines) != 1:
            return None
        device = machines[0]
        action = "start" if device.accepts("start") else "turn_on"
        return Command(action, (device.id,)) if device.accepts(action) else None

    def _shortage(self, text: str, lang: Lang) -> Command | None:
        """ "we're out of milk", "niunai mei le": the item, for the shopping list (the
        list whose name has a shopping word, else the home's one list; else which)."""
        item = shortage(text, lang)
        if item is None or self.targets.mentions(item, lang).said:
            return None  # "I'm out of the kitchen": a place, not a thing to buy
        lists = [d for d in self.registry.devices if d.accepts("add_item")]
        words = lexicon(lang)["shopping_words"]
        shopping = [d for d in lists if any(w in p.lower() for p in d.phrases for w in words)]
        pool = shopping or lists
        if not pool:
            return None
        if len(pool) > 1:
            return Command(CLARIFY, tuple(d.id for d in pool), asked=Command("add_item", ()))
        return Command("add_item", (pool[0].id,), item)

    def _timer(self, text: str, lang: Lang) -> Command | None:
        """A timer by its words (timing.py), in a clause that names nothing of the home:
        "start the sauna and set a timer" is two commands, for the clauses to decide."""
        if self.targets.mentions(text, lang).said:
            return None
        return timer_command(text, lang)

    def _lacking(self, text: str, lang: Lang, area: str | None) -> Command | None:
        """`unknown` for a device named with a verb it has no action for ("pause the
        dishwasher"): the clause matches a template for another kind of device."""
        mentions = self.targets.mentions(text, lang)
        if not mentions.devices or mentions.group:
            return None
        canon = self.targets.canonical(text, mentions, lang)
        if canon is None:
            return None
        every = frozenset(domain_of(t) for t in TYPES)
        m = self.matcher.match(canon, lang, area, placeholder=(PLACEHOLDER, every))
        said = m.intent.split(".")[-1] if m is not None else ""
        if (
            m is None
            or self._placeholder(m) is None
            or not (m.intent.startswith("Hass") or _says_property(said, text, lang))
        ):
            # dialogd's own verb lists are broad ("kill", "fire up"): only Home
            # Assistant's intents, and dialogd's of a property ("dim", "louder"), name
            # one capability.
            return None
        devices = [self.registry.by_id[d] for d in mentions.devices]
        command = self.resolver.resolve_on(m, devices, True, True).command
        return Command(UNKNOWN) if command.action == UNKNOWN else None

    def _by_verb(self, text: str, lang: Lang) -> Command | None:
        """One device named by its own name, and a verb Home Assistant's templates use
        for one action that device has, in whatever order and whatever words around
        them ("rosie, start cleaning"): that action (verbs.py). Only actions that take
        no value: a number's meaning needs a template."""
        mentions = self.targets.mentions(text, lang)
        if len(mentions.devices) != 1 or mentions.every:
            return None
        if mentions.areas or mentions.floors or mentions.strange_room or mentions.vague_areas:
            return None  # a place narrows or contradicts the name: a template's job
        if mentions.kinds is not None and not mentions.kinds & set(mentions.devices):
            return None  # "the TV and the soundbar": more than the name, a template's job
        if re.search(r"\d", text):
            return None  # "crank the thermostat up to 50": a number is a value to place
        low = text.lower()
        if _statement_start(lang).match(low):
            return None  # "it's so sunny out today": a state, not "{name} out"
        for start, end in sorted(mentions.names, reverse=True):
            low = f"{low[:start]} | {low[end:]}"  # the name's own words are no verb
        # A particle before something else than the name is a preposition ("a breeze
        # coming off the lake"), not the verb "off" of "{name} off".
        low = _prepositions(lang).sub(" ", low)
        device = self.registry.by_id[mentions.devices[0]]
        if domain_of(device.type) == "lock":
            # "open the front door": a lock opens by unlocking (resolve.door_action).
            # The verb before the name, as a command has it: "the front door is open"
            # and "dakai zhe" (it stands open) tell a state.
            before, _, after = low.partition("|")
            # In Chinese the verb stands right by the name ("ba damen dakai", "dakai
            # damen"): "xiaoqu damenkou xin kai le yi jia mianguan" opens a noodle shop.
            verb = before if lang == "en" else before.rstrip()[-2:] + " " + after.lstrip()[:2]
            stative = lexicon(lang)["stative"]
            door = None if stative and stative in verb else door_action(verb)
            return Command(door, (device.id,)) if door is not None else None
        mine = frozenset(device.actions)
        said = actions_said(low, mine) or frozenset()
        if any(OPPOSITE.get(a) in said for a in said):
            return None  # "switch on ... floor": the verbs disagree
        fits = [a for a in said if a in ACTUATING and device.accepts(a) and value_kind(a) == "none"]
        if len(fits) != 1:
            return None
        _LOG.debug("%r: %s by its verb", text, fits[0])
        return Command(fits[0], (device.id,))

    def _canonical(
        self, text: str, lang: Lang, area: str | None, focus: frozenset[str]
    ) -> Command | None:
        """The clause with its target words replaced by one placeholder name, matched
        again: "every lamp off on the ground floor" is "zzthing off" on the ground
        floor's lights, whatever order the target's pieces came in."""
        mentions = self.targets.mentions(text, lang)
        canon = self.targets.canonical(text, mentions, lang)
        if canon is None or canon == text.lower():
            return None
        target = self.targets.resolve(mentions, area, focus)
        if mentions.elsewhere:
            # "turn on the bathroom light" in a home with no bathroom; "I love the
            # colours on these Hue lamps" asks for nothing of them.
            asks = actions_said(text) is not None or mood(text, lang).question
            return Command(UNKNOWN) if asks else None
        if not target.devices:
            return None
        domains = frozenset(domain_of(d.type) for d in target.devices)
        m = self.matcher.match(canon, lang, area, placeholder=(PLACEHOLDER, domains))
        if m is None or self._placeholder(m) is None:
            return None
        if m.intent == "HassTurnOn" and not (mentions.devices or mentions.back):
            said = grammar(lang).skip.sub(" ", canon.replace(PLACEHOLDER, " "))
            if not re.sub(r"[\W_]+", "", said):
                # A device's name alone turns it on (Home Assistant's "[the] {name}");
                # a place or a kind alone ("the kitchen") asks for nothing by itself.
                return None
        dom = m.name_domain
        devices = [d for d in target.devices if dom is None or domain_of(d.type) == dom]
        if len(domains) > 1:
            devices = list(target.devices)  # "everything off": each by its own kind
        said_kind = mentions.kinds is not None or bool(mentions.devices) or mentions.back
        resolved = self.resolver.resolve_on(
            m, devices, target.said, target.settled or mentions.every, said_kind=said_kind
        )
        _LOG.debug("%r as %r: %s", text, canon, resolved.command)
        return self._narrow_query(resolved.command, text, lang)

    @staticmethod
    def _placeholder(m: Match) -> str | None:
        slot = m.slots.get("name")
        return None if slot is None or slot.value != PLACEHOLDER_ID else PLACEHOLDER

    def bare_target(self, clause: str, lang: Lang) -> bool:
        """The clause only names targets ("and the fan", "and the bedroom's")."""
        m = self.targets.mentions(clause, lang)
        if not m.said:
            return False
        low = without_spans(clause.lower(), m.spans)
        return not re.sub(r"[\W_]+", "", grammar(lang).fillers.sub(" ", low))

    def add_alone(self, text: str, lang: Lang, focus: frozenset[str]) -> Command | None:
        """ "add bin bags" with no list said: the list talked about, else the home's one
        list. The item names nothing of the home and holds no length of time."""
        m = re.fullmatch(lexicon(lang)["add_alone"], text.strip().lower())
        if m is None or re.search(r"\d", m.group("item")):
            return None
        if self.targets.mentions(m.group("item"), lang).said:
            return None
        lists = [d.id for d in self.registry.devices if d.type == "list"]
        talked = [d for d in lists if d in focus]
        target = talked if len(talked) == 1 else lists if len(lists) == 1 else []
        item = text.strip()[m.start("item") : m.end("item")]
        return Command("add_item", (target[0],), item) if target else None

    def refine(self, last: Command, clause: str, lang: Lang) -> Command | None:
        """A clause of nothing but a value, after a relative change, says where the change
        ends ("make the telly louder, volume 60"; "dim the bedroom light, just 5
        percent"): the absolute action on the same devices instead; after an absolute
        one, the value meant ("sorry, I meant 24"). The value's own property words may
        stand with it (`value_words` in daemon/data/lang)."""
        absolute = RELATIVE_TO_ABSOLUTE.get(last.action)
        if absolute is None and last.action in ABSOLUTE_TO_RELATIVE:
            absolute = last.action  # "set the heating to 40", "sorry, I meant 24"
        if absolute is None or self.targets.mentions(clause, lang).said:
            return None
        g = grammar(lang)
        low = g.fillers.sub(" ", g.skip.sub(" ", clause.lower()))
        words = sorted(lexicon(lang)["value_words"].get(absolute, ()), key=len, reverse=True)
        for word in words:
            low = phrase_pattern(word).sub(" ", low) if lang == "en" else low.replace(word, " ")
        m = _new_value(lang).fullmatch(low.strip(" " + marks("comma", "stop", "exclamation")))
        if m is None:
            return None
        ids = tuple(d for d in last.devices if self.registry.by_id[d].accepts(absolute))
        return Command(absolute, ids, int(m.group(1))) if ids else None

    def repeat(
        self, last: Command, clause: str, lang: Lang, area: str | None = None
    ) -> Command | None:
        """A clause that only names targets does what the previous clause did (within a
        request, or the last turn's command in a conversation: "and the bedroom too").
        `area`: the speaker's, for a kind of device named alone ("..., and the fan")."""
        if last.action in DEVICELESS:
            return None
        mentions = self.targets.mentions(clause, lang)
        lists = mentions.kinds is not None and any(
            self.registry.by_id[d].type == "list" for d in mentions.kinds
        )
        named = mentions.devices or mentions.areas or mentions.floors or lists
        other = self._item_for_list(last, clause, mentions, lang)
        if other is not None:
            return other
        if last.action == "add_item" and not named:
            # "and salsa", "light bulbs too": another item for the same list (a kind of
            # device said is a thing to buy).
            item = _item_verbs(lang).sub("", clause.lower().strip())  # "mianbao ye jia shang"
            # Fillers at its edges only: "ba" inside "yi ba xiangcai" (a bunch of
            # coriander) is a measure word, and "light bulbs" keeps its light.
            item = _filler_edges(lang).sub("", item)
            item = item.strip(" " + marks("comma", "stop", "exclamation", "question"))
            return Command(last.action, last.devices, " ".join(item.split())) if item else None
        said = mentions.kinds
        if said is not None and not set(last.devices) & said:
            if not self.bare_target(clause, lang):
                return None  # "..., ba chufang de deng guan le": a kind with its own verb
            # "turn off the soundbar and the fan", "ketingde deng he fengshan": that
            # kind, where the devices before it are, else where the speaker is.
            places = {self.registry.by_id[d].area for d in last.devices}
            near = places.pop() if len(places) == 1 else None
            target = self.targets.resolve(mentions, near) if near else None
            if target is None or not target.settled or not target.devices:
                target = self.targets.resolve(mentions, area)
            fit = tuple(d.id for d in target.devices if d.accepts(last.action))
            if not fit:
                return None  # "bolt the door": a name that is the verb of its own clause
            if not target.settled:
                return Command(CLARIFY, fit, asked=Command(last.action, (), last.value))
            return Command(last.action, fit, last.value)
        rest = clause.lower()
        found: list[tuple[str, str]] = []
        for phrase in self._longest_first:
            pattern = phrase_pattern(phrase)
            if pattern.search(rest):
                found.append(self._targets[phrase])
                rest = pattern.sub(" ", rest)
        g = grammar(lang)
        leftover = g.fillers.sub(" ", g.skip.sub(" ", rest))  # "now the bedroom"
        if not found:
            return None
        ids: list[str] = []
        for kind, ident in found:
            if kind == "device":
                ids.append(ident)
                continue
            # "and the bedroom": the same kind of device as before, in that place; as
            # narrow a kind as there is there ("the one upstairs" after the living-room
            # main light: the main light upstairs, not every light).
            kinds = {self.registry.by_id[d].type for d in last.devices}
            narrow = self.targets.narrowest_kind(last.devices)
            there = [
                dev
                for dev in self.registry.devices
                if dev.type in kinds
                and (dev.area == ident if kind == "area" else self.registry.floor_of(dev) == ident)
            ]
            ids += [d.id for d in there if d.id in narrow] or [d.id for d in there]
        ids = list(dict.fromkeys(ids))
        value = _new_value(lang).fullmatch(leftover.strip())
        if value is not None and isinstance(last.value, int):
            # "... and the downstairs one to 70": the same action, a new value.
            number = int(value.group(1))
            number = -number if last.value < 0 else number
            ids = [i for i in ids if self.registry.by_id[i].accepts(last.action)]
            return Command(last.action, tuple(ids), number) if ids else Command(UNKNOWN)
        if re.sub(r"[\W_]+", "", leftover):
            # "the master bedroom's off too": the clause's own verb, on the same kind of
            # device there.
            return self._own_verb(clause, lang, ids)
        ids = [i for i in ids if self.registry.by_id[i].accepts(last.action)]
        if not ids:
            return Command(UNKNOWN)
        return Command(last.action, tuple(ids), last.value)

    def _item_for_list(self, last: Command, clause: str, m: Mentions, lang: Lang) -> Command | None:
        """ "add bananas to the shopping list and dish soap to the Costco list": after a
        list command, a clause of an item and a list, with no verb, adds it there."""
        if last.action != "add_item" or len(m.devices) != 1 or m.areas or m.floors:
            return None
        target = self.registry.by_id[m.devices[0]]
        if target.type != "list" or (actions_said(clause) or frozenset()) - {QUERY}:
            return None
        item = _list_preposition(lang).sub("", without_spans(clause.lower(), m.spans).strip())
        item = _filler_edges(lang).sub("", item).strip(" " + marks("comma", "stop"))
        return Command("add_item", (target.id,), " ".join(item.split())) if item else None

    def _own_verb(self, clause: str, lang: Lang, ids: list[str]) -> Command | None:
        if lang == "zh":
            clause = re.sub(r"\s+", "", clause)
        mentions = self.targets.mentions(clause, lang)
        canon = self.targets.canonical(clause, mentions, lang)
        devices = [self.registry.by_id[i] for i in ids]
        if canon is None or not devices:
            return None
        domains = frozenset(domain_of(d.type) for d in devices)
        m = self.matcher.match(canon, lang, None, placeholder=(PLACEHOLDER, domains))
        if m is None or self._placeholder(m) is None:
            return None
        command = self.resolver.resolve_on(m, devices, True, True).command
        return None if command.action == UNKNOWN else command


# A clause that opens with its verb (after "please", "go", "can you"), then an object.
_AGENT_LEAD = re.compile(
    r"^(?:(?:please|can you|could you|would you|will you|go|go and|now)\s+)*"
    r"(?P<verb>[a-z]{3,})\s+(?:the|my|our|some|all the)\s+[a-z]"
)


def _says_property(action: str, text: str, lang: Lang) -> bool:
    """The text names the property `action` changes (`property_words`), or a colour."""
    if action == COLOR_ACTION:
        return True
    prop = action.split("_", 1)[-1]
    words = lexicon(lang).get("property_words", {}).get(prop)
    return bool(words) and re.search(words, text.lower()) is not None


@cache
def _prepositions(lang: Lang) -> re.Pattern[str]:
    """A verb particle used as a preposition: before a determiner that does not lead
    into the name (which `_by_verb` has replaced by "|")."""
    lex = lexicon(lang)
    if not lex.get("verb_particles"):
        return re.compile(r"(?!x)x")
    particles = alternation(lex["verb_particles"], words=True).pattern
    determiners = "|".join(lex["determiners"])
    return re.compile(rf"{particles}(?=\s+(?:{determiners})\b(?!\s*\|))")


def _only_here(m: Mentions) -> bool:
    """ "Here" is all the clause points at."""
    return m.here and not (
        m.devices or m.areas or m.floors or m.kinds is not None or m.anything or m.back
    )


def _only_kinds_of(m: Mentions, focus: frozenset[str]) -> bool:
    """The clause's only target is a kind that every focused device is of: "suo shang ba" (lock
    it) after the door lock was talked about says its verb, not another target."""
    return (
        m.kinds is not None
        and focus <= m.kinds
        and not (m.devices or m.areas or m.floors or m.every or m.everywhere or m.here)
    )


def _content_left(text: str, lang: Lang) -> bool:
    """Whether `text` holds words besides fillers, skip words and the words that lead
    into a place ("the", "in", "for me")."""
    g = grammar(lang)
    for pattern in (g.skip, g.fillers, _glue(lang)):
        text = pattern.sub(" ", text)
    return bool(re.search(r"\w", text))
