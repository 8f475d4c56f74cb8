"""The README's "first webhook in five minutes", timed: from `pip install .` in a fresh venv
to "Plex reached plex-tracker", with Plex simulated by a webhook POST.

    python bench/first_webhook.py [--cold-cache]

Steps as the README gives them, from a fresh clone of the committed tree (what a new user
gets; uncommitted changes are not measured): a fresh venv, `pip install .` in the clone
(dependencies from the package index, or pip's cache; `--cold-cache`: an empty one, as on a
fresh machine), `plex-tracker run` on an embedded PostgreSQL in a new DATA_DIR (initdb and
all), `plex-tracker connect --wait` with the token on stdin, then the POST Plex would send
(`media.play`). Offline, so `--no-verify` (plex.tv is not asked: one request less than the
README's step 2). The time a person takes to paste the URL into Plex is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _multipart(payload: dict[str, object]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="payload"\r\n'
        f"Content-Type: application/json\r\n\r\n{json.dumps(payload)}\r\n--{boundary}--\r\n"
    ).encode()
    return body, f"multipart/form-data; boundary={boundary}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold-cache", action="store_true", help="an empty pip cache")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plex-tracker-first-") as tmp:
        os.chmod(tmp, 0o755)  # as root, the embedded server runs as its own user
        clone = Path(tmp) / "plex-tracker"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        venv = clone / ".venv"
        # Nothing of this machine's set-up: no database, key, port, tokens or bot.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(
                ("DATABASE_URL", "ENCRYPTION_KEY", "PUBLIC_WEBHOOK_URL", "PORT", "HOST", "DATA_DIR")
            )
            and not k.startswith(("DISCORD_", "TMDB_", "PLEX_", "XDG_"))
        }
        env.update(DATA_DIR=str(Path(tmp) / "data"), PORT=str(_port()))
        if args.cold_cache:
            env["PIP_CACHE_DIR"] = str(Path(tmp) / "pip-cache")
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "."],
            check=True,
            cwd=clone,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        installed = time.monotonic()
        cli = str(venv / "bin" / "plex-tracker")
        daemon = subprocess.Popen(
            [cli, "run"], env=env, cwd=clone, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            base = f"http://127.0.0.1:{env['PORT']}"
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if daemon.poll() is not None:
                    raise SystemExit("plex-tracker run exited")
                time.sleep(0.05)
            ready = time.monotonic()
            connect = subprocess.Popen(
                [cli, "connect", "--user", "alice", "--plex-token", "-", "--no-verify", "--wait"],
                env=env,
                cwd=clone,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert connect.stdin and connect.stdout and connect.stderr
            connect.stdin.write("my-plex-token\n")
            connect.stdin.close()
            url = ""
            while "secret=" not in url:
                url = connect.stdout.readline().strip()
            printed = time.monotonic()
            # Plex: the webhook sent when something starts playing.
            secret = url.rsplit("secret=", 1)[1]
            body, ctype = _multipart(
                {
                    "event": "media.play",
                    "Account": {"id": 1, "title": "alice"},
                    "Server": {"title": "Plex", "uuid": "abc"},
                    "Player": {"title": "Living Room TV", "local": True},
                    "Metadata": {"type": "episode", "grandparentTitle": "The Office"},
                }
            )
            answer = httpx.post(
                f"{base}/api/plex/webhook?secret={secret}",
                content=body,
                headers={"Content-Type": ctype},
            )
            answer.raise_for_status()
            said = connect.stderr.read()
            connect.wait(60)
            reached = time.monotonic()
            assert "Plex reached plex-tracker: media.play from Living Room TV" in said, said
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
    cache = "empty pip cache" if args.cold_cache else "pip's cache as it is"
    print(f"venv + pip install . in a clone:   {installed - started:6.1f} s ({cache})")
    print(f"plex-tracker run until /healthz:   {ready - installed:6.1f} s (cold: initdb)")
    print(f"connect until the URL is printed:  {printed - ready:6.1f} s")
    print(f"POST until 'Plex reached':         {reached - printed:6.1f} s")
    print(f"pip install → 'Plex reached':      {reached - started:6.1f} s")


if __name__ == "__main__":
    main()
