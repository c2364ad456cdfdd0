"""What a clause points at, read off its words: named devices, places, kinds, "here", "all".

Home Assistant's templates know targets only in the orders someone wrote down ("turn
off the lights upstairs"). People stack them freely: "every lamp off on the ground
floor", "louxia suoyou de deng dou gei wo dakai" (all the lights downstairs on), "zhe
wu de dongxi quan guan le" (everything in this room off). This module finds the pieces
wherever they stand and resolves them by FORMAT.md's rules, in one place for every
path:

- a device's own name wins;
- otherwise a kind of device ("lights", "deng", or the head noun that several device
  names share: "chandelier", "kongtiao") in a place (an area, a floor, "here", the whole
  home) means every device of that kind there; a place alone means everything there;
- a kind with no place means the speaker's area when it has one, else every one
  (several in different places: the caller asks back, unless "all" was said).

`canonical` replaces the target words with one placeholder name, so that the templates
can match the rest of the clause ("zzthing off") whatever the target looked like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache

from daemon.core.vocabulary import Lang
from daemon.home.registry import DeviceInfo, Registry
from daemon.understanding.lang import lexicon, phrase_pattern

# The name that stands for the whole target in a canonical clause: a word no one says.
PLACEHOLDER = "zzthing"


@dataclass(frozen=True)
class Mentions:
    """The targets a clause names, by kind of mention."""

    devices: tuple[str, ...] = ()  # named by their own name or alias
    areas: tuple[str, ...] = ()
    floors: tuple[str, ...] = ()
    kinds: frozenset[str] | None = None  # devices of the kinds said; None: no kind said
    anything: bool = False  # "everything", "dongxi": any kind
    here: bool = False  # "in here", "zhe wu"
    everywhere: bool = False  # "everywhere", "quan wu", "the whole house"
    every: bool = False  # a quantifier: "all", "every", "suoyou", "quan", "dou"
    back: bool = False  # points back at the devices talked about: "it", "them", "ta"
    # A kind of device in a kind of room the home does not have ("the bathroom light"
    # in a home with no bathroom): nothing here fits.
    elsewhere: bool = False
    strange_room: bool = False  # a kind of room the home does not have, whatever else
    # Areas named by a kind of room that several of their names contain ("woshi":
    # zhu woshi and xiao woshi): the place is not settled between them.
    vague_areas: tuple[str, ...] = ()
    # "upstairs" in a home with no floor of that name: one floor up (+1) or down (-1)
    # from the speaker's.
    step: int = 0
    spans: tuple[tuple[int, int], ...] = ()  # where the target words stand
    names: tuple[tuple[int, int], ...] = ()  # where the devices' own names stand

    @property
    def said(self) -> bool:
        """Some target was said (a device, a place or a kind)."""
        return bool(
            self.devices
            or self.areas
            or self.floors
            or self.kinds is not None
            or self.anything
            or self.here
            or self.everywhere
            or self.back
            or bool(self.vague_areas)
            or bool(self.step)
        )

    @property
    def group(self) -> bool:
        """The target is a set by place or kind, not devices named one by one."""
        return self.said and not self.devices


@dataclass(frozen=True)
class Target:
    devices: tuple[DeviceInfo, ...]
    settled: bool  # nothing to ask back: named, placed, "all", or the speaker's area
    said: bool  # the clause named its target itself


class TargetFinder:
    """Finds and resolves targets in clauses of one registry's home."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._devices = _phrase_table((p, d.id) for d in registry.devices for p in d.phrases)
        self._areas = _phrase_table((p, a.id) for a in registry.areas for p in a.phrases)
        self._floors = _phrase_table((p, f.id) for f in registry.floors for p in f.phrases)
        self._kinds = self._kind_table(registry)
        # A head noun of one device's name only ("night" of "movie night") says no kind
        # of place strongly enough: "good night" is not a night in a place dialogd lacks.
        words = {w.lower() for lang in ("en", "zh") for ws in lexicon(lang)["kinds"].values()
                 for w in ws}  # fmt: skip
        self._weak = {w for w, ids in self._kinds if len(ids) == 1 and w not in words}
        self._name_words = _name_words(registry)
        self._place_words = {
            w for x in (*registry.areas, *registry.floors) for p in x.phrases
            for w in re.findall(r"[a-z][a-z'-]+", p.lower())
        }  # fmt: skip
        self._bare = self._bare_table(registry)
        # Compiled now rather than by the first request that holds each name: a request
        # should not pay for the regular expressions of names it happens to say first.
        for table in (self._devices, self._areas, self._floors, self._kinds, self._bare):
            for phrase, _ in table:
                _pattern(phrase)

    # ----------------------------------------------------------------- kinds

    @staticmethod
    def _kind_table(registry: Registry) -> list[tuple[str, frozenset[str]]]:
        """Kind words to the devices they cover, longest first: the language's words for
        each device type (daemon/data/lang), and the head nouns that device names share
        ("dining chandelier", "foyer chandelier": "chandelier"; "keting kongtiao":
        "kongtiao")."""
        heads: dict[str, set[str]] = {}
        names: dict[str, set[str]] = {}  # a Chinese name's last two characters -> names
        for dev in registry.devices:
            for head in _heads(dev.phrases):
                heads.setdefault(head, set()).add(dev.id)
                if not head.isascii():
                    names.setdefault(head, set()).update(
                        p for p in dev.phrases if p.endswith(head) and len(p) >= 3
                    )
        table: dict[str, set[str]] = {}
        for lang in ("en", "zh"):
            for kind, words in lexicon(lang)["kinds"].items():
                mine = {d.id for d in registry.devices if d.type == kind}
                own = set(_forms(words[0].lower())) if words else set()
                for w in words:
                    # A type's other words ("lamp", "plug") mean the devices named so,
                    # when some are: "the lamps" beside a "big light" are the lamps.
                    named = {d for f in _forms(w.lower()) for d in heads.get(f, ())} & mine
                    if mine:
                        is_own = own & set(_forms(w.lower()))
                        table.setdefault(w.lower(), set()).update(
                            mine if is_own or not named else named
                        )
        # A Chinese name that is its room and a noun ("woshi kongtiao" in the bedroom):
        # the noun alone is a kind too, as "the air conditioner" is in English.
        places = {a.id: a.phrases for a in registry.areas}
        for dev in registry.devices:
            for phrase in dev.phrases:
                for place in places.get(dev.area or "", ()):
                    rest = phrase[len(place) :].lstrip("".join(_possessive()))
                    if (
                        not phrase.isascii()
                        and phrase.startswith(place)
                        and len(rest) >= 2
                        and all("\u3400" <= c <= "\u9fff" for c in rest)
                    ):
                        table.setdefault(rest, set()).add(dev.id)
        # The last two words that several English names share are a kind as well ("Ella's
        # desk lamp", "office desk lamp": "the desk lamp"), unless they start with a place.
        # ("kitchen light", "room light" of "living room light"; not "main light",
        # though there is a "main floor").
        places_en = {
            p.lower().split()[-1] for x in (*registry.areas, *registry.floors)
            for p in x.phrases if p.isascii() and p.strip()
        }  # fmt: skip
        tails: dict[str, set[str]] = {}
        for dev in registry.devices:
            for phrase in dev.phrases:
                words = phrase.lower().replace("-", " ").split()
                if phrase.isascii() and len(words) >= 3 and "'" not in "".join(words[-2:]):
                    tails.setdefault(" ".join(words[-2:]), set()).add(dev.id)
        for tail, ids in tails.items():
            first = tail.split()[0]
            if len(ids) > 1 and first not in places_en and first not in _closed_words():
                table.setdefault(tail, set()).update(ids)
        # A name's last word that is a word of the grammar names no kind: the "Sonos
        # One" makes no "one" a speaker ("the one in the dining room").
        # Nor is a particle ("wake up" scene: "heat up" names no scene).
        closed = {
            w.lower()
            for k in ("target_fillers", "determiners", "verb_particles")
            for w in lexicon("en")[k]
        }
        # A word the language has for one type is that type's alone: "all the lights"
        # are the lights, not the "Christmas lights" plug (as in Home Assistant).
        typed = {
            w.lower(): t for lang in ("en", "zh") for t, ws in lexicon(lang)["kinds"].items()
            for w in ws
        }  # fmt: skip
        for head, ids in heads.items():
            if head in closed:
                continue
            if head in typed:
                ids = {d for d in ids if registry.by_id[d].type == typed[head]}
            # A Chinese suffix is a kind only when several names share it ("keting
            # kongtiao", "zhuwo kongtiao"), and it is as long as they share, up to three
            # characters ("qianyuan sashuiqi", "houyuan sashuiqi": sashuiqi, the
            # sprinkler, which reshuiqi, the water heater, is not).
            if head.isascii():
                table.setdefault(head, set()).update(ids)
            elif len(ids) > 1:
                table.setdefault(_shared_suffix(names[head]), set()).update(ids)
        # A head noun and its plural are one kind ("Lily's shade", "blackout shades":
        # "all the shades").
        by_singular: dict[str, set[str]] = {}
        for w, ids in table.items():
            if w.isascii():
                *lead, last = w.split()
                by_singular.setdefault(" ".join([*lead, _forms(last)[-1]]), set()).update(ids)
        for w in list(table):
            if w.isascii():
                *lead, last = w.split()
                table[w] |= by_singular[" ".join([*lead, _forms(last)[-1]])]
        # A kind word of one language is the same kind in the other ("AC" for the
        # "kongtiao" of three rooms; `kind_translations` in daemon/data/lang/zh.toml).
        for zh, english in lexicon("zh").get("kind_translations", {}).items():
            for w in english if zh in table else ():
                table.setdefault(w, set()).update(table[zh])
        return sorted(((w, frozenset(ids)) for w, ids in table.items()), key=lambda x: -len(x[0]))

    def _bare_table(self, registry: Registry) -> list[tuple[str, str]]:
        """Names said without the kind word they end in ("put the kettle on" for the
        "kettle plug", "pause the Samsung" for the "Samsung TV", "under cabinet" for the
        "under-cabinet lights"), English: what is left must name one device only, and be
        no place, no kind and no other device's name."""
        kinds = dict(self._kinds)
        closed = _closed_words()
        said = {p for table in (self._devices, self._areas, self._floors) for p, _ in table}
        left: dict[str, set[str]] = {}
        for d in registry.devices:
            for phrase in d.phrases:
                words = phrase.lower().replace("-", " ").split()
                if not phrase.isascii() or len(words) < 2:
                    continue
                for n in (2, 1):  # "media player", "lights"
                    if len(words) > n and d.id in kinds.get(" ".join(words[-n:]), ()):
                        left.setdefault(" ".join(words[:-n]), set()).add(d.id)
                        break
        others = [(p.lower(), d.id) for d in registry.devices for p in d.phrases]
        table = []
        for rest, ids in left.items():
            words = rest.split()
            if (
                len(ids) != 1
                or rest in said
                or rest in kinds
                or all(w in self._place_words or w in closed for w in words)
                or words[-1] in closed
            ):
                continue
            ident = next(iter(ids))
            pattern = phrase_pattern(rest)
            if any(i != ident and pattern.search(p) for p, i in others):
                continue  # "kettle" of the "kettle plug" and of the "kettle light"
            table.append((rest, ident))
        return sorted(table, key=lambda x: -len(x[0]))

    @property
    def kind_words(self) -> tuple[str, ...]:
        """Every word for a kind of device here, the names' shared head nouns too."""
        return tuple(w for w, _ in self._kinds)

    def narrowest_kind(self, ids: tuple[str, ...]) -> frozenset[str]:
        """The fewest devices a kind word covers that covers all of `ids` ("main light"
        for the living-room main light, not every light); their type when none does."""
        covering = [(w, found) for w, found in self._kinds if set(ids) <= found]
        if covering:
            # The kind its own name says first ("main light" of the "living room main
            # light", though an alias makes it a "ceiling light" too).
            names = [self.registry.by_id[d].name.lower() for d in ids]
            return min(covering, key=lambda x: (not all(x[0] in n for n in names), len(x[1])))[1]
        types = {self.registry.by_id[d].type for d in ids if d in self.registry.by_id}
        return frozenset(d.id for d in self.registry.devices if d.type in types)

    def name_parts(self, ident: str, lang: Lang) -> frozenset[str]:
        """What a device's names say before their kind word ("porch" of the "porch
        light", "menlang" of the "menlang deng"), place words and grammar words aside."""
        kinds = [w for w, ids in self._kinds if ident in ids]
        closed = _closed_words()
        out = set()
        for phrase in self.registry.by_id[ident].phrases:
            low = phrase.lower().replace("-", " ")
            if low.isascii() != (lang == "en"):
                continue
            for kind in kinds:  # longest first
                if low.endswith(kind) and len(low) > len(kind):
                    part = low[: -len(kind)].strip()
                    words = part.split() if lang == "en" else [part]
                    own = [w for w in words if w not in self._place_words and w not in closed]
                    if part and own:
                        out.add(part)
                        out.update(own if lang == "en" else ())  # "the ceiling one"
                    break
        return frozenset(out)

    def _bare_names(
        self, low: str, taken: list[tuple[int, int]], kinds: set[str] | None
    ) -> list[tuple[str, tuple[int, int]]]:
        """The names said without their kind word, where a target stands: not after a
        preposition ("lights off for the night" is no "night light"), and not when a kind
        said covers the device anyway ("the lamp on my desk")."""
        lex = _compiled("en")
        found = []
        for phrase, ident in self._bare:
            if not _may_say(phrase, low) or (kinds is not None and ident in kinds):
                continue
            for m in _pattern(phrase).finditer(low):
                left = lex["lead"].search(low[: m.start()])
                if (
                    left is not None
                    and left.group("prep")
                    and not lex["particle"].search(low[: left.start("prep")])
                ):
                    continue
                if _verb_place(low, m.span()):
                    continue  # "water the garden": the "water heater" is not meant
                if _free(m.span(), taken):
                    taken.append(m.span())
                    found.append((ident, m.span()))
        return found

    # -------------------------------------------------------------- mentions

    def _shared_modifier(
        self,
        low: str,
        span: tuple[int, int],
        ids: frozenset[str],
        taken: list[tuple[int, int]],
        lang: Lang,
    ) -> tuple[int, int]:
        """The kind word's span, with the word before it when every device of the kind
        (two or more) has that word in its name: "the floor heating" when each room's is
        "<room> floor heating" ("floor" is then no place)."""
        before = _word_before(low, span[0], taken) if lang == "en" and len(ids) > 1 else None
        if before is None:
            return span
        owners = {d for w in _forms(before.group(1)) for d in self._name_words.get(w, ())}
        return (before.start(1), span[1]) if ids <= owners else span

    def _by_modifier(
        self,
        low: str,
        span: tuple[int, int],
        ids: frozenset[str],
        taken: list[tuple[int, int]],
        lang: Lang,
    ) -> str | None:
        """The one device of `ids` whose name holds the word right before the kind word
        at `span` (English), taking both; None when no word or several devices."""
        before = _word_before(low, span[0], taken) if lang == "en" else None
        if before is None:
            return None
        # A word that also names a place is the place's ("the kitchen lights").
        forms = [w for w in _forms(before.group(1)) if w not in self._place_words]
        owners = {d for w in forms for d in self._name_words.get(w, ())} & ids
        if len(owners) != 1:
            return None
        taken.append((before.start(1), span[1]))
        return owners.pop()

    def _areas_containing(self, word: str) -> list[str]:
        """Areas with a name that contains a kind of room ("bedroom": "master bedroom";
        in Chinese its first character will do: woshi is zhuwo and ciwo)."""
        key = word[0] if not word.isascii() and len(word) > 1 else word
        return sorted({ident for phrase, ident in self._areas if key in phrase and word != phrase})

    def mentions(self, text: str, lang: Lang) -> Mentions:
        low = text.lower()
        lex = _compiled(lang)
        # A name inside a word for a room is not said: "yangtai deng" (the balcony
        # light) holds "taideng" (a desk lamp) across its two words.
        room_words = list(lex["rooms"].finditer(low))
        taken: list[tuple[int, int]] = []
        devices = _find(self._devices, low, taken, across=[r.span() for r in room_words])
        if lang == "en" and devices:
            devices, taken = _definite(devices, taken, low)
        names = tuple(taken)
        areas = _find(self._areas, low, taken)
        floors = _find(self._floors, low, taken)
        kinds: set[str] | None = None
        modified: list[tuple[int, int]] = []  # a name's word and a kind word, as a name
        kind_spans: list[tuple[int, int]] = []  # of kinds that may name a place's devices
        for word, ids in self._kinds:
            if not _may_say(word, low):
                continue
            for m in _pattern(word).finditer(low):
                if lex["verb_object"].match(low, m.end()):
                    continue  # "switch it off": the verb, not a switch
                if lex["verb_particle"].match(low, m.end()) and not lex["determined"].search(
                    low, 0, m.start()
                ):
                    continue  # "switch on the microwave"; "the lamp on the desk" is a lamp
                if _free(m.span(), taken):
                    one = self._by_modifier(low, m.span(), ids, taken, lang)
                    if one is not None:
                        # "the roborock vacuum", "my task list": the one device of the
                        # kind whose name has the word before the kind word.
                        devices.append(one)
                        modified.append(taken[-1])
                        continue
                    if (
                        lang == "en"
                        and word in self._weak
                        and _modified(low, m.start(), lex["kind_lead"], taken)
                    ):
                        # "the front door" in a home whose one door is the garage door: a
                        # head noun of one name, said of something else, names no device.
                        continue
                    span = self._shared_modifier(low, m.span(), ids, taken, lang)
                    taken.append(span)
                    if word not in self._weak:
                        kind_spans.append(span)
                    kinds = (kinds or set()) | ids
        if lang == "en" and self._bare:
            for ident, span in self._bare_names(low, taken, kinds):
                devices.append(ident)
                modified.append(span)
        step = 0  # after the names: "the downstairs vacuum" is "Roborock Downstairs"
        for key, way in (("upstairs", 1), ("downstairs", -1)):
            for m in lex[key].finditer(low):
                if _free(m.span(), taken):
                    taken.append(m.span())
                    step = way
        flags = {}
        for key in ("anything", "here", "everywhere", "every", "anaphora"):
            hit = False
            for m in lex[key].finditer(low):
                if m.group(0).strip() and _free(m.span(), taken):
                    taken.append(m.span())
                    hit = True
            flags[key] = hit
        rooms = [h for h in lex["other_homes"].finditer(low) if _free(h.span(), taken)]
        vague: list[str] = []
        for r in room_words:
            if not _free(r.span(), taken):
                continue
            inside = self._areas_containing(r.group(0))
            if inside:
                taken.append(r.span())
                vague.extend(inside)
            else:
                rooms.append(r)
        named_else = lang == "en" and any(
            _modified(low, a, lex["kind_lead"], taken) for a, _ in kind_spans
        )
        placed = devices or areas or floors or vague or step
        elsewhere = (bool(rooms) or named_else) and kinds is not None and not placed
        return Mentions(
            elsewhere=elsewhere,
            strange_room=bool(rooms),
            vague_areas=tuple(dict.fromkeys(vague)),
            step=step,
            devices=tuple(dict.fromkeys(devices)),
            areas=tuple(dict.fromkeys(areas)),
            floors=tuple(dict.fromkeys(floors)),
            kinds=frozenset(kinds) if kinds is not None else None,
            anything=flags["anything"],
            here=flags["here"],
            everywhere=flags["everywhere"],
            every=flags["every"],
            back=flags["anaphora"],
            spans=tuple(sorted(taken)),
            names=(*names, *modified),
        )

    # ------------------------------------------------------------- resolving

    def _floor_from(self, site_area: str | None, step: int) -> str | None:
        """The floor `step` floors from the speaker's, in the order the home lists its
        floors (lowest first); in a home of two floors, "upstairs" is the upper one from
        anywhere."""
        floors = [f.id for f in self.registry.floors]
        area = self.registry.area_by_id.get(site_area or "")
        if area is not None and area.floor in floors:
            i = floors.index(area.floor) + step
            return floors[i] if 0 <= i < len(floors) else None
        if len(floors) == 2:
            return floors[1] if step > 0 else floors[0]
        return None

    def resolve(
        self,
        m: Mentions,
        site_area: str | None,
        focus: frozenset[str] = frozenset(),
        domains: frozenset[str] | None = None,
    ) -> Target:
        """The devices `m` means (before any action narrows them). `domains`: kinds of
        device the rest of the clause implies ("warmer": climate), when none was said."""
        reg = self.registry
        if m.devices:
            named = tuple(reg.by_id[d] for d in m.devices)
            if m.kinds and not m.kinds & set(m.devices):
                # "turn the TV and the soundbar off": a kind said beside a name is
                # resolved as if said alone, and both are meant.
                rest = self.resolve(replace(m, devices=()), site_area, focus, domains)
                more = tuple(d for d in rest.devices if d not in named)
                if more:
                    return Target(named + more, rest.settled, True)
            return Target(named, True, True)
        if m.elsewhere:
            return Target((), True, True)
        if m.step:
            floor = self._floor_from(site_area, m.step)
            if floor is None:
                return Target((), False, True)  # which floor is up from nowhere?
            m = replace(m, floors=(*m.floors, floor), step=0)
        pool = list(reg.devices)
        if m.kinds is not None:
            pool = [d for d in pool if d.id in m.kinds]
        elif domains:
            pool = [d for d in pool if d.type in domains]
        elif not (m.areas or m.floors or m.anything or m.here or m.everywhere or m.vague_areas):
            # "it", "them", or no target at all: the devices talked about.
            pool = [d for d in pool if d.id in focus]
            return Target(tuple(pool), bool(pool), m.back)
        if m.areas or m.floors:
            placed = [
                d
                for d in pool
                if d.area in m.areas or (reg.floor_of(d) in m.floors and reg.floor_of(d))
            ]
            return Target(tuple(placed), True, True)
        if m.vague_areas:
            placed = [d for d in pool if d.area in m.vague_areas]
            one_place = len({d.area for d in placed}) <= 1
            return Target(tuple(placed), m.every or one_place, True)
        if m.here and site_area:
            return Target(tuple(d for d in pool if d.area == site_area), True, True)
        if m.here and m.kinds is None and not domains and not m.anything:
            # "the driver is here", from a site in no area: no place dialogd knows, and
            # surely not every device of the home.
            return Target((), False, True)
        if m.everywhere or m.every:
            return Target(tuple(pool), True, True)
        if m.kinds is None and not domains and m.anything:
            # "everything" with no place: the speaker's room, or the whole home.
            if site_area:
                return Target(tuple(d for d in pool if d.area == site_area), True, True)
            return Target(tuple(pool), True, True)
        talked_about = [d for d in pool if d.id in focus]
        if talked_about:
            return Target(tuple(talked_about), True, m.said)
        places = {reg.by_id[d].area for d in focus if d in reg.by_id}
        if len(places) == 1 and None not in places:
            # "turn off Ethan's ceiling light" -> "the desk lamp too": the one in the
            # place talked about.
            there = [d for d in pool if d.area in places]
            if there:
                return Target(tuple(there), True, m.said)
        if site_area:
            local = [d for d in pool if d.area == site_area]
            if local:
                return Target(tuple(local), True, m.said)
        return Target(tuple(pool), len(pool) <= 1 or not _spread(reg, pool), m.said)

    # ------------------------------------------------------------- canonical

    def canonical(self, text: str, m: Mentions, lang: Lang) -> str | None:
        """`text` with the target words (and the function words around them) replaced by
        PLACEHOLDER; None when the clause names no target."""
        if not m.spans:
            return None
        low = text.lower()
        lex = _compiled(lang)
        spans = []
        for a, b in m.spans:
            left = lex["lead"].search(low[:a])
            start = left.start() if left else a
            prep = left is not None and "prep" in left.groupdict() and left.group("prep")
            if left is not None and prep and lex["particle"].search(low[: left.start("prep")]):
                start = left.end("prep")  # "turn on the ...": a particle, kept
            elif left is not None and prep and (a, b) in m.names:
                start = left.end("prep")  # "put it on my task list": the verb's, kept
            right = lex["trail"].match(low, b)
            spans.append([start, right.end() if right else b])
        spans.sort()
        merged: list[list[int]] = []
        for s in spans:
            if merged and (s[0] <= merged[-1][1] or lex["gap"].fullmatch(low, merged[-1][1], s[0])):
                merged[-1][1] = max(merged[-1][1], s[1])
            else:
                merged.append(s)
        out, pos = [], 0
        sep = "" if lang == "zh" else " "
        for i, (a, b) in enumerate(merged):
            out.append(low[pos:a])
            out.append(f"{sep}{PLACEHOLDER}{sep}" if i == 0 else sep)
            pos = b
        out.append(low[pos:])
        return " ".join("".join(out).split()) if lang == "en" else "".join(out).strip()


def _modified(low: str, start: int, lead: re.Pattern[str], taken: list[tuple[int, int]]) -> bool:
    """The word right before a kind word names something ("greenhouse lamp"), and not
    something already read ("this room's lights": the speaker's room)."""
    before = re.search(r"([\w']+)\s*$", low[:start])
    if before is None or lead.fullmatch(before.group(1)):
        return False
    return not any(a <= before.start(1) < b for a, b in taken)


def _spread(reg: Registry, devices: list[DeviceInfo]) -> bool:
    areas = {d.area for d in devices}
    return len(areas) > 1 or None in areas


def _heads(phrases: tuple[str, ...]) -> set[str]:
    """Head nouns of device names: the last word of a multi-word English name, the last
    two characters of a Chinese name of three or more."""
    out = set()
    for p in phrases:
        low = p.lower().strip()
        if low.isascii():
            words = low.split()
            if len(words) > 1 and len(words[-1]) >= 2:
                out.add(words[-1])
        elif (
            len(low) >= 3
            and all("\u3400" <= c <= "\u9fff" for c in low[-2:])
            and low[-2] not in _possessive()
        ):
            out.add(low[-2:])
    return out


def _shared_suffix(names: set[str], most: int = 3) -> str:
    """The longest suffix all `names` share, two to `most` characters."""
    n = 2
    while n < most and len({name[-(n + 1) :] for name in names}) == 1:
        if min(len(name) for name in names) <= n + 1 or _char_before(names, n) in _possessive():
            break  # "baba de taideng", "mama de taideng": the kind is "taideng"
        n += 1
    return next(iter(names))[-n:]


def _char_before(names: set[str], n: int) -> str:
    """The character before the last `n` of (any of) `names`, which share it."""
    return next(iter(names))[-(n + 1)]


def _phrase_table(pairs: object) -> list[tuple[str, str]]:
    items = {(p.lower(), ident) for p, ident in pairs}  # type: ignore[attr-defined]
    return sorted(items, key=lambda x: -len(x[0]))


@cache
def _pattern(phrase: str) -> re.Pattern[str]:
    if _gapped(phrase):
        return _zh_name(phrase)
    return phrase_pattern(phrase)


@cache
def _gapped(phrase: str) -> bool:
    """A Chinese name that may have a particle inside it where it is said (`_zh_name`);
    English words may stand in it ("ethan fangjian dingdeng")."""
    return (
        len(phrase) >= 3
        and not phrase.isascii()
        and all(
            "\u3400" <= c <= "\u9fff" or (c.isascii() and (c.isalnum() or c in "' "))
            for c in phrase
        )
    )


def _may_say(phrase: str, low: str) -> bool:
    """False when `low` cannot hold `phrase` at all: a substring test is far cheaper than
    the pattern, and most of a large home's names are not in any one request."""
    if _gapped(phrase):
        return phrase[0] in low and phrase[-1] in low
    return phrase in low


@cache
def _zh_name(phrase: str) -> re.Pattern[str]:
    """A Chinese name, also with a possessive particle inside it (`inside_name` in
    daemon/data/lang/zh.toml: "qianyuan de sashuiqi" is "qianyuan sashuiqi")."""
    gap: str = lexicon("zh")["inside_name"]
    pieces = re.findall(r"[a-z0-9']+|[^\s]", phrase)  # an English word is one piece
    return re.compile(rf"{gap}\s*".join(re.escape(p) for p in pieces))


_OPENING = re.compile(r"^(?:(?:please|can you|could you|would you|will you|go|now)\s+)*$")


def _verb_place(low: str, span: tuple[int, int]) -> bool:
    """A word first in its clause with an object after it is the clause's verb: a name's
    part said there names nothing."""
    after = low[span[1] :].split(maxsplit=1)
    return bool(_OPENING.match(low[: span[0]])) and bool(after) and after[0] in _closed_words()


@cache
def _closed_words() -> frozenset[str]:
    """English grammar words that lead into a target ("the", "my", "all"): never part of
    what names one device."""
    lex = lexicon("en")
    return frozenset(w.lower() for w in (*lex["determiners"], *lex["lead"]))


@cache
def _possessive() -> frozenset[str]:
    """Particles that make the last two characters of a Chinese name no head noun ("lili
    de deng", Lili's lamp: the head is "deng", a kind word already)."""
    return frozenset(lexicon("zh")["possessive"])


def without_spans(text: str, spans: tuple[tuple[int, int], ...]) -> str:
    """`text` with a space where each of `spans` stood (Mentions.spans: its targets)."""
    for a, b in sorted(spans, reverse=True):
        text = text[:a] + " " + text[b:]
    return text


def _free(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return all(span[1] <= a or span[0] >= b for a, b in taken)


def _definite(
    devices: list[str], taken: list[tuple[int, int]], low: str
) -> tuple[list[str], list[tuple[int, int]]]:
    """The names not said with "a" or "an" before them: a device is "the" one, and "tell
    me a haiku" asks for no fan called Haiku."""
    kept = [(d, span) for d, span in zip(devices, taken, strict=True)
            if not re.search(r"\ban?\s+$", low[: span[0]])]  # fmt: skip
    return [d for d, _ in kept], [span for _, span in kept]


def _find(
    table: list[tuple[str, str]],
    low: str,
    taken: list[tuple[int, int]],
    across: list[tuple[int, int]] | None = None,
) -> list[str]:
    """The ids whose phrases `low` says, longest first, each span once; none that
    straddles an edge of one of the `across` spans."""
    found = []
    for phrase, ident in table:
        if not _may_say(phrase, low):
            continue
        for m in _pattern(phrase).finditer(low):
            a, b = m.span()
            if any(a < y and x < b and not (a <= x and y <= b) for x, y in across or ()):
                continue
            if _free(m.span(), taken):
                taken.append(m.span())
                found.append(ident)
    return found


@cache
def _compiled(lang: Lang) -> dict[str, re.Pattern[str]]:
    lex = lexicon(lang)
    words = lang == "en"

    def alt(key: str) -> re.Pattern[str]:
        items = sorted(lex[key], key=len, reverse=True)
        body = "|".join(f"(?:{p})" for p in items) or "(?!x)x"
        return re.compile(rf"\b(?:{body})\b" if words else f"(?:{body})")

    def seq(key: str) -> str:
        return "|".join(f"(?:{p})" for p in sorted(lex[key], key=len, reverse=True))

    if words:
        # A preposition leads into a place ("on the deck"), unless it is the particle of
        # the verb before it ("turn on the deck lights").
        # "in" leads into a place with no article too ("in Maya's room"); "on" may be a
        # particle then ("lights on downstairs").
        lead = re.compile(
            rf"(?:(?P<prep>\b(?:{seq('prepositions')})\s+)(?=\w+\s)(?:\b(?:{seq('lead')})\s+)+"
            rf"|\b(?:{seq('place_prepositions')})\s+(?:\b(?:{seq('lead')})\s+)*"
            rf"|(?:\b(?:{seq('lead')})\s+)*)$"
        )
        particle = re.compile(rf"\b(?:{seq('particle_verbs')})\s+$")
        trail = re.compile(rf"(?:\s*\b(?:{seq('trail')})\b)*") if lex["trail"] else None
        # Between two pieces of one target: determiners, and prepositions before one
        # ("the lights in the kitchen"); "lights on downstairs" keeps its particle.
        gap = re.compile(
            rf"(?:\s|\b(?:{seq('gap')})\b|\b(?:{seq('prepositions')})\b(?=\s+(?:{seq('lead')})\b))*"
        )
    else:
        lead = re.compile(rf"(?:{seq('lead')})*$") if lex["lead"] else re.compile("$")
        particle = re.compile("(?!x)x")
        trail = re.compile(rf"(?:{seq('trail')})*")
        gap = re.compile(rf"(?:\s|{seq('gap')})*")
    return {
        "anything": alt("anything"),
        "here": alt("here"),
        "upstairs": alt("upstairs"),
        "downstairs": alt("downstairs"),
        "everywhere": alt("everywhere"),
        "every": alt("every"),
        "anaphora": alt("anaphora"),
        "rooms": alt("rooms"),
        "other_homes": alt("other_homes") if lex.get("other_homes") else re.compile("(?!x)x"),
        "kind_lead": alt("kind_lead") if lex.get("kind_lead") else re.compile("(?!x)x"),
        "verb_object": (
            re.compile(rf"\s+{alt('verb_object').pattern}")
            if lex.get("verb_object")
            else re.compile("(?!x)x")
        ),
        "verb_particle": (
            re.compile(rf"\s+(?:{seq('verb_particles')})\s+{alt('verb_object').pattern}")
            if lex.get("verb_particles")
            else re.compile("(?!x)x")
        ),
        "determined": (
            re.compile(rf"\b(?:{seq('determiners')})\s+$")
            if lex.get("determiners")
            else re.compile("(?!x)x")
        ),
        "lead": lead,
        "particle": particle,
        "trail": trail or re.compile(""),
        "gap": gap,
    }


def says_everywhere(text: str, lang: Lang) -> bool:
    """The text names the whole home ("everywhere", "the whole house", "quan wu")."""
    return bool(_compiled(lang)["everywhere"].search(text.lower()))


def _forms(word: str) -> tuple[str, ...]:
    """A word and its singular ("tasks": "task"; "groceries": "grocery")."""
    if word.endswith("ies") and len(word) > 4:
        return (word, word[:-3] + "y")
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return (word, word[:-1])
    return (word,)


def _word_before(low: str, start: int, taken: list[tuple[int, int]]) -> re.Match[str] | None:
    """The English word right before `start`, when nothing has read it yet."""
    before = re.search(r"([a-z][a-z'-]+)\s+$", low[:start])
    return before if before is not None and _free(before.span(1), taken) else None


def _name_words(registry: Registry) -> dict[str, frozenset[str]]:
    """Each word of the devices' own names (English, singular too) to the devices whose
    names hold it; not the words that lead into a target."""
    closed = _closed_words()
    out: dict[str, set[str]] = {}
    for d in registry.devices:
        for phrase in d.phrases:
            for word in re.findall(r"[a-z][a-z'-]+", phrase.lower()):
                for form in _forms(word):
                    if form not in closed:
                        out.setdefault(form, set()).add(d.id)
    return {w: frozenset(ids) for w, ids in out.items()}
