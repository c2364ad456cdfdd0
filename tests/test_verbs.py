"""Verbs per action, generated from Home Assistant's templates (daemon/tools/verbs.py),
and the one thing the model path does with them: never score an action whose opposite
the request says."""

from __future__ import annotations

import pytest

from daemon.home.registry import Hint
from daemon.tools import verbs as generator
from daemon.understanding.llm import _Node, _said
from daemon.understanding.verbs import actions_said


def test_the_data_file_is_what_the_installed_templates_give(tmp_path: object) -> None:
    # Typed by nobody: regenerate it (python -m daemon.tools.verbs) after upgrading
    # home-assistant-intents.
    assert generator.main(["--check"]) == 0


def test_home_assistant_templates_give_each_language_its_core_verbs() -> None:
    en, zh = generator.verbs_for("en"), generator.verbs_for("zh")
    assert {"unlock"} <= set(en["unlock"]) and "unmute" in en["unmute"]
    assert {"open", "raise", "lift"} <= set(en["open"])
    assert {"close", "shut"} <= set(en["close"])
    assert "解锁" in zh["unlock"] and "取消静音" in zh["unmute"] and "暂停" in zh["pause"]


@pytest.mark.parametrize(
    ("text", "action", "opposite"),
    [
        ("unmute the tv", "unmute", "mute"),
        ("mute the telly", "mute", "unmute"),
        ("turn the porch lights off", "turn_off", "turn_on"),
        ("please unlock the front door", "unlock", "lock"),
        ("shut the blinds", "close", "open"),
        ("resume the music", "resume", "pause"),
        ("取消静音", "unmute", "mute"),
        ("把门解锁", "unlock", "lock"),
    ],
)
def test_a_said_verb_rules_out_its_opposite(text: str, action: str, opposite: str) -> None:
    said = actions_said(text)
    assert said is not None and action in said and opposite not in said
    heads = [_Node(end=True, line=f"{action} x"), _Node(end=True, line=f"{opposite} x")]
    heads.append(_Node(free=True, line="chat:"))
    kept = [h.line for h in _said(heads, Hint(actions=said))]
    assert kept == [f"{action} x", "chat:"]


def test_words_that_say_no_verb_narrow_nothing() -> None:
    heads = [_Node(end=True, line="mute tv"), _Node(end=True, line="unmute tv")]
    for text in ("get the robot hoovering", "the tv please"):
        assert _said(heads, Hint(actions=actions_said(text))) == heads


def test_no_phrase_is_empty() -> None:
    # An empty phrase would be "said" by every request.
    for lang in ("en", "zh"):
        assert all(v for verbs in generator.verbs_for(lang).values() for v in verbs)
