"""The rule-based fast path and the number parsers (no model needed)."""

from __future__ import annotations

import json

import pytest

from daemon.config import load_settings
from daemon.nlu.fastpath import FastPath
from daemon.nlu.numbers import en_words_to_digits, zh_numbers_to_digits, zh_to_int
from daemon.registry import Decision, Registry
from tests.conftest import DATA, ROOT


@pytest.fixture(scope="module")
def fast() -> FastPath:
    return FastPath(Registry.from_config(load_settings(ROOT / "config.toml").devices))


def test_english_number_words() -> None:
    assert en_words_to_digits(["set", "it", "to", "twenty", "two"])[-1] == "22"
    assert en_words_to_digits(["one", "hundred", "percent"])[0] == "100"
    assert en_words_to_digits(["seventy", "five"]) == ["75"]
    assert en_words_to_digits(["two", "three"]) == ["2", "3"]


def test_chinese_numbers() -> None:
    assert zh_to_int("二十五") == 25
    assert zh_to_int("十") == 10
    assert zh_to_int("一百") == 100
    assert zh_numbers_to_digits("把卧室灯调到百分之五十") == "把卧室灯调到50%"
    assert zh_numbers_to_digits("风扇开到三档") == "风扇开到3档"
    # "一点" is "a little", not the number one.
    assert zh_numbers_to_digits("调亮一点") == "调亮一点"


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("turn on the kitchen light", Decision("turn_on", "kitchen_light")),
        ("KITCHEN LIGHTS ON", Decision("turn_on", "kitchen_light")),
        ("set the heating to twenty two degrees", Decision("set_temperature", "thermostat", 22)),
        ("unlock the door", Decision("unlock", "front_door_lock")),
        ("is the garage open", Decision("query", "garage_door")),
        ("can you lock the front door?", Decision("lock", "front_door_lock")),
        ("turn on the sauna", Decision("unknown")),
        ("switch on the coffee machine", Decision("unknown")),  # not the washing machine
        ("turn on the bathroom light", Decision("unknown")),  # a room this home lacks
        ("kick off a wash in the washer", Decision("start", "washing_machine")),
        ("把空调调到二十五度", Decision("set_temperature", "thermostat", 25)),
        ("风扇调到三档", Decision("set_speed", "bedroom_fan", 3)),
        ("打开热水器", Decision("unknown")),
        ("微波炉加热两分钟", Decision("unknown")),
        (
            "kitchen light 开一下",
            Decision("turn_on", "kitchen_light"),
        ),  # mixed languages  # no verb we know, an appliance we lack
        ("大门锁了吗", Decision("query", "front_door_lock")),
    ],
)
def test_clear_commands(fast: FastPath, text: str, expect: Decision) -> None:
    assert fast.decide(text) == expect


@pytest.mark.parametrize(
    "text",
    [
        "tell me a joke",
        "don't turn on the kitchen light",  # negation: the model decides
        "turn on the lights",  # which lights?
        "set the tv volume to 400",  # out of range: never guess
        "你好",
    ],
)
def test_unsure_goes_to_the_model(fast: FastPath, text: str) -> None:
    assert fast.decide(text) is None


def test_fast_path_is_never_wrong_on_the_dev_set(fast: FastPath) -> None:
    answered = 0
    for line in (DATA / "dev.jsonl").read_text().splitlines():
        item = json.loads(line)
        d = fast.decide(item["text"])
        if d is None:
            continue
        answered += 1
        e = item["expect"]
        assert (d.action, d.device, d.value) == (e["action"], e["device"], e["value"]), item
    assert answered >= 40
