"""Properties of the engine (rules only, no model) over random homes (tests/homegen.py).

a. A request that names a device by its exact name (or alias) with a template verb
   decides that device, and only it: "turn on the {name}", "open the {name}",
   "lock the {name}", "打开{中文名}", "关闭{中文名}".
b. A negated or reported request never actuates: "don't turn on the {name}", "he said to
   unlock the {name}", "别打开{name}", "他说要关掉{name}".
c. The engine never raises, and every decision is valid for the home (check_decision).

Building an engine costs ~0.3 s (the hassil templates), so each example is one home and
the examples are few; each checks many devices of its home. Seeded homes of 150 devices
check the largest size that hypothesis' examples rarely reach.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from daemon.core.vocabulary import ACTUATING, TYPES
from daemon.home.registry import DeviceInfo, Registry
from daemon.understanding.engine import IntentEngine
from tests.homegen import describe, en_phrase, homes, random_home, zh_phrase

# No shrinking: every step would build another engine (minutes for one failure). A failure
# names the utterances that failed instead; note() lists the home.
PROPERTY = settings(
    max_examples=int(os.environ.get("DIALOGD_PROPERTY_EXAMPLES", "20")),
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SEEDS = (0, 1, 2)

# Per type: (English verb, action) and (Chinese verb, action) that name the action exactly.
EN_VERBS: dict[str, tuple[tuple[str, str], ...]] = {
    "light": (("turn on", "turn_on"), ("turn off", "turn_off")),
    "switch": (("turn on", "turn_on"), ("turn off", "turn_off")),
    "fan": (("turn on", "turn_on"), ("turn off", "turn_off")),
    "cover": (("open", "open"), ("close", "close")),
    "lock": (("lock", "lock"), ("unlock", "unlock")),
}
ZH_VERBS: dict[str, tuple[tuple[str, str], ...]] = {
    "light": (("打开", "turn_on"), ("关闭", "turn_off")),
    "switch": (("打开", "turn_on"), ("关闭", "turn_off")),
    "fan": (("打开", "turn_on"), ("关闭", "turn_off")),
    "cover": (("打开", "open"), ("关闭", "close")),
}

EN_FRAMES = (
    "don't {verb} the {name}",
    "do not {verb} the {name}",
    "please don't {verb} the {name}",
    "he said to {verb} the {name}",
    "my friend told me to {verb} the {name}",
    "never {verb} the {name}",
    "don't {verb} the {name} yet",
    "she asked me to {verb} the {name}",
)
ZH_FRAMES = (
    "别{verb}{name}",
    "不要{verb}{name}",
    "千万别{verb}{name}",
    "不用{verb}{name}",
    "他说要{verb}{name}",
    "她叫我{verb}{name}",
)
ZH_FRAME_VERBS = ("打开", "关掉")


def _engine(home: Registry) -> IntentEngine:
    note(describe(home))
    return IntentEngine(home)


def _of_types(home: Registry, types: Iterable[str]) -> list[DeviceInfo]:
    wanted = set(types)
    return [d for d in home.devices if d.type in wanted]


# ------------------------------------------------------------------ a. naming decides


def _exact_en(engine: IntentEngine, devices: Iterable[DeviceInfo]) -> list[str]:
    misses = []
    for dev in devices:
        for verb, action in EN_VERBS[dev.type]:
            text = f"{verb} the {en_phrase(dev)}"
            got = engine.understand(text).decision.triples()
            if got != {(action, dev.id, None)}:
                misses.append(f"{text!r} -> {sorted(got, key=str)} (want {action} {dev.id})")
    return misses


def _exact_zh(engine: IntentEngine, devices: Iterable[DeviceInfo]) -> list[str]:
    misses = []
    for dev in devices:
        zh = zh_phrase(dev)
        for verb, action in ZH_VERBS[dev.type] if zh else ():
            text = f"{verb}{zh}"
            got = engine.understand(text).decision.triples()
            if got != {(action, dev.id, None)}:
                misses.append(f"{text!r} -> {sorted(got, key=str)} (want {action} {dev.id})")
    return misses


@PROPERTY
@given(homes(max_devices=80))
def test_naming_a_device_in_english_decides_it(home: Registry) -> None:
    engine = _engine(home)
    misses = _exact_en(engine, _of_types(home, EN_VERBS))
    assert not misses, "\n".join(misses)


@PROPERTY
@given(homes(max_devices=80))
def test_naming_a_device_in_chinese_decides_it(home: Registry) -> None:
    engine = _engine(home)
    misses = _exact_zh(engine, _of_types(home, ZH_VERBS))
    assert not misses, "\n".join(misses)


@pytest.mark.parametrize("seed", SEEDS)
def test_naming_in_english_decides_in_big_seeded_homes(seed: int) -> None:
    home = random_home(seed, 150, 150)
    misses = _exact_en(IntentEngine(home), _of_types(home, EN_VERBS))
    assert not misses, "\n".join(misses)


@pytest.mark.parametrize("seed", SEEDS)
def test_naming_in_chinese_decides_in_big_seeded_homes(seed: int) -> None:
    home = random_home(seed, 150, 150)
    misses = _exact_zh(IntentEngine(home), _of_types(home, ZH_VERBS))
    assert not misses, "\n".join(misses)


def test_generated_homes_keep_their_promises() -> None:
    """tests/homegen.py: unique ids and phrases, no device named like a place, every
    type and option over a few seeds."""
    seen_types: set[str] = set()
    units, speeds, colors = set(), set(), set()
    for seed in range(40):
        home = random_home(seed)
        assert 5 <= len(home.devices) <= 150
        phrases = [" ".join(p.lower().split()) for d in home.devices for p in d.phrases]
        places = {p.lower() for x in (*home.areas, *home.floors) for p in x.phrases}
        assert len(set(phrases)) == len(phrases) and not set(phrases) & places
        assert len(home.by_id) == len(home.devices)
        assert {d.type for d in home.devices[:5]} == {"light", "switch", "fan", "cover", "lock"}
        seen_types |= {d.type for d in home.devices}
        units.add(home.fahrenheit)
        speeds |= {d.speeds for d in home.devices if d.type == "fan"}
        colors |= {"set_color" in d.actions for d in home.devices if d.type == "light"}
        assert all("unlock" in d.sensitive for d in home.devices if d.type == "lock")
        assert any(zh_phrase(d) for d in home.devices)
    assert seen_types == set(TYPES) and units == {True, False}
    assert speeds == {2, 3, 4, 5, 6} and colors == {True, False}


# ------------------------------------------------------------------ b. no actuation


def _actuating(engine: IntentEngine, texts: Iterable[str]) -> list[str]:
    out = []
    for text in texts:
        commands = engine.understand(text).decision.commands
        acts = [(c.action, c.devices) for c in commands if c.action in ACTUATING]
        if acts:
            out.append(f"{text!r} -> {acts}")
    return out


def _en_negated(dev: DeviceInfo) -> list[str]:
    name = en_phrase(dev)
    return [f.format(verb=v, name=name) for f in EN_FRAMES for v, _ in EN_VERBS[dev.type]]


def _zh_negated(dev: DeviceInfo) -> list[str]:
    zh = zh_phrase(dev)
    return [f.format(verb=v, name=zh) for f in ZH_FRAMES for v in ZH_FRAME_VERBS] if zh else []


def _some(devices: list[DeviceInfo]) -> st.SearchStrategy[list[DeviceInfo]]:
    return st.lists(st.sampled_from(devices), min_size=1, max_size=8, unique_by=lambda d: d.id)


@PROPERTY
@given(homes(max_devices=80), st.data())
def test_negated_or_reported_english_never_actuates(home: Registry, data: st.DataObject) -> None:
    engine = _engine(home)
    devices = data.draw(_some(_of_types(home, EN_VERBS)), label="devices")
    bad = _actuating(engine, (t for d in devices for t in _en_negated(d)))
    assert not bad, "\n".join(bad)


@PROPERTY
@given(homes(max_devices=80), st.data())
def test_negated_or_reported_chinese_never_actuates(home: Registry, data: st.DataObject) -> None:
    engine = _engine(home)
    devices = data.draw(_some(_of_types(home, ZH_VERBS)), label="devices")
    bad = _actuating(engine, (t for d in devices for t in _zh_negated(d)))
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------ c. valid, never raises

WORDS = (
    "turn on", "turn off", "open", "close", "lock", "unlock", "set", "make", "the", "all",
    "lights", "to", "50", "percent", "degrees", "brighter", "warmer", "speed", "and",
    "in", "it", "please", "don't", "is", "what", "red", "add", "milk", "timer", "minutes",
    "打开", "关掉", "把", "调到", "度", "所有", "灯", "吗", "别", "和", "一点",
)  # fmt: skip


def _texts(home: Registry) -> st.SearchStrategy[list[str]]:
    names = sorted({p for d in home.devices for p in d.phrases})
    places = sorted({p for x in (*home.areas, *home.floors) for p in x.phrases})
    token = st.sampled_from(WORDS) | st.sampled_from(names) | st.sampled_from(places)
    soup = st.tuples(st.lists(token, min_size=1, max_size=8), st.sampled_from([" ", ""]))
    text = soup.map(lambda t: t[1].join(t[0])) | st.text(max_size=40)
    return st.lists(text, min_size=1, max_size=12)


@PROPERTY
@given(homes(max_devices=80), st.data())
def test_any_request_gives_a_valid_decision(home: Registry, data: st.DataObject) -> None:
    engine = _engine(home)
    areas = st.none() | st.sampled_from([a.id for a in home.areas])
    focus = st.frozensets(st.sampled_from([d.id for d in home.devices]), max_size=3)
    for text in data.draw(_texts(home), label="texts"):
        area, about = data.draw(areas, label="area"), data.draw(focus, label="focus")
        decision = engine.understand(text, area, about).decision
        assert home.check_decision(decision) is None, (text, area, about, decision)
