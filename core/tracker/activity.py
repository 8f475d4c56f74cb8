"""What was watched over a period, shaped for the chart and the weekly recap. Pure
functions of the day counts; no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from core.db.tv_progress import DayCount

TOP_SHOWS = 5  # the chart stacks these and lumps the rest as "Other"


@dataclass(frozen=True)
class Series:
    name: str
    episodes: tuple[int, ...]  # one per day


@dataclass(frozen=True)
class Activity:
    start: date
    days: tuple[date, ...]
    series: tuple[Series, ...]  # top shows by episodes, then "Other" when there are more
    hours: tuple[float, ...]  # per day
    episodes: int
    minutes: int
    shows: int

    @property
    def empty(self) -> bool:
        return self.episodes == 0

    @property
    def busiest(self) -> tuple[date, int] | None:
        totals = [sum(s.episodes[i] for s in self.series) for i in range(len(self.days))]
        if not totals or max(totals) == 0:
            return None
        best = max(range(len(totals)), key=lambda i: (totals[i], self.days[i]))
        return self.days[best], totals[best]


@dataclass(frozen=True)
class RecapStats:
    week_start: date
    activity: Activity
    finished: tuple[str, ...]  # shows completed this week
    top_show: str | None
    streak: int  # consecutive days with a watch, ending on the week's last watch day
    longest_in_week: int


def activity_from(counts: Sequence[DayCount], start: date, days: int) -> Activity:
    day_list = tuple(start + timedelta(days=i) for i in range(days))
    index = {d: i for i, d in enumerate(day_list)}
    per_show: dict[int, list[int]] = defaultdict(lambda: [0] * days)
    names: dict[int, str] = {}
    minutes = [0] * days
    for c in counts:
        i = index.get(c.day)
        if i is None:
            continue
        per_show[c.show_id][i] += c.episodes
        names[c.show_id] = c.show_title
        minutes[i] += c.minutes
    ranked = sorted(per_show, key=lambda s: (-sum(per_show[s]), names[s].casefold(), s))
    series = [Series(names[s], tuple(per_show[s])) for s in ranked[:TOP_SHOWS]]
    rest = ranked[TOP_SHOWS:]
    if rest:
        other = tuple(sum(per_show[s][i] for s in rest) for i in range(days))
        series.append(Series(f"Other ({len(rest)} shows)", other))
    return Activity(
        start=start,
        days=day_list,
        series=tuple(series),
        hours=tuple(round(m / 60, 2) for m in minutes),
        episodes=sum(sum(v) for v in per_show.values()),
        minutes=sum(minutes),
        shows=len(per_show),
    )


def streak_ending(days_desc: Sequence[date], last: date) -> int:
    """Consecutive days with a watch, counting back from `last` (0 if none on `last`)."""
    seen = set(days_desc)
    streak, day = 0, last
    while day in seen:
        streak += 1
        day -= timedelta(days=1)
    return streak


def recap_from(
    counts: Sequence[DayCount], week_start: date, finished: Sequence[str], days_desc: Sequence[date]
) -> RecapStats:
    activity = activity_from(counts, week_start, 7)
    watched_days = [d for d, total in zip(activity.days, _totals(activity), strict=True) if total]
    longest = run = 0
    for day in activity.days:
        run = run + 1 if day in watched_days else 0
        longest = max(longest, run)
    streak = streak_ending(days_desc, watched_days[-1]) if watched_days else 0
    return RecapStats(
        week_start=week_start,
        activity=activity,
        finished=tuple(finished),
        top_show=activity.series[0].name if activity.series and not activity.empty else None,
        streak=streak,
        longest_in_week=longest,
    )


def _totals(activity: Activity) -> list[int]:
    return [sum(s.episodes[i] for s in activity.series) for i in range(len(activity.days))]
