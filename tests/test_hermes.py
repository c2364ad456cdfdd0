"""Rhasspy/Hermes compatibility: dialogd's intents as exactly the documented Hermes
messages, and untrusted hermes/nlu/query and hermes/tts/say payloads refused without
raising."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.channels.hermes import (
    SUBSCRIPTIONS,
    NluQuery,
    TtsSay,
    intent_messages,
    parse_nlu_query,
    parse_tts_say,
    say_finished,
)
from daemon.core.messages import CommandOut, DeviceRef, Intent, Step
from daemon.core.vocabulary import Value

NONE = type(None)
Table = dict[str, tuple[tuple[type, ...], bool]]  # field: (JSON types, required)

# The documented fields (Rhasspy reference "MQTT API", rhasspy-hermes nlu.py/intent.py/
# tts.py, Snips' Hermes reference), not what dialogd happens to send.
INTENT: Table = {
    "input": ((str,), True),
    "intent": ((dict,), True),
    "slots": ((list,), True),
    "id": ((str, NONE), False),
    "siteId": ((str,), True),
    "sessionId": ((str, NONE), False),
    "customData": ((str, NONE), False),
    "asrTokens": ((list,), False),
    "asrConfidence": ((float, NONE), False),
    "rawInput": ((str,), False),
    "wakewordId": ((str, NONE), False),
    "lang": ((str, NONE), False),
}
INTENT_NAME: Table = {
    "intentName": ((str,), True),
    "confidenceScore": ((float,), True),
}
SLOT: Table = {
    "entity": ((str,), True),
    "slotName": ((str,), True),
    "value": ((dict,), True),
    "rawValue": ((str,), True),
    "confidence": ((float,), False),
    "range": ((dict,), False),
}
SLOT_VALUE: Table = {
    "kind": ((str,), True),
    "value": ((str, int, float), True),
}
SLOT_RANGE: Table = {
    "start": ((int,), True),
    "end": ((int,), True),
    "rawStart": ((int,), False),
    "rawEnd": ((int,), False),
}
NOT_RECOGNIZED: Table = {
    "input": ((str,), True),
    "siteId": ((str,), True),
    "id": ((str, NONE), False),
    "sessionId": ((str, NONE), False),
    "customData": ((str, NONE), False),
}
SAY_FINISHED: Table = {
    "id": ((str, NONE), False),
    "siteId": ((str,), True),
    "sessionId": ((str, NONE), False),
}


def check(obj: Any, table: Table) -> None:
    """`obj` carries only documented fields, every required one, each of its type."""
    assert isinstance(obj, dict)
    assert set(obj) <= set(table), set(obj) - set(table)
    for key, (types, required) in table.items():
        if key not in obj:
            assert not required, f"{key} is required"
            continue
        value = obj[key]
        # JSON has no bool-as-number: True is not an int here.
        assert isinstance(value, types) and (bool in types or not isinstance(value, bool)), (
            key,
            value,
        )


def check_intent(payload: bytes) -> dict[str, Any]:
    obj = json.loads(payload)
    check(obj, INTENT)
    check(obj["intent"], INTENT_NAME)
    for slot in obj["slots"]:
        check(slot, SLOT)
        check(slot["value"], SLOT_VALUE)
        if "range" in slot:
            check(slot["range"], SLOT_RANGE)
    assert isinstance(obj, dict)
    return obj


def cmd(action: str, device: DeviceRef = None, value: Value = None) -> CommandOut:
    return CommandOut(action=action, device=device, value=value)


def make_intent(
    text: str,
    *commands: CommandOut,
    engine: str = "rules",
    area: str | None = None,
    session: str = "",
    status: str = "decided",
) -> Intent:
    first = commands[0]
    steps = [
        Step(action=c.action, device=d, value=c.value)
        for c in commands
        for d in ([c.device] if not isinstance(c.device, list) else c.device)
    ]
    return Intent.model_validate(
        {
            "id": "req42",
            "ts": "2025-01-01T00:00:00.000Z",
            "site": "kitchen",
            "source": "mqtt",
            "text": text,
            "area": area,
            "action": first.action,
            "device": first.device,
            "value": first.value,
            "commands": list(commands),
            "steps": steps,
            "reply": "OK.",
            "lang": "en",
            "latency_ms": 12,
            "engine": engine,
            "session": session,
            "status": status,
        }
    )


def slots_by_name(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["slotName"]: s for s in obj["slots"]}


# --- intents out -----------------------------------------------------------------------


def test_simple_intent() -> None:
    msgs = intent_messages(
        make_intent("turn on the kitchen light", cmd("turn_on", "kitchen_light"))
    )
    assert [t for t, _ in msgs] == ["hermes/intent/turn_on"]
    obj = check_intent(msgs[0][1])
    assert obj["input"] == "turn on the kitchen light"
    assert obj["intent"] == {"intentName": "turn_on", "confidenceScore": 1.0}
    assert obj["siteId"] == "kitchen"
    assert obj["sessionId"] == "req42"  # no session: the request's id
    assert obj["id"] == "req42"
    assert obj["customData"] is None
    device = slots_by_name(obj)["device"]
    assert device["entity"] == "dialogd_device"
    assert device["value"] == {"kind": "Unknown", "value": "kitchen_light"}
    assert device["rawValue"] == "kitchen_light"
    assert "range" not in device  # the id is not in the input


def test_compound_intent_gives_one_message_per_command() -> None:
    intent = make_intent(
        "turn off the tv and set the lamp to 40 percent",
        cmd("turn_off", "tv"),
        cmd("set_brightness", "lamp", 40),
    )
    msgs = intent_messages(intent)
    assert [t for t, _ in msgs] == ["hermes/intent/turn_off", "hermes/intent/set_brightness"]
    first, second = (check_intent(p) for _, p in msgs)
    assert set(slots_by_name(first)) == {"device"}
    assert slots_by_name(first)["device"]["value"]["value"] == "tv"
    value = slots_by_name(second)["value"]
    assert value["value"] == {"kind": "Number", "value": 40}
    assert value["rawValue"] == "40"
    start, end = value["range"]["start"], value["range"]["end"]
    assert intent.text[start:end] == "40"
    assert first["input"] == second["input"] == intent.text


def test_device_list_is_joined_and_area_is_a_slot() -> None:
    intent = make_intent(
        "turn off the lights in the hall",
        cmd("turn_off", ["hall_1", "hall_2"]),
        area="hall",
        session="s-1",
    )
    obj = check_intent(intent_messages(intent)[0][1])
    slots = slots_by_name(obj)
    assert slots["device"]["value"]["value"] == "hall_1,hall_2"
    assert slots["area"]["value"] == {"kind": "Unknown", "value": "hall"}
    assert intent.text[slots["area"]["range"]["start"] : slots["area"]["range"]["end"]] == "hall"
    assert obj["sessionId"] == "s-1"


def test_colour_value_is_not_a_number() -> None:
    intent = make_intent("make the lamp red", cmd("set_color", "lamp", "red"))
    value = slots_by_name(check_intent(intent_messages(intent)[0][1]))["value"]
    assert value["value"] == {"kind": "Unknown", "value": "red"}


@pytest.mark.parametrize(("engine", "score"), [("rules", 1.0), ("model", 0.8)])
def test_confidence_per_engine(engine: str, score: float) -> None:
    intent = make_intent("lock the door", cmd("lock", "door"), engine=engine)
    obj = check_intent(intent_messages(intent)[0][1])
    assert obj["intent"]["confidenceScore"] == score
    assert all(s["confidence"] == score for s in obj["slots"])


@pytest.mark.parametrize("action", ["query", "chat", "start_timer", "clarify"])
def test_non_commands_are_intents_too(action: str) -> None:
    msgs = intent_messages(make_intent("hello there", cmd(action)))
    assert [t for t, _ in msgs] == [f"hermes/intent/{action}"]
    assert check_intent(msgs[0][1])["slots"] == []


def test_unknown_is_not_recognized() -> None:
    msgs = intent_messages(make_intent("blorp the flurb", cmd("unknown"), session="s-9"))
    assert [t for t, _ in msgs] == ["hermes/nlu/intentNotRecognized"]
    obj = json.loads(msgs[0][1])
    check(obj, NOT_RECOGNIZED)
    assert obj == {
        "input": "blorp the flurb",
        "siteId": "kitchen",
        "sessionId": "s-9",
        "id": "req42",
    }


@pytest.mark.parametrize("status", ["needs_confirmation", "refused"])
def test_intents_not_to_act_on_give_nothing(status: str) -> None:
    intent = make_intent("unlock the door", cmd("unlock", "front_door"), status=status)
    assert intent_messages(intent) == []


def test_confirmed_intent_is_sent() -> None:
    intent = make_intent("yes", cmd("unlock", "front_door"), status="confirmed")
    assert [t for t, _ in intent_messages(intent)] == ["hermes/intent/unlock"]


def test_odd_action_cannot_escape_its_topic() -> None:
    intent = make_intent("x", cmd("a/b+#"))
    topic, payload = intent_messages(intent)[0]
    assert topic == "hermes/intent/a_b__"
    assert json.loads(payload)["intent"]["intentName"] == "a_b__"


# --- nlu/query in ------------------------------------------------------------------------


def test_subscriptions() -> None:
    assert SUBSCRIPTIONS == ("hermes/nlu/query", "hermes/tts/say")


def test_parse_nlu_query() -> None:
    payload = json.dumps(
        {
            "input": "  turn on the light ",
            "siteId": "livingroom",
            "id": "q1",
            "sessionId": "",
            "intentFilter": ["turn_on"],
        }
    ).encode()
    assert parse_nlu_query(payload) == NluQuery(
        text="turn on the light", site="livingroom", session=None, id="q1"
    )
    minimal = parse_nlu_query(b'{"input": "hi"}')
    assert minimal == NluQuery(text="hi", site=None, session=None, id=None)


MALFORMED = [
    b"",
    b"turn on the light",  # plain text: Hermes is JSON
    b"{not json",
    b"[]",
    b'"input"',
    b"null",
    b"{}",  # missing input
    b'{"text": "wrong key"}',
    b'{"input": 5}',
    b'{"input": null}',
    b'{"input": ["a"]}',
    b'{"input": ""}',
    b'{"input": "   "}',
    b'{"input": "' + b"a" * 401 + b'"}',
    b'{"input": "x", "siteId": 3}',
    b'{"input": "x", "sessionId": {"a": 1}}',
    b'{"input": "x", "id": true}',
    b'{"input": "x", "siteId": "' + b"s" * 200 + b'"}',
    b'{"input": "bell\\u0007"}',
    b'{"input": "half \\ud800 a pair"}',
    b'{"input": "x", "siteId": NaN}',
    b'{"input": "\xff\xfe"}',
    b"[" * 100_000,
    b'{"input": "x", "pad": "' + b"p" * 100_000 + b'"}',
]


@pytest.mark.parametrize("payload", MALFORMED)
def test_malformed_nlu_query_is_refused(payload: bytes) -> None:
    assert parse_nlu_query(payload) is None


def test_max_chars_is_the_limit() -> None:
    assert parse_nlu_query(b'{"input": "abcde"}', max_chars=5) is not None
    assert parse_nlu_query(b'{"input": "abcdef"}', max_chars=5) is None


# --- tts/say in, sayFinished out ---------------------------------------------------------


def test_parse_tts_say_and_say_finished() -> None:
    payload = (
        b'{"text": "Dinner is ready", "lang": "en", "id": "t1", "siteId": "hall", "sessionId": "s"}'
    )
    say = parse_tts_say(payload)
    assert say == TtsSay(text="Dinner is ready", lang="en", site="hall", session="s", id="t1")
    topic, out = say_finished(say)
    assert topic == "hermes/tts/sayFinished"
    obj = json.loads(out)
    check(obj, SAY_FINISHED)
    assert obj == {"id": "t1", "siteId": "hall", "sessionId": "s"}


def test_say_finished_without_ids() -> None:
    say = parse_tts_say(b'{"text": "hi", "lang": "", "id": ""}')
    assert say == TtsSay(text="hi", lang=None, site=None, session=None, id=None)
    obj = json.loads(say_finished(say)[1])
    check(obj, SAY_FINISHED)
    assert obj == {"id": None, "siteId": "default", "sessionId": None}


@pytest.mark.parametrize(
    "payload",
    [
        # The nlu/query cases with the key renamed; a lone "text" is right for tts/say.
        *(p.replace(b'"input"', b'"text"') for p in MALFORMED if b'"text"' not in p),
        b'{"input": "right key for nlu, wrong for tts"}',
        b'{"text": "x", "lang": 7}',
        b'{"text": "x", "lang": "' + b"l" * 50 + b'"}',
    ],
)
def test_malformed_tts_say_is_refused(payload: bytes) -> None:
    assert parse_tts_say(payload) is None


# --- properties: untrusted input never raises ---------------------------------------------


def valid_query(q: NluQuery | None, max_chars: int) -> bool:
    if q is None:
        return True
    return bool(q.text) and len(q.text) <= max_chars and q.text == q.text.strip()


@given(st.binary(max_size=2000), st.integers(min_value=-5, max_value=500))
def test_arbitrary_bytes_never_raise(payload: bytes, max_chars: int) -> None:
    assert valid_query(parse_nlu_query(payload, max_chars), max_chars)
    say = parse_tts_say(payload, max_chars)
    assert say is None or 0 < len(say.text) <= max_chars


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)
FIELDS = st.sampled_from(["input", "text", "siteId", "sessionId", "id", "lang", "intentFilter"])


@given(st.dictionaries(FIELDS, JSON, max_size=7))
def test_arbitrary_json_objects_never_raise(obj: dict[str, Any]) -> None:
    payload = json.dumps(obj).encode()
    query = parse_nlu_query(payload)
    assert valid_query(query, 400)
    if query is not None:
        assert query.text == obj["input"].strip()
        assert all(v is None or isinstance(v, str) for v in (query.site, query.session, query.id))
    say = parse_tts_say(payload)
    if say is not None:
        assert say.text == obj["text"].strip()
        check(json.loads(say_finished(say)[1]), SAY_FINISHED)
