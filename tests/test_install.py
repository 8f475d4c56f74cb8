"""A normal, non-editable install, as pip, pipx and the Docker image do it: the wheel
carries the migrations and the installed `plex-tracker migrate` creates every table."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import TEST_KEY, _with_database
from tests.test_migrations import EXPECTED_TABLES

REPO = Path(__file__).resolve().parent.parent


def _run(*cmd: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)  # type: ignore[call-overload, no-any-return]


@pytest.mark.slow
async def test_wheel_install_ships_migrations_and_migrates(
    pg_server_dsn: str, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", wheels, REPO)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("plex_tracker-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n for n in names if n.startswith("core/db/sql/") and n.endswith(".sql"))
    in_repo = sorted(p.name for p in (REPO / "sql").glob("*.sql"))
    assert [n.rsplit("/", 1)[1] for n in shipped] == in_repo

    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", venv).returncode == 0
    installed = _run(venv / "bin" / "pip", "install", "--quiet", wheel)
    assert installed.returncode == 0, installed.stderr

    name = f"plex_tracker_wheel_{os.getpid()}"
    admin = await asyncpg.connect(pg_server_dsn)
    try:
        for db in (name, name + "_b"):
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{db}"')
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "DATABASE_URL": _with_database(pg_server_dsn, name),
            "ENCRYPTION_KEY": TEST_KEY,
        }
        # From a folder with no source tree in it: only the installed package can be used.
        cli = venv / "bin" / "plex-tracker"
        migrated = _run(cli, "migrate", env=env, cwd=tmp_path)
        assert migrated.returncode == 0, migrated.stderr
        assert f"{len(in_repo)} migrations applied" in migrated.stdout
        assert f"applied {len(in_repo)} migrations (" in migrated.stdout  # by this run
        again = _run(cli, "migrate", env=env, cwd=tmp_path)
        assert again.returncode == 0 and "applied" not in again.stdout.split(":")[0], again.stdout
        conn = await asyncpg.connect(env["DATABASE_URL"])
        try:
            tables = {
                r["tablename"]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname='public'"
                )
            }
        finally:
            await conn.close()
        assert tables >= EXPECTED_TABLES

        # An install that lost its migrations refuses to start instead of saying "up to date".
        site = next((venv / "lib").glob("python3*/site-packages"))
        for sql in (site / "core" / "db" / "sql").glob("*.sql"):
            sql.unlink()
        broken = _run(
            cli,
            "migrate",
            env={**env, "DATABASE_URL": _with_database(pg_server_dsn, name + "_b")},
            cwd=tmp_path,
        )
        assert broken.returncode == 1
        assert "no migrations found" in broken.stderr and "Traceback" not in broken.stderr
    finally:
        for db in (name, name + "_b"):
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()
