"""Conversations: follow-ups, questions back, confirmations, timers and their bounds.

The first part drives the Dialogue directly on the templates (no model: milliseconds);
the conversation set goes through the real model; the last part is the real `dialogd run`
on a real Mosquitto, asserting on what reaches the intent and timer topics.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.config.settings import DialogueSettings, load_settings
from daemon.core.messages import Intent, Request
from daemon.core.vocabulary import ACTUATING, Source
from daemon.dialogue.manager import Dialogue, Turn
from daemon.dialogue.timers import TimerBook
from daemon.pipeline.engines import build_engine, home_registry
from daemon.pipeline.turns import play
from daemon.tools.evaluate import evaluate, load_set
from daemon.understanding.engine import IntentEngine
from tests.conftest import Broker, DaemonProcess, Listener, need_model, write_config

DATA = Path(__file__).parent / "data"
RULES = IntentEngine(home_registry(load_settings(DATA / "home.toml")))
TEXT, INTENT, STATUS, TIMER = (f"dialogd/test/{t}" for t in ("text", "intent", "status", "timer"))


def dialogue(**cfg: object) -> Dialogue:
    s = DialogueSettings(**cfg)  # type: ignore[arg-type]
    return Dialogue(RULES, s, TimerBook(None, max_timers=s.max_timers), "test")


def say(d: Dialogue, text: str, session: str = "s", source: Source = "mqtt") -> Turn:
    return play(d, Request(text=text, source=source, id="r", session=session))


def triples(turn: Turn) -> set[tuple[str, str | None, object]]:
    return turn.understood.decision.triples()


# ------------------------------------------------------------ the dialogue alone


def test_a_question_back_is_answered_by_area_by_all_and_the_other_one() -> None:
    d = dialogue()
    asked = say(d, "turn on the light")
    assert asked.understood.decision.first.action == "clarify" and asked.expect_reply
    candidates = set(asked.understood.decision.first.devices)
    assert {"kitchen_light", "bedroom_light"} <= candidates
    assert triples(say(d, "the kitchen one")) == {("turn_on", "kitchen_light", None)}
    other = say(d, "the other one")
    assert {dev for _, dev, _ in triples(other)} == candidates - {"kitchen_light"}
    say(d, "开灯", session="zh")
    assert triples(say(d, "卧室的", session="zh")) == {("turn_on", "bedroom_light", None)}
    say(d, "turn off the light", session="all")
    assert {dev for _, dev, _ in triples(say(d, "all of them", session="all"))} == candidates


def test_answers_and_follow_ups_said_the_way_people_say_them() -> None:
    """An answer with its kind word and a preposition, or a measure word; "the other one"
    with no question asked before; a command after a question about the device; a
    correction that points back."""
    d = dialogue()
    say(d, "turn on the light")
    assert triples(say(d, "the lamp in the kitchen")) == {("turn_on", "kitchen_light", None)}
    say(d, "开灯", session="zh")
    assert triples(say(d, "厨房那盏", session="zh")) == {("turn_on", "kitchen_light", None)}
    say(d, "turn off the desk lamp", session="other")
    other = say(d, "the other one too", session="other")
    assert triples(other) == {("turn_off", "study_ceiling_light", None)}
    say(d, "is the front door locked?", session="then")
    assert triples(say(d, "then lock it", session="then")) == {("lock", "front_door_lock", None)}
    say(d, "大门锁了吗", session="na")
    assert triples(say(d, "那锁上吧", session="na")) == {("lock", "front_door_lock", None)}
    say(d, "turn on the living room light", session="no")
    assert triples(say(d, "no, the bedroom one", session="no")) == {
        ("turn_on", "bedroom_light", None)
    }
    say(d, "把灯关了", session="room")
    study = say(d, "书房", session="room")
    assert triples(study) == {
        ("turn_off", "desk_lamp", None),
        ("turn_off", "study_ceiling_light", None),
    }
    say(d, "set the bedroom light to 50 percent", session="more")
    more = say(d, "a bit more", session="more")
    assert triples(more) == {("change_brightness", "bedroom_light", 10)}
    say(d, "购物清单加牛奶", session="list")
    assert triples(say(d, "面包也加上", session="list")) == {("add_item", "shopping_list", "面包")}
    say(d, "start the robot vacuum", session="back")
    back = say(d, "no wait, send it back to base instead", session="back")
    assert triples(back) == {("return_to_base", "robot_vacuum", None)}


def test_an_answer_that_is_a_new_request_is_taken_as_one() -> None:
    d = dialogue()
    say(d, "turn on the light")
    assert triples(say(d, "turn off the tv")) == {("turn_off", "tv", None)}


def test_more_repeats_a_change_and_just_narrows_the_last_command() -> None:
    d = dialogue()
    say(d, "turn up the tv")
    assert triples(say(d, "a bit more")) == {("change_volume", "tv", 10)}
    say(d, "电视声音大一点", session="zh")
    assert triples(say(d, "再大一点", session="zh")) == {("change_volume", "tv", 10)}
    say(d, "turn off the lights downstairs", session="only")
    narrowed = say(d, "just the kitchen one", session="only")
    assert triples(narrowed) == {("turn_off", "kitchen_light", None)}
    say(d, "turn off the kitchen light", session="on")
    assert triples(say(d, "more", session="on")) != {("turn_off", "kitchen_light", None)}


def test_a_new_request_drops_a_question_back_and_is_decided() -> None:
    d = dialogue(confirm={"mqtt": "yes"})
    assert say(d, "open the garage door").status == "needs_confirmation"
    moved_on = say(d, "turn off the tv")
    assert moved_on.status == "decided" and triples(moved_on) == {("turn_off", "tv", None)}
    assert triples(say(d, "yes")) == {("chat", None, None)}  # the question is gone


def test_too_repeats_the_last_action_on_the_same_kind_of_device() -> None:
    d = dialogue()
    say(d, "turn off the kitchen light")
    assert triples(say(d, "and the bedroom too")) == {("turn_off", "bedroom_light", None)}
    say(d, "打开厨房灯", session="zh")
    assert triples(say(d, "卧室也", session="zh")) == {("turn_on", "bedroom_light", None)}


def test_sensitive_action_waits_for_yes_from_the_same_session() -> None:
    d = dialogue()
    first = say(d, "unlock the front door", session="a")
    assert first.status == "needs_confirmation" and first.expect_reply
    assert "sure" in first.understood.reply.lower()
    # Another session's yes confirms nothing: it is small talk there.
    elsewhere = say(d, "yes", session="b")
    assert elsewhere.status == "decided" and triples(elsewhere) == {("chat", None, None)}
    done = say(d, "yes", session="a")
    assert done.status == "confirmed"
    assert triples(done) == {("unlock", "front_door_lock", None)}
    # Anything but a yes drops it.
    say(d, "打开车库门", session="c")
    no = say(d, "不要", session="c")
    assert no.status == "refused" and no.understood.reply == "好的，不做了。"


def test_yes_with_nothing_pending_is_small_talk() -> None:
    turn = say(dialogue(), "yes")
    assert triples(turn) == {("chat", None, None)} and turn.status == "decided"


def test_silence_drops_a_confirmation() -> None:
    d = dialogue(confirm_s=0.2)
    assert say(d, "open the garage door").status == "needs_confirmation"
    assert d.expire() == []
    time.sleep(0.3)
    [(pending, refusal)] = d.expire()
    assert pending.decision.first.action == "open" and refusal.status == "refused"
    assert refusal.understood.reply == "OK, I won't."
    late = say(d, "yes")
    assert late.status == "decided" and triples(late) == {("chat", None, None)}


def test_pin_per_source_and_a_trusted_hub() -> None:
    d = dialogue(confirm={"voice": "pin", "mqtt": "yes"}, pin="4711", trusted_sessions=["hub"])
    asked = say(d, "unlock the front door", source="voice")
    assert asked.status == "needs_confirmation" and "PIN" in asked.understood.reply
    assert say(d, "yes", source="voice").status == "refused"  # a PIN was asked for
    say(d, "unlock the front door", source="voice")
    assert say(d, "four seven one one", source="voice").status == "confirmed"
    assert say(d, "unlock the front door", session="hub").status == "decided"


def test_a_follow_up_after_the_window_is_a_fresh_request() -> None:
    d = dialogue(followup_s=0.2)
    say(d, "turn off the kitchen light")
    assert d.focus("s") == frozenset({"kitchen_light"})
    time.sleep(0.3)
    assert d.focus("s") == frozenset()
    assert triples(say(d, "and the bedroom too")) != {("turn_off", "bedroom_light", None)}


def test_cancel_ends_the_command_not_what_it_was_about() -> None:
    d = dialogue()
    say(d, "turn off the kitchen light")
    assert triples(say(d, "never mind")) == {("cancel", None, None)}
    s = d.sessions.peek("s")
    assert s is not None and s.last is None and s.pending is None
    assert d.focus("s") == frozenset({"kitchen_light"})  # "turn it on then"
    # Nothing is left to repeat.
    assert "turn_off" not in {a for a, _, _ in triples(say(d, "the bedroom too"))}
    assert triples(say(d, "turn it on then")) == {("turn_on", "kitchen_light", None)}


def test_a_flood_of_session_ids_is_bounded() -> None:
    d = dialogue(max_sessions=50)
    for i in range(5000):
        d.after(Request(text="x", source="mqtt", session=f"flood-{i}"), RULES.understand("hello"))
    assert len(d.sessions) == 50
    assert d.sessions.peek("flood-4999") is not None and d.sessions.peek("flood-0") is None


def test_a_timer_beside_a_command_starts_with_it_and_guards_nothing_away() -> None:
    """A timer in front of a sensitive command does not skip its confirmation, and a
    timer after a command is started, once the command may go ahead."""
    d = dialogue()
    both = say(d, "set a timer for 5 minutes and unlock the front door", session="a")
    assert both.status == "needs_confirmation" and not both.timer_events
    yes = say(d, "yes", session="a")
    assert yes.status == "confirmed"
    assert [e.event for e in yes.timer_events] == ["started"]
    after = say(d, "turn off the kitchen light and set a timer for 5 minutes", session="b")
    assert after.status == "decided" and [e.event for e in after.timer_events] == ["started"]
    assert len(d.timers.running(time.time())) == 2


def test_a_named_timer_status_is_about_that_timer() -> None:
    d = dialogue()
    say(d, "set a pasta timer for 5 minutes")
    say(d, "set a tea timer for 3 minutes")
    reply = say(d, "how much time is left on the pasta timer").understood.reply
    assert "pasta" in reply and "tea" not in reply, reply


def test_timers_in_both_languages_and_their_bounds() -> None:
    d = dialogue(max_timers=2)
    started = say(d, "set a pasta timer for 5 minutes")
    assert started.status == "decided" and started.timer_events[0].event == "started"
    assert started.understood.reply == "Pasta timer set for 5 minutes."
    zh = say(d, "设一个十分钟的计时器", session="zh")
    assert zh.understood.reply == "计时器已设为10分钟。"
    status = say(d, "how much time is left on the pasta timer")
    assert "left on the pasta timer" in status.understood.reply
    too_many = say(d, "set a timer for 3 minutes")
    assert too_many.status == "refused" and too_many.understood.reply
    cancelled = say(d, "cancel the pasta timer")
    assert [e.event for e in cancelled.timer_events] == ["cancelled"]
    for text in ("set a timer for 0 seconds", "set a timer for 25 hours"):
        turn = say(d, text)
        assert triples(turn) == {("unknown", None, None)}, text
        assert "one second to 24 hours" in turn.understood.reply
    assert "二十四小时" in say(d, "设一个三十小时的计时器").understood.reply


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.sampled_from(
                [
                    "unlock the front door",
                    "open the garage door",
                    "yes",
                    "no",
                    "确定",
                    "turn on the light",
                    "the kitchen one",
                    "and the bedroom too",
                    "make it brighter",
                    "never mind",
                    "set a timer for 1 minute",
                ]
            ),
        ),
        max_size=12,
    )
)
def test_nothing_sensitive_acts_without_a_yes_in_its_own_session(
    turns: list[tuple[str, str]],
) -> None:
    d = dialogue()
    waiting: dict[str, bool] = {}
    for session, text in turns:
        turn = say(d, text, session=session)
        sensitive = any(RULES.registry.is_sensitive(c) for c in turn.understood.decision.commands)
        acting = any(c.action in ACTUATING for c in turn.understood.decision.commands)
        if turn.status == "confirmed":
            assert waiting.get(session) and text in ("yes", "确定")
        elif sensitive and acting:
            assert turn.status == "needs_confirmation"
        waiting[session] = turn.status == "needs_confirmation"


# ------------------------------------------------------- with the real model


@pytest.fixture(scope="module")
def model_engine() -> Iterator[IntentEngine]:
    need_model()
    cfg = write_config(Path("/tmp") / f"dialogue-{time.time_ns()}.toml", port=1)
    yield build_engine(load_settings(cfg))
    cfg.unlink()


def test_the_conversation_set_through_the_model(model_engine: IntentEngine) -> None:
    """tests/data/conversations.jsonl: every behaviour above, both languages (a
    regression set: written with the dialogue, not held out)."""
    items = load_set(DATA / "conversations.jsonl")
    result = evaluate(model_engine, items, "test", quiet=False)
    assert result["conversations_exact"] == result["conversations"] == len(items)
    dev = evaluate(model_engine, load_set(DATA / "dev.jsonl"), "test", quiet=True)
    assert dev["conversations_exact"] == dev["conversations"]


# ------------------------------------------- the daemon, over a real broker


@pytest.fixture
def daemon(broker: Broker, tmp_path: Path) -> Iterator[tuple[DaemonProcess, Listener, Path]]:
    need_model()
    bus = Listener(broker.port)
    cfg = write_config(tmp_path / "c.toml", port=broker.port, extra="")
    state = tmp_path / "state"
    cfg.write_text(f'state_dir = "{state}"\n' + cfg.read_text() + "\n[dialogue]\nconfirm_s = 3\n")
    d = DaemonProcess(cfg)
    bus.wait_for(STATUS, 90, lambda p: p == b"online")
    yield d, bus, cfg
    bus.close()
    d.stop()


def ask(bus: Listener, text: str, rid: str, session: str) -> Intent:
    bus.publish(TEXT, json.dumps({"text": text, "id": rid, "session": session}))
    return Intent.model_validate(bus.wait_json(INTENT, 60, id=rid))


def heard(bus: Listener, topic: str, timeout: float, **match: object) -> dict[str, object]:
    """The first message on `topic` matching `match`, however long ago it came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for t, payload in list(bus.history):
            if t == topic:
                obj = json.loads(payload)
                if all(obj.get(k) == v for k, v in match.items()):
                    return obj  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise TimeoutError(f"nothing like {match} on {topic} within {timeout}s")


def test_follow_ups_and_a_question_back_over_mqtt(
    daemon: tuple[DaemonProcess, Listener, Path],
) -> None:
    _, bus, _ = daemon
    steps = [
        ("en", "turn on the kitchen light", {("turn_on", "kitchen_light", None)}),
        ("en", "make it brighter", {("change_brightness", "kitchen_light", 10)}),
        ("en", "and the bedroom too", {("change_brightness", "bedroom_light", 10)}),
        ("zh", "打开电视", {("turn_on", "tv", None)}),
        ("zh", "声音大一点", {("change_volume", "tv", 10)}),
        ("zh", "把它关掉", {("turn_off", "tv", None)}),
    ]
    for n, (session, text, want) in enumerate(steps):
        intent = ask(bus, text, f"f{n}", session)
        assert {(s.action, s.device, s.value) for s in intent.steps} == want, text
        assert intent.session == session and intent.status == "decided"
    question = ask(bus, "turn off the light", "q1", "q")
    assert question.action == "clarify" and question.expect_reply
    answer = ask(bus, "the living room one", "q2", "q")
    assert (answer.action, answer.device) == ("turn_off", "living_room_light")


def test_confirmation_and_silence_over_mqtt(daemon: tuple[DaemonProcess, Listener, Path]) -> None:
    _, bus, _ = daemon
    asked = ask(bus, "unlock the front door", "c1", "door")
    assert (asked.status, asked.action, asked.expect_reply) == (
        "needs_confirmation",
        "unlock",
        True,
    )
    assert ask(bus, "yes", "c2", "other").action == "chat"  # not the asking session
    done = ask(bus, "yes", "c3", "door")
    assert (done.status, done.action, done.device) == ("confirmed", "unlock", "front_door_lock")

    garage = ask(bus, "open the garage door", "g1", "garage")
    assert garage.status == "needs_confirmation"
    dropped = Intent.model_validate(
        bus.wait_json(INTENT, 10, id="g1", status="refused")  # silence: confirm_s = 3
    )
    assert dropped.reply == "OK, I won't." and dropped.action == "cancel"
    seen = [Intent.model_validate_json(p) for t, p in bus.history if t == INTENT]
    opened = [i for i in seen if i.action == "open" and i.status in ("decided", "confirmed")]
    unlocked = [i for i in seen if i.action == "unlock" and i.status in ("decided", "confirmed")]
    assert not opened and [i.id for i in unlocked] == ["c3"]  # the yes is answered


def test_timers_are_announced_and_survive_a_restart(
    daemon: tuple[DaemonProcess, Listener, Path],
) -> None:
    d, bus, cfg = daemon
    ask(bus, "set a timer for 2 seconds", "t1", "kitchen")
    started = heard(bus, TIMER, 10, event="started")
    assert started["seconds"] == 2 and started["name"] is None
    finished = heard(bus, TIMER, 10, event="finished")
    assert finished["id"] == started["id"]

    ask(bus, "set a tea timer for 3 seconds", "t2", "kitchen")
    tea = heard(bus, TIMER, 10, event="started", name="tea")
    assert d.stop() == 0
    time.sleep(3.5)  # it ends while dialogd is down
    again = DaemonProcess(cfg)
    try:
        missed = heard(bus, TIMER, 90, event="finished", name="tea")
        assert missed["id"] == tea["id"]
    finally:
        again.stop()


def test_two_sites_at_once_keep_their_own_conversations(
    daemon: tuple[DaemonProcess, Listener, Path],
) -> None:
    """Two satellites (each its own session and area) talk at the same time: each
    follow-up resolves in its own conversation, and "turn on the light" in its room."""
    _, bus, _ = daemon
    sites = {"kitchen-sat": "kitchen", "bedroom-sat": "bedroom"}
    for session, area in sites.items():
        bus.publish(
            TEXT,
            json.dumps({"text": "turn on the light", "id": f"{session}-1", "session": session,
                        "area": area}),
        )  # fmt: skip
    for session, area in sites.items():
        first = Intent.model_validate(heard(bus, INTENT, 60, id=f"{session}-1"))
        assert (first.action, first.device, first.session) == ("turn_on", f"{area}_light", session)
    for session in sites:
        bus.publish(TEXT, json.dumps({"text": "make it brighter", "id": f"{session}-2",
                                      "session": session}))  # fmt: skip
    for session, area in sites.items():
        again = Intent.model_validate(heard(bus, INTENT, 60, id=f"{session}-2"))
        assert (again.action, again.device, again.value) == (
            "change_brightness",
            f"{area}_light",
            10,
        )


def test_an_unsure_model_asks_back_and_a_yes_does_it(broker: Broker, tmp_path: Path) -> None:
    """A command the model chose by too small a margin is a question back, over a real
    broker; the yes carries it out. (min_margin = 10 makes every model choice unsure.)"""
    need_model()
    bus = Listener(broker.port)
    extra = "min_margin = 10\nsensitive_margin = 10\n"
    cfg = write_config(tmp_path / "c.toml", port=broker.port, extra=extra)
    state = tmp_path / "state"
    cfg.write_text(f'state_dir = "{state}"\n' + cfg.read_text() + "\n[dialogue]\nconfirm_s = 10\n")
    d = DaemonProcess(cfg)
    try:
        bus.wait_for(STATUS, 90, lambda p: p == b"online")
        # Words no template has: the model decides.
        asked = ask(bus, "kill the sound on the telly", "u1", "sofa")
        assert asked.engine == "model" and asked.status == "needs_confirmation", asked
        assert asked.expect_reply and asked.reply.startswith("Do you want me to"), asked
        done = ask(bus, "yes", "u2", "sofa")
        assert done.status == "confirmed", done
        assert [(s.action, s.device) for s in done.steps] == [
            (s.action, s.device) for s in asked.steps
        ]
        # Nothing was decided before the yes.
        seen = [Intent.model_validate_json(p) for t, p in bus.history if t == INTENT]
        assert [i.id for i in seen if i.status in ("decided", "confirmed")] == ["u2"]
    finally:
        bus.close()
        d.stop()


@pytest.mark.parametrize(
    ("first", "then", "action"),
    [
        ("set a timer for 10 minutes", "how long is left", "timer_status"),
        ("set a timer for 10 minutes", "cancel it", "cancel_timer"),
        ("set a timer for 10 minutes", "never mind, cancel it", "cancel_timer"),
        ("设一个五分钟的计时器", "取消它", "cancel_timer"),
        ("设一个五分钟的计时器", "算了，取消吧", "cancel_timer"),
    ],
)
def test_after_talk_of_a_timer_what_names_nothing_is_about_the_timer(
    first: str, then: str, action: str
) -> None:
    d = dialogue()
    assert triples(say(d, first)) == {("start_timer", None, 600 if "10" in first else 300)}
    assert {a for a, _, _ in triples(say(d, then))} == {action}


def test_what_names_a_device_after_a_timer_is_about_the_device() -> None:
    d = dialogue()
    say(d, "set a timer for 10 minutes")
    assert triples(say(d, "turn it off, the desk lamp")) == {("turn_off", "desk_lamp", None)}
    # In another conversation "cancel it" is no timer's.
    assert triples(say(d, "cancel it", session="other")) == {("cancel", None, None)}


def test_the_other_one_is_of_the_kind_its_name_says() -> None:
    """ "另一个也开一下" after the master bedroom's air conditioner: the living room's, of
    the same head noun (kongtiao), not the floor heating, and with the turn's own verb."""
    registry = home_registry(load_settings(DATA / "probe" / "home-villa.toml"))
    s = DialogueSettings()
    d = Dialogue(IntentEngine(registry), s, TimerBook(None, max_timers=s.max_timers), "test")
    say(d, "打开主卧空调")
    say(d, "调到26度")
    assert triples(say(d, "另一个也开一下")) == {("turn_on", "living_ac", None)}


def test_follow_ups_by_place_by_kind_and_by_head_noun(tmp_path: Path) -> None:
    home = tmp_path / "home.toml"
    home.write_text(
        '[[areas]]\nid = "ann"\nname = "Ann\'s room"\n'
        '[[areas]]\nid = "den"\nname = "den"\n'
        '[[areas]]\nid = "master"\nname = "master bedroom"\n'
        '[[devices]]\nid = "ann_ac"\ntype = "climate"\nname = "Ann\'s aircon"\narea = "ann"\n'
        '[[devices]]\nid = "den_ac"\ntype = "climate"\nname = "den aircon"\narea = "den"\n'
        '[[devices]]\nid = "ann_top"\ntype = "light"\nname = "Ann\'s ceiling light"\n'
        'aliases = ["Ann房间顶灯"]\narea = "ann"\n'
        '[[devices]]\nid = "ann_desk"\ntype = "light"\nname = "Ann\'s desk lamp"\n'
        'aliases = ["Ann的台灯"]\narea = "ann"\n'
        '[[devices]]\nid = "den_desk"\ntype = "light"\nname = "den desk lamp"\n'
        'aliases = ["书房的台灯"]\narea = "den"\n'
        '[[devices]]\nid = "top"\ntype = "light"\nname = "master ceiling light"\narea = "master"\n'
        '[[devices]]\nid = "his"\ntype = "light"\nname = "his lamp"\narea = "master"\n'
        '[[devices]]\nid = "hers"\ntype = "light"\nname = "her lamp"\narea = "master"\n'
        '[[devices]]\nid = "den_fan"\ntype = "fan"\nname = "den fan"\narea = "den"\n'
        '[[devices]]\nid = "ann_fan"\ntype = "fan"\nname = "Ann\'s fan"\narea = "ann"\n'
    )
    rules = IntentEngine(home_registry(load_settings(home)))
    d = Dialogue(rules, DialogueSettings(), TimerBook(None), "test")
    # An answer that names a place with an apostrophe in it.
    assert say(d, "turn on the aircon").understood.decision.first.action == "clarify"
    assert triples(say(d, "the one in Ann's room")) == {("turn_on", "ann_ac", None)}
    # A kind said with "too", where the device talked about is; a Chinese name with
    # "de" inside it.
    assert triples(say(d, "关掉Ann房间的顶灯", session="zh")) == {("turn_off", "ann_top", None)}
    assert triples(say(d, "台灯也关掉", session="zh")) == {("turn_off", "ann_desk", None)}
    # "The other one": of the kind the name says.
    assert triples(say(d, "turn on his lamp", session="o")) == {("turn_on", "his", None)}
    assert triples(say(d, "and the other one", session="o")) == {("turn_on", "hers", None)}
    # "The one in X too": the same kind there.
    assert triples(say(d, "turn off the den fan", session="f")) == {("turn_off", "den_fan", None)}
    assert triples(say(d, "the one in Ann's room too", session="f")) == {
        ("turn_off", "ann_fan", None)
    }


def test_answers_by_a_part_of_the_name_and_follow_ups_that_say_which_way() -> None:
    d = dialogue()
    assert say(d, "turn on the light").understood.decision.first.action == "clarify"
    assert triples(say(d, "the porch one")) == {("turn_on", "porch_light", None)}
    assert say(d, "把灯打开", session="zh").understood.decision.first.action == "clarify"
    assert triples(say(d, "门廊那个", session="zh")) == {("turn_on", "porch_light", None)}
    # "zai di yidian" after setting a value: one step down, as it says.
    say(d, "把空调调到二十六度", session="t")
    assert triples(say(d, "再低一点", session="t")) == {("change_temperature", "thermostat", -1)}
    # After a list command beside another, "too" adds to the list.
    say(d, "set the heating to 22", session="l")
    say(d, "oh, and put batteries on the shopping list", session="l")
    assert triples(say(d, "light bulbs too", session="l")) == {
        ("add_item", "shopping_list", "light bulbs")
    }
    # Small talk after a command is about nothing.
    say(d, "turn off the kitchen light", session="n")
    assert "query" not in {a for a, _, _ in triples(say(d, "good night", session="n"))}


def test_them_that_one_and_a_correction_to_a_place(tmp_path: Path) -> None:
    home = tmp_path / "home.toml"
    home.write_text(
        '[[floors]]\nid = "up"\nname = "upstairs"\naliases = ["\u697c\u4e0a"]\n'
        '[[floors]]\nid = "down"\nname = "downstairs"\n'
        '[[areas]]\nid = "lounge"\nname = "lounge"\nfloor = "down"\n'
        '[[areas]]\nid = "den"\nname = "den"\nfloor = "down"\n'
        '[[areas]]\nid = "master"\nname = "master bedroom"\nfloor = "up"\n'
        '[[areas]]\nid = "yard"\nname = "yard"\n'
        '[[devices]]\nid = "lounge_main"\ntype = "light"\nname = "lounge main light"\n'
        'aliases = ["\u5ba2\u5385\u4e3b\u706f"]\narea = "lounge"\n'
        '[[devices]]\nid = "lounge_lamp"\ntype = "light"\nname = "lounge lamp"\narea = "lounge"\n'
        '[[devices]]\nid = "den_main"\ntype = "light"\nname = "den main light"\narea = "den"\n'
        '[[devices]]\nid = "master_main"\ntype = "light"\nname = "master main light"\n'
        'aliases = ["\u4e3b\u5367\u4e3b\u706f"]\narea = "master"\n'
        '[[devices]]\nid = "master_lamp"\ntype = "light"\nname = "bedside lamp"\narea = "master"\n'
        '[[devices]]\nid = "path"\ntype = "light"\nname = "path lights"\narea = "yard"\n'
        '[[devices]]\nid = "pond"\ntype = "switch"\nname = "pond pump"\narea = "yard"\n'
    )
    d = Dialogue(IntentEngine(home_registry(load_settings(home))), DialogueSettings(),
                 TimerBook(None), "test")  # fmt: skip
    # Two commands of one action: "them" is all of their devices.
    say(d, "turn on the path lights and the pond pump", session="a")
    assert triples(say(d, "now turn them off again", session="a")) == {
        ("turn_off", "path", None),
        ("turn_off", "pond", None),
    }
    # After "X too", "that one" is X; "them" still both.
    say(d, "switch the lounge main light on", session="b")
    say(d, "and the den one too", session="b")
    assert triples(say(d, "make that one dimmer", session="b")) == {
        ("change_brightness", "den_main", -10)
    }
    # A correction to another place: the same narrow kind there (a main light, not
    # every light upstairs), in Chinese with "not this one, the one upstairs".
    say(d, "\u5f00\u5ba2\u5385\u4e3b\u706f", session="c")
    assert triples(
        say(d, "\u4e0d\u662f\u8fd9\u4e2a\uff0c\u662f\u697c\u4e0a\u90a3\u4e2a", session="c")
    ) == {("turn_on", "master_main", None)}
    say(d, "turn on the lounge main light", session="e")
    assert triples(say(d, "no, the one upstairs", session="e")) == {
        ("turn_on", "master_main", None)
    }


def test_yes_words_before_another_command_steps_and_talk_about_a_device() -> None:
    d = dialogue()
    # A yes-word, then another command: a new request; the question is dropped.
    first = say(d, "unlock the front door", session="y")
    assert first.status == "needs_confirmation"
    turn = say(d, "\u597d\u4e86\uff0c\u9501\u4e0a\u5427", session="y")  # "hao le, suo shang ba"
    assert (turn.status, triples(turn)) == ("decided", {("lock", "front_door_lock", None)})
    # "A bit lower" is one step of its own; "a bit more" repeats the change.
    say(d, "\u6696\u6c14\u8c03\u4f4e\u4e24\u5ea6", session="t")
    assert triples(say(d, "\u518d\u4f4e\u4e00\u70b9", session="t")) == {
        ("change_temperature", "thermostat", -1)
    }
    say(d, "turn the tv up by 20", session="v")
    assert triples(say(d, "a bit more", session="v")) == {("change_volume", "tv", 20)}
    # Talk about a device that asks for nothing, then "then do it".
    assert triples(say(d, "\u8981\u4e0d\u8981\u5f00\u98ce\u6247\u554a", session="c")) == {
        ("chat", None, None)
    }
    assert triples(say(d, "\u90a3\u5c31\u5f00\u5427", session="c")) == {
        ("turn_on", "bedroom_fan", None)
    }
    # After "X too", a change with no pointer is about X.
    say(d, "turn on the kitchen light", session="k")
    say(d, "the bedroom too", session="k")
    assert triples(say(d, "a bit brighter", session="k")) == {
        ("change_brightness", "bedroom_light", 10)
    }


def test_what_about_another_place() -> None:
    d = dialogue()
    say(d, "is the kitchen light on?", session="q")
    assert triples(say(d, "what about the bedroom?", session="q")) == {
        ("query", "bedroom_light", None)
    }
    say(d, "turn on the kitchen light", session="c")
    assert triples(say(d, "how about the porch light", session="c")) == {
        ("turn_on", "porch_light", None)
    }


def test_rather_and_i_meant_correct_the_command_before() -> None:
    d = dialogue()
    say(d, "\u7535\u89c6\u58f0\u97f3\u5927\u4e00\u70b9", session="r")  # the TV louder
    assert triples(say(d, "\u8fd8\u662f\u9759\u97f3\u5427", session="r")) == {("mute", "tv", None)}
    say(d, "set the bedroom light to 30 percent", session="m")
    assert triples(say(d, "sorry, I meant sixty", session="m")) == {
        ("set_brightness", "bedroom_light", 60)
    }
    say(d, "add eggs to the shopping list", session="l")
    assert triples(say(d, "and Weet-Bix", session="l")) == {
        ("add_item", "shopping_list", "Weet-Bix")
    }


def test_the_part_of_a_name_and_one_and_a_place_alone_follow_up() -> None:
    d = dialogue()
    say(d, "turn on the kitchen light", session="p")
    # "the porch one": the porch light, another of the kind the last command was about.
    assert triples(say(d, "and the porch one", session="p")) == {("turn_on", "porch_light", None)}
    assert triples(say(d, "is the porch one on too?", session="p")) == {
        ("query", "porch_light", None)
    }
    say(d, "dim the bedroom light to 30", session="n")
    # A place alone decides nothing by itself: the last command, there.
    assert triples(say(d, "now the living room", session="n")) == {
        ("set_brightness", "living_room_light", 30)
    }
    # "X ne?" repeats the command; its "ne" is no question about X.
    say(d, "\u6253\u5f00\u5ba2\u5385\u706f", session="z")  # the living-room light on
    assert triples(say(d, "\u5367\u5ba4\u7684\u5462", session="z")) == {  # the bedroom's?
        ("turn_on", "bedroom_light", None)
    }
    # After a question it is still a question.
    say(d, "\u5ba2\u5385\u706f\u5f00\u7740\u5417", session="q")  # is the living-room light on
    assert triples(say(d, "\u5367\u5ba4\u7684\u5462", session="q")) == {
        ("query", "bedroom_light", None)
    }


def test_the_value_meant_and_what_an_advice_question_proposed() -> None:
    d = dialogue()
    assert triples(say(d, "set the heating to 40", session="v")) == {("unknown", None, None)}
    # Out of range, but what was meant is known: "I meant 24" corrects it.
    assert triples(say(d, "sorry, I meant 24", session="v")) == {
        ("set_temperature", "thermostat", 24)
    }
    assert triples(say(d, "make that 22", session="v")) == {("set_temperature", "thermostat", 22)}
    # An advice question asks nothing; a yes after it asks for what it proposed.
    assert triples(say(d, "should I turn the fan on?", session="a")) == {("chat", None, None)}
    assert triples(say(d, "go on then, do it", session="a")) == {("turn_on", "bedroom_fan", None)}
    # Hearsay proposes nothing.
    say(d, "my wife said to turn the fan on", session="h")
    assert triples(say(d, "yes", session="h")) == {("chat", None, None)}


def test_stop_halts_what_moves_and_a_lone_item_goes_on_the_list_talked_about() -> None:
    d = dialogue()
    say(d, "close the curtains", session="c")
    assert triples(say(d, "stop, stop!", session="c")) == {("stop", "curtains", None)}
    say(d, "turn on the kitchen light", session="l")
    # Nothing moves on: "stop" does not switch the light.
    assert not {a for a, _, _ in triples(say(d, "stop", session="l"))} & {"stop", "turn_off"}
    say(d, "what's on the shopping list?", session="s")
    assert triples(say(d, "add bin bags", session="s")) == {
        ("add_item", "shopping_list", "bin bags")
    }


def test_answers_by_a_word_of_the_place_with_particles_and_max_it(tmp_path: Path) -> None:
    home = tmp_path / "home.toml"
    home.write_text(
        """
[[areas]]
id = "common_toilet"
name = "common toilet"

[[areas]]
id = "master_toilet"
name = "master toilet"

[[devices]]
id = "common_light"
type = "light"
name = "common toilet light"
area = "common_toilet"

[[devices]]
id = "master_light"
type = "light"
name = "master toilet light"
area = "master_toilet"

[[devices]]
id = "fan"
type = "fan"
name = "fan"
speeds = 5
""",
        encoding="utf-8",
    )
    engine = IntentEngine(home_registry(load_settings(home)))
    d = Dialogue(engine, DialogueSettings(), TimerBook(None), "site")
    asked = say(d, "off the toilet light", session="t").understood.decision.first
    assert asked.action == "clarify" and set(asked.devices) == {"common_light", "master_light"}
    assert triples(say(d, "the common one", session="t")) == {("turn_off", "common_light", None)}
    say(d, "off the toilet light", session="b")
    assert triples(say(d, "both lah", session="b")) == {
        ("turn_off", "common_light", None),
        ("turn_off", "master_light", None),
    }
    say(d, "eh on the fan", session="f")
    assert triples(say(d, "max it", session="f")) == {("set_speed", "fan", 5)}
