"""What flows through dialogd: requests in, intents or errors out.

Raw payloads (bytes, dicts) are parsed into these at the edges (`parse_request`) and
serialised back at the edges (`to_json`); everything in between is typed and frozen.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from daemon.core.vocabulary import Lang, Source, Value


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Request:
    """One thing somebody asked, from any channel."""

    text: str
    source: Source
    id: str = field(default_factory=new_id)
    received: float = 0.0  # time.monotonic() at arrival, for latency_ms
    area: str | None = None  # the area the request was said in, when the caller says
    wall: float = 0.0  # time.time() at arrival: a request's age survives a restart
    # What the request path keys it by: the id, for a channel whose broker may deliver a
    # request again (so the redelivery is recognised); else unique, so that a device
    # reusing an id ("1" on every line) still gets every request answered.
    key: str = ""
    # The conversation it belongs to: the caller's `session`, else its channel's (the
    # site's for voice and MQTT text, the port's for serial); set by the dispatcher.
    session: str = ""
    # The site it came from (its topic's <site>): differs from dialogd's own when sites
    # pool their requests on a shared subscription. Empty: dialogd's own site.
    site: str = ""
    # MQTT 5 request/response: the intent also goes to `reply_to`, with `correlation`.
    reply_to: str | None = None
    correlation: bytes | None = None

    @property
    def ref(self) -> str:
        return self.key or self.id


# Act on `decided` and `confirmed` only (README: The intent).
IntentStatus = Literal["decided", "needs_confirmation", "confirmed", "refused"]
DeviceRef = str | list[str] | None


class CommandOut(BaseModel):
    """One command of an intent: an action on one or more devices."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: str = Field(description="What to do (FORMAT.md's action vocabulary).")
    device: DeviceRef = Field(
        description="null, one device id, or a list of ids (every device it applies to)."
    )
    value: Value = Field(
        description="Number, colour name or list item, as the action takes; else null."
    )
    sensitive: bool = Field(
        False, description="The action is sensitive for one of its devices (needs a confirmation)."
    )


class Step(BaseModel):
    """One action on one device: the intent flattened for simple appliances."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: str
    device: str | None
    value: Value
    sensitive: bool = False


class Intent(BaseModel):
    """A decided request: what to do (commands) and what to say (reply).

    `action`, `device` and `value` repeat the first command, so that a consumer of single
    commands needs nothing else; `commands` holds all of them, and `steps` the same
    flattened to one device each (what an ESP32 iterates over).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="The caller's correlation id, or one dialogd made up.")
    ts: str = Field(description="When the intent was decided, ISO 8601 UTC.")
    site: str = Field(description="The site the request came from (where to answer).")
    instance: str = Field(
        "",
        description=(
            "site_id of the dialogd that decided it: another site's when sites pool their "
            "requests (README: Several sites)."
        ),
    )
    source: Source = Field(description="Where the request came from.")
    text: str = Field(description="The request text as understood.")
    area: str | None = Field(
        None, description="The area the request was said in (the site's, or the caller's)."
    )
    action: str = Field(description="The first command's action.")
    device: DeviceRef = Field(description="The first command's device(s).")
    value: Value = Field(description="The first command's value.")
    sensitive: bool = Field(
        False, description="Some command is a sensitive action (unlocking, opening the garage)."
    )
    commands: list[CommandOut] = Field(description="Every command of the request, in order.")
    steps: list[Step] = Field(description="The commands flattened: one action on one device each.")
    reply: str = Field(description="A short answer to speak, in the user's language.")
    lang: Lang = Field(description="Language of the request and the reply.")
    latency_ms: int = Field(ge=0, description="From arrival to decision, milliseconds.")
    engine: Literal["rules", "model"] = Field(
        description="Which part decided: the sentence templates (rules) or the language model."
    )
    session: str = Field("", description="The conversation this request belongs to.")
    status: IntentStatus = Field(
        "decided",
        description=(
            "Act only on `decided` and `confirmed`. `needs_confirmation`: a sensitive "
            "command waits for a yes (its reply asks); `refused`: dropped (no yes, a timer "
            "out of range), nothing to do."
        ),
    )
    expect_reply: bool = Field(
        False,
        description="The reply is a question (which one? are you sure?): reopen the microphone.",
    )


ErrorKind = Literal[
    "empty",
    "too_long",
    "not_utf8",
    "control_chars",
    "bad_json",
    "model_failure",
    "busy",
    "expired",
    "shutdown",
]


class ErrorReply(BaseModel):
    """A request that could not be answered. Every refused request gets one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str | None = Field(
        description=(
            "The caller's correlation id, or one dialogd made up (as for intents); null "
            "only when the caller's id was refused (not a string or finite number)."
        )
    )
    error: ErrorKind = Field(description="What kind of failure.")
    detail: str = Field(description="A human-readable explanation.")
    source: Source = Field(description="Where the request came from.")
    ts: str = Field(default_factory=utc_now, description="ISO 8601 UTC.")


Outcome = Intent | ErrorReply


class RequestError(Exception):
    """A payload that cannot become a Request; carries what the ErrorReply needs."""

    def __init__(
        self, kind: str, detail: str, request_id: str | None = None, id_refused: bool = False
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.request_id = request_id
        self.id_refused = id_refused  # the caller's id is what was wrong: answer with none

    def reply(self, source: Source) -> ErrorReply:
        """The error, with the caller's id, or one made up if the caller gave none."""
        rid = self.request_id
        if rid is None and not self.id_refused:
            rid = new_id()
        return ErrorReply(
            id=rid,
            error=self.kind,  # type: ignore[arg-type]
            detail=self.detail,
            source=source,
        )


def parse_request(
    payload: bytes, source: Source, max_chars: int, received: float, wall: float = 0.0
) -> Request:
    """Turn a raw payload (UTF-8 text, or JSON {"text", "id"}) into a Request."""
    try:
        raw = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            "not_utf8", f"payload is not UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None
    raw = raw.strip().removeprefix("\ufeff").strip()
    req_id: str | None = None
    area: str | None = None
    session = ""
    text = raw
    if _looks_like_json(raw):
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RequestError("bad_json", f"payload looks like JSON but is not: {exc}") from None
        except (ValueError, RecursionError) as exc:  # huge numbers, deep nesting
            raise RequestError("bad_json", f"JSON payload refused: {type(exc).__name__}") from None
        if not isinstance(obj, dict):
            raise RequestError("bad_json", "JSON payload must be an object")
        rid = obj.get("id")
        if rid is not None and not _usable_id(rid):
            # NaN, Infinity, objects: no id to answer with, so the reply carries none.
            raise RequestError(
                "bad_json", '"id" must be a string or a finite number', id_refused=True
            )
        req_id = None if rid is None else _clean(str(rid))[:128]
        raw_area = obj.get("area")
        if raw_area is not None and not isinstance(raw_area, str):
            raise RequestError("bad_json", '"area" must be a string (an area id)', req_id)
        area = raw_area or None
        raw_session = obj.get("session")
        if raw_session is not None and not isinstance(raw_session, str | int):
            raise RequestError("bad_json", '"session" must be a string', req_id)
        session = _clean(str(raw_session))[:64] if raw_session not in (None, "") else ""
        field_text = obj.get("text")
        if not isinstance(field_text, str):
            raise RequestError("bad_json", 'JSON payload needs a string "text"', req_id)
        text = field_text.strip()
    if not text:
        raise RequestError("empty", "request text is empty", req_id)
    if _clean(text) != text or (area is not None and _clean(area) != area):
        raise RequestError("not_utf8", "request has unpaired surrogate characters", req_id)
    if any((ord(c) < 32 and c not in "\t\n\r") or 0x7F <= ord(c) < 0xA0 for c in text):
        raise RequestError("control_chars", "request text contains control characters", req_id)
    if len(text) > max_chars:
        raise RequestError(
            "too_long", f"request is {len(text)} characters; the limit is {max_chars}", req_id
        )
    return Request(
        text=text,
        source=source,
        id=req_id or new_id(),
        received=received,
        area=area,
        wall=wall,
        session=session,
    )


def _usable_id(rid: object) -> bool:
    if isinstance(rid, str):
        return True
    if isinstance(rid, bool):
        return False
    return isinstance(rid, int) or (isinstance(rid, float) and math.isfinite(rid))


_JSON_WORDS = {"null", "true", "false"}


def _looks_like_json(raw: str) -> bool:
    """A payload meant as JSON (an object, or by mistake an array, a number, a string or
    null) rather than plain text; only an object is a request."""
    if raw[:1] in ("{", "[", '"') or raw in _JSON_WORDS:
        return True
    try:
        float(raw)
    except ValueError:
        return False
    return True


def _clean(s: str) -> str:
    """`s` without unpaired surrogates (JSON's "\\ud800"), which UTF-8 cannot carry."""
    return s.encode("utf-8", "replace").decode("utf-8")


def to_json(msg: BaseModel) -> bytes:
    return msg.model_dump_json().encode("utf-8")
