"""What both discovery parsers share: the results (`Discovered`, `Parsed`), the one
exception that skips a message, component or device with one warning (`_Skip`), the
warnings cap (`_Collector`), topic checks (`_Rules`), payload decoding, names and ids, and
the validated build of a device."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import ValidationError

from daemon.config.home import Device
from daemon.core.vocabulary import TYPES
from daemon.home.endpoint import Endpoint

MAX_PAYLOAD = 64 * 1024
MAX_NAME = 64
MAX_ID = 64
# A flood of broken entries must not become a flood of log lines.
MAX_WARNINGS = 100
# Option values nested deeper than this are not settings anybody needs.
MAX_DEPTH = 4

Obj = dict[str, Any]


@dataclass(frozen=True)
class Discovered:
    """One device found on the broker, ready for the registry."""

    key: str
    device: Device
    endpoint: Endpoint
    origin: Literal["zigbee2mqtt", "homeassistant", "hass"]
    area_hints: tuple[str, ...] = ()
    suggested: bool = False


@dataclass(frozen=True)
class Parsed:
    """What one message gave: its devices, and one line per thing skipped."""

    devices: tuple[Discovered, ...]
    warnings: tuple[str, ...]


class _Skip(Exception):
    """A message, component or device is unusable; the text says why (one warning)."""


@dataclass(frozen=True)
class _Rules:
    """Where discovered devices may point their topics."""

    allowed: tuple[str, ...]
    forbidden: tuple[str, ...]

    def check(self, topics: Iterable[str]) -> None:
        for t in topics:
            problem = _topic_problem(t) or self._placement(t)
            if problem:
                raise _Skip(problem)

    def _placement(self, t: str) -> str | None:
        for p in self.forbidden:
            if _under(t, p):
                return f"topic {_show(t)} is under {_show(p)}, which is dialogd's"
        if self.allowed and not any(_under(t, p) for p in self.allowed):
            return f"topic {_show(t)} is not under any of home.topic_prefixes"
        return None


def _under(topic: str, prefix: str) -> bool:
    return topic.startswith(prefix) or topic == prefix.rstrip("/")


def _topic_problem(t: str) -> str | None:
    """Why `t` cannot be published or subscribed to as one exact topic, if it cannot."""
    if any(c in t for c in "+#\x00"):
        return f"topic {_show(t)} has a wildcard or NUL"
    if "" in t.split("/"):
        return f"topic {_show(t)} has an empty level"
    try:
        size = len(t.encode("utf-8"))
    except UnicodeEncodeError:
        return f"topic {_show(t)} is not valid UTF-8"
    return f"topic {_show(t)[:80]} is too long" if size > 65535 else None


@dataclass
class _Collector:
    """Gathers one message's devices and warnings: first name wins, ids made unique."""

    where: str
    devices: list[Discovered] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    dropped: int = 0

    def warn(self, what: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(f"{self.where}: {what}")
        else:
            self.dropped += 1

    def add(self, d: Discovered) -> None:
        name = " ".join(d.device.name.casefold().split())
        if name in self.names:
            self.warn(f"{_show(d.key)}: name {_show(d.device.name)} is taken; skipped")
            return
        self.names.add(name)
        did, n = d.device.id, 2
        while did in self.ids:
            did, n = f"{d.device.id[: MAX_ID - 4]}_{n}", n + 1
        self.ids.add(did)
        if did != d.device.id:
            d = replace(d, device=d.device.model_copy(update={"id": did}))
        self.devices.append(d)

    def result(self) -> Parsed:
        extra = [f"{self.where}: {self.dropped} more problems"] if self.dropped else []
        return Parsed(tuple(self.devices), (*self.warnings, *extra))


def _load(payload: bytes) -> Any:
    """The JSON value of a payload; size, encoding and syntax checked first."""
    if len(payload) > MAX_PAYLOAD:
        raise _Skip(f"payload is over {MAX_PAYLOAD // 1024} KiB")
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError:
        raise _Skip("payload is not UTF-8") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise _Skip("payload is not valid JSON") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _show(v: object) -> str:
    """Untrusted text for a warning: quoted, escaped onto one line, cut short."""
    s = v if isinstance(v, str) else type(v).__name__
    return repr(s if len(s) <= MAX_NAME else s[:MAX_NAME] + "...")


def _where(topic: str) -> str:
    return topic if topic.isprintable() and len(topic) <= 200 else _show(topic)


def _clean(text: str) -> str:
    """A name as people will say it: no control characters, single spaces, 64 at most."""
    kept = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cs"))
    return " ".join(kept.split())[:MAX_NAME].strip()


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", folded.lower()).strip("_")


def _device_id(name: str, fallback: str, typ: str) -> str:
    """A stable id from the name; from the unique id when the name does not spell in
    ASCII (Chinese, say), so that two such names never fold onto the same id."""
    spelled = all(_slug(c) or not c.isalnum() for c in name)
    slug = _slug(name) if spelled else ""
    if not slug:
        slug = f"{typ}_{_slug(fallback)}".rstrip("_")
    elif not slug[0].isalpha():
        slug = f"{typ}_{slug}"
    return slug[:MAX_ID].rstrip("_")


def _plain(v: Any, depth: int = 0) -> bool:
    """Whether `v` is a JSON value an option may hold: shallow, finite, encodable."""
    if v is None or isinstance(v, bool | int):
        return True
    if isinstance(v, float):
        return v == v and v not in (float("inf"), float("-inf"))
    if isinstance(v, str):
        return not any(unicodedata.category(c) == "Cs" for c in v)
    if depth >= MAX_DEPTH:
        return False
    if isinstance(v, list):
        return all(_plain(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return all(_plain(k, depth + 1) and _plain(x, depth + 1) for k, x in v.items())
    return False


def _payload_text(v: Any, default: str, key: str) -> str:
    if v is None:
        return default
    if isinstance(v, str):
        return v
    if isinstance(v, bool | int | float):
        return json.dumps(v)
    raise _Skip(f"{key} is not a string")


def _build(
    *,
    key: str,
    origin: Literal["zigbee2mqtt", "homeassistant"],
    device: dict[str, Any],
    endpoint: dict[str, Any],
    rules: _Rules,
    hints: tuple[str, ...] = (),
    suggested: bool = False,
) -> Discovered:
    """The validated Discovered; a model that refuses the values is one more skip."""
    try:
        ep = Endpoint(integration=origin, **endpoint)
        dev = Device(area=None, sensitive=[], **device)
    except ValidationError as e:
        raise _Skip(f"not a valid device ({e.error_count()} problems)") from None
    if dev.type not in TYPES:
        raise _Skip(f"type {_show(dev.type)} is not a dialogd type")
    topics = [t for t in (ep.command_topic, ep.state_topic, ep.availability_topic) if t is not None]
    rules.check(topics + [v for k, v in ep.options.items() if k.endswith("topic")])
    return Discovered(key, dev, ep, origin, hints, suggested)


@dataclass(frozen=True)
class _Caps:
    """What a component lets dialogd do, read from its config."""

    command_topic: str | None
    actions: tuple[str, ...] | None = None
    color: bool = False
    speeds: int = 3


def _partial(actions: Sequence[str], typ: str) -> tuple[str, ...] | None:
    """None (all of the type's) when `actions` are all of them, else them, in type order."""
    wanted = [a for a in TYPES[typ] if a in actions]
    return None if len(wanted) == len(TYPES[typ]) else tuple(wanted)
