"""The activity chart: PNG size and render time, and what importing matplotlib costs.

    python -m bench.chart_render [--rounds 20] [--days 30] [--shows 12]

A realistic month (or week) of watching over `--shows` shows (the chart stacks the top 5
and lumps the rest as "Other"), drawn the way /plex status and the weekly recap draw it.
Prints the import time (paid once per process, on first use, not at start-up), the first
render, then the median and p95 of the next renders, and the PNG's size in bytes.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import date, timedelta


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--shows", type=int, default=12)
    args = parser.parse_args()

    from core.db.tv_progress import DayCount
    from core.tracker.activity import activity_from

    rng = random.Random(7)
    start = date(2025, 1, 1)
    counts = [
        DayCount(start + timedelta(days=d), s, f"Show number {s}", rng.randint(1, 4), 45)
        for d in range(args.days)
        for s in range(args.shows)
        if rng.random() < 0.25
    ]
    activity = activity_from(counts, start, args.days)
    assert "matplotlib" not in sys.modules, "matplotlib must not be imported before first use"

    began = time.perf_counter()
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401

    imported = time.perf_counter() - began
    from core.tracker.chart import render_activity_png

    title = f"alice · last {args.days} days"
    began = time.perf_counter()
    png = render_activity_png(activity, title=title)
    first = time.perf_counter() - began
    times = []
    for _ in range(args.rounds):
        began = time.perf_counter()
        png = render_activity_png(activity, title=title)
        times.append(time.perf_counter() - began)
    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    print(
        f"{args.days} days, {activity.episodes} episodes over {activity.shows} shows "
        f"({len(activity.series)} series drawn)"
    )
    print(f"import matplotlib: {imported * 1000:.0f} ms (once per process, on first chart)")
    print(f"first render: {first * 1000:.0f} ms")
    print(
        f"render: median {statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms "
        f"over {args.rounds} rounds"
    )
    print(f"PNG: {len(png):,} bytes, 800 x 360 px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
