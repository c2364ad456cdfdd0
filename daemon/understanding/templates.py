"""Home Assistant's sentence templates, matched with hassil: a plain blocking class.

The templates are the `home-assistant-intents` package's (about 40 intents in 60+
languages) merged with dialogd's own in `daemon/data/sentences/<language>.yaml`, which
add what dialogd's vocabulary has and the package lacks. The slot lists (device names
with their domain, areas, floors) come from the registry.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from hassil import Intents, SlotList, TextSlotList, merge_dict, recognize_best
from hassil.filter import filter_intents
from hassil.intents import RangeSlotList, TextSlotValue
from home_assistant_intents import get_intents

from daemon.core.vocabulary import Lang
from daemon.home.registry import Registry
from daemon.understanding.lang import grammar, lexicon

_LOG = logging.getLogger(__name__)

# hassil's language code per dialogd language.
HASS_LANG: dict[Lang, str] = {"en": "en", "zh": "zh-CN"}

# The domain a device's name carries into the templates: Home Assistant's domain names,
# which match dialogd's types except for lists (HA's to-do lists) and appliances.
DOMAIN_OF_TYPE = {"list": "todo"}

# Home Assistant intents that dialogd maps (see resolve.py); the rest are not loaded.
HASS_INTENTS = frozenset(
    {
        "HassTurnOn", "HassTurnOff", "HassLightSet", "HassClimateSetTemperature",
        "HassClimateGetTemperature", "HassSetVolume", "HassSetVolumeRelative",
        "HassMediaPause", "HassMediaUnpause", "HassMediaNext", "HassMediaPrevious",
        "HassMediaPlayerMute", "HassMediaPlayerUnmute", "HassVacuumStart",
        "HassVacuumReturnToBase", "HassSetPosition", "HassListAddItem",
        "HassShoppingListAddItem", "HassGetState", "HassNevermind", "HassStartTimer",
        "HassCancelTimer", "HassCancelAllTimers", "HassTimerStatus", "HassFanSetSpeed",
    }
)  # fmt: skip

# Passed as the area context when the site has none, so that templates which need an
# area ("turn on the light") still match and the resolver can ask which one.
NO_AREA = "__no_area__"

# The value of the {name} slot when a placeholder stood for the target.
PLACEHOLDER_ID = "__target__"


def _motion_verbs(data: dict[str, Any], lang: Lang) -> dict[str, re.Pattern[str]]:
    """The words of Home Assistant's `open` and `close` expansion rules, English only:
    in Chinese dakai/guan are also the words for on and off."""
    if lang != "en":
        return {}
    rules = data.get("expansion_rules", {})
    out = {}
    for action in ("open", "close"):
        words = sorted(set(re.findall(r"[a-z]{3,}", str(rules.get(action, "")))) - {"up", "down"})
        if words:
            out[action] = re.compile(rf"^(?:\w+\s+)?(?:{'|'.join(words)})\b")
    return out


def _extend(data: dict[str, Any], own: dict[str, Any]) -> None:
    """Merge dialogd's templates over Home Assistant's, in place. An intent both have
    gets dialogd's sentences besides Home Assistant's (hassil's merge_dict would replace
    the whole list); everything else merges as merge_dict does."""
    theirs = data.get("intents", {})
    for name, intent in list(own.get("intents", {}).items()):
        if name in theirs and isinstance(intent, dict) and "data" in intent:
            theirs[name]["data"] = [*theirs[name].get("data", []), *intent["data"]]
            own["intents"].pop(name)
    merge_dict(data, own)


def _digits_only(intents: Intents) -> None:
    """Numbers are matched as digits only: normalisation (lang.py) has written every
    number word as digits already, and hassil's number words cost a trie of a thousand
    spelt-out numbers per range, built by the first request that reaches one (about 0.4 s),
    and a lookup at every position a number could stand."""
    lists = [intents.slot_lists, *(d.slot_lists for i in intents.intents.values() for d in i.data)]
    for slot_lists in lists:
        for value in slot_lists.values():
            if isinstance(value, RangeSlotList):
                value.words = False


def domain_of(device_type: str) -> str:
    return DOMAIN_OF_TYPE.get(device_type, device_type)


@dataclass(frozen=True)
class Slot:
    value: Any
    text: str  # what the request said; empty when the value came from the context


@dataclass(frozen=True)
class Match:
    intent: str
    slots: dict[str, Slot]
    metadata: dict[str, Any]
    name_domain: str | None  # the domain of the matched {name}, if one was
    text: str = ""  # the clause that matched


class TemplateMatcher:
    """Matches a clause against the templates of its language."""

    def __init__(self, registry: Registry) -> None:
        t0 = time.perf_counter()
        self.registry = registry
        self._intents: dict[Lang, Intents] = {}
        # Home Assistant's own open/close verbs ("shut", "lower", "raise"), for telling
        # "shut the garage" (the door) from "turn off the garage" (everything there).
        self.motion: dict[Lang, dict[str, re.Pattern[str]]] = {}
        domains = {domain_of(d.type) for d in registry.devices}
        for lang, code in HASS_LANG.items():
            data = get_intents(code)
            if data is None:
                raise RuntimeError(f"home-assistant-intents has no {code} templates")
            self.motion[lang] = _motion_verbs(data, lang)
            own = yaml.safe_load(
                resources.files("daemon")
                .joinpath("data", "sentences", f"{code}.yaml")
                .read_text("utf-8")
            )
            _extend(data, own)
            merged = Intents.from_dict(data)
            names = {n for n in merged.intents if n in HASS_INTENTS or n.startswith("dialogd.")}
            self._intents[lang] = filter_intents(merged, domains=domains, intent_names=names)
            _digits_only(self._intents[lang])
        self._slot_lists = self._lists(registry)
        # The first match compiles hassil's internal caches: pay for it at start-up.
        for lang in HASS_LANG:
            self.match(lexicon(lang)["warmup"], lang, None)
        self.load_ms = (time.perf_counter() - t0) * 1000
        _LOG.info("sentence templates loaded in %.0f ms", self.load_ms)

    @staticmethod
    def _lists(registry: Registry) -> dict[str, list[tuple[str, TextSlotValue]]]:
        """Each slot list's values with the lower-cased phrase they match."""

        def entry(phrase: str, value: str, ctx: dict[str, Any] | None = None) -> Any:
            return phrase.casefold(), TextSlotValue.from_tuple((phrase, value, ctx or {}))

        return {
            "name": [
                entry(phrase, d.id, {"domain": domain_of(d.type)})
                for d in registry.devices
                for phrase in d.phrases
            ],
            "area": [entry(p, a.id) for a in registry.areas for p in a.phrases],
            "floor": [entry(p, f.id) for f in registry.floors for p in f.phrases],
        }

    def _lists_for(self, text: str) -> dict[str, SlotList]:
        """The slot lists narrowed to the phrases the text contains: a name that is not in
        the text cannot match, and trying every name in every template is most of
        hassil's work in a home of 150 devices."""
        low = text.casefold()
        return {
            slot: TextSlotList(name=slot, values=[v for p, v in values if p in low])
            for slot, values in self._slot_lists.items()
        }

    def match(
        self,
        text: str,
        lang: Lang,
        area: str | None,
        placeholder: tuple[str, frozenset[str]] | None = None,
    ) -> Match | None:
        """The best template match of `text`. `placeholder`: a word that stands for a
        target found apart from the templates (targets.py), with the domains of its
        devices; it matches where a device name would."""
        lists = self._lists_for(text)
        if placeholder is not None:
            word, domains = placeholder
            extra = [
                TextSlotValue.from_tuple((word, PLACEHOLDER_ID, {"domain": dom}))
                for dom in sorted(domains)
            ]
            name = lists["name"]
            assert isinstance(name, TextSlotList)
            lists["name"] = TextSlotList(name="name", values=[*name.values, *extra])
        result = recognize_best(
            text,
            self._intents[lang],
            slot_lists=lists,
            skip_words=grammar(lang).skip_words,
            intent_context={"area": area or NO_AREA},
            language=HASS_LANG[lang],
            best_slot_name="name",
        )
        if result is None:
            return None
        slots = {k: Slot(e.value, str(e.text or "").strip()) for k, e in result.entities.items()}
        if any(e.is_wildcard and not str(e.value or "").strip() for e in result.entities.values()):
            return None
        ctx = result.context or {}
        return Match(
            intent=result.intent.name,
            slots=slots,
            metadata=dict(result.intent_metadata or {}),
            name_domain=ctx.get("domain") if "name" in slots else None,
            text=text,
        )
