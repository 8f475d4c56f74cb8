"""Multi-episode files: one file holding several episodes (`Show - S01E04-E05.mkv`).

Plex lists each episode of such a file as its own item, but a play of the file marks (and
scrobbles) only the first. When the file name spells out the range, every episode in it
is watched. Recognised, case-insensitively, after the first `SxxEyy` (or `1x04`):

    S01E04-E05, S01E04-05, S01E04-S01E05, 1x04-1x05, 1x04-05   a range: 4, 5
    S01E04E05, S01E04E05E06, S01E04 E05                         a list: 4, 5 (, 6)

A name is trusted only when it is unambiguous: the season must agree with Plex's, Plex's
episode must be in the range, and a range may span at most MAX_SPAN episodes (a stray
"-720" is not episode 720).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_SPAN = 10

_FIRST = re.compile(
    r"(?<![a-z0-9])(?:s(?P<s>\d{1,3})[ ._]?e(?P<e>\d{1,4})|(?P<xs>\d{1,2})x(?P<xe>\d{1,3}))",
    re.IGNORECASE,
)
# One more episode after the first: "-E05", "E05", " E05", "-S01E05", "-1x05", "-05"; a
# letter right after it ends the name's episode part, unless it starts the next "E06".
_NEXT = re.compile(
    r"(?P<sep>[-_ ]?)(?:(?:s(?P<s>\d{1,3}))?e(?P<e>\d{1,4})|(?P<xs>\d{1,2})x(?P<xe>\d{1,3}))"
    r"(?![0-9a-df-z])|(?P<dash>-)(?P<bare>\d{1,3})(?![a-z0-9])",
    re.IGNORECASE,
)


def episodes_in_name(path: str) -> tuple[int, tuple[int, ...]] | None:
    """(season, episodes) a file name covers when it names two or more; else None."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    first = _FIRST.search(name)
    if first is None:
        return None
    season = int(first["s"] if first["s"] is not None else first["xs"])
    numbers = [int(first["e"] if first["e"] is not None else first["xe"])]
    is_range = False
    pos = first.end()
    while (nxt := _NEXT.match(name, pos)) is not None:
        if nxt["bare"] is not None:
            number, next_season, dashed = int(nxt["bare"]), season, True
        else:
            other = nxt["s"] if nxt["s"] is not None else nxt["xs"]
            next_season = int(other) if other is not None else season
            number = int(nxt["e"] if nxt["e"] is not None else nxt["xe"])
            dashed = nxt["sep"] == "-"
        if next_season != season:
            return None  # spans seasons: not something we can trust
        numbers.append(number)
        is_range = is_range or dashed
        pos = nxt.end()
    if len(numbers) < 2:
        return None
    if is_range:
        low, high = numbers[0], numbers[-1]
        if high <= low or high - low + 1 > MAX_SPAN:
            return None
        return season, tuple(range(low, high + 1))
    if len(set(numbers)) != len(numbers) or len(numbers) > MAX_SPAN:
        return None
    return season, tuple(sorted(numbers))


def also_watched(files: Iterable[str], season: int, episode: int) -> tuple[int, ...]:
    """The other episodes of `season` that a play of this episode's file covers."""
    for path in files:
        found = episodes_in_name(path)
        if found is None:
            continue
        file_season, numbers = found
        if file_season == season and episode in numbers:
            return tuple(n for n in numbers if n != episode)
    return ()
