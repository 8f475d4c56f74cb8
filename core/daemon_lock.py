"""One daemon per DATA_DIR: `plex-tracker run` holds an exclusive lock on
DATA_DIR/plex-tracker.pid for as long as it runs, and writes its pid, port and
PUBLIC_WEBHOOK_URL there (what CLI commands beside it put in the URLs they print).

The lock, not the pid in the file, decides: the kernel drops it when the process dies
(kill -9, power cut), so a stale file or a pid since reused by another process never stops
a start. The file is never deleted, only rewritten, so two starts can't lock two files.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import DomainError

PID_FILE = "plex-tracker.pid"


class AlreadyRunning(DomainError):
    pass


@dataclass(frozen=True)
class DaemonInfo:
    pid: int | None
    port: int | None
    public_webhook_url: str | None = None


def _read(fd: int) -> DaemonInfo:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096).decode("utf-8", "replace")
    try:
        data = json.loads(raw)
        public = data.get("public_webhook_url")
        return DaemonInfo(
            pid=int(data["pid"]),
            port=data.get("port"),
            public_webhook_url=public if isinstance(public, str) else None,
        )
    except (ValueError, KeyError, TypeError):
        return DaemonInfo(pid=None, port=None)


class DaemonLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / PID_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        # A CLI command checking whether a daemon runs holds a shared lock for an instant.
        deadline = time.monotonic() + 0.5
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                info = _read(fd)
                os.close(fd)
                pid = f"pid {info.pid}" if info.pid else "pid unknown"
                raise AlreadyRunning(
                    f"plex-tracker is already running ({pid}) with DATA_DIR {self.path.parent}"
                ) from None
        self._fd = fd
        self._write(None, None)

    def _write(self, port: int | None, public_webhook_url: str | None) -> None:
        assert self._fd is not None
        info = {"pid": os.getpid(), "port": port, "public_webhook_url": public_webhook_url}
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(info).encode(), 0)

    def set_port(self, port: int, public_webhook_url: str | None = None) -> None:
        """Once listening: CLI commands beside the daemon print URLs with this port, or
        the daemon's PUBLIC_WEBHOOK_URL (set perhaps only in its environment or `.env`)."""
        self._write(port, public_webhook_url)

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the lock
            self._fd = None


def running_daemon(data_dir: Path) -> DaemonInfo | None:
    """The daemon running on this DATA_DIR, if any."""
    path = Path(data_dir) / PID_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
