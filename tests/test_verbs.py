"""Verbs per action, generated from Home Assistant's templates (daemon/tools/verbs.py),
and the one thing the model path does with them: never score an action whose opposite
the request says."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config.settings import load_settings
from daemon.core.vocabulary import ACTUATING, CHAT, Lang
from daemon.home.registry import Hint
from daemon.pipeline.engines import home_registry
from daemon.tools import verbs as generator
from daemon.understanding.engine import IntentEngine, Understood
from daemon.understanding.lang import direction
from daemon.understanding.llm import _Node, _said
from daemon.understanding.verbs import actions_said


def test_the_data_file_is_what_the_installed_templates_give() -> None:
    # Typed by nobody: regenerate it (python -m daemon.tools.verbs) after upgrading
    # home-assistant-intents. A newer release than the file's is not this change's
    # failure: the file's own versions say which templates it was made from.
    head = generator.OUT.read_text(encoding="utf-8").splitlines()[:2]
    made_from = generator.render().splitlines()[:2]
    if head != made_from:
        pytest.skip(f"verbs.toml was made from {head}; installed: {made_from}")
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


# ---------------------------------------------------------------- a named device's verb

HOME = Path(__file__).resolve().parent / "data" / "home.toml"


@pytest.fixture(scope="module")
def engine() -> IntentEngine:
    return IntentEngine(home_registry(load_settings(HOME)))


def _triples(u: Understood) -> list[tuple[str, tuple[str, ...]]]:
    return [(c.action, c.devices) for c in u.decision.commands]


@pytest.mark.parametrize(
    ("text", "action", "device"),
    [
        # The name first, the verb after it, words around both: no template has this order.
        ("roomba, go clean the house please", "start", "robot_vacuum"),
        ("the telly: unmute it", "unmute", "tv"),
        ("the curtains shut now", "close", "curtains"),
        ("扫地机器人赶紧开始打扫", "start", "robot_vacuum"),
    ],
)
def test_one_named_device_and_one_verb_of_its_actions_decide(
    engine: IntentEngine, text: str, action: str, device: str
) -> None:
    u = engine.understand(text)
    assert (u.engine, _triples(u)) == ("rules", [(action, (device,))])


@pytest.mark.parametrize(
    "text",
    [
        "what if the roomba went to clean",  # a hypothetical: asks for nothing
        "did the roomba go clean",  # a question: a query at most
        "don't let the roomba go clean",  # negated
    ],
)
def test_the_verb_reading_goes_through_the_one_policy(engine: IntentEngine, text: str) -> None:
    u = engine.understand(text)
    assert all(c.action not in ACTUATING for c in u.decision.commands), (text, u.decision)


def test_a_name_with_a_verb_in_it_is_no_verb(engine: IntentEngine) -> None:
    # "movie night" names a scene; none of its words is read as an action.
    u = engine.understand("movie night please")
    assert all(c.action != "start" for c in u.decision.commands)


def test_a_negation_with_nothing_else_understood_is_chat(engine: IntentEngine) -> None:
    # The rest of the request is a reason, not a command: no "I don't know that device".
    u = engine.understand("don't start the roomba, the dog is asleep")
    assert _triples(u) == [(CHAT, ())]


# ---------------------------------------------------------------- constructions


@pytest.mark.parametrize(
    ("text", "area", "action", "devices", "value"),
    [
        # A possessive on "this room" is the speaker's room, not a room the home lacks.
        ("this room's lights off", "bedroom", "turn_off", ("bedroom_light",), None),
        # No verb: a cover's number is its position ("halfway" reads as "to 50%").
        ("curtains halfway", None, "set_position", ("curtains",), 50),
        # A clause that names nothing after a negated one is about the negated one's
        # device: stop washing, stopped.
        ("洗衣机别洗了，停了吧", None, "stop", ("washing_machine",), None),
    ],
)
def test_constructions_not_sentences(
    engine: IntentEngine,
    text: str,
    area: str | None,
    action: str,
    devices: tuple[str, ...],
    value: int | None,
) -> None:
    u = engine.understand(text, area)
    assert [(c.action, c.devices, c.value) for c in u.decision.commands] == [
        (action, devices, value)
    ]


@pytest.mark.parametrize(
    ("text", "lang", "sign"),
    [
        ("a touch quieter on the speaker", "en", -1),
        ("make the hallway brighter", "en", 1),
        ("turn the volume up, no, down", "en", None),  # both: the words do not settle it
        ("把空调整凉快点", "zh", -1),
        ("楼下暖和一点", "zh", 1),
        ("打开大门", "zh", None),
    ],
)
def test_comparatives_give_the_way_a_change_goes(text: str, lang: Lang, sign: int | None) -> None:
    assert direction(text, lang) == sign
