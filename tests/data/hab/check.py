"""Light check of the converted sets against ../FORMAT.md (no model, no daemon import).

    python3 tests/data/hab/check.py

Every `<name>.toml` here must parse and pair with a `<name>.jsonl`; every line's devices
must exist in its registry and accept the action; every value must respect FORMAT.md's
ranges; every `area` must be an area of the registry. Exits 1 on the first file with
problems listed.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TYPES = {
    "light": ["turn_on", "turn_off", "set_brightness", "change_brightness", "set_color"],
    "switch": ["turn_on", "turn_off"],
    "fan": ["turn_on", "turn_off", "set_speed", "change_speed"],
    "cover": ["open", "close", "stop", "set_position"],
    "valve": ["open", "close", "set_position"],
    "lock": ["lock", "unlock"],
    "climate": ["turn_on", "turn_off", "set_temperature", "change_temperature"],
    "media_player": ["turn_on", "turn_off", "pause", "resume", "next_track", "previous_track",
                     "set_volume", "change_volume", "mute", "unmute"],
    "vacuum": ["start", "stop", "pause", "return_to_base"],
    "appliance": ["start", "stop"],
    "scene": ["activate"],
    "list": ["add_item"],
}  # fmt: skip
COLORS = {"red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "white"}
DEVICELESS = {"chat", "unknown", "cancel", "start_timer", "cancel_timer", "timer_status"}
LINE_KEYS = {"text", "expect", "area", "tags"}


def accepted(dev: dict[str, Any]) -> set[str]:
    offered = [a for a in TYPES[dev["type"]] if a != "set_color" or dev.get("color")]
    return set(dev.get("actions") or offered) | {"query"}


def value_problem(action: str, value: Any, dev: dict[str, Any] | None, unit: str) -> str | None:
    def whole(lo: int, hi: int, zero: bool = True) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{action} needs an integer, got {value!r}"
        if not lo <= value <= hi or (value == 0 and not zero):
            return f"{action} value {value} outside {lo}..{hi}" + ("" if zero else ", not 0")
        return None

    if action in ("set_brightness", "set_volume", "set_position"):
        return whole(0, 100)
    if action in ("change_brightness", "change_volume"):
        return whole(-100, 100, zero=False)
    if action == "set_temperature":
        return whole(5, 35) if unit == "celsius" else whole(40, 95)
    if action == "change_temperature":
        return whole(-10, 10, zero=False)
    if action == "set_speed":
        return whole(1, int((dev or {}).get("speeds", 3)))
    if action == "change_speed":
        return whole(-10, 10, zero=False)
    if action == "set_color":
        return None if value in COLORS else f"colour {value!r} is not one of FORMAT.md's"
    if action == "add_item":
        ok = isinstance(value, str) and value.strip() == value and value
        return None if ok else f"add_item needs the item text, got {value!r}"
    if action == "start_timer":
        return whole(1, 86400)
    return None if value is None else f"{action} takes no value, got {value!r}"


def check_command(c: Any, devices: dict[str, dict[str, Any]], unit: str) -> list[str]:
    if not isinstance(c, dict) or set(c) != {"action", "device", "value"}:
        return [f"a command needs exactly action, device, value: {c!r}"]
    action, target, value = c["action"], c["device"], c["value"]
    ids = target if isinstance(target, list) else [] if target is None else [target]
    out = [f"unknown device {d!r}" for d in ids if d not in devices]
    if out:
        return out
    if action in DEVICELESS:
        return [] if target is None else [f"{action} takes device null"]
    if action == "clarify":
        return [] if len(ids) >= 2 else ["clarify names at least two candidates"]
    if not ids:
        return [f"{action} needs a device"]
    for d in ids:
        if action not in accepted(devices[d]):
            out.append(f"{d} ({devices[d]['type']}) does not accept {action}")
        p = value_problem(action, value, devices[d], unit)
        if p:
            out.append(p)
    return out


def check_pair(toml_path: Path) -> tuple[int, list[str]]:
    reg = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    unit = reg.get("temperature_unit", "celsius")
    devices = {d["id"]: d for d in reg.get("devices", [])}
    areas = {a["id"] for a in reg.get("areas", [])}
    problems = [f"unknown type {d['type']!r} of {i}" for i, d in devices.items()
                if d["type"] not in TYPES]  # fmt: skip
    jsonl = toml_path.with_suffix(".jsonl")
    if not jsonl.is_file():
        return 0, [*problems, f"{jsonl.name} is missing"]
    n = 0
    for no, raw in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            problems.append(f"line {no}: empty")
            continue
        n += 1
        line = json.loads(raw)
        where = f"{jsonl.name}:{no}"
        if set(line) - LINE_KEYS or not {"text", "expect"} <= set(line):
            problems.append(f"{where}: keys {sorted(line)}")
        if "area" in line and line["area"] not in areas:
            problems.append(f"{where}: area {line['area']!r} is not in the registry")
        tags = line.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            problems.append(f"{where}: tags must be a list of strings")
        expect = line["expect"]
        commands = expect if isinstance(expect, list) else [expect]
        if not commands:
            problems.append(f"{where}: empty expect")
        for c in commands:
            problems += [f"{where}: {p}" for p in check_command(c, devices, unit)]
    return n, problems


def main() -> int:
    bad = 0
    tomls = sorted(HERE.glob("*/*.toml"))
    orphans = [p for p in HERE.glob("*/*.jsonl") if not p.with_suffix(".toml").is_file()]
    for p in orphans:
        print(f"{p.relative_to(HERE)}: no registry beside it")
        bad += 1
    for path in tomls:
        n, problems = check_pair(path)
        print(f"{path.relative_to(HERE)}: {n} lines, {len(problems)} problems")
        for p in problems:
            print("   ", p)
        bad += bool(problems)
    return 1 if bad or not tomls else 0


if __name__ == "__main__":
    sys.exit(main())
