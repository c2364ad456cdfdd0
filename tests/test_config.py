"""Configuration: TOML + environment, and start-up refusing bad configs with exit 2."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from daemon.config.settings import ConfigError, load_settings
from tests.conftest import DIALOGD, ROOT, write_config


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [*DIALOGD, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_shipped_config_loads_with_reference_home() -> None:
    s = load_settings(ROOT / "config.toml")
    assert (len(s.floors), len(s.areas), len(s.devices)) == (2, 7, 19)
    assert s.mqtt.host is None and s.mqtt.port == 1883
    assert {d.id for d in s.devices} >= {"kitchen_light", "front_door_lock", "washing_machine"}


def test_env_overrides_nested_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write_config(tmp_path / "c.toml", port=1883)
    monkeypatch.setenv("DIALOGD_MQTT__PORT", "1884")
    monkeypatch.setenv("DIALOGD_LLM__MODEL_PATH", "/path/model.gguf")
    monkeypatch.setenv("DIALOGD_SITE_ID", "attic")
    s = load_settings(cfg)
    assert s.mqtt.port == 1884
    assert s.llm.model_path == Path("/path/model.gguf")
    assert s.site_id == "attic"


def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[llm]\nmodel_path = "m/x.gguf"\n')
    assert load_settings(cfg).llm.model_path == tmp_path / "m" / "x.gguf"


@pytest.mark.parametrize(
    ("snippet", "key"),
    [
        ("[mqtt]\nprot = 1883\n", "mqtt.prot"),
        ('[mqtt]\nport = "many"\n', "mqtt.port"),
        ('[[devices]]\nid = "x"\ntype = "light"\nname = "x"\nactions = ["fly"]\n', "devices[0]"),
        ('[[devices]]\nid = "x"\ntype = "toaster"\nname = "x"\n', "devices[0]"),
        ('[replies.en]\nfly = "no"\n', "fly"),
        ('log_level = "verbose"\n', "log_level"),
        ("[llm]\nthreads = 0\n", "llm.threads"),
    ],
)
def test_bad_config_exits_2_naming_the_key(tmp_path: Path, snippet: str, key: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(snippet)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert any(key in line for line in err.value.problems), err.value.problems
    proc = run_cli("check", "--config", str(cfg))
    assert proc.returncode == 2
    assert key in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_model_file_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[llm]\nmodel_path = "{tmp_path}/nope.gguf"\n')
    proc = run_cli("run", "--config", str(cfg))
    assert proc.returncode == 2
    assert "llm.model_path" in proc.stderr and "models fetch" in proc.stderr


def test_not_a_gguf_exits_2(tmp_path: Path) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"<html>not found</html>")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[llm]\nmodel_path = "{fake}"\n')
    proc = run_cli("check", "--config", str(cfg))
    assert proc.returncode == 2 and "not a GGUF" in proc.stderr


def test_bad_env_value_exits_2(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.toml", port=1883)
    proc = run_cli("check", "--config", str(cfg), env={"DIALOGD_MQTT__PORT": "abc"})
    assert proc.returncode == 2 and "mqtt.port" in proc.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    proc = run_cli("check", "--config", str(tmp_path / "nope.toml"))
    assert proc.returncode == 2 and "not found" in proc.stderr


def test_help_lists_commands() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for cmd in ("run", "ask", "check", "eval", "bench", "schema", "models"):
        assert cmd in proc.stdout
