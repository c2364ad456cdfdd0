"""Properties that hold for any input: parsing, normalising and understanding never fail,
every decision is valid for the home, and a negated request never actuates.

Hypothesis generates the inputs; a few `@example`s pin inputs found while writing these
tests. The engine runs without the model (rules only), as the fast tests do elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from daemon.config.settings import load_settings
from daemon.core.messages import ErrorReply, Request, RequestError, parse_request, to_json
from daemon.core.vocabulary import ACTUATING, TYPES
from daemon.home.registry import Command, Decision, Registry
from daemon.pipeline.engines import home_registry
from daemon.understanding.engine import IntentEngine
from daemon.understanding.lang import detect_lang, normalize
from daemon.understanding.numbers import en_words_to_digits, zh_numbers_to_digits
from daemon.understanding.policy import Policy

HOME = Path(__file__).resolve().parent / "data" / "home.toml"
MAX_CHARS = 400

# Module-level: hypothesis' @given does not mix with function-scoped fixtures, and the
# engine costs ~0.3 s to build.
REGISTRY: Registry = home_registry(load_settings(HOME))
ENGINE = IntentEngine(REGISTRY)
POLICY = Policy(REGISTRY)

FAST = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SLOWER = settings(FAST, max_examples=400)


def _utf8(s: str | None) -> bool:
    if s is None:
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ------------------------------------------------------------------ parse_request

# Strings as JSON can carry them: lone surrogates ("\\ud800") included.
json_strings = st.text(max_size=30) | st.text(
    st.characters(categories=["Cs", "Ll", "Zs"]), max_size=8
)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | json_strings
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
# Objects with the fields parse_request reads, each of any JSON type (and sometimes absent).
request_objects = st.fixed_dictionaries(
    {},
    optional={
        "text": json_values | st.text(max_size=MAX_CHARS + 20),
        "id": json_values,
        "area": json_values | st.sampled_from(["kitchen", "", "nowhere"]),
        "extra": json_values,
    },
)


def _payloads() -> st.SearchStrategy[bytes]:
    as_json = request_objects.map(lambda o: json.dumps(o).encode())
    as_ascii_json = request_objects.map(
        lambda o: json.dumps(o, ensure_ascii=False).encode("utf-8", "surrogatepass")
    )
    json_ish = st.builds(
        lambda head, body: (head + body).encode("utf-8", "surrogatepass"),
        st.sampled_from(["{", '{"text": ', '{"text": "', " {", "[", ""]),
        st.text(max_size=60),
    )
    return st.binary(max_size=300) | as_json | as_ascii_json | json_ish | st.text().map(str.encode)


def _assert_parsed_or_refused(payload: bytes) -> None:
    try:
        req = parse_request(payload, "mqtt", MAX_CHARS, received=0.0)
    except RequestError as exc:
        # The refusal must be publishable: it becomes an ErrorReply on the error topic.
        reply = exc.reply("mqtt")
        assert isinstance(reply, ErrorReply)
        to_json(reply)
        return
    assert isinstance(req, Request)
    assert req.text and req.text == req.text.strip()
    assert len(req.text) <= MAX_CHARS
    assert not any(ord(c) < 32 and c not in "\t\n\r" for c in req.text)
    assert req.area is None or isinstance(req.area, str)
    # Everything of the request is echoed in the intent, which is published as UTF-8.
    assert _utf8(req.text) and _utf8(req.id) and _utf8(req.area), req


@SLOWER
@given(_payloads())
def test_parse_request_only_ever_raises_request_error(payload: bytes) -> None:
    _assert_parsed_or_refused(payload)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b'{"text": "lights on", "id": ' + b"7" * 5000 + b"}", id="huge-int-id"),
        pytest.param(b'{"text": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", id="deep-nesting"),
        pytest.param(b'{"text": "turn on the \\ud800 light"}', id="surrogate-in-text"),
        pytest.param(b'{"text": "", "id": "\\udfff"}', id="surrogate-in-id"),
        pytest.param(b'{"text": "hi", "area": "\\ud83d"}', id="surrogate-in-area"),
        pytest.param(b'{"text": "hi", "id": 1e400}', id="infinite-id"),
    ],
)
def test_parse_request_on_payloads_found_by_hand(payload: bytes) -> None:
    _assert_parsed_or_refused(payload)


@FAST
@given(st.text(max_size=MAX_CHARS + 50))
def test_parse_request_on_plain_text(text: str) -> None:
    _assert_parsed_or_refused(text.encode("utf-8"))


# ------------------------------------------------------------------ normalisation

NUMBER_WORDS = [
    "one", "two", "five", "eleven", "twenty", "ninety", "hundred", "and", "zero",
    "一", "二", "两", "十", "百", "零", "〇", "五", "百分之", "度", "档", "到",
]  # fmt: skip
number_soup = st.lists(st.sampled_from([*NUMBER_WORDS, " ", "x", "%", "3"]), max_size=40).map(
    "".join
)
spaced_soup = st.lists(st.sampled_from(NUMBER_WORDS), max_size=40).map(" ".join)


@FAST
@given(st.text(max_size=200) | number_soup | spaced_soup)
def test_normalisation_never_raises(text: str) -> None:
    _normalise_everything(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("一" * 5000, id="long-zh-digit-run"),
        pytest.param("hundred " * 2200, id="many-hundreds"),
        pytest.param("九百" * 3000, id="long-zh-hundreds"),
    ],
)
def test_normalisation_of_long_number_runs(text: str) -> None:
    # Longer than the default request.max_chars, which has no upper bound in the config.
    _normalise_everything(text)


def _normalise_everything(text: str) -> None:
    for lang in ("en", "zh"):
        out = normalize(text, lang)
        assert isinstance(out, str)
    assert isinstance(zh_numbers_to_digits(text), str)
    words = en_words_to_digits(text.split(" "))
    assert isinstance(words, list) and all(isinstance(w, str) for w in words)


@FAST
@given(st.lists(st.text(max_size=12) | st.sampled_from(NUMBER_WORDS), max_size=30))
def test_en_words_to_digits_on_any_word_list(words: list[str]) -> None:
    out = en_words_to_digits(words)
    assert all(isinstance(w, str) for w in out)
    assert len(out) <= len(words)


# ------------------------------------------------------------------ understanding

EN_NAMES = sorted({p for d in REGISTRY.devices for p in d.phrases if p.isascii()})
ZH_NAMES = sorted({p for d in REGISTRY.devices for p in d.phrases if not p.isascii()})
EN_PLACES = sorted(
    {p for x in (*REGISTRY.areas, *REGISTRY.floors) for p in x.phrases if p.isascii()}
)
ZH_PLACES = sorted(
    {p for x in (*REGISTRY.areas, *REGISTRY.floors) for p in x.phrases if not p.isascii()}
)
EN_VERBS = [
    "turn on", "turn off", "switch on", "switch off", "open", "close", "lock", "unlock",
    "start", "stop", "pause", "resume", "dim", "brighten", "set", "activate", "mute",
    "raise", "lower", "add milk to",
]  # fmt: skip
ZH_VERBS = [
    "打开", "关掉", "关闭", "开", "关", "锁上", "解锁", "启动", "停止", "暂停", "调到",
    "调高", "调低", "把", "设置",
]  # fmt: skip
EN_TAILS = [
    "", " please", " now", " to 20", " to 150 percent", " by 5", " to blue", " and the fan",
    " in the kitchen", " upstairs", ", then close the curtains", "?", " to speed 2",
    " to 50 degrees", " for 5 minutes",
]  # fmt: skip
ZH_TAILS = [
    "",
    "吧",
    "吗",
    "到20度",
    "调成红色",
    "百分之五十",
    "和风扇",
    "，然后关闭窗帘",
    "一下",
    "到3档",
]
AREAS = [None, *REGISTRY.area_by_id]

numbers = st.integers(-1000, 100_000).map(str)
en_sentences = st.builds(
    lambda verb, the, target, tail, n: f"{verb} {the}{target}{tail}".replace("20", n),
    st.sampled_from(EN_VERBS),
    st.sampled_from(["", "the ", "all the ", "my "]),
    st.sampled_from(EN_NAMES + EN_PLACES + ["light", "lights", "sauna"]),
    st.sampled_from(EN_TAILS),
    numbers,
)
zh_sentences = st.builds(
    lambda verb, target, tail, n: f"{verb}{target}{tail}".replace("20", n),
    st.sampled_from(ZH_VERBS),
    st.sampled_from(ZH_NAMES + ZH_PLACES + ["灯", "所有的灯", "桑拿"]),
    st.sampled_from(ZH_TAILS),
    numbers,
)
# Pieces of commands glued any which way, in either language.
pieces = st.lists(
    st.sampled_from(
        EN_VERBS + ZH_VERBS + EN_NAMES + ZH_NAMES + EN_PLACES + ZH_PLACES + EN_TAILS + ZH_TAILS
    )
    | numbers,
    max_size=8,
).map(" ".join)
any_request = st.text(max_size=120) | en_sentences | zh_sentences | pieces


def _assert_valid(text: str, area: str | None) -> Decision:
    u = ENGINE.understand(text, area)
    d = u.decision
    assert d.commands, text
    assert REGISTRY.check_decision(d) is None, (text, area, d)
    assert u.engine == "rules"
    assert u.lang in ("en", "zh") and isinstance(u.reply, str) and u.reply, (text, u)
    if d.problem is not None:
        # A refused number: one unknown, and a range that does not hold the number.
        assert [c.action for c in d.commands] == ["unknown"], d
        assert not d.problem.lo <= d.problem.value <= d.problem.hi or d.problem.value == 0, d
    return d


@SLOWER
@given(any_request, st.sampled_from(AREAS))
@example("", None)
@example("   ", "study")
@example("and and , ， 然后", None)
@example("turn on the", "kitchen")
def test_understand_never_raises_and_decides_validly(text: str, area: str | None) -> None:
    _assert_valid(text, area)


EN_NEGATIONS = ["don't", "do not", "please don't", "never", "dont"]
ZH_NEGATIONS = ["不要", "别", "千万不要", "请不要"]

en_negated = st.builds(
    lambda lead, neg, verb, the, target, tail: f"{lead}{neg} {verb} {the}{target}{tail}",
    st.sampled_from(["", "hey, ", "ok ", "no, "]),
    st.sampled_from(EN_NEGATIONS),
    st.sampled_from(EN_VERBS),
    st.sampled_from(["", "the ", "all the "]),
    st.sampled_from(EN_NAMES + EN_PLACES + ["lights"]),
    st.sampled_from(EN_TAILS),
)
zh_negated = st.builds(
    lambda lead, neg, verb, target, tail: f"{lead}{neg}{verb}{target}{tail}",
    st.sampled_from(["", "喂，", "好的，"]),
    st.sampled_from(ZH_NEGATIONS),
    st.sampled_from(ZH_VERBS),
    st.sampled_from(ZH_NAMES + ZH_PLACES + ["所有的灯"]),
    st.sampled_from(ZH_TAILS),
)


@SLOWER
@given(en_negated | zh_negated, st.sampled_from(AREAS))
def test_a_negated_request_never_actuates(text: str, area: str | None) -> None:
    d = _assert_valid(text, area)
    acting = [c for c in d.commands if c.action in ACTUATING]
    if "close the curtains" in text or "关闭窗帘" in text:
        # A negation is scoped to its own clause: the clause after it may still act.
        acting = [c for c in acting if c != Command("close", ("curtains",))]
    assert not acting, (text, area, d)


# Every valid actuating command of the home, for the policy to be handed.
ACTUATIONS: list[Command] = []
for _dev in REGISTRY.devices:
    for _action in _dev.actions:
        _value: Any = None
        _rule = REGISTRY.rule(_action, _dev.id)
        if _rule is not None:
            _value = _rule.default_step or _rule.lo or 1
        elif _action == "set_color":
            _value = "red"
        elif _action == "add_item":
            _value = "milk"
        _cmd = Command(_action, (_dev.id,), _value)
        if REGISTRY.check(_cmd) is None:
            ACTUATIONS.append(_cmd)

# The negation in either language, with device names in either language: mixed requests
# ("don't turn on the 厨房灯") happen with bilingual households and speech recognisers.
mixed_negated = st.builds(
    lambda neg, verb, target: f"{neg} {verb} the {target}",
    st.sampled_from(EN_NEGATIONS),
    st.sampled_from(EN_VERBS),
    st.sampled_from(EN_NAMES + ZH_NAMES),
) | st.builds(
    lambda neg, verb, target: f"{neg}{verb}{target}",
    st.sampled_from(ZH_NEGATIONS),
    st.sampled_from(ZH_VERBS + [f"{v} " for v in EN_VERBS]),
    st.sampled_from(EN_NAMES + ZH_NAMES),
)


@SLOWER
@given(
    en_negated | zh_negated | mixed_negated,
    st.sampled_from(ACTUATIONS),
    st.sampled_from(["rules", "model"]),
)
def test_policy_never_lets_a_negated_request_actuate(
    text: str, command: Command, engine: str
) -> None:
    out = POLICY.apply(Decision((command,)), text, detect_lang(text), engine)
    assert not [c for c in out.commands if c.action in ACTUATING], (text, command, out)
    assert REGISTRY.check_decision(out) is None


def test_every_action_of_the_vocabulary_is_handed_to_the_policy() -> None:
    # The ACTUATIONS above cover what the home offers (a sanity check of the generator).
    offered = {a for d in REGISTRY.devices for a in d.actions}
    assert {c.action for c in ACTUATIONS} == offered
    assert offered <= {a for actions in TYPES.values() for a in actions}


@pytest.mark.parametrize("area", AREAS)
def test_every_device_name_alone_gives_a_valid_decision(area: str | None) -> None:
    for phrase in EN_NAMES + ZH_NAMES + EN_PLACES + ZH_PLACES:
        _assert_valid(phrase, area)
