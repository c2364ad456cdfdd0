"""Language detection, normalisation, and the grammar data of `daemon/data/lang/*.toml`.

The word lists live in those files, one per language; this module only compiles them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from pypinyin import lazy_pinyin

from daemon.core.data import load
from daemon.core.script import simplified
from daemon.core.vocabulary import Lang
from daemon.understanding.numbers import en_words_to_digits, zh_numbers_to_digits

_CJK = re.compile(r"[\u3400-\u9fff]")
_ZH_SPACE = re.compile(r"(?<=[\u3400-\u9fff])\s+|\s+(?=[\u3400-\u9fff])")


def detect_lang(text: str) -> Lang:
    return "zh" if _CJK.search(text) else "en"


@dataclass(frozen=True)
class Grammar:
    """One language's closed-class words, compiled (see the TOML files for each)."""

    lang: Lang
    negation: re.Pattern[str]
    question: re.Pattern[str]
    polite: re.Pattern[str]
    hypothetical: re.Pattern[str]
    reported: re.Pattern[str]
    lacking: re.Pattern[str]
    injection: re.Pattern[str]
    separators: re.Pattern[str]
    fillers: re.Pattern[str]
    everything: re.Pattern[str]
    skip_words: tuple[str, ...]
    skip: re.Pattern[str]


def longest_first(patterns: list[str]) -> str:
    """One regular expression body for any of `patterns`, the longest tried first (so
    "except for" wins over "except"); one that matches nothing when there are none."""
    body = "|".join(f"(?:{p})" for p in sorted(patterns, key=len, reverse=True))
    return body or "(?!x)x"


def close_cjk_gaps(text: str) -> str:
    """`text` without the spaces beside Chinese characters."""
    return _ZH_SPACE.sub("", text)


def alternation(patterns: list[str], words: bool) -> re.Pattern[str]:
    """One pattern matching any of `patterns` (on word boundaries for `words`)."""
    if not patterns:
        return re.compile(r"(?!x)x")  # matches nothing
    body = "|".join(f"(?:{p})" for p in patterns)
    return re.compile(rf"\b(?:{body})\b" if words else body)


def _raw(lang: Lang) -> dict[str, Any]:
    return load(f"lang/{lang}.toml")


def query_kinds(text: str, lang: Lang) -> frozenset[str]:
    """The device types a question about state is about, by its words (`query_kinds`)."""
    low = text.lower()
    return frozenset(t for t, pattern in _query_kinds(lang).items() if pattern.search(low))


@cache
def _query_kinds(lang: Lang) -> dict[str, re.Pattern[str]]:
    table = _raw(lang).get("query_kinds", {})
    return {t: alternation(list(words), lang == "en") for t, words in table.items()}


def lexicon(lang: Lang) -> dict[str, Any]:
    """One language's raw word data (daemon/data/lang/<lang>.toml), for the modules that
    compile their own patterns from it."""
    return _raw(lang)


@cache
def marks(*kinds: str) -> str:
    """The punctuation marks of `kinds` ("comma", "stop", "exclamation", "question",
    "semicolon", "colon", "enumeration") in every language: text in one language often
    carries another's marks."""
    return "".join(_raw(lang)["punctuation"][k] for lang in ("en", "zh") for k in kinds)


@cache
def color_names() -> dict[str, str]:
    """Colour words of every language, to FORMAT.md's colour names."""
    out: dict[str, str] = {}
    for lang in ("en", "zh"):
        out.update(_raw(lang).get("colors", {}))
    return out


@cache
def grammar(lang: Lang) -> Grammar:
    raw = _raw(lang)
    words = lang == "en"
    if words:
        anywhere = "".join(rf"|\b(?:{w})\b" for w in raw.get("question_words", ()))
        question = re.compile(r"^(?:" + "|".join(raw["question_start"]) + r")\b" + anywhere)
    else:
        question = alternation(raw["question_words"], words=False)
    return Grammar(
        lang=lang,
        # A narrative of what was done asks for nothing either, as a negation does.
        negation=alternation([*raw["negation"], *raw.get("narrative", [])], words),
        question=question,
        polite=alternation(raw["polite_request"], words),
        # Irony asks for nothing either, as a hypothetical does.
        hypothetical=alternation([*raw["hypothetical"], *raw.get("ironic", [])], words),
        reported=alternation(raw["reported"], words),
        lacking=alternation(raw.get("lacking", []), words),
        injection=alternation(raw["injection"], words),
        separators=re.compile("|".join(raw["clause_separators"])),
        fillers=alternation(raw["target_fillers"], words),
        everything=alternation(raw["all_words"], words),
        skip_words=tuple(raw["skip_words"]),
        skip=alternation(sorted(raw["skip_words"], key=len, reverse=True), words),
    )


def normalize(text: str, lang: Lang) -> str:
    """The request as the matchers see it: numbers as digits, spacing tidied.

    Chinese keeps English words apart but loses spaces next to Chinese characters
    ("kitchen light kai yixia"); both languages get spelt-out numbers as digits, which
    is what speech recognisers produce ("twenty two", "ershiwu").
    """
    t = " ".join(text.replace("’", "'").split())
    if lang == "zh":
        t = simplified(t)
    t = _without_addressee(t)
    if lang == "zh":
        # Spoken amounts first, while their numerals are still words ("yi ge ban
        # xiaoshi", an hour and a half).
        t = close_cjk_gaps(t)
        for pattern, replacement in _rewrites(lang):
            t = pattern.sub(replacement, t)
        return zh_numbers_to_digits(t)
    t = " ".join(en_words_to_digits(t.split(" ")))
    for pattern, replacement in _rewrites(lang):
        t = pattern.sub(replacement, t)
    return t


def _without_addressee(text: str) -> str:
    """`text` without the assistant's name said before it, when more follows; a Chinese
    name also when it is heard as its homophones ("xiao ai tongxue" in other
    characters)."""
    m = _addressee().match(text)
    if m is None and text[:1] >= "\u3400":
        for name in _raw("zh").get("addressee", ()):
            if lazy_pinyin(text[: len(name)]) == lazy_pinyin(name):
                return _without_addressee(text[len(name) :].lstrip(_AFTER_NAME)) or text
    return text[m.end() :] if m is not None and m.end() < len(text) else text


_AFTER_NAME = " ,:!.\uff0c\uff1a\uff01\u3002"


@cache
def _addressee() -> re.Pattern[str]:
    names = [n for lang in ("en", "zh") for n in _raw(lang).get("addressee", ())]
    greeting = longest_first([g for lang in ("en", "zh") for g in _raw(lang).get("greeting", ())])
    # A Latin name ends at a word's edge; a Chinese one runs straight into the request.
    return re.compile(
        rf"(?:(?:{greeting})[\s,\uff0c]*)?(?:{longest_first(names)})"
        rf"(?:(?<=[^\x00-\x7f])|(?![\w'-]))[\s,:!.\uff0c\uff1a\uff01\u3002]*",
        re.IGNORECASE,
    )


@cache
def _rewrites(lang: Lang) -> tuple[tuple[re.Pattern[str], str], ...]:
    """Spoken amounts as numbers (daemon/data/lang: `rewrites`)."""
    return tuple((re.compile(p, re.IGNORECASE), r) for p, r in _raw(lang).get("rewrites", ()))


def suspicious(text: str) -> bool:
    """Text that talks to the assistant about its rules or output: never a clear command."""
    low = text.lower()
    return bool(grammar("en").injection.search(low) or grammar("zh").injection.search(low))


@cache
def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """Where a lower-cased name stands in lower-cased text: as whole words (a plural
    allowed) for Latin script, as a substring for Chinese. Compiled once per name."""
    if not phrase.isascii():
        return re.compile(re.escape(phrase))
    # Edges of Latin words, not \b: a Chinese character is a word character too, and
    # mixed requests put English names right against it ("ba aircon tiao dao 23 du").
    return re.compile(rf"(?<![a-z0-9_]){re.escape(phrase)}(?:s|es)?(?![a-z0-9_])")


@cache
def _directions(lang: Lang) -> tuple[re.Pattern[str], re.Pattern[str]]:
    raw = _raw(lang)
    spaced = lang != "zh"
    return alternation(raw["increase"], spaced), alternation(raw["decrease"], spaced)


@cache
def _deictic(lang: Lang) -> re.Pattern[str] | None:
    pattern: str = _raw(lang).get("deictic", "")
    return re.compile(pattern) if pattern else None


def without_deictic(text: str, lang: Lang) -> str:
    """`text` without the particles that point at a place ("up here", "down there";
    `deictic` in daemon/data/lang): they say no way and no verb."""
    pattern = _deictic(lang)
    return pattern.sub(" here", text.lower()) if pattern is not None else text


def direction(text: str, lang: Lang) -> int | None:
    """+1 or -1 when the request's comparatives say one way only ("a touch quieter",
    "warmer"; `increase` and `decrease` in daemon/data/lang), else None."""
    text = without_deictic(text, lang)
    up, down = _directions(lang)
    said_up, said_down = bool(up.search(text)), bool(down.search(text))
    if said_up == said_down:
        return None
    return 1 if said_up else -1
