"""Chinese in one script: traditional characters read as simplified ones.

The grammar data, Home Assistant's zh-CN templates and the number words are simplified;
people in Taiwan and Hong Kong write traditional characters, in requests and in the
names they give their devices. Both go through OpenCC's character table (`t2s`), so
"dakai zhuwo de lengqi" written in traditional characters meets the data in simplified
ones. Simplified text comes out unchanged.
"""

from __future__ import annotations

import re
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
    """`words`, read out of `simplified(original)` with its spaces tidied, as `original`
    writes them: a list item keeps the characters and the spaces it was said with
    ("jidan" written traditionally, "liang dai Oreo")."""
    plain = simplified(original)
    # OpenCC's table maps characters one to one here; a length that changed would put
    # the span elsewhere.
    if len(plain) != len(original):
        return words
    pattern = r"\s*".join(re.escape(c) for c in words if not c.isspace())
    found = re.search(pattern, plain, re.IGNORECASE) if pattern else None
    return original[found.start() : found.end()] if found is not None else words
