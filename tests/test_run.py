from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import httpx

from tests.processes import RunningService


def test_run_serves_healthz_and_stops_on_sigterm(cli_env: dict[str, str], tmp_path: Path) -> None:
    service = RunningService(cli_env, tmp_path / "run.log")
    try:
        service.start()
        answer = httpx.get(service.base_url + "/healthz", timeout=5)
        assert answer.status_code == 200
        body = answer.json()
        assert body["status"] == "ok" and body["database"]["status"] == "ok"
        assert service.stop() == 0
        assert "stopped" in service.log()
    finally:
        service.kill()


def _postgres_running_for(pgdata: Path) -> bool:
    out = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
    return any("postgres" in line and str(pgdata) in line for line in out.splitlines())


def test_embedded_database_starts_stops_and_is_reused(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in cli_env.items() if k not in ("DATABASE_URL", "ENCRYPTION_KEY")}
    # Not under pytest's tmp_path: that tree is mode 0700 and, run as root, the embedded
    # server's initdb runs as its own unprivileged user, which must reach the data folder.
    holder = tempfile.TemporaryDirectory(prefix="plex-tracker-embedded-")
    data = Path(holder.name) / "embedded"
    env["DATA_DIR"] = str(data)
    pgdata = (data / "pgdata").resolve()
    for attempt in ("first", "second"):
        service = RunningService(env, tmp_path / f"{attempt}.log")
        try:
            service.start(timeout=120)
            body = httpx.get(service.base_url + "/healthz", timeout=5).json()
            assert body["database"]["server_version"].startswith("18")
            assert _postgres_running_for(pgdata)
            assert service.stop() == 0
        finally:
            service.kill()
        assert not _postgres_running_for(pgdata), "the embedded server stops with the service"
        log = service.log()
        assert ("first start: initdb" if attempt == "first" else "reusing data") in log
    key_file = data / "encryption.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    holder.cleanup()
