"""Optional intent signing: HMAC-SHA256 with a shared key (README: Signed intents).

The MAC covers the canonical JSON of the intent object without its `sig` field:
keys sorted at every level, no spaces, UTF-8 (not \\u-escaped), as

    json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

`kid` (the first 8 hex digits of sha256(key)) is added before the MAC is computed, so it
is covered too; `sig` is the hex digest. `dumps_signed` publishes exactly those canonical
bytes with `,"sig":"<64 hex>"` appended as the last member, so that a small device can
verify without parsing or re-serialising anything: cut the last 74 bytes, append `}`,
and HMAC the result.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from daemon.config.settings import ConfigError, RequestSettings

_LOG = logging.getLogger(__name__)

KEY_BYTES = 32
MIN_KEY_BYTES = 16
SIG = "sig"
KID = "kid"


def canonical(obj: dict[str, Any]) -> bytes:
    """The signed bytes: `obj` without `sig`, canonical JSON, UTF-8."""
    body = {k: v for k, v in obj.items() if k != SIG}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id(key: bytes) -> str:
    """A key's public name: the first 8 hex digits of its sha256."""
    return hashlib.sha256(key).hexdigest()[:8]


def _mac(key: bytes, obj: dict[str, Any]) -> str:
    return hmac.new(key, canonical(obj), hashlib.sha256).hexdigest()


def sign(obj: dict[str, Any], key: bytes) -> dict[str, Any]:
    """A new dict: `obj` plus `kid` and `sig` (any old `sig` or `kid` replaced)."""
    out = {k: v for k, v in obj.items() if k != SIG}
    out[KID] = key_id(key)
    out[SIG] = _mac(key, out)
    return out


def verify(obj: dict[str, Any], key: bytes) -> bool:
    """True if `obj` carries a valid `sig` for `key` (constant-time comparison)."""
    sig = obj.get(SIG)
    if not isinstance(sig, str) or obj.get(KID) != key_id(key):
        return False
    try:
        given = sig.encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(_mac(key, obj).encode("ascii"), given)


def dumps_signed(obj: dict[str, Any], key: bytes) -> bytes:
    """The payload to publish: canonical JSON of `obj` + `kid`, `sig` as the last member.

    For an Intent: `dumps_signed(intent.model_dump(mode="json"), key)`.
    """
    signed = sign(obj, key)
    body = canonical(signed)  # without sig, with kid: exactly what the MAC covers
    sig: str = signed[SIG]
    return body[:-1] + b',"' + SIG.encode() + b'":"' + sig.encode() + b'"}'


def load_or_create_key(path: Path) -> bytes:
    """The shared key in `path` (raw bytes); made (32 random bytes, mode 0600) if absent.

    Raises ValueError for a key file shorter than 16 bytes, OSError if it cannot be read
    or made. Creation is atomic: a crash never leaves a half-written key, and two
    processes starting at once end up with the same key.
    """
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = _create(path)
    else:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            _LOG.warning("intent key %s is readable by others (mode %o); chmod 600 it", path, mode)
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"intent key {path} has {len(key)} bytes; it needs at least {MIN_KEY_BYTES} "
            f"(delete it to have a new {KEY_BYTES}-byte key made)"
        )
    return key


def _create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process made it first: keep theirs
    except FileExistsError:
        key = path.read_bytes()
    else:
        _LOG.info("made a new intent signing key %s (kid %s)", path, key_id(key))
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return key


def key_for(settings: RequestSettings, state_dir: Path) -> bytes | None:
    """The key intents are signed with, when `[request] sign` is on (created on first
    use); a key file that cannot be read or written is a config error."""
    if not settings.sign:
        return None
    try:
        return load_or_create_key(settings.sign_key_file or state_dir / "intent.key")
    except (OSError, ValueError) as exc:
        raise ConfigError([f"config: request.sign_key_file: {exc}"]) from None
