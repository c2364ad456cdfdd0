"""systemd/dialogd.service: it verifies, its sandbox scores OK, and it says what the daemon
relies on. Plus a syntax check of the install/uninstall scripts.

`systemd-analyze verify` insists that ExecStart='s binary exists, and /opt/dialogd/venv is
only there on an installed Pi. So the verify test checks a copy in which only that path is
replaced by an executable that exists here (the test's own Python); a second test checks the
real file and accepts, as its only complaint, that missing binary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "systemd" / "dialogd.service"
EXEC = "/opt/dialogd/venv/bin/dialogd"
SCRIPTS = [REPO / "systemd" / "install.sh", REPO / "systemd" / "uninstall.sh"]
MAX_EXPOSURE = 2.0

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    env = dict(os.environ, SYSTEMD_COLORS="0", SYSTEMD_PAGER="", SYSTEMD_LOG_COLOR="0")
    return subprocess.run(
        [ANALYZE, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def output_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    text = ANSI.sub("", proc.stdout + proc.stderr)
    return [line for line in text.splitlines() if line.strip()]


def unit_settings() -> dict[str, dict[str, list[str]]]:
    """section -> key -> every value (keys such as DeviceAllow= repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def seconds(span: str) -> float:
    """A systemd time span as used in the unit ("30", "30s", "3min", "500ms")."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m)?", span)
    assert m, f"unparsed time span {span!r}"
    factor = {"ms": 0.001, "min": 60.0, "m": 60.0}.get(m.group(2) or "s", 1.0)
    return float(m.group(1)) * factor


# ---- systemd-analyze ----------------------------------------------------------------------


@needs_analyze
def test_verify_passes(tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert text.count(f"ExecStart={EXEC} ") == 1
    copy = tmp_path / "dialogd.service"  # same name: verify derives the unit name from it
    copy.write_text(text.replace(f"ExecStart={EXEC} ", f"ExecStart={sys.executable} "))
    proc = analyze("verify", str(copy))
    # verify exits 0 even for unknown keys or bad values (it only warns), so the output
    # must be empty too.
    assert proc.returncode == 0 and output_lines(proc) == [], proc.stdout + proc.stderr


@needs_analyze
def test_verify_real_file_only_lacks_the_installed_binary() -> None:
    proc = analyze("verify", str(UNIT))
    lines = output_lines(proc)
    if Path(EXEC).exists():  # an installed machine
        assert proc.returncode == 0 and lines == [], lines
    else:
        assert lines == [
            f"dialogd.service: Command {EXEC} is not executable: No such file or directory"
        ], lines


@needs_analyze
def test_security_exposure_is_ok() -> None:
    proc = analyze("security", "--offline=true", str(UNIT))
    text = ANSI.sub("", proc.stdout + proc.stderr)
    m = re.search(r"Overall exposure level for dialogd\.service: (\d+(?:\.\d+)?) (\S+)", text)
    assert m, text
    score = float(m.group(1))
    assert score <= MAX_EXPOSURE, f"exposure {score} {m.group(2)} > {MAX_EXPOSURE}:\n{text}"
    assert proc.returncode == 0, text


# ---- what the daemon relies on (no systemd needed) ----------------------------------------


def test_unit_contract() -> None:
    s = unit_settings()
    svc = s["Service"]

    def one(key: str) -> str:
        values = svc.get(key, [])
        assert len(values) == 1, f"{key}= should be set once, got {values}"
        return values[0]

    assert one("Type") == "notify"
    assert one("NotifyAccess") == "main"
    assert one("ExecStart") == f"{EXEC} run --config /etc/dialogd/config.toml"
    assert one("ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one("Restart") == "on-failure"
    assert one("User") == "dialogd"
    assert one("SupplementaryGroups").split() == ["dialout", "audio"]
    assert one("StateDirectory") == "dialogd"
    assert one("ConfigurationDirectory") == "dialogd"
    assert "PYTHONUNBUFFERED=1" in svc["Environment"]
    assert seconds(one("WatchdogSec")) >= 10
    assert seconds(one("TimeoutStartSec")) >= 120  # model load from an SD card
    assert one("ProtectSystem") == "strict"
    assert one("DevicePolicy") == "closed"
    allowed = {v.split()[0]: v.split()[1] for v in svc["DeviceAllow"]}
    for dev in ("char-ttyUSB", "char-ttyACM", "char-alsa"):
        assert allowed.get(dev) == "rw", dev
    # PrivateDevices=yes would hide /dev/ttyUSB*, /dev/serial/by-id and /dev/snd.
    assert svc.get("PrivateDevices", ["no"]) == ["no"]
    families = " ".join(svc["RestrictAddressFamilies"]).split()
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= set(families)
    assert not any(f.startswith("~") for f in families)
    # A LAN broker must stay reachable.
    allow = " ".join(svc.get("IPAddressAllow", [])).split()
    if svc.get("IPAddressDeny"):
        for net in ("localhost", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"):
            assert net in allow, net
    assert s["Install"]["WantedBy"] == ["multi-user.target"]


def test_no_restart_loop_on_config_errors() -> None:
    from daemon.cli import EXIT_CONFIG

    prevent = unit_settings()["Service"]["RestartPreventExitStatus"][0].split()
    assert str(EXIT_CONFIG) in prevent


def test_stop_timeout_exceeds_drain_timeout() -> None:
    from daemon.config.settings import RequestSettings

    drain = RequestSettings.model_fields["drain_timeout_s"].default
    stop = seconds(unit_settings()["Service"]["TimeoutStopSec"][0])
    assert stop > drain, f"TimeoutStopSec={stop} must exceed the {drain} s drain"


# ---- install.sh / uninstall.sh ------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_syntax(script: Path) -> None:
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/bash")
    assert "set -euo pipefail" in text


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_shellcheck(script: Path) -> None:
    proc = subprocess.run(
        ["shellcheck", "--severity=style", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_refuses_non_root(script: Path) -> None:
    cmd = ["bash", str(script)]
    if os.geteuid() == 0:  # don't install anything here: drop to nobody first
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv is missing")
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode != 0 and "root" in proc.stderr, proc.stderr
