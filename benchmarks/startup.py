"""Start-to-READY time of the real `dialogd run`, read from a real sd_notify socket.

    .venv/bin/python benchmarks/startup.py [--runs 3] [--config config.toml] [--devices 150]

Uses the config's model (page cache warm after the first run) and its private broker on a
free port. With --devices N the config's home is replaced by a generated one of N devices
(daemon/tools/homegen.py), with its own KV cache dir, and the rest of the config is kept.
Prints each run with the daemon's RSS at READY, and the median.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from daemon.config.settings import load_settings
from daemon.tools.homegen import synthetic_home_toml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(m.group(1)) / 1024 if m else 0.0


def one_run(config: Path) -> tuple[float, float]:
    """Seconds from process start to READY=1, and the daemon's RSS (MB) then."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(300)
        env = {**os.environ, "NOTIFY_SOCKET": path, "DIALOGD_MQTT__PORT": str(free_port())}
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemon.cli", "run", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while b"READY=1" not in sock.recv(4096):
                pass
            return time.monotonic() - t0, rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            sock.close()


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(x)}" for k, x in v.items()) + "}"
    return json.dumps(str(v), ensure_ascii=False)


def config_with_home(base: Path, devices: int, state_dir: Path) -> str:
    """`base`'s settings (paths resolved) with a generated home of `devices` devices."""
    drop = {"floors", "areas", "devices", "temperature_unit", "area"}
    data = load_settings(base).model_dump(mode="json", exclude_none=True, exclude=drop)
    llm = data["llm"]
    llm.pop("n_ctx", None)  # sized from the registry
    llm["max_ctx"] = max(llm["max_ctx"], 8192)
    llm["state_dir"] = str(state_dir)
    top = [f"{k} = {_toml(v)}" for k, v in data.items() if not isinstance(v, dict)]
    sections = [
        f"\n[{k}]\n" + "\n".join(f"{json.dumps(key)} = {_toml(x)}" for key, x in v.items())
        for k, v in data.items()
        if isinstance(v, dict)
    ]
    return "\n".join(top) + "\n" + synthetic_home_toml(devices) + "\n".join(sections) + "\n"


def measure(config: Path, runs: int) -> None:
    t, rss = one_run(config)  # warm the page cache and the KV cache file
    print(f"warm-up: process start to READY=1 in {t:.2f} s, RSS {rss:.0f} MB")
    results = [one_run(config) for _ in range(runs)]
    for i, (t, rss) in enumerate(results, 1):
        print(f"run {i}: process start to READY=1 in {t:.2f} s, RSS {rss:.0f} MB")
    times = [t for t, _ in results]
    print(f"median {statistics.median(times):.2f} s over {len(times)} runs (after one warm-up)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--config", type=Path, default=Path("config.toml"))
    ap.add_argument(
        "--devices",
        type=int,
        default=None,
        metavar="N",
        help="replace the config's home with a generated one of N devices (e.g. 150)",
    )
    args = ap.parse_args()
    if args.devices is None:
        measure(args.config, args.runs)
        return
    with tempfile.TemporaryDirectory(prefix="dialogd-startup-") as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(
            config_with_home(args.config, args.devices, Path(tmp) / "state"), encoding="utf-8"
        )
        print(f"home: {args.devices} generated devices (config {config})")
        measure(config, args.runs)


if __name__ == "__main__":
    main()
