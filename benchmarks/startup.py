"""Start-to-READY time of the real `dialogd run`, read from a real sd_notify socket.

    .venv/bin/python benchmarks/startup.py [--runs 3] [--config config.toml]

Uses the config's model (page cache warm after the first run) and its private broker on a
free port. Prints each run and the median.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_run(config: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(120)
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
            return time.monotonic() - t0
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            sock.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--config", type=Path, default=Path("config.toml"))
    args = ap.parse_args()
    one_run(args.config)  # warm the page cache and the KV cache file
    times = [one_run(args.config) for _ in range(args.runs)]
    for i, t in enumerate(times, 1):
        print(f"run {i}: process start to READY=1 in {t:.2f} s")
    print(f"median {statistics.median(times):.2f} s over {len(times)} runs (after one warm-up)")


if __name__ == "__main__":
    main()
