"""A home of 150 devices: the model's context grows with the registry, and a registry
that the configured context cannot hold is refused before anything starts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from daemon.core.messages import Intent
from daemon.tools.homegen import synthetic_home_toml
from tests.conftest import (
    DIALOGD,
    ROOT,
    STANDIN,
    STATE_DIR,
    Broker,
    DaemonProcess,
    Listener,
    need_model,
    reference_devices,
)

pytestmark = pytest.mark.model


def _config(path: Path, body: str, port: int, llm: str = "") -> Path:
    # The home's top-level keys come first: TOML puts every key after a table inside it.
    tables = (
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n'
        f'[llm]\nmodel_path = "{STANDIN}"\nstate_dir = "{STATE_DIR}"\nthreads = 2\n{llm}\n'
    )
    path.write_text('site_id = "test"\n' + body + "\n" + tables, encoding="utf-8")
    return path


def test_check_refuses_a_registry_the_context_cannot_hold(tmp_path: Path) -> None:
    need_model()
    cfg = _config(tmp_path / "c.toml", reference_devices(), 1883, "n_ctx = 512")
    proc = subprocess.run(
        [*DIALOGD, "check", "--config", str(cfg)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("config:")]
    assert len(lines) == 1 and "llm.n_ctx" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_150_devices_start_with_the_default_config_and_answer(
    broker: Broker, tmp_path: Path
) -> None:
    need_model()
    body = synthetic_home_toml(150)
    cfg = _config(tmp_path / "big.toml", body, broker.port)
    bus = Listener(broker.port)
    d = DaemonProcess(cfg)
    try:
        # The first start evaluates the larger prompt once; later starts restore it.
        bus.wait_for("dialogd/test/status", 240, lambda p: p == b"online")
        assert "prompt prefix:" in d.output()
        bus.publish(
            "dialogd/test/text", json.dumps({"text": "turn on the attic light", "id": "b1"})
        )
        intent = Intent.model_validate(bus.wait_json("dialogd/test/intent", 60, id="b1"))
        assert (intent.action, intent.device) == ("turn_on", "attic_light")
        bus.publish(
            "dialogd/test/text", json.dumps({"text": "lock the dining room door", "id": "b2"})
        )
        intent = Intent.model_validate(bus.wait_json("dialogd/test/intent", 60, id="b2"))
        assert intent.steps and all(s.action == "lock" for s in intent.steps)
    finally:
        bus.close()
        assert d.stop() == 0
