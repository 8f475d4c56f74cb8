"""Fail tests on ERROR log records.

discord.py catches exceptions raised in command, view, modal and event callbacks and only
logs them (logger "discord.app_commands.tree", "discord.ui.view", "discord.client"...), so
a broken callback would otherwise show up as a mysterious time-out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from types import TracebackType

DEFAULT_LOGGERS = ("discord", "bot")


class ErrorLogCapture(logging.Handler):
    """Collects ERROR (and worse) records of the named loggers and their children.

    Use as a context manager: on a clean exit it raises AssertionError listing the records.
    `failure()` lets FakeDiscord's waits stop as soon as one arrives.
    """

    def __init__(
        self, loggers: Iterable[str] = DEFAULT_LOGGERS, level: int = logging.ERROR
    ) -> None:
        super().__init__(level)
        self.logger_names = tuple(loggers)
        self.records: list[logging.LogRecord] = []
        self._listeners: list[Callable[[], None]] = []
        self._formatter = logging.Formatter("%(name)s %(levelname)s: %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        for listener in self._listeners:
            listener()

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def failure(self) -> str | None:
        if not self.records:
            return None
        return f"{len(self.records)} error(s) logged:\n" + "\n".join(
            self._formatter.format(r) for r in self.records
        )

    def clear(self) -> None:
        self.records.clear()

    def install(self) -> None:
        for name in self.logger_names:
            logging.getLogger(name).addHandler(self)

    def uninstall(self) -> None:
        for name in self.logger_names:
            logging.getLogger(name).removeHandler(self)

    def __enter__(self) -> ErrorLogCapture:
        self.install()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()
        failure = self.failure()
        if failure is None:
            return
        if exc is not None:
            exc.add_note(failure)
            return
        raise AssertionError(failure)


def wake_on_error(
    capture: ErrorLogCapture, notify: Callable[[asyncio.AbstractEventLoop], None]
) -> None:
    """Call `notify(loop)` (thread-safely) whenever `capture` gets a record."""
    loop = asyncio.get_running_loop()
    capture.add_listener(lambda: notify(loop))
