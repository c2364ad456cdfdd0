"""Reply templates: confirmations and canned small talk, in the request's language."""

from __future__ import annotations

import pytest

from daemon.config.settings import load_settings
from daemon.core.data import load
from daemon.home.registry import Command, Decision, RangeProblem
from daemon.pipeline.engines import home_registry
from daemon.understanding.replies import Replies
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def replies() -> Replies:
    registry = home_registry(load_settings(ROOT / "config.toml"))
    return Replies(registry, {"en": {"turn_on": "Okay, {device} on."}})


def test_confirmations_name_the_device_in_the_users_language(replies: Replies) -> None:
    one = Decision.one
    assert replies.render(one("turn_on", ["kitchen_light"]), "en") == "Okay, kitchen light on."
    assert replies.render(one("set_temperature", ["thermostat"], 22), "zh") == "把空调调到22度。"
    assert "30" in replies.render(one("set_brightness", ["bedroom_light"], 30), "en")


def test_one_reply_for_several_commands_and_devices(replies: Replies) -> None:
    d = Decision(
        (
            Command("turn_off", ("tv",)),
            Command("close", ("curtains",)),
        )
    )
    assert replies.render(d, "en") == "Turning off the TV. Closing the living room curtains."
    both = replies.render(Decision.one("turn_off", ["kitchen_light", "bedroom_light"]), "zh")
    assert both == "正在关闭厨房灯和卧室灯。"
    ask = replies.render(Decision.one("clarify", ["kitchen_light", "bedroom_light"]), "en")
    assert ask == "Which one: kitchen light or bedroom light?"
    assert replies.render(Decision.one("set_color", ["bedroom_light"], "green"), "zh") == (
        "把卧室灯调成绿色。"
    )


def test_out_of_range_names_the_range(replies: Replies) -> None:
    d = Decision((Command("unknown"),), RangeProblem("set_temperature", "thermostat", 50, 5, 35,
                                                     "degrees"))  # fmt: skip
    assert replies.render(d, "en") == "Sorry, the thermostat goes from 5 to 35 degrees."
    assert replies.render(d, "zh") == "抱歉，空调的范围是5到35度。"


@pytest.mark.parametrize(
    ("text", "lang", "expect"),
    [
        ("good morning!", "en", "Good morning!"),
        ("thanks a lot", "en", "You're welcome!"),
        ("tell me a joke", "en", "UDP"),
        ("what can you do?", "en", "control"),
        ("你好", "zh", "您好"),
        ("谢谢你", "zh", "不客气"),
        ("给我讲个笑话", "zh", "笑话"),
        ("blah", "en", "help"),
    ],
)
def test_small_talk_by_topic(replies: Replies, text: str, lang: str, expect: str) -> None:
    assert expect in replies.small_talk(text, lang)


def test_every_language_can_say_everything() -> None:
    """One file holds every sentence dialogd says (command templates, the dialogue's
    lines, devices' state); a key that one language lacks would fail only when said."""
    data = load("replies.toml")
    for table in ("templates", "dialogue", "state"):
        keys = {lang: set(data[lang][table]) for lang in data}
        assert all(k == keys["en"] for k in keys.values()), (table, keys)
        assert keys["en"], table
