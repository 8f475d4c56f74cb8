"""`plex-tracker shows import | list`: the tracker's shows."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.progress_bar import ProgressBar

from app.cli_common import Command, Subparsers, err, out, table
from core.errors import InvalidInputError
from core.services.container import Services


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except IsADirectoryError:
        raise InvalidInputError(f"{path} is a folder, not a JSON file") from None
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{path} is not UTF-8 text (byte {exc.start}): save it as UTF-8 JSON"
        ) from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from None


async def cmd_shows_import(services: Services, args: argparse.Namespace) -> int:
    text = await asyncio.to_thread(_read, args.file)
    user = await services.accounts.user_by_name(args.user)
    e = err()
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        console=e,
        transient=True,
        disable=not e.is_terminal,
    ) as progress:
        task = progress.add_task("import", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = await services.library.import_shows(user.id, text, progress=advance)
    out().print(
        f"imported {result.created + result.updated} shows for {user.name}: "
        f"{result.created} new, {result.updated} updated, {result.episodes} episodes"
    )
    return 0


async def cmd_shows_list(services: Services, args: argparse.Namespace) -> int:
    user = await services.accounts.user_by_name(args.user)
    shows = await services.library.list_shows(user.id)
    if not shows:
        out().print(f"{user.name} has no shows yet: import some with `plex-tracker shows import`")
        return 0
    o = out()
    bars = o.is_terminal  # a bar is for eyes; piped output keeps the numbers only
    t = table("#id", "title", *(["progress"] if bars else []), "#watched", "#%", "tmdb")
    for show in shows:
        total = show.total_episodes
        bar = [ProgressBar(total=max(total, 1), completed=show.watched_episodes, width=20)]
        t.add_row(
            str(show.id),
            show.title + (f" ({show.year})" if show.year else ""),
            *(bar if bars else []),
            f"{show.watched_episodes}/{total}",
            f"{100 * show.watched_episodes // total}%" if total else "-",
            str(show.tmdb_id) if show.tmdb_id else "",
        )
    o.print(t)
    return 0


def add_parsers(sub: Subparsers) -> None:
    shows = sub.add_parser("shows", help="the tracker's shows: import, list")
    shows_sub = shows.add_subparsers(dest="shows_command", required=True)
    imp = shows_sub.add_parser(
        "import", help="import shows from a JSON file (all or nothing; re-import updates)"
    )
    imp.add_argument("file", help="a JSON list of shows (format in the README)")
    imp.add_argument("--user", required=True, help="whose tracker")
    lst = shows_sub.add_parser("list", help="list shows with progress")
    lst.add_argument("--user", required=True, help="whose tracker")


COMMANDS: dict[str, Command] = {
    "shows import": cmd_shows_import,
    "shows list": cmd_shows_list,
}
