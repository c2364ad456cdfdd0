"""List items as people say them: several in one breath, with their quantities.

"add oat milk and bananas" is two items; "gouwu qingdan jia ji ping jiangyou" (add a few
bottles of soy sauce to the shopping list) adds "jiangyou": the measure word is how
much, not what (FORMAT.md: the item as said, without articles). The words are data
(`item_separators`, `item_quantity` in daemon/data/lang).
"""

from __future__ import annotations

import re
from functools import cache

from daemon.core.vocabulary import Lang
from daemon.home.registry import Command
from daemon.understanding.lang import lexicon, marks


@cache
def _patterns(lang: Lang) -> tuple[re.Pattern[str], re.Pattern[str]]:
    lex = lexicon(lang)
    seps = re.compile("|".join(lex["item_separators"]))
    words = sorted(lex["item_quantity"], key=len, reverse=True)
    body = "|".join(f"(?:{w})" for w in words)
    lead = re.compile(rf"^(?:(?:{body})\s+)+" if lang == "en" else f"^(?:{body})+")
    return seps, lead


def items(value: str, lang: Lang) -> list[str]:
    """The items in a said item: split at its conjunctions, quantities dropped."""
    seps, lead = _patterns(lang)
    out = []
    for part in seps.split(value):
        item = lead.sub("", part.strip()).strip(" " + marks("stop", "exclamation"))
        if item and item not in out:
            out.append(item)
    return out or [value]


def expand(commands: tuple[Command, ...], lang: Lang, said: str = "") -> tuple[Command, ...]:
    """Each add_item command once per item it holds. `said`: the request, whose commas
    between items the templates do not keep ("apples, pears and milk")."""
    out: list[Command] = []
    for c in commands:
        if c.action != "add_item" or not isinstance(c.value, str):
            out.append(c)
            continue
        item_lang: Lang = "zh" if re.search(r"[\u3400-\u9fff]", c.value) else "en"
        value = _with_commas(c.value, said) if item_lang == "en" else c.value
        for item in items(value, item_lang if lang == "zh" or item_lang == "zh" else lang):
            out.append(Command(c.action, c.devices, item))
    return tuple(out)


def _with_commas(value: str, said: str) -> str:
    """`value` as `said` has it, with the commas between its words."""
    words = value.split()
    if len(words) < 2 or not said:
        return value
    pattern = r"[\s,;]+".join(re.escape(w) for w in words)
    found = re.search(pattern, said, re.IGNORECASE)
    return found.group(0) if found is not None else value
