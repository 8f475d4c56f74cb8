"""What every `plex-tracker` command module shares: the command type, the consoles, tables."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from core.services.container import Services

Command = Callable[[Services, argparse.Namespace], Awaitable[int]]
# argparse's private type for `add_subparsers()`; modules add their parsers to it.
Subparsers = Any


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich would exit(1) here; main() ends every closed pipe the same quiet way.
        self.quiet = True
        raise BrokenPipeError


def _console(*, stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Piped into a file or `grep`: no colours, and lines as long as they need to be.
    width = None if stream.isatty() else 200
    # markup off: titles like "Show [2019]" are data, not styles.
    return _Console(file=stream, highlight=False, markup=False, soft_wrap=True, width=width)


def out() -> Console:
    return _console(stderr=False)


def err() -> Console:
    return _console(stderr=True)


def table(*columns: str, title: str | None = None) -> Table:
    """A listing with a header row; right-align columns whose name starts with '#'."""
    t = Table(
        box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False, show_edge=False
    )
    for name in columns:
        if name.startswith("#"):
            t.add_column(name[1:], justify="right", no_wrap=True)
        else:
            t.add_column(name, overflow="fold")
    return t


async def user_id_of(services: Services, name: str | None) -> int | None:
    """None (no --user) means everyone's."""
    return (await services.accounts.user_by_name(name)).id if name else None
