"""Numbers spoken or typed as words, English and Chinese, turned into digits.

ASR output spells numbers out ("twenty two", "二十五"); the rest of the pipeline only
has to look for digits.
"""

from __future__ import annotations

import re

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
                        "setting", "number", "minus", "plus", "only", "just", "and"}  # fmt: skip
# Before these, "one" after a noun is a pronoun ("the downstairs one to 70").
_ONE_BEFORE = {"to", "in", "on", "at", "too", "as", "also", "please", "instead", "and", "by"}


def _pronoun_one(words: list[str], i: int) -> bool:
    before = words[i - 1].lower().strip(",")
    after = words[i + 1].lower() if i + 1 < len(words) else ""
    if before in _ONE_AS_PRONOUN:
        return True
    return before not in _ONE_AS_NUMBER_AFTER and before not in _EN_WORDS and after in _ONE_BEFORE


def en_words_to_digits(words: list[str]) -> list[str]:
    """Replace each run of English number words by its value ("twenty two" -> "22")."""
    out: list[str] = []
    i = 0
    while i < len(words):
        pronoun = words[i] == "one" and i > 0 and _pronoun_one(words, i)
        if words[i] not in _EN_WORDS or pronoun:
            out.append(words[i])
            i += 1
            continue
        total, current = 0, 0
        j = i
        while j < len(words) and j - i < 12 and words[j] in _EN_WORDS | {"and"}:
            w = words[j]
            if w == "and":
                # "one hundred and five" only; a trailing "and" belongs to the sentence.
                if not (current and j + 1 < len(words) and words[j + 1] in _EN_WORDS):
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
        total += current
        out.append(str(total))
        i = j
    return out


_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
_ZH_RUN = re.compile(r"[零〇一二两三四五六七八九十百]+")


def zh_to_int(s: str) -> int | None:
    """Chinese numeral (up to 999) to int: "二十五" -> 25, "十" -> 10, "一百" -> 100."""
    if not s or len(s) > 12:
        return None  # not a number anybody says
    if all(c in _ZH_DIGITS for c in s):
        # Digit-by-digit reading, as in "二五" for 25.
        return int("".join(str(_ZH_DIGITS[c]) for c in s))
    total, digit = 0, 0
    for c in s:
        if c in _ZH_DIGITS:
            digit = _ZH_DIGITS[c]
        elif c == "十":
            total += (digit or 1) * 10
            digit = 0
        elif c == "百":
            total += (digit or 1) * 100
            digit = 0
        else:
            return None
    return total + digit


# A lone 一/两 is more often "a bit" (一点, 一下) than a number; convert it only where a
# number is expected: after 到/为/成/之 or before a unit.
_ZH_BEFORE = "到为成至之设"
_ZH_UNITS = "度档级%分格小秒"


def zh_numbers_to_digits(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        run = m.group(0)
        before = text[m.start() - 1] if m.start() else ""
        after = text[m.end()] if m.end() < len(text) else ""
        multi = len(run) > 1 or run == "十"  # a lone 百 is a word: 百叶窗
        if not (multi or (before and before in _ZH_BEFORE) or (after and after in _ZH_UNITS)):
            return run
        value = zh_to_int(run)
        return run if value is None else str(value)

    text = re.sub(r"百分之([零〇一二两三四五六七八九十百]+|\d+)", lambda m: _pct(m.group(1)), text)
    return _ZH_RUN.sub(repl, text)


def _pct(num: str) -> str:
    value = int(num) if num.isdigit() else zh_to_int(num)
    return f"{value}%" if value is not None else num
