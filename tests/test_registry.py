"""The registry: what `dialogd check` refuses, and what Registry.check accepts.

A registry that makes no sense stops `dialogd check` with exit 2 and one stderr line per
problem, each naming the key; a bare registry (tests/data/home.toml) is a whole config.
Registry.check is the single authority on a command's validity (FORMAT.md's actions,
devices and values).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.config.settings import ConfigError, load_settings
from daemon.core.vocabulary import COLORS
from daemon.home.registry import Command, Decision, Registry
from daemon.pipeline.engines import home_registry

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / "tests" / "data" / "home.toml"
CLI = [sys.executable, "-m", "daemon.cli"]
NO_MODEL = {"DIALOGD_LLM__ENABLED": "false"}

# A small home the bad registries below are built on: one floor, one area, one light.
BASE = """
[[floors]]
id = "ground"
name = "ground floor"

[[areas]]
id = "hall"
name = "hall"
floor = "ground"

[[devices]]
id = "hall_light"
type = "light"
name = "hall light"
area = "hall"
"""


def check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "check", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **NO_MODEL},
        timeout=120,
    )


def problem_lines(stderr: str) -> list[str]:
    """The config problem lines (whatever else a logger might print is not one)."""
    return [line for line in stderr.splitlines() if line.startswith("config: ")]


def write(tmp_path: Path, extra: str, top: str = "") -> Path:
    cfg = tmp_path / "test_registry.toml"
    cfg.write_text(top + BASE + extra, encoding="utf-8")
    return cfg


# Each: (what is added to BASE, what the one problem line must say).
BAD = {
    "unknown type": (
        '[[devices]]\nid = "toaster"\ntype = "toaster"\nname = "toaster"\n',
        ["devices[1]", "toaster", "type"],
    ),
    "action its type lacks": (
        '[[devices]]\nid = "plug"\ntype = "switch"\nname = "plug"\nactions = ["set_brightness"]\n',
        ["devices[1]", "plug", "set_brightness"],
    ),
    "set_color without color": (
        '[[devices]]\nid = "lamp"\ntype = "light"\nname = "lamp"\n'
        'actions = ["turn_on", "set_color"]\n',
        ["devices[1]", "lamp", "set_color", "color"],
    ),
    "area that does not exist": (
        '[[devices]]\nid = "lamp"\ntype = "light"\nname = "lamp"\narea = "attic"\n',
        ["devices[1]", "lamp", "area", "attic"],
    ),
    "floor that does not exist": (
        '[[areas]]\nid = "cellar"\nname = "cellar"\nfloor = "basement"\n',
        ["areas[1]", "cellar", "floor", "basement"],
    ),
    "same name twice": (
        '[[devices]]\nid = "other_light"\ntype = "light"\nname = "Hall  Light"\n',
        ["devices[1]", "other_light", "hall_light"],
    ),
    "same alias twice": (
        '[[devices]]\nid = "a"\ntype = "switch"\nname = "kettle"\naliases = ["boiler"]\n'
        '[[devices]]\nid = "b"\ntype = "switch"\nname = "heater"\naliases = ["boiler"]\n',
        ["devices[2]", "boiler", "a"],
    ),
    "alias equal to another device's name": (
        '[[devices]]\nid = "lamp"\ntype = "light"\nname = "lamp"\naliases = ["hall light"]\n',
        ["devices[1]", "lamp", "hall light"],
    ),
    "sensitive action the type lacks": (
        '[[devices]]\nid = "door"\ntype = "lock"\nname = "door"\nsensitive = ["open"]\n',
        ["devices[1]", "door", "sensitive", "open"],
    ),
    "sensitive action outside the listed actions": (
        '[[devices]]\nid = "gate"\ntype = "cover"\nname = "gate"\nactions = ["close"]\n'
        'sensitive = ["open"]\n',
        ["devices[1]", "gate", "sensitive", "open"],
    ),
    "color on something that is not a light": (
        '[[devices]]\nid = "plug"\ntype = "switch"\nname = "plug"\ncolor = true\n',
        ["devices[1]", "plug", "color"],
    ),
    "device id used twice": (
        '[[devices]]\nid = "hall_light"\ntype = "switch"\nname = "other"\n',
        ["devices[1]", "hall_light"],
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_registry_exits_2_with_one_line_naming_the_key(tmp_path: Path, case: str) -> None:
    extra, words = BAD[case]
    cfg = write(tmp_path, extra)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert len(err.value.problems) == 1, err.value.problems
    proc = check(cfg)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = problem_lines(proc.stderr)
    assert lines == err.value.problems, proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in proc.stderr
    assert "config: ok" not in proc.stdout


def test_two_problems_give_two_lines(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        '[[devices]]\nid = "toaster"\ntype = "toaster"\nname = "toaster"\n'
        '[[devices]]\nid = "lamp"\ntype = "light"\nname = "lamp"\narea = "attic"\n',
    )
    proc = check(cfg)
    assert proc.returncode == 2
    lines = problem_lines(proc.stderr)
    assert len(lines) == 2, proc.stderr
    assert "devices[1]" in lines[0] and "toaster" in lines[0]
    assert "devices[2]" in lines[1] and "attic" in lines[1]


def test_an_unknown_site_area_is_a_problem(tmp_path: Path) -> None:
    cfg = write(tmp_path, "", top='area = "nowhere"\n')
    proc = check(cfg)
    assert proc.returncode == 2
    lines = problem_lines(proc.stderr)
    assert len(lines) == 1 and "area" in lines[0] and "nowhere" in lines[0], proc.stderr


def test_a_known_site_area_is_fine(tmp_path: Path) -> None:
    cfg = write(tmp_path, "", top='area = "hall"\n')
    assert load_settings(cfg).area == "hall"


def test_the_small_base_home_is_fine(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, ""))
    assert [d.id for d in s.devices] == ["hall_light"]


def test_a_bare_registry_is_a_complete_config() -> None:
    proc = check(HOME)
    out = proc.stdout.splitlines()
    assert out and out[0].startswith("config: ok (19 devices in 7 areas on 2 floors"), proc.stdout
    assert not problem_lines(proc.stderr), proc.stderr
    assert "Traceback" not in proc.stderr
    if proc.returncode != 0:
        # Only the broker may be missing on this machine; never the config.
        assert proc.returncode == 1, (proc.stdout, proc.stderr)
        assert all(line.startswith(("config: ok", "broker:")) for line in out), proc.stdout


def test_a_bare_registry_loads_everything_it_says() -> None:
    s = load_settings(HOME)
    reg = home_registry(s)
    assert len(reg.devices) == 19 and len(reg.areas) == 7 and len(reg.floors) == 2
    assert not reg.fahrenheit
    assert reg.by_id["bedroom_fan"].speeds == 3
    # Listed actions narrow the type's; color = true adds set_color to a light.
    assert reg.by_id["study_ceiling_light"].actions == ("turn_on", "turn_off")
    assert "set_color" in reg.by_id["living_room_light"].actions
    assert "set_color" not in reg.by_id["kitchen_light"].actions
    assert reg.by_id["front_door_lock"].sensitive == ("unlock",)
    assert reg.floor_of(reg.by_id["desk_lamp"]) == "upstairs"
    assert reg.floor_of(reg.by_id["thermostat"]) is None


# ------------------------------------------------------------------ Registry.check


@pytest.fixture(scope="module")
def registry() -> Registry:
    return home_registry(load_settings(HOME))


@pytest.mark.parametrize(
    "command",
    [
        Command("turn_on", ("kitchen_light",)),
        Command("turn_off", ("kitchen_light", "coffee_maker")),
        Command("query", ("front_door_lock",)),
        Command("query", ("kitchen_speaker", "shopping_list")),  # every device takes query
        Command("clarify", ("desk_lamp", "kitchen_light")),
        Command("unlock", ("front_door_lock",)),
        Command("set_brightness", ("bedroom_light",), 0),
        Command("set_brightness", ("bedroom_light", "desk_lamp"), 100),
        Command("change_brightness", ("bedroom_light",), -100),
        Command("change_volume", ("tv",), 15),
        Command("set_volume", ("kitchen_speaker",), 35),
        Command("set_position", ("curtains",), 50),
        Command("set_temperature", ("thermostat",), 5),
        Command("set_temperature", ("thermostat",), 35),
        Command("change_temperature", ("thermostat",), -10),
        Command("set_speed", ("bedroom_fan",), 3),
        Command("change_speed", ("bedroom_fan",), -1),
        *(Command("set_color", ("living_room_light",), c) for c in COLORS),
        Command("add_item", ("shopping_list",), "oat milk"),
        Command("add_item", ("shopping_list",), "牛奶"),
        Command("start_timer", (), 1),
        Command("start_timer", (), 24 * 3600),
        Command("cancel_timer"),
        Command("timer_status"),
        Command("chat"),
        Command("unknown"),
        Command("cancel"),
        Command("activate", ("movie_night",)),
        Command("return_to_base", ("robot_vacuum",)),
    ],
)
def test_check_accepts_valid_commands(registry: Registry, command: Command) -> None:
    assert registry.check(command) is None
    assert registry.check_decision(Decision((command,))) is None


@pytest.mark.parametrize(
    "command",
    [
        # devices
        Command("turn_on", ("sauna",)),
        Command("turn_on", ("kitchen_light", "sauna")),
        Command("turn_on"),  # a device action needs a device
        Command("chat", ("tv",)),  # a deviceless action takes none
        Command("start_timer", ("kitchen_speaker",), 60),
        # actions a device lacks (its type's, or narrowed by `actions`)
        Command("unlock", ("garage_door",)),
        Command("turn_on", ("kitchen_speaker",)),
        Command("set_brightness", ("study_ceiling_light",), 50),
        Command("set_position", ("garage_door",), 50),
        Command("turn_off", ("kitchen_light", "kitchen_speaker")),
        Command("fly", ("kitchen_light",)),
        # values
        Command("turn_on", ("kitchen_light",), 1),
        Command("query", ("tv",), 3),
        Command("clarify", ("tv", "desk_lamp"), "x"),
        Command("set_brightness", ("bedroom_light",)),
        Command("set_brightness", ("bedroom_light",), 101),
        Command("set_brightness", ("bedroom_light",), -1),
        Command("set_brightness", ("bedroom_light",), "50"),
        Command("set_brightness", ("bedroom_light",), True),
        Command("change_brightness", ("bedroom_light",), 0),
        Command("change_brightness", ("bedroom_light",), 101),
        Command("set_volume", ("tv",), 200),
        Command("set_temperature", ("thermostat",), 4),
        Command("set_temperature", ("thermostat",), 50),
        Command("change_temperature", ("thermostat",), 11),
        Command("change_temperature", ("thermostat",), 0),
        Command("set_speed", ("bedroom_fan",), 0),
        Command("set_speed", ("bedroom_fan",), 4),
        Command("change_speed", ("bedroom_fan",), 0),
        Command("start_timer"),
        Command("start_timer", (), 0),
        Command("start_timer", (), -5),
        Command("cancel", (), 5),
        # colours: only on colour lights, only FORMAT.md's English names
        Command("set_color", ("kitchen_light",), "red"),
        Command("set_color", ("living_room_light",), "红色"),
        Command("set_color", ("living_room_light",), "Red"),
        Command("set_color", ("living_room_light",), "violet"),
        Command("set_color", ("living_room_light",)),
        # list items
        Command("add_item", ("shopping_list",)),
        Command("add_item", ("shopping_list",), ""),
        Command("add_item", ("shopping_list",), "   "),
        Command("add_item", ("shopping_list",), 3),
        Command("add_item", ("tv",), "milk"),
    ],
)
def test_check_refuses_invalid_commands(registry: Registry, command: Command) -> None:
    why = registry.check(command)
    assert isinstance(why, str) and why, command
    assert registry.check_decision(Decision((Command("chat"), command))) == why


def test_fahrenheit_homes_take_fahrenheit(tmp_path: Path) -> None:
    cfg = tmp_path / "test_fahrenheit.toml"
    cfg.write_text(
        'temperature_unit = "fahrenheit"\n'
        '[[devices]]\nid = "heat"\ntype = "climate"\nname = "heat"\n',
        encoding="utf-8",
    )
    reg = home_registry(load_settings(cfg))
    assert reg.fahrenheit
    assert reg.check(Command("set_temperature", ("heat",), 72)) is None
    assert reg.check(Command("set_temperature", ("heat",), 22)) is not None
    assert reg.check(Command("set_temperature", ("heat",), 96)) is not None


def test_speeds_set_the_fans_range(tmp_path: Path) -> None:
    cfg = tmp_path / "test_speeds.toml"
    cfg.write_text(
        '[[devices]]\nid = "big_fan"\ntype = "fan"\nname = "big fan"\nspeeds = 5\n',
        encoding="utf-8",
    )
    reg = home_registry(load_settings(cfg))
    assert reg.check(Command("set_speed", ("big_fan",), 5)) is None
    assert reg.check(Command("set_speed", ("big_fan",), 6)) is not None
