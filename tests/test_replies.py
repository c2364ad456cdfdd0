"""Reply templates: confirmations and canned small talk, in the request's language."""

from __future__ import annotations

import pytest

from daemon.config import load_settings
from daemon.nlu.replies import Replies
from daemon.registry import Decision, Registry
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def replies() -> Replies:
    registry = Registry.from_config(load_settings(ROOT / "config.toml").devices)
    return Replies(registry, {"en": {"turn_on": "Okay, {device} on."}})


def test_confirmations_name_the_device_in_the_users_language(replies: Replies) -> None:
    assert replies.render(Decision("turn_on", "kitchen_light"), "en") == "Okay, kitchen light on."
    assert replies.render(Decision("set_temperature", "thermostat", 22), "zh") == "把空调调到22度。"
    assert "30" in replies.render(Decision("set_brightness", "bedroom_light", 30), "en")


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
