"""Rhasspy/Hermes compatibility: dialogd's intents as Hermes messages, Hermes requests in.

Rhasspy (and Snips before it) components talk the Hermes protocol over MQTT; speaking it
lets a Rhasspy satellite, Node-RED flow or Hermes app use dialogd as its NLU and TTS. The
shapes follow Rhasspy's reference ("MQTT API") and rhasspy-hermes' message classes:

- ``hermes/nlu/query`` (in): ``{input, siteId, id, intentFilter, sessionId}``;
- ``hermes/intent/<intentName>`` (out): ``{input, intent: {intentName, confidenceScore},
  slots: [{entity, slotName, value: {kind, value}, rawValue, confidence, range?}], id,
  siteId, sessionId, customData, lang}``; ``range`` is ``{start, end}`` in the input;
- ``hermes/nlu/intentNotRecognized`` (out): ``{input, siteId, sessionId, id}``;
- ``hermes/tts/say`` (in): ``{text, lang, id, siteId, sessionId}``;
- ``hermes/tts/sayFinished`` (out): ``{id, siteId, sessionId}``.

Inbound payloads are untrusted: the parsers return None for anything malformed and never
raise. Hermes has no `status`, so an intent that is not to be acted on (waiting for a yes,
or refused) gives no Hermes message at all: a Hermes app acts on every intent it receives.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from daemon.core.messages import CommandOut, Intent
from daemon.core.vocabulary import UNKNOWN

SUBSCRIPTIONS = ("hermes/nlu/query", "hermes/tts/say")

INTENT_TOPIC = "hermes/intent/{}"
NOT_RECOGNIZED_TOPIC = "hermes/nlu/intentNotRecognized"
SAY_FINISHED_TOPIC = "hermes/tts/sayFinished"

# Neither engine gives a calibrated probability, so the score is fixed per engine: the
# sentence templates matched the request exactly (1.0); the model's answer was checked
# against the vocabulary and the registry but not scored, so it gets a lower, constant
# value that lets a consumer filtering on confidence tell the two apart.
CONFIDENCE: dict[str, float] = {"rules": 1.0, "model": 0.8}

_ACTIONABLE = ("decided", "confirmed")  # README, "The intent": act on these only
_MAX_ID = 128  # siteId, sessionId, id: Rhasspy uses names and UUIDs, far shorter
_MAX_LANG = 35  # the longest BCP 47 tag worth keeping
_JSON_OVERHEAD = 16_384  # other fields of a query (intentFilter...) besides its text

SlotKind = Literal["Unknown", "Number"]


@dataclass(frozen=True)
class Slot:
    """One named value of a Hermes intent."""

    entity: str
    name: str
    kind: SlotKind
    value: str | int
    raw: str
    confidence: float
    span: tuple[int, int] | None  # where `raw` is in the input, when it is there


@dataclass(frozen=True)
class NluQuery:
    """hermes/nlu/query: text to understand."""

    text: str
    site: str | None
    session: str | None
    id: str | None


@dataclass(frozen=True)
class TtsSay:
    """hermes/tts/say: text to speak."""

    text: str
    lang: str | None
    site: str | None
    session: str | None
    id: str | None


# --- out: intents --------------------------------------------------------------------


def intent_messages(intent: Intent, site: str | None = None) -> list[tuple[str, bytes]]:
    """The Hermes messages for `intent`: one hermes/intent/<action> per command, or one
    intentNotRecognized for `unknown`; none for an intent not to be acted on. `site`: the
    Hermes siteId that asked, when it was a hermes/nlu/query (else the intent's site)."""
    if intent.status not in _ACTIONABLE:
        return []
    if intent.action == UNKNOWN:
        return [not_recognized(intent.text, site or intent.site, _session(intent), intent.id)]
    out = []
    for c in _commands(intent):
        body = _intent_payload(intent, c)
        if site is not None:
            body["siteId"] = site
        out.append((INTENT_TOPIC.format(_intent_name(c.action)), _dump(body)))
    return out


def not_recognized(text: str, site: str, session: str, request_id: str) -> tuple[str, bytes]:
    """hermes/nlu/intentNotRecognized: what a Hermes dialogue manager waits for when a
    query gets no intent it may act on."""
    body = {"input": text, "siteId": site, "sessionId": session, "id": request_id}
    return NOT_RECOGNIZED_TOPIC, _dump(body)


def _commands(intent: Intent) -> list[CommandOut]:
    # `commands` always holds the first command too; an empty list (a hand-built Intent)
    # falls back to the repeated first command.
    if intent.commands:
        return intent.commands
    return [CommandOut(action=intent.action, device=intent.device, value=intent.value)]


def _intent_name(action: str) -> str:
    # Actions are snake_case words; anything else must not reach the topic as a level
    # separator or a wildcard.
    return re.sub(r"[^A-Za-z0-9_-]", "_", action) or "_"


def _session(intent: Intent) -> str:
    return intent.session or intent.id


def _intent_payload(intent: Intent, command: CommandOut) -> dict[str, Any]:
    confidence = CONFIDENCE[intent.engine]
    return {
        "input": intent.text,
        "intent": {"intentName": _intent_name(command.action), "confidenceScore": confidence},
        "slots": [_slot_json(s) for s in command_slots(intent, command)],
        "id": intent.id,
        "siteId": intent.site,
        "sessionId": _session(intent),
        "customData": None,
        "lang": intent.lang,
    }


def command_slots(intent: Intent, command: CommandOut) -> list[Slot]:
    """The slots of one command: its device(s), its value, the intent's area."""
    confidence = CONFIDENCE[intent.engine]
    slots: list[Slot] = []
    if command.device:
        devices = command.device if isinstance(command.device, str) else ",".join(command.device)
        slots.append(_slot("dialogd_device", "device", devices, intent.text, confidence))
    if command.value is not None:
        slots.append(_slot("dialogd_value", "value", command.value, intent.text, confidence))
    if intent.area:
        slots.append(_slot("dialogd_area", "area", intent.area, intent.text, confidence))
    return slots


def _slot(entity: str, name: str, value: str | int, text: str, confidence: float) -> Slot:
    raw = str(value)
    kind: SlotKind = "Number" if isinstance(value, int) else "Unknown"
    return Slot(entity, name, kind, value, raw, confidence, _span(text, raw))


def _span(text: str, raw: str) -> tuple[int, int] | None:
    # Ids are not always what was said ("kitchen_light" for "the kitchen light"): a range
    # is given only where the raw value really is in the input.
    folded_text, folded_raw = text.casefold(), raw.casefold()
    if len(folded_text) != len(text) or len(folded_raw) != len(raw):
        return None  # casefolding changed a length ("ß"): an index would be wrong
    start = folded_text.find(folded_raw)
    return None if start < 0 else (start, start + len(raw))


def _slot_json(slot: Slot) -> dict[str, Any]:
    out: dict[str, Any] = {
        "entity": slot.entity,
        "slotName": slot.name,
        "value": {"kind": slot.kind, "value": slot.value},
        "rawValue": slot.raw,
        "confidence": slot.confidence,
    }
    if slot.span is not None:
        out["range"] = {"start": slot.span[0], "end": slot.span[1]}
    return out


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


# --- out: TTS --------------------------------------------------------------------------


def say_finished(say: TtsSay) -> tuple[str, bytes]:
    """hermes/tts/sayFinished for `say`, echoing its ids so the sender can match it."""
    payload = {"id": say.id, "siteId": say.site or "default", "sessionId": say.session}
    return SAY_FINISHED_TOPIC, _dump(payload)


# --- in: untrusted payloads ------------------------------------------------------------


class _Malformed(Exception):
    """A field of an inbound payload that cannot be used; the payload is dropped."""


def parse_nlu_query(payload: bytes, max_chars: int = 400) -> NluQuery | None:
    """A hermes/nlu/query payload as an NluQuery; None when it is malformed."""
    obj = _load_object(payload, max_chars)
    if obj is None:
        return None
    try:
        return NluQuery(
            text=_text(obj, "input", max_chars),
            site=_optional(obj, "siteId", _MAX_ID),
            session=_optional(obj, "sessionId", _MAX_ID),
            id=_optional(obj, "id", _MAX_ID),
        )
    except _Malformed:
        return None


def parse_tts_say(payload: bytes, max_chars: int = 400) -> TtsSay | None:
    """A hermes/tts/say payload as a TtsSay; None when it is malformed."""
    obj = _load_object(payload, max_chars)
    if obj is None:
        return None
    try:
        return TtsSay(
            text=_text(obj, "text", max_chars),
            lang=_optional(obj, "lang", _MAX_LANG),
            site=_optional(obj, "siteId", _MAX_ID),
            session=_optional(obj, "sessionId", _MAX_ID),
            id=_optional(obj, "id", _MAX_ID),
        )
    except _Malformed:
        return None


def _load_object(payload: bytes, max_chars: int) -> dict[str, Any] | None:
    # Bound the size before parsing: a JSON escape is at most 12 bytes per character.
    if len(payload) > 12 * max(max_chars, 0) + _JSON_OVERHEAD:
        return None
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # ValueError: bad JSON
        return None
    return obj if isinstance(obj, dict) else None


def _text(obj: dict[str, Any], key: str, max_chars: int) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise _Malformed(key)
    value = value.strip()
    if not value or len(value) > max_chars or not _printable(value):
        raise _Malformed(key)
    return value


def _optional(obj: dict[str, Any], key: str, limit: int) -> str | None:
    # Rhasspy sends "" for an absent id or session: the same as none.
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit or not _printable(value):
        raise _Malformed(key)
    return value


def _printable(s: str) -> bool:
    """No control characters (as daemon.core.messages refuses them) and no unpaired
    surrogates ("\\ud800" in JSON), which UTF-8 cannot carry."""
    if any((ord(c) < 32 and c not in "\t\n\r") or 0x7F <= ord(c) < 0xA0 for c in s):
        return False
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in s)
