"""The embedded PostgreSQL under real `plex-tracker run` processes: one daemon per DATA_DIR,
CLI commands beside it, kill -9 and power-cut leftovers, and the server dying under a
running daemon. Slow: each test starts real PostgreSQL servers."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.db.embedded import is_postmaster_of, postmaster_pid
from tests.cli import entry_point, run_cli, table_rows
from tests.plex_payloads import episode, event, multipart
from tests.processes import RunningService

pytestmark = pytest.mark.slow


@pytest.fixture
def embedded_env(cli_env: dict[str, str]) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in cli_env.items() if k not in ("DATABASE_URL", "ENCRYPTION_KEY")}
    env.pop("PUBLIC_WEBHOOK_URL", None)
    # Not under pytest's 0700 tmp tree: as root, initdb runs as an unprivileged user.
    with tempfile.TemporaryDirectory(prefix="plex-tracker-embedded-") as holder:
        env["DATA_DIR"] = str(Path(holder) / "data")
        yield env


def postgres_processes(pgdata: Path) -> list[str]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "postgres" in line and str(pgdata) in line]


def wait_for(predicate: object, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_one_daemon_per_data_dir_and_cli_commands_beside_it(
    embedded_env: dict[str, str], tmp_path: Path
) -> None:
    pgdata = Path(embedded_env["DATA_DIR"]).resolve() / "pgdata"
    first = RunningService(embedded_env, tmp_path / "first.log")
    try:
        first.start(timeout=120)
        assert first.proc is not None
        started = time.monotonic()
        second = subprocess.run(
            [*entry_point(), "run"],
            env={**embedded_env, "HOST": "127.0.0.1", "PORT": "0"},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 1
        assert f"already running (pid {first.proc.pid})" in second.stderr, second.stderr
        assert time.monotonic() - started < 15, "a second run exits at once"
        assert "Traceback" not in second.stderr

        # Beside the daemon: the same database, and URLs with the port it listens on.
        connected = run_cli(
            "connect", "--user", "amy", "--plex-token", "t", "--no-verify", env=embedded_env
        )
        assert connected.returncode == 0, connected.stderr
        url = connected.stdout.strip().splitlines()[-1]
        assert f":{first.port}/api/plex/webhook?secret=" in url
        body, ctype = multipart(event("media.play", episode()))
        posted = httpx.post(
            url.replace(url.split("/api/")[0], first.base_url),
            content=body,
            headers={"Content-Type": ctype},
        )
        assert posted.status_code == 200
        logs = run_cli("logs", "--user", "amy", env=embedded_env)
        assert logs.returncode == 0 and "media.play" in logs.stdout, logs.stderr
        # The doctor, too, checks the URL on the port the daemon listens on (not PORT's
        # default: PORT was set only in the daemon's environment).
        doctor = run_cli("doctor", env=embedded_env)
        assert f":{first.port}/api/plex/webhook" in doctor.stdout, doctor.stdout
        # The CLI left the server running for the daemon.
        assert httpx.get(first.base_url + "/healthz", timeout=5).status_code == 200
        assert first.stop() == 0
    finally:
        first.kill()
    assert postgres_processes(pgdata) == [], "SIGTERM leaves no postgres behind"


def test_kill_9_and_stale_pid_files_never_stop_a_start_or_a_stop(
    embedded_env: dict[str, str], tmp_path: Path
) -> None:
    data = Path(embedded_env["DATA_DIR"]).resolve()
    pgdata = data / "pgdata"
    bystander = subprocess.Popen(["sleep", "300"])  # a live process whose pid gets "reused"
    try:
        crashed = RunningService(embedded_env, tmp_path / "crashed.log")
        crashed.start(timeout=120)
        crashed.kill()  # kill -9: our pid file and postmaster.pid stay, postgres runs on
        assert postgres_processes(pgdata), "the orphaned server is still running"
        (data / "plex-tracker.pid").write_text(f'{{"pid": {bystander.pid}, "port": 1}}')

        after_crash = RunningService(embedded_env, tmp_path / "after-crash.log")
        try:
            after_crash.start(timeout=120)
            assert after_crash.stop() == 0
        finally:
            after_crash.kill()
        assert postgres_processes(pgdata) == [], "SIGTERM after a kill -9 restart stops postgres"

        # A power cut: no process survives, but postmaster.pid stays and names a pid that
        # now belongs to another process (postgres itself would refuse to start).
        running = RunningService(embedded_env, tmp_path / "running.log")
        try:
            running.start(timeout=120)
            lines = (pgdata / "postmaster.pid").read_text().splitlines()
            assert running.stop() == 0
        finally:
            running.kill()
        assert not (pgdata / "postmaster.pid").exists()
        (pgdata / "postmaster.pid").write_text("\n".join([str(bystander.pid), *lines[1:]]) + "\n")
        assert not is_postmaster_of(bystander.pid, pgdata)

        rebooted = RunningService(embedded_env, tmp_path / "rebooted.log")
        try:
            rebooted.start(timeout=120)
            assert "removing a stale postmaster.pid" in rebooted.log()
            assert rebooted.stop() == 0
        finally:
            rebooted.kill()
        assert postgres_processes(pgdata) == []
        assert bystander.poll() is None, "the process that got the pid is left alone"
    finally:
        bystander.kill()
        bystander.wait()


def test_daemon_restarts_an_embedded_server_that_died_and_loses_nothing(
    embedded_env: dict[str, str], tmp_path: Path
) -> None:
    pgdata = Path(embedded_env["DATA_DIR"]).resolve() / "pgdata"
    service = RunningService(embedded_env, tmp_path / "run.log")
    try:
        service.start(timeout=120)
        connected = run_cli(
            "connect", "--user", "rex", "--plex-token", "t", "--no-verify", env=embedded_env
        )
        secret = connected.stdout.strip().splitlines()[-1].rsplit("=", 1)[1]
        hook = service.base_url + "/api/plex/webhook?secret=" + secret

        def post(player: str) -> int:
            body, ctype = multipart(event("media.play", episode(), Player={"title": player}))
            return httpx.post(hook, content=body, headers={"Content-Type": ctype}).status_code

        assert post("before") == 200
        pid = postmaster_pid(pgdata)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        seen: list[tuple[int, dict[str, object]]] = []

        def healthz() -> tuple[int, dict[str, object]]:
            answer = httpx.get(service.base_url + "/healthz", timeout=5)
            return answer.status_code, answer.json()

        def unhealthy() -> bool:
            seen.append(healthz())
            return seen[-1][0] == 503

        wait_for(unhealthy, 30, "/healthz to say the database is down")
        wait_for(lambda: healthz()[0] == 200, 90, "the embedded server to be restarted")
        assert any(
            str(body.get("embedded_database", "")).startswith("restarting")
            or body.get("database", {}).get("status") == "down"  # type: ignore[union-attr]
            for _, body in seen
        ), seen
        assert postmaster_pid(pgdata) != pid
        assert post("after") == 200
        logs = run_cli("logs", "--user", "rex", env=embedded_env)
        rows = table_rows(logs.stdout)[1:]
        assert [r[3] for r in rows] == ["media.play", "media.play"], logs.stdout
        assert "restarting it" in service.log()
        assert service.stop() == 0
    finally:
        service.kill()
    assert postgres_processes(pgdata) == []
