"""daemon.ops.signing: HMAC-SHA256 intent signatures and the key file."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from pathlib import Path

import pytest

from daemon.ops.signing import dumps_signed, key_id, load_or_create_key, sign, verify

KEY = bytes(range(32))
INTENT = {
    "id": "req-1",
    "action": "turn_on",
    "device": "kitchen_light",
    "value": None,
    "reply": "好的，打开厨房灯。",
    "commands": [{"action": "turn_on", "device": "kitchen_light", "value": None}],
    "latency_ms": 3,
}


def test_round_trip_and_scheme() -> None:
    signed = sign(INTENT, KEY)
    assert signed is not INTENT and "sig" not in INTENT and "kid" not in INTENT
    assert signed["kid"] == hashlib.sha256(KEY).hexdigest()[:8] == key_id(KEY)
    assert verify(signed, KEY)
    # The scheme as documented: HMAC over the canonical JSON without `sig` (with `kid`).
    body = {k: v for k, v in signed.items() if k != "sig"}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert signed["sig"] == hmac.new(KEY, canon, hashlib.sha256).hexdigest()
    # Re-signing replaces the old signature; key order does not matter.
    assert sign(signed, KEY) == signed
    assert verify(dict(reversed(list(signed.items()))), KEY)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(device="garage_door"),
        lambda d: d.update(value=1),
        lambda d: d["commands"][0].update(action="unlock"),
        lambda d: d.update(extra=True),
        lambda d: d.pop("reply"),
        lambda d: d.update(kid="00000000"),
        lambda d: d.update(sig=d["sig"][:-1] + ("0" if d["sig"][-1] != "0" else "1")),
        lambda d: d.update(sig="é" * 64),
        lambda d: d.update(sig=None),
        lambda d: d.pop("sig"),
    ],
)
def test_tampering_is_detected(change: object) -> None:
    signed = json.loads(json.dumps(sign(INTENT, KEY)))  # a deep copy, as received
    change(signed)  # type: ignore[operator]
    assert not verify(signed, KEY)


def test_wrong_key_fails() -> None:
    assert not verify(sign(INTENT, KEY), bytes(32))


def test_published_bytes_verify_by_cutting_the_tail() -> None:
    payload = dumps_signed(INTENT, KEY)
    assert verify(json.loads(payload), KEY)
    # What an ESP32 does: drop `,"sig":"<64 hex>"}`, close the object, HMAC the bytes.
    assert payload[-74:-66] == b',"sig":"' and payload.endswith(b'"}')
    mac = hmac.new(KEY, payload[:-74] + b"}", hashlib.sha256).hexdigest()
    assert mac.encode() == payload[-66:-2]
    assert "好的".encode() in payload  # UTF-8, not \u escapes


def test_key_file_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "intent.key"
    key = load_or_create_key(path)
    assert len(key) == 32 and path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    assert [p.name for p in path.parent.iterdir()] == ["intent.key"]  # no temp file left
    other = tmp_path / "other.key"
    assert load_or_create_key(other) != key


def test_short_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "intent.key"
    path.write_bytes(b"short")
    with pytest.raises(ValueError, match="needs at least 16"):
        load_or_create_key(path)
