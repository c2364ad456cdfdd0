"""Numbers spoken or typed as words, English and Chinese, turned into digits.

ASR output spells numbers out ("twenty two", "ershiwu"); the rest of the pipeline only
has to look for digits. The Chinese numerals are data (`numerals` in
daemon/data/lang/zh.toml).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from daemon.core.data import load

_EN_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
_EN_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_EN_WORDS = set(_EN_UNITS) | set(_EN_TENS) | {"hundred"}
# "the one in the bedroom", "that one": a pronoun, not a number.
_ONE_AS_PRONOUN = {
    "the", "that", "this", "which", "other", "another", "each", "every", "any", "no",
    "some", "a", "big", "small", "little", "new", "old", "right", "left",
}  # fmt: skip


# After these, "one" is a number again ("to one", "speed one").
_ONE_AS_NUMBER_AFTER = {"to", "at", "by", "for", "from", "of", "than", "speed", "level",
                        "setting", "number", "minus", "plus", "only", "just", "and",
                        "on", "is", "was", "gear", "step", "notch"}  # fmt: skip
# Before these, "one" after a noun is a pronoun ("the downstairs one to 70").
_ONE_BEFORE = {"to", "in", "on", "off", "at", "too", "as", "also", "please", "instead", "and",
               "or", "by", "is", "was", "now", "then", "first", "with",
               "lah", "leh", "lor", "ah", "hor"}  # fmt: skip


_TOKEN = re.compile(r"(\W*)([A-Za-z]+)(\W*)")
# "twenty-two": one number, written with a hyphen.
_HYPHENATED = re.compile(
    rf"\b({'|'.join(_EN_TENS)})-({'|'.join(list(_EN_UNITS)[1:10])})\b", re.IGNORECASE
)


def _unhyphenated(word: str) -> list[str]:
    split = _HYPHENATED.sub(r"\1 \2", word)
    return split.split(" ") if split != word else [word]


def _core(word: str) -> tuple[str, str, str]:
    """(leading punctuation, the word in lower case, trailing punctuation)."""
    m = _TOKEN.fullmatch(word)
    return (m.group(1), m.group(2).lower(), m.group(3)) if m else ("", word, "")


def _pronoun_one(words: list[str], i: int) -> bool:
    before = _core(words[i - 1])[1]
    after = _core(words[i + 1])[1] if i + 1 < len(words) else ""
    if before in _ONE_AS_PRONOUN:
        return True
    if before in _ONE_AS_NUMBER_AFTER or before in _EN_WORDS:
        return False
    if after in _ONE_BEFORE:
        return True
    # Last, after a determiner and a noun: "no, the bedroom one".
    last = i + 1 == len(words) or bool(_core(words[i])[2])
    return last and any(_core(w)[1] in ("the", "that", "this") for w in words[max(0, i - 3) : i])


def en_words_to_digits(words: list[str]) -> list[str]:
    """Replace each run of English number words by its value ("twenty two" -> "22";
    "Two," -> "2,": punctuation stays where it was, and ends the run)."""
    words = [w for word in words for w in _unhyphenated(word)]
    cores = [_core(w) for w in words]
    out: list[str] = []
    i = 0
    while i < len(words):
        lead, core, _ = cores[i]
        pronoun = core == "one" and i > 0 and _pronoun_one(words, i)
        if core not in _EN_WORDS or pronoun or (lead and i > 0):
            out.append(words[i])
            i += 1
            continue
        total, current = 0, 0
        j = i
        tail = ""
        while j < len(words) and j - i < 12 and cores[j][1] in _EN_WORDS | {"and"}:
            w = cores[j][1]
            if j > i and cores[j][0]:
                break  # "(two)"-like punctuation before a word starts a new run
            if w == "and":
                # "one hundred and five" only; a trailing "and" belongs to the sentence.
                if not (current and j + 1 < len(words) and cores[j + 1][1] in _EN_WORDS):
                    break
            elif w == "hundred":
                current = max(current, 1) * 100
            elif w in _EN_TENS:
                if current % 100 >= 10 or (current % 10 and current % 100 < 10):
                    break  # "twenty thirty" is two numbers
                current += _EN_TENS[w]
            else:
                if current % 10 or 10 <= current % 100 < 20:
                    break  # "two three" is two numbers
                current += _EN_UNITS[w]
            j += 1
            tail = cores[j - 1][2]
            if tail:
                break  # "two, please": the comma ends the number
        total += current
        out.append(f"{lead}{total}{tail}")
        i = j
    return out


@dataclass(frozen=True)
class _Numerals:
    digits: dict[str, int]
    ten: str
    hundred: str
    run: re.Pattern[str]  # a run of numerals
    percent: re.Pattern[str]  # "per cent" before a number, in numerals or digits
    before: str  # a lone numeral after one of these is a number
    units: str  # and before one of these
    measured: tuple[str, ...]  # and before a measure word and its unit


@cache
def _zh() -> _Numerals:
    raw = load("lang/zh.toml")["numerals"]
    numeral = "[" + re.escape("".join(raw["digits"]) + raw["ten"] + raw["hundred"]) + "]"
    return _Numerals(
        digits=dict(raw["digits"]),
        ten=raw["ten"],
        hundred=raw["hundred"],
        run=re.compile(numeral + "+"),
        percent=re.compile(re.escape(raw["percent"]) + rf"({numeral}+|\d+)"),
        before=raw["before"],
        units=raw["units"],
        measured=tuple(raw.get("measured", ())),
    )


def zh_to_int(s: str) -> int | None:
    """Chinese numeral (up to 999) to int: ershiwu -> 25, shi -> 10, yibai -> 100."""
    if not s or len(s) > 12:
        return None  # not a number anybody says
    zh = _zh()
    if all(c in zh.digits for c in s):
        # Digit-by-digit reading, as in "er wu" for 25.
        return int("".join(str(zh.digits[c]) for c in s))
    total, digit = 0, 0
    for c in s:
        if c in zh.digits:
            digit = zh.digits[c]
        elif c == zh.ten:
            total += (digit or 1) * 10
            digit = 0
        elif c == zh.hundred:
            total += (digit or 1) * 100
            digit = 0
        else:
            return None
    return total + digit


def zh_numbers_to_digits(text: str) -> str:
    zh = _zh()

    def repl(m: re.Match[str]) -> str:
        run = m.group(0)
        before = text[m.start() - 1] if m.start() else ""
        after = text[m.end()] if m.end() < len(text) else ""
        # A lone "hundred" is a word (bai in baiyechuang, blinds); a lone "one" or "two"
        # more often "a bit" than a number, unless a number is expected there.
        multi = len(run) > 1 or run == zh.ten
        measured = text.startswith(zh.measured, m.end()) if zh.measured else False
        if not (
            multi or measured or (before and before in zh.before) or (after and after in zh.units)
        ):
            return run
        value = zh_to_int(run)
        return run if value is None else str(value)

    text = zh.percent.sub(lambda m: _pct(m.group(1)), text)
    return zh.run.sub(repl, text)


def _pct(num: str) -> str:
    value = int(num) if num.isdigit() else zh_to_int(num)
    return f"{value}%" if value is not None else num


def as_spoken(words: str, original: str) -> str:
    """`words` read out of the normalised `original`, as `original` said them: a list
    item keeps "two gallons", though the matchers saw "2 gallons", and its capitals
    ("Weet-Bix"). `words` itself when `original` does not hold it."""
    word = "|".join(sorted(_EN_WORDS, key=len, reverse=True))
    number = rf"(?:\d+|(?:{word})(?:[ -](?:and )?(?:{word}))*)"
    pieces = re.split(r"(\d+)", words)
    pattern = r"\b" + "".join(
        number if p.isdigit() else r"\s+".join(map(re.escape, p.split(" "))) for p in pieces
    )
    found = re.search(pattern, original, re.IGNORECASE)
    return found.group(0) if found is not None else words
