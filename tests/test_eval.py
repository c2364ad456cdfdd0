"""`dialogd eval` over several sets and homes: arguments, rows, summaries and the report.

Everything runs without the model (`[llm] enabled = false`): the templates decide, and
whatever they leave is `unknown`. The homes are tiny and written here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from daemon.cli import main
from daemon.dialogue import manager
from daemon.home.registry import Decision, Registry
from daemon.tools.evaluate import (
    Engines,
    EvalSet,
    actuates,
    load_set,
    resolve_sets,
)
from daemon.understanding.engine import IntentEngine, Understood

# The config's own home: one room, a light and a door that needs a confirmation to unlock.
CONFIG = """\
site_id = "test"
[llm]
enabled = false

[[areas]]
id = "kitchen"
name = "kitchen"
aliases = ["厨房"]

[[devices]]
id = "kitchen_light"
type = "light"
name = "kitchen light"
aliases = ["厨房灯"]
area = "kitchen"

[[devices]]
id = "front_door"
type = "lock"
name = "front door"
area = "kitchen"
sensitive = ["unlock"]
"""

# Another home, with nothing in common: a pet-named light and a garage door.
CABIN = """\
temperature_unit = "fahrenheit"

[[floors]]
id = "ground"
name = "ground floor"

[[areas]]
id = "loft"
name = "loft"
floor = "ground"

[[devices]]
id = "moon"
type = "light"
name = "moon"
aliases = ["月亮灯"]
area = "loft"

[[devices]]
id = "garage_door"
type = "cover"
name = "garage door"
sensitive = ["open"]
"""


def _cmd(action: str, device: str | None = None) -> dict[str, Any]:
    return {"action": action, "device": device, "value": None}


def _line(text: str, expect: dict[str, Any], *tags: str) -> dict[str, Any]:
    line: dict[str, Any] = {"text": text, "expect": expect}
    if tags:
        line["tags"] = list(tags)
    return line


HOME_LINES = [
    _line("turn on the kitchen light", _cmd("turn_on", "kitchen_light"), "single"),
    _line("打开厨房灯", _cmd("turn_on", "kitchen_light"), "single"),
    # Labelled chat (must not actuate) but decided as unlock: it waits for a confirmation,
    # so it is safe, though not exact.
    _line("unlock the front door", _cmd("chat"), "safety"),
    # Labelled chat but decided and carried out: not safe.
    _line("turn off the kitchen light", _cmd("chat"), "safety"),
]
CABIN_LINES = [
    _line("turn on the moon", _cmd("turn_on", "moon"), "single"),
    _line("关闭月亮灯", _cmd("turn_off", "moon"), "single", "paraphrase"),
    _line("open the garage door", _cmd("open", "garage_door"), "single", "safety"),
    {
        "turns": [
            {"text": "turn on the moon", "expect": _cmd("turn_on", "moon")},
            {"text": "turn off the moon", "expect": _cmd("turn_off", "moon")},
        ],
        "tags": ["followup", "single"],
    },
    # Its second turn is labelled wrong on purpose: the conversation is not exact.
    {
        "turns": [
            {"text": "turn on the moon", "expect": _cmd("turn_on", "moon")},
            {"text": "turn off the moon", "expect": _cmd("turn_on", "moon")},
        ],
        "tags": ["followup"],
    },
]


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "config": _write_text(tmp_path / "config.toml", CONFIG),
        "home": _write(tmp_path / "home.jsonl", HOME_LINES),
        "cabin_toml": _write_text(tmp_path / "cabin.toml", CABIN),
        "cabin": _write(tmp_path / "cabin.jsonl", CABIN_LINES),
    }


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


def _eval(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    code = main(["eval", "--config", str(config), "--log-level", "WARNING", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in out.splitlines()]


SUMMARY_KEYS = [
    "n", "valid", "exact", "p50_ms", "p95_ms", "model_n", "model_p50_ms",
    "conversations", "conversations_exact",
]  # fmt: skip


# ------------------------------------------------------------------ one plain set


def test_a_single_plain_set_prints_what_it_always_did(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _eval(capsys, files["config"], str(files["home"]))
    assert code == 0
    (summary,) = _json_lines(out)  # one line: no report, no home
    assert list(summary) == SUMMARY_KEYS
    assert summary["n"] == 4 and summary["valid"] == 4 and summary["exact"] == 2
    misses = err.splitlines()
    assert len(misses) == 2 and all(m.startswith("MISS '") for m in misses), err
    assert 'want {"action": "chat"' in misses[0]


def test_jsonl_rows_carry_status_and_tags(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _eval(capsys, files["config"], "--jsonl", str(files["home"]))
    assert code == 0 and err == ""
    *rows, summary = _json_lines(out)
    assert list(summary) == SUMMARY_KEYS and len(rows) == 4
    assert list(rows[0]) == [
        "text", "expect", "got", "exact", "engine", "ms", "status", "margin", "tags",
    ]  # fmt: skip
    assert [r["status"] for r in rows] == ["decided", "decided", "needs_confirmation", "decided"]
    assert [r["tags"] for r in rows] == [["single"], ["single"], ["safety"], ["safety"]]
    assert rows[2]["got"] == _cmd("unlock", "front_door") and not rows[2]["exact"]
    assert all("home" not in r for r in rows)


def test_report_for_a_single_set_on_request(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = _eval(capsys, files["config"], "--quiet", "--report", str(files["home"]))
    summary, *table = out.splitlines()
    assert json.loads(summary)["n"] == 4
    text = "\n".join(table)
    assert "exact turns per home" in text and "exact lines per tag" in text
    assert _row(table, "home") == (2, 4) and _row(table, "single") == (2, 2)


def _row(table: list[str], label: str) -> tuple[int, int]:
    """(ok, n) of the first row of the text table with this label."""
    for line in table:
        parts = line.split()
        if parts and parts[0] == label:
            return int(parts[1]), int(parts[3])
    raise AssertionError(f"no row {label!r} in {table}")


# ------------------------------------------------------------------ several homes


def test_several_homes_in_one_run(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pair = f"{files['cabin_toml']}:{files['cabin']}"
    code, out, err = _eval(capsys, files["config"], "--jsonl", str(files["home"]), pair)
    assert code == 0 and err == ""
    lines = _json_lines(out)
    summaries = [x for x in lines if "n" in x]
    rows = [x for x in lines if "home" in x]
    (report,) = [x["report"] for x in lines if "report" in x]
    assert len(summaries) == 2 and len(rows) == len(HOME_LINES) + len(CABIN_LINES)
    assert [list(s) for s in summaries] == [SUMMARY_KEYS, SUMMARY_KEYS]
    # Each set is played against its own home: the cabin's lines name the cabin's devices.
    assert {r["home"] for r in rows} == {"home", "cabin"}
    cabin_rows = [r for r in rows if r["home"] == "cabin" and "turns" not in r]
    assert [r["got"] for r in cabin_rows] == [r["expect"] for r in cabin_rows]
    assert summaries[1]["valid"] == summaries[1]["n"] == 7
    assert summaries[1]["conversations"] == 2 and summaries[1]["conversations_exact"] == 1
    conversation, wrong = (r for r in rows if "turns" in r)
    assert conversation["tags"] == ["followup", "single"] and conversation["exact"]
    assert [t["status"] for t in conversation["turns"]] == ["decided", "decided"]
    assert [t["exact"] for t in wrong["turns"]] == [True, False] and not wrong["exact"]
    assert report["homes"] == {"cabin": {"n": 7, "exact": 6}, "home": {"n": 4, "exact": 2}}
    # Per turn: every turn of a conversation counts in its language.
    assert report["languages"] == {"en": {"n": 9, "exact": 6}, "zh": {"n": 2, "exact": 2}}


def test_counts_per_tag_count_lines(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pair = f"{files['cabin_toml']}:{files['cabin']}"
    _, out, _ = _eval(capsys, files["config"], "--jsonl", str(files["home"]), pair)
    tags = _json_lines(out)[-1]["report"]["tags"]
    # A conversation is one line of its tags, exact when all its turns are.
    assert tags == {
        "followup": {"n": 2, "exact": 1},
        "paraphrase": {"n": 1, "exact": 1},
        "safety": {"n": 3, "exact": 1},
        "single": {"n": 6, "exact": 6},
    }


def test_safety_counts_lines_that_actuated_nothing(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pair = f"{files['cabin_toml']}:{files['cabin']}"
    _, out, _ = _eval(capsys, files["config"], "--jsonl", str(files["home"]), pair)
    safety = _json_lines(out)[-1]["report"]["safety"]
    # home: the unlock waits for its yes (safe), the light went off (not safe); cabin: the
    # garage door (sensitive) waits too.
    assert safety == {"home": {"n": 2, "safe": 1}, "cabin": {"n": 1, "safe": 1}}


def test_text_report_and_misses_name_the_home(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pair = f"{files['cabin_toml']}:{files['cabin']}"
    _, out, err = _eval(capsys, files["config"], str(files["home"]), pair)
    first, second, *table = out.splitlines()
    assert json.loads(first)["n"] == 4 and json.loads(second)["n"] == 7
    assert _row(table, "home") == (2, 4) and _row(table, "cabin") == (6, 7)
    assert _row(table, "all") == (8, 11) and _row(table, "zh") == (2, 2)
    safety = table[table.index("safety: lines tagged safety that actuated nothing") :]
    assert _row(safety, "home") == (1, 2) and _row(safety, "all") == (2, 3)
    misses = err.splitlines()
    assert len(misses) == 3 and all(m.startswith("MISS [") for m in misses), err
    assert misses[0].startswith("MISS [home] 'unlock the front door'")
    assert misses[2].startswith("MISS [cabin] 'turn off the moon'")


def test_a_directory_pairs_each_set_with_its_toml(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "sets"
    folder.mkdir()
    _write(folder / "cabin.jsonl", CABIN_LINES)
    _write_text(folder / "cabin.toml", CABIN)
    _write(folder / "plain.jsonl", HOME_LINES)  # no plain.toml: the config's home
    code, out, _ = _eval(capsys, files["config"], "--jsonl", "--quiet", str(folder))
    assert code == 0
    lines = _json_lines(out)
    report = lines[-1]["report"]
    assert report["homes"] == {"cabin": {"n": 7, "exact": 6}, "plain": {"n": 4, "exact": 2}}
    assert [x["home"] for x in lines if "home" in x][:1] == ["cabin"]  # sorted by name


def test_a_single_pair_gets_the_report(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pair = f"{files['cabin_toml']}:{files['cabin']}"
    _, out, _ = _eval(capsys, files["config"], "--quiet", pair)
    summary, *table = out.splitlines()
    assert json.loads(summary)["exact"] == 6 and _row(table, "cabin") == (6, 7)


# ------------------------------------------------------------------ arguments and errors


def test_resolving_arguments(files: dict[str, Path], tmp_path: Path) -> None:
    pair = f"{files['cabin_toml']}:{files['cabin']}"
    sets = resolve_sets([str(files["home"]), pair, str(tmp_path)])
    assert [(s.path.name, s.home.name if s.home else None) for s in sets] == [
        ("home.jsonl", None),
        ("cabin.jsonl", "cabin.toml"),
        ("cabin.jsonl", "cabin.toml"),
        ("home.jsonl", None),
    ]
    # The same stem twice: labelled by path.
    assert sets[0].label == str(files["home"]) and sets[1].label == str(files["cabin"])
    with pytest.raises(SystemExit, match="no such file"):
        resolve_sets([str(tmp_path / "nope.jsonl")])
    with pytest.raises(SystemExit, match="no such file"):
        resolve_sets([f"{tmp_path / 'nope.toml'}:{files['cabin']}"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match=r"no \.jsonl"):
        resolve_sets([str(tmp_path / "empty")])


def test_a_bad_home_fails_before_anything_runs(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write_text(files["cabin_toml"].with_name("bad.toml"), CABIN + 'area = "nowhere"\n')
    code, out, err = _eval(capsys, files["config"], str(files["home"]), f"{bad}:{files['cabin']}")
    assert code == 2 and out == "" and "bad.toml" in err and "nowhere" in err


def test_tags_must_be_a_list_of_strings(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.jsonl", [_line("hi", _cmd("chat")) | {"tags": "safety"}])
    with pytest.raises(SystemExit, match=r"x\.jsonl:1: not an eval line"):
        load_set(path)
    assert load_set(_write(tmp_path / "y.jsonl", HOME_LINES))[2].tags == ("safety",)


# ------------------------------------------------------------------ pieces


def _turn(status: manager.Status, action: str, device: str | None = None) -> manager.Turn:
    decision = Decision.one(action, [device] if device else [])
    return manager.Turn(Understood(decision, "", "en", "rules", 0.0), "s", status)


@pytest.mark.parametrize(
    ("status", "action", "moved"),
    [
        ("decided", "unlock", True),
        ("confirmed", "unlock", True),
        ("needs_confirmation", "unlock", False),
        ("refused", "unlock", False),
        ("decided", "query", False),
        ("decided", "chat", False),
    ],
)
def test_what_actuates(status: manager.Status, action: str, moved: bool) -> None:
    device = None if action == "chat" else "front_door"
    assert actuates(_turn(status, action, device)) is moved


class _FakeModel:
    def __init__(self) -> None:
        self.registries: list[Registry] = []

    def decide(self, *args: object) -> object:
        raise AssertionError("not asked")

    def set_registry(self, registry: Registry) -> None:
        self.registries.append(registry)


def test_homes_share_one_loaded_model(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from daemon.config.settings import load_settings
    from daemon.pipeline import engines as app
    from daemon.tools import evaluate

    built: list[Registry] = []
    model = _FakeModel()

    def build_engine(settings: Any) -> IntentEngine:
        registry = app.home_registry(settings)
        built.append(registry)
        return IntentEngine(registry, settings.replies, model)

    monkeypatch.setattr(app, "build_engine", build_engine)
    base = load_settings(files["config"])
    engines = Engines()
    first = engines.for_home(base)
    cabin = evaluate.home_settings(base, files["cabin_toml"])
    second = engines.for_home(cabin)
    assert len(built) == 1 and second.model is model and first is not second
    assert [d.id for d in model.registries[-1].devices] == ["moon", "garage_door"]
    assert second.registry.fahrenheit and not first.registry.fahrenheit
    # Other [llm] settings: another model.
    engines.for_home(base.model_copy(update={"llm": base.llm.model_copy(update={"threads": 1})}))
    assert len(built) == 2
    assert EvalSet("x", Path("x.jsonl")).home is None


def test_the_wide_corpus_reads_as_three_homes(files: dict[str, Path]) -> None:
    """tests/data/wide: each set pairs with its registry, and names only its devices."""
    from daemon.config.settings import load_settings
    from daemon.pipeline.engines import home_registry
    from daemon.tools.evaluate import expected_triples, home_settings

    wide = Path(__file__).resolve().parent / "data" / "wide"
    sets = resolve_sets([str(wide)])
    assert [s.label for s in sets] == ["home-apartment", "home-cabin", "home-house"]
    base = load_settings(files["config"])
    for s in sets:
        assert s.home is not None
        registry = home_registry(home_settings(base, s.home))
        items = load_set(s.path)
        assert len(items) >= 120 and all(it.tags for it in items)
        named = {d for it in items for t in it.turns for _, d, _ in expected_triples(t.expect)}
        assert named - {None} <= set(registry.by_id), s.label
