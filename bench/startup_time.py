"""Cold and warm start of `plex-tracker run` with the embedded PostgreSQL.

    python bench/startup_time.py [--rounds 3]

Cold: a new DATA_DIR (initdb, migrations, key generation). Warm: the same DATA_DIR again.
Measured from process start until GET /healthz answers 200, and SIGTERM until exit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _entry() -> list[str]:
    script = Path(sys.executable).with_name("plex-tracker")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def start_stop(data_dir: str) -> tuple[float, float]:
    port = _port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ENCRYPTION_KEY")}
    env.update(DATA_DIR=data_dir, PORT=str(port), HOST="127.0.0.1")
    started = time.monotonic()
    proc = subprocess.Popen(
        [*_entry(), "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while True:
        if proc.poll() is not None:
            raise SystemExit("plex-tracker run exited during start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    up = time.monotonic() - started
    stopping = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    return up, time.monotonic() - stopping


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cold, warm, stops = [], [], []
    for _ in range(args.rounds):
        data = tempfile.mkdtemp(prefix="plex-tracker-start-")
        try:
            up, down = start_stop(data)
            cold.append(up)
            stops.append(down)
            for _ in range(3):
                up, down = start_stop(data)
                warm.append(up)
                stops.append(down)
        finally:
            shutil.rmtree(data, ignore_errors=True)
    print(
        f"cold start (initdb + migrations): median {statistics.median(cold):.2f}s "
        f"min {min(cold):.2f}s max {max(cold):.2f}s over {len(cold)}"
    )
    print(
        f"warm start (data reused):         median {statistics.median(warm):.2f}s "
        f"min {min(warm):.2f}s max {max(warm):.2f}s over {len(warm)}"
    )
    print(f"stop on SIGTERM (embedded DB included): median {statistics.median(stops):.2f}s")


if __name__ == "__main__":
    main()
