"""What every integration shares: the message and state types, colours, and careful readers.

`daemon/home/payloads.py` and `daemon/home/state.py` re-export the public names; the
integration modules import them from here so that neither front module imports the other.
Everything that reads a payload returns None rather than raising: payloads are untrusted.
"""

from __future__ import annotations

import colorsys
import json
import math
from dataclasses import dataclass
from typing import Any

from daemon.home.endpoint import Endpoint

# Temperatures may carry a fraction once a relative change is applied (21.5 + 1).
Number = int | float
# A command's value as the integrations take it.
Arg = int | float | str | None
RGB = tuple[int, int, int]

# Bigger payloads are no state message any device sends: not worth decoding.
MAX_PAYLOAD = 64 * 1024
# Beyond this a number is garbage, not a reading (and would overflow conversions).
MAX_NUMBER = 1e9


@dataclass(frozen=True)
class Publish:
    """One MQTT message to send."""

    topic: str
    payload: bytes
    retain: bool = False


class Unsupported(ValueError):
    """The endpoint cannot do this action; the message is a one-line reason."""


@dataclass(frozen=True)
class DeviceState:
    """What a device last said about itself; None: it has not said."""

    power: bool | None = None  # on/off
    brightness: int | None = None  # percent 0-100
    position: int | None = None  # percent, covers/valves (100 = open)
    open: bool | None = None  # covers/valves: open (or opening) vs closed (or closing)
    locked: bool | None = None  # locking counts as locked, unlocking as unlocked
    temperature: float | None = None  # climate target
    volume: int | None = None
    speed: int | None = None
    color: RGB | None = None

    def merged(self, other: DeviceState) -> DeviceState:
        """This state updated by `other`: the fields `other` knows win."""
        fields = {k: v for k, v in vars(other).items() if v is not None}
        return DeviceState(**{**vars(self), **fields})

    def known(self) -> bool:
        return any(v is not None for v in vars(self).values())


# ------------------------------------------------------------------------- colours

# The one table of colour names (vocabulary.COLORS) as RGB at full brightness; hex, xy and
# hue/saturation are derived from it. Hues are spread so a reported colour maps back to
# the nearest name (pink is hot pink, not pastel, to stay apart from white).
COLOR_RGB: dict[str, RGB] = {
    "red": (255, 0, 0),
    "orange": (255, 128, 0),
    "yellow": (255, 255, 0),
    "green": (0, 255, 0),
    "cyan": (0, 255, 255),
    "blue": (0, 0, 255),
    "purple": (128, 0, 255),
    "pink": (255, 105, 180),
    "white": (255, 255, 255),
}

# Below this saturation a reported colour is white, whatever its hue.
WHITE_SATURATION = 0.25

# sRGB (D65) to CIE XYZ and back, for xy colours (zigbee, Hue).
_TO_XYZ = ((0.4124, 0.3576, 0.1805), (0.2126, 0.7152, 0.0722), (0.0193, 0.1192, 0.9505))
_FROM_XYZ = ((3.2406, -1.5372, -0.4986), (-0.9689, 1.8758, 0.0415), (0.0557, -0.2040, 1.0570))


def color_rgb(value: Arg) -> RGB:
    if not isinstance(value, str) or value not in COLOR_RGB:
        raise Unsupported(f"no colour {value!r}; use one of {', '.join(COLOR_RGB)}")
    return COLOR_RGB[value]


def rgb_hex(rgb: RGB) -> str:
    return "#{:02X}{:02X}{:02X}".format(*rgb)


def rgb_hs(rgb: RGB) -> tuple[int, int]:
    """Hue in degrees 0-359, saturation in percent."""
    h, s, _ = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    return round(h * 360) % 360, round(s * 100)


def rgb_xy(rgb: RGB) -> tuple[float, float]:
    def linear(c: float) -> float:
        return ((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92

    lin = [linear(c / 255) for c in rgb]
    x_, y_, z_ = (sum(m * c for m, c in zip(row, lin, strict=True)) for row in _TO_XYZ)
    total = x_ + y_ + z_
    if total == 0:
        return 0.3127, 0.329  # black has no chromaticity: the white point
    return round(x_ / total, 4), round(y_ / total, 4)


def xy_rgb(x: float, y: float) -> RGB | None:
    if not (0 < x < 1 and 0 < y < 1 and x + y <= 1):
        return None
    xyz = (x / y, 1.0, (1 - x - y) / y)
    lin = [max(0.0, sum(m * c for m, c in zip(row, xyz, strict=True))) for row in _FROM_XYZ]
    peak = max(lin)
    if peak <= 0:
        return None

    def encode(c: float) -> int:
        c /= peak
        c = 1.055 * c ** (1 / 2.4) - 0.055 if c > 0.0031308 else 12.92 * c
        return max(0, min(255, round(c * 255)))

    r, g, b = (encode(c) for c in lin)
    return r, g, b


def hs_rgb(hue: float, saturation: float) -> RGB | None:
    if not (0 <= hue <= 360 and 0 <= saturation <= 100):
        return None
    r, g, b = colorsys.hsv_to_rgb(hue / 360 % 1.0, saturation / 100, 1.0)
    return round(r * 255), round(g * 255), round(b * 255)


def nearest_color(rgb: RGB) -> str | None:
    """The colour name a reported colour is closest to; None for black."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    if v == 0:
        return None
    if s < WHITE_SATURATION:
        return "white"

    def distance(name: str) -> float:
        d = abs(colorsys.rgb_to_hsv(*(c / 255 for c in COLOR_RGB[name]))[0] - h)
        return min(d, 1 - d)

    return min((n for n in COLOR_RGB if n != "white"), key=distance)


def rgb_from(value: object) -> RGB | None:
    """A colour as devices report it: {"r","g","b"}, {"x","y"}, {"hue","saturation"}
    or {"h","s"}, "#RRGGBB"/"RRGGBB[WW..]" hex, or "r,g,b"."""
    if isinstance(value, dict):
        r, g, b = (byte(value.get(k)) for k in "rgb")
        if r is not None and g is not None and b is not None:
            return r, g, b
        x, y = number(value.get("x")), number(value.get("y"))
        if x is not None and y is not None:
            return xy_rgb(x, y)
        h = number(value.get("hue", value.get("h")))
        s = number(value.get("saturation", value.get("s")))
        return hs_rgb(h, s) if h is not None and s is not None else None
    if not isinstance(value, str):
        return None
    text = value.strip().removeprefix("#")
    if "," in text:
        parts = [byte(number_text(p)) for p in text.split(",")]
        if len(parts) != 3:
            return None
        r, g, b = parts
        return (r, g, b) if r is not None and g is not None and b is not None else None
    if len(text) >= 6 and len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text):
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    return None


# ------------------------------------------------------------------------- numbers


def clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


def percent_to_raw(percent: int, scale: int) -> int:
    """A brightness percent on a device's 0..scale; any light that is on stays above 0."""
    return clamp(round(percent * scale / 100), 1 if percent > 0 else 0, scale)


def raw_to_percent(raw: float, scale: float) -> int | None:
    if scale <= 0:
        return None
    return clamp(round(raw * 100 / scale), 0, 100)


def number(x: object) -> float | None:
    """A finite, sane JSON number (bools are not numbers); None otherwise."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    if isinstance(x, int) and abs(x) > MAX_NUMBER:
        return None
    f = float(x)
    return f if math.isfinite(f) and abs(f) <= MAX_NUMBER else None


def number_text(x: object) -> float | None:
    """A number sent as text ("40", "21.5") or as a JSON number."""
    if isinstance(x, str):
        s = x.strip()
        if not s or len(s) > 32:
            return None
        try:
            return number(float(s))
        except ValueError:
            return None
    return number(x)


def byte(x: object) -> int | None:
    n = number(x)
    return round(n) if n is not None and 0 <= n <= 255 else None


def percent(x: object, scale: float = 100) -> int | None:
    """A reading on 0..scale as a percent; text or number."""
    n = number_text(x)
    return None if n is None or n < 0 else raw_to_percent(n, scale)


def temperature(x: object) -> float | None:
    n = number_text(x)
    # Outside this no thermostat's setpoint: a garbled or sentinel value.
    return n if n is not None and -50 <= n <= 150 else None


def fmt_number(n: Number) -> str:
    """21 -> "21", 21.5 -> "21.5": what devices parse as a setpoint."""
    return str(int(n)) if float(n).is_integer() else f"{n:.1f}"


def need_number(action: str, value: Arg) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unsupported(f"{action} needs a number, not {value!r}")
    return value


# ------------------------------------------------------------------------- payloads


def text(payload: bytes) -> str | None:
    if len(payload) > MAX_PAYLOAD:
        return None
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None


def json_value(payload: bytes) -> Any:
    """The payload's JSON value, or None when it is not JSON."""
    s = text(payload)
    if not s or s[0] not in "{[":
        return None
    try:
        return json.loads(s)
    except (ValueError, RecursionError):
        return None


def json_object(payload: bytes) -> dict[str, Any] | None:
    v = json_value(payload)
    return v if isinstance(v, dict) else None


def dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def word(value: object, true: str, false: str) -> bool | None:
    """True/False when `value` is one of the two words (case-insensitively)."""
    if not isinstance(value, str):
        return None
    v = value.strip().casefold()
    if v == true.casefold():
        return True
    return False if v == false.casefold() else None


# ------------------------------------------------------------------------- options


def opt_str(ep: Endpoint, key: str, default: str) -> str:
    v = ep.options.get(key)
    return v if isinstance(v, str) else default


def opt_num(ep: Endpoint, key: str, default: float) -> float:
    v = number(ep.options.get(key))
    return default if v is None else v


def opt_topic(ep: Endpoint, key: str) -> str | None:
    v = ep.options.get(key)
    return v if isinstance(v, str) and v else None


def speed_levels(ep: Endpoint) -> int:
    """How many speed levels a fan has: the config's `speeds`, else 3 (FORMAT.md's
    default)."""
    v = number(ep.options.get("speeds"))
    return int(v) if v is not None and 1 <= v <= 100 else 3
