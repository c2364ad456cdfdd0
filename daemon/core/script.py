"""Chinese in one script: traditional characters read as simplified ones.

The grammar data, Home Assistant's zh-CN templates and the number words are simplified;
people in Taiwan and Hong Kong write traditional characters, in requests and in the
names they give their devices. Both go through OpenCC's character table (`t2s`), so
"dakai zhuwo de lengqi" written in traditional characters meets the data in simplified
ones. Simplified text comes out unchanged.
"""

from __future__ import annotations

from functools import cache

import opencc


@cache
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s.json")


def simplified(text: str) -> str:
    """`text` with traditional Chinese characters as simplified ones; the rest as is."""
    if text.isascii():
        return text
    return str(_converter().convert(text))


def in_script_of(words: str, original: str) -> str:
    """`words`, read out of `simplified(original)`, as `original` writes them: a list
    item keeps the characters it was said in ("jidan" written traditionally)."""
    plain = simplified(original)
    at = plain.find(words)
    # OpenCC's table maps characters one to one here; a length that changed would put
    # the span elsewhere.
    if at < 0 or len(plain) != len(original):
        return words
    return original[at : at + len(words)]
