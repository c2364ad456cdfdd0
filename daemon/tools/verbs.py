"""Verbs per action, read out of Home Assistant's sentence templates.

`python -m daemon.tools.verbs` writes `daemon/data/verbs.toml`: for each language and
dialogd action, the words Home Assistant's templates (the `home-assistant-intents`
package) put around a target to ask for that action ("turn on", "switch off", "open",
"unlock", and their Chinese). Nobody types these lists: rerun the script when the package is
upgraded, and a test checks that the file is what the installed package gives.

How a template becomes verbs: every list reference (a device, an area, a number) is a
slot; the text around the slots is sampled with hassil's grammar (alternatives,
optionals, permutations, expansion rules); then the words that name targets or glue them
together are dropped, using dialogd's own grammar words (`daemon/data/lang`: articles,
quantifiers, prepositions, device kinds, room words). What is left is the verb phrase.
Which action a template means is Home Assistant's intent, per device domain, as
`daemon/data/ha_intents.toml` maps dialogd's actions to it, plus the intents that table
leaves out for the Wyoming server (mute, relative volume, fan speed).
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from daemon.core.data import load

# Home Assistant's language code for each of dialogd's languages.
HA_LANG = {"en": "en", "zh": "zh-CN"}
OUT = Path(__file__).resolve().parent.parent / "data" / "verbs.toml"
SLOT = "\x00"
MAX_SAMPLES = 500  # per group: optional groups and permutations multiply fast
# dialogd's grammar words that glue a target into a sentence (daemon/data/lang).
GLUE_KEYS = (
    "lead",
    "gap",
    "trail",
    "target_fillers",
    "skip_words",
    "polite_request",
    "discourse",
    "all_words",
    "every",
    "anaphora",
    "here",
    "everywhere",
    "anything",
    "possessive",
    "place_nouns",
)
PARTICLES = {"on", "off", "up", "down", "out"}
SPREAD = 5

# Intents that daemon/data/ha_intents.toml does not name (the Wyoming server answers
# them NotRecognized), with the dialogd action each means for verbs.
EXTRA_INTENTS = {
    "HassMediaPlayerMute": "mute",
    "HassMediaPlayerUnmute": "unmute",
    "HassFanSetSpeed": "set_speed",
    "HassSetVolumeRelative": "change_volume",
    "HassVacuumReturnToBase": "return_to_base",
    "HassMediaNext": "next_track",
    "HassMediaPrevious": "previous_track",
}


def actions_by_intent() -> dict[tuple[str, str | None], str]:
    """(HA intent, HA domain or None) -> dialogd action, from ha_intents.toml."""
    table = load("ha_intents.toml")
    domains: dict[str, str] = table["domains"]
    out: dict[tuple[str, str | None], str] = {}
    for section, rules in table.items():
        if section in ("domains", "needs_confirmation") or not isinstance(rules, dict):
            continue
        domain = None if section in ("any", "deviceless") else domains.get(section, section)
        for action, rule in rules.items():
            out.setdefault((rule["intent"], domain), action)
    for intent, action in EXTRA_INTENTS.items():
        out.setdefault((intent, None), action)
    return out


def _domains(block: dict[str, Any]) -> list[str | None]:
    """The device domains a template block is for (its fixed slot or its context)."""
    found: list[str | None] = []
    for source in (block.get("slots") or {}, block.get("requires_context") or {}):
        value = source.get("domain")
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            found.extend(v for v in value if isinstance(v, str))
    return found or [None]


def _samples(expr: Any, rules: dict[str, Any], glue: _Glue, depth: int = 0) -> set[str]:
    """What the expression says (deduplicated, capped), each target as SLOT: a list
    reference, or an expansion rule that names targets (see _Glue.is_target)."""
    from hassil.expression import (
        Alternative,
        ListReference,
        Permutation,
        RuleReference,
        Sequence,
        TextChunk,
    )

    if isinstance(expr, TextChunk):
        return {expr.original_text or expr.text}
    if isinstance(expr, ListReference) or depth > 20:
        return {f" {SLOT} "}
    if isinstance(expr, RuleReference):
        rule = rules.get(expr.rule_name)
        if rule is None:
            return {f" {SLOT} "}
        said = _samples(rule.expression, rules, glue, depth + 1)
        return {f" {SLOT} "} if glue.is_target(said) else said
    # Sorted: the caps below must cut the same samples in every run.
    parts = [sorted(_samples(item, rules, glue, depth + 1)) for item in getattr(expr, "items", [])]
    if isinstance(expr, Alternative):
        return {s for part in parts for s in part} | ({""} if expr.is_optional else set())
    orders = itertools.permutations(parts) if isinstance(expr, Permutation) else [parts]
    joiner = " " if isinstance(expr, Permutation) else ""
    out: set[str] = set()
    for order in itertools.islice(orders, 6):
        for words in itertools.islice(itertools.product(*order), MAX_SAMPLES):
            out.add(re.sub(r"\s+", " ", joiner.join(words)))
    assert isinstance(expr, Sequence | Permutation)
    return out


class _Glue:
    """The words of one language that name or join targets, never an action."""

    def __init__(self, lang: str) -> None:
        lex = load(f"lang/{lang}.toml")
        self.spaced = lang != "zh"
        function: set[str] = set()
        for key in GLUE_KEYS:
            function.update(w for w in lex.get(key, ()) if re.fullmatch(r"[\w' ]+", w))
        targets = set(function)
        for names in lex.get("kinds", {}).values():
            targets.update(names)
        targets.update(lex.get("prepositions", ()))
        self.kinds = {w for names in lex.get("kinds", {}).values() for w in names}
        # "to 50%": at a phrase's edge it brings in the value ("set to"); inside one it is
        # part of the verb ("return to base").
        self.edges = set(lex.get("value_prepositions", ()))
        self.particles = PARTICLES - set(lex.get("prepositions", ()))
        # Particles are part of a verb ("turn on"), never glue.
        self.function = _longest_first(function - PARTICLES)
        self.targets = _longest_first(targets - PARTICLES)

    def _drop(self, text: str, phrases: list[str]) -> str:
        for phrase in phrases:
            if self.spaced:
                text = re.sub(rf"(?<![\w']){re.escape(phrase)}(?![\w'])", " ", text)
            else:
                text = text.replace(phrase, " ")
        return text

    def is_target(self, said: set[str]) -> bool:
        """A rule names targets when it holds a slot, or most of its wordings are
        nothing but target words ("<light>": "lights"; "<here>": "in here"; "<the>"),
        not when one of them happens to be ("<turn>": "switch")."""
        if any(SLOT in s for s in said):
            return True
        bare = sum(1 for s in said if not self._drop(s.lower(), self.targets).strip())
        return bare * 2 > len(said)

    def lead_kind(self, template: str) -> str | None:
        """The template's first word when it is a kind word written out: the verb ("lock
        [<the>] {name}" locks, though "lock" also names a kind of device). A kind that
        an expansion rule brings first is a noun ("<fan> ...")."""
        m = re.match(r"\s*([a-z]+)\s", template.lower())
        return m.group(1) if self.spaced and m and m.group(1) in self.kinds else None

    def verb(self, sample: str, lead: str | None = None) -> str | None:
        """The verb phrase of one sampled template: the words before its first slot and
        after its last, without function words; None when nothing is left."""
        text = sample.lower()
        if SLOT not in text:
            return None
        head, _, rest = text.partition(SLOT)
        middle, _, tail = rest.rpartition(SLOT)
        if self.spaced and not self._drop(tail, self.targets).strip():
            # A particle between two targets, with nothing after them, is the verb's:
            # "get every <light> out <everywhere>" says "get out", not "get". Not "on"
            # or "in": before a target they are prepositions ("volume up on <name>").
            inside = [w for w in re.findall(r"[\w']+", middle) if w in self.particles]
            head = f"{head} {' '.join(inside)}"
        kept = []
        for n, part in enumerate((head, tail)):
            if self.spaced:
                part = re.sub(r"[^\w'\s]", " ", part)
            verb = lead if n == 0 and lead and part.split()[:1] == [lead] else None
            # Whole words can go with the kinds too ("switch", "fans"); in an unspaced
            # language a kind inside a verb would break it (the lock in "unlock").
            words = self._drop(part, self.targets if self.spaced else self.function).split()
            kept.extend(([verb] if verb else []) + words)
        while kept and kept[0] in self.edges:
            kept.pop(0)
        while kept and kept[-1] in self.edges:
            kept.pop()
        if not kept or any(w.isdigit() for w in kept):
            return None
        phrase = (" " if self.spaced else "").join(kept)
        if self.spaced:
            return phrase if len(kept) <= 3 else None
        return phrase if len(phrase) <= 4 and re.fullmatch(r"\w+", phrase) else None


def _longest_first(words: set[str]) -> list[str]:
    return sorted(words, key=lambda w: (-len(w), w))


def verbs_for(lang: str) -> dict[str, list[str]]:
    import home_assistant_intents as hai
    from hassil.parse_expression import parse_sentence

    data = hai.get_intents(HA_LANG[lang])
    assert data is not None, f"home-assistant-intents has no {HA_LANG[lang]}"
    rules = {
        name: parse_sentence(body, keep_text=True)
        for name, body in data.get("expansion_rules", {}).items()
    }
    glue = _Glue(lang)
    mapping = actions_by_intent()
    per_intent: dict[str, set[str]] = {}
    for (name, _domain), act in mapping.items():
        per_intent.setdefault(name, set()).add(act)
    only = {name: next(iter(acts)) for name, acts in per_intent.items() if len(acts) == 1}
    counts: dict[str, Counter[str]] = {}
    for intent, body in data["intents"].items():
        for block in body.get("data", []):
            for domain in _domains(block):
                action = (
                    mapping.get((intent, domain))
                    or mapping.get((intent, None))
                    or only.get(intent)  # a block that names no domain: HassVacuumStart
                )
                if action is None:
                    continue
                local = rules | {
                    n: parse_sentence(b, keep_text=True)
                    for n, b in (block.get("expansion_rules") or {}).items()
                }
                for template in block["sentences"]:
                    expr = parse_sentence(template, keep_text=True).expression
                    lead = glue.lead_kind(template)
                    said = {v for s in _samples(expr, local, glue) if (v := glue.verb(s, lead))}
                    counts.setdefault(action, Counter()).update(said)
    return _tidy({a: set(c) for a, c in counts.items()}, glue.spaced)


def _tidy(found: dict[str, set[str]], spaced: bool) -> dict[str, list[str]]:
    """In an unspaced language, a one-character word that Home Assistant's templates put
    before the verbs of SPREAD actions or more (jiang, gei) is glue: jiang-dakai is dakai."""
    if not spaced:
        actions_of = Counter(v for verbs in found.values() for v in verbs)
        glue = {v for v, n in actions_of.items() if n >= SPREAD and len(v) == 1}
        found = {a: {v[1:] if v[:1] in glue else v for v in vs} - glue for a, vs in found.items()}
    found = {a: {v for v in vs if v} for a, vs in found.items()}
    return {action: sorted(verbs) for action, verbs in sorted(found.items()) if verbs}


def render() -> str:
    from importlib.metadata import version

    lines = [
        "# Generated by `python -m daemon.tools.verbs` from home-assistant-intents "
        f"{version('home-assistant-intents')}",
        "# (hassil " + version("hassil") + "): do not edit; rerun the script instead.",
        "# Per language and dialogd action: the words Home Assistant's templates put around",
        "# a target to ask for that action (see the script's docstring).",
    ]
    for lang in HA_LANG:
        lines.append("")
        lines.append(f"[{lang}]")
        for action, verbs in verbs_for(lang).items():
            quoted = ", ".join(f'"{v}"' for v in verbs)
            lines.append(f"{action} = [{quoted}]")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m daemon.tools.verbs",
        description="Write daemon/data/verbs.toml from Home Assistant's sentence templates.",
    )
    ap.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    ap.add_argument("--out", type=Path, default=OUT, help=f"where to write (default: {OUT})")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'out of date'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
