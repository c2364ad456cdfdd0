"""The home's own words, misheard or mistyped, spelt right again.

Speech recognisers write homophones ("deng", wait, for "deng", lamp; "shouyinji", cash
register, for "shouyinji", radio) and people mistype ("the island pennants", "the
projecter", "the shoping list"). A request that nothing understood as it was said is
tried once more with the words that sound like, or are spelt nearly like, a device,
area, floor or kind of device put back:

- Chinese: the same syllables without tones (pypinyin), character for character;
- English: a word, two or three words, or two words run together, within a small edit
  distance of a name and starting with the same letter (rapidfuzz), or sounding the same
  by Metaphone (jellyfish: "lite" for "light", "vacume" for "vacuum").

It only ever proposes a respelling; the request is then understood as usual, so a
respelled text that means nothing is no worse than the original.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from itertools import pairwise

from jellyfish import metaphone
from pypinyin import lazy_pinyin
from rapidfuzz.distance import Levenshtein

from daemon.core.vocabulary import Lang
from daemon.home.registry import Registry
from daemon.understanding.lang import lexicon

# How alike a heard word must be to a name (normalised Levenshtein similarity).
MIN_SIMILARITY = 0.75
_WORD = re.compile(r"[a-z][a-z'-]*")
_CJK = re.compile(r"[\u3400-\u9fff]")
_VOWELS = re.compile(r"[aeiouy]+")


class Respeller:
    def __init__(self, registry: Registry, kinds: Iterable[str] = ()) -> None:
        """`kinds`: the home's words for kinds of device, beyond the language's
        ("chuanglian" that several names end in)."""
        # Chinese ones only: an English head noun is a common word ("mode" of "party
        # mode" is no respelling of "more").
        phrases: set[str] = {k for k in kinds if not k.isascii()}
        for d in registry.devices:
            phrases.update(p.lower() for p in d.phrases)
        for place in (*registry.areas, *registry.floors):
            phrases.update(p.lower() for p in place.phrases)
        for lang in ("en", "zh"):
            for words in lexicon(lang)["kinds"].values():
                phrases.update(w.lower() for w in words)
        self._en = sorted(p for p in phrases if p.isascii() and len(p) >= 4)
        # What may be heard by its sound alone: names of devices and kinds, not places
        # ("stat" sounds like "study").
        self._things = {p.lower() for d in registry.devices for p in d.phrases} | {
            w.lower() for lang in ("en", "zh") for ws in lexicon(lang)["kinds"].values() for w in ws
        }
        # Words of the language that are right as they are, whatever home word they look
        # like: "the bathroom light" in a home with a bedroom is not the bedroom's.
        self._words = {w.lower() for w in lexicon("en")["rooms"]}
        self._name_words = {w for p in self._en for w in _WORD.findall(p) if len(w) >= 6}
        by_sound: dict[tuple[str, ...], str] = {}
        for p in phrases:
            if _CJK.fullmatch(p[:1] or " ") and all(_CJK.match(c) for c in p):
                by_sound.setdefault(_sound(p), p)
        self._zh = sorted(by_sound.items(), key=lambda x: -len(x[0]))

    def respell(self, text: str, lang: Lang, by_sound: bool = False) -> str:
        """`text` with misheard names put right (the same text when none are).
        `by_sound`: English words that sound like a name count too, when spelt far from
        it; common words do ("like" sounds like "lock"), so the caller only takes what
        such a respelling makes a clear command of."""
        if lang == "zh":
            return self._zh_respell(text)
        return self._en_respell(text, by_sound)

    def rejoined(self, text: str, lang: Lang) -> str:
        """`text` with two English words written apart put together where together they
        are a word of the home's names, and apart are none ("the dish washer" for the
        "dishwasher"): a recogniser's split, never a choice between two names."""
        if lang != "en" or " " not in text:
            return text
        low = text.lower()
        words = list(_WORD.finditer(low))
        out, pos = [], 0
        for a, b in pairwise(words):
            if a.start() < pos or low[a.end() : b.start()] != " ":
                continue
            joined = a.group(0) + b.group(0)
            if joined in self._name_words and f"{a.group(0)} {b.group(0)}" not in self._en:
                out.append(low[pos : a.start()] + joined)
                pos = b.end()
        return "".join(out) + low[pos:] if out else text

    # ---------------------------------------------------------------- Chinese

    def _zh_respell(self, text: str) -> str:
        chars = list(text)
        sounds = [_sound(c)[0] if _CJK.match(c) else "" for c in chars]
        i = 0
        while i < len(chars):
            for key, phrase in self._zh:
                n = len(key)
                if tuple(sounds[i : i + n]) == key and "".join(chars[i : i + n]) != phrase:
                    chars[i : i + n] = list(phrase)
                    i += n - 1
                    break
                if "".join(chars[i : i + n]) == phrase:
                    i += n - 1
                    break
            i += 1
        return "".join(chars)

    # ---------------------------------------------------------------- English

    def _en_respell(self, text: str, by_sound: bool) -> str:
        low = text.lower()
        words = [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(low)]
        out, pos, i = [], 0, 0
        while i < len(words):
            best = self._best_at(words, i, by_sound)
            if best is None:
                i += 1
                continue
            phrase, n = best
            start, end = words[i][1], words[i + n - 1][2]
            out.append(low[pos:start] + phrase)
            pos = end
            i += n
        out.append(low[pos:])
        return "".join(out)

    def _best_at(
        self, words: list[tuple[str, int, int]], i: int, by_sound: bool
    ) -> tuple[str, int] | None:
        best: tuple[float, str, int] | None = None
        for n in (3, 2, 1):
            window = [w for w, _, _ in words[i : i + n]]
            if len(window) < n:
                continue
            spaced, joined = " ".join(window), "".join(window)
            if spaced in self._en or spaced in self._words:
                return None  # said right: nothing to put back
            if n > 1 and joined in self._en:
                return joined, n  # "down stairs"
            for said in (spaced, joined):
                for phrase in self._en:
                    if phrase[0] != said[0] or abs(len(phrase) - len(said)) > 2:
                        continue
                    sim = Levenshtein.normalized_similarity(said, phrase)
                    if (
                        by_sound
                        and sim < MIN_SIMILARITY
                        and phrase in self._things
                        and _sounds_alike(said, phrase)
                    ):
                        sim = MIN_SIMILARITY
                    if sim >= MIN_SIMILARITY and (best is None or sim > best[0]):
                        best = (sim, phrase, n)
        return None if best is None else (best[1], best[2])


@lru_cache(maxsize=4096)
def _spoken(text: str) -> str:
    return " ".join(metaphone(w) for w in text.split())


def _sounds_alike(said: str, phrase: str) -> bool:
    """Two English words (or as many) that sound the same; words of four letters or
    more, so that short words ("lot", "lit") are never taken for names."""
    return (
        min(len(w) for w in said.split()) >= 4
        and _spoken(said) == _spoken(phrase)
        and _beats(said) == _beats(phrase)
    )


def _beats(text: str) -> int:
    """Syllables, roughly: groups of vowels, a final silent "e" aside ("road" has one,
    "radio" two: alike to Metaphone, not to the ear)."""
    return sum(len(_VOWELS.findall(re.sub(r"(?<=[^aeiouy])e$", "", w))) for w in text.split())


@lru_cache(maxsize=4096)
def _sound(text: str) -> tuple[str, ...]:
    return tuple(lazy_pinyin(text))
