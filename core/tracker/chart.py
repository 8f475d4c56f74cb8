"""The activity chart: episodes per day stacked by the top shows, hours on a second axis,
as a PNG for Discord (/plex status, the weekly recap).

matplotlib is imported on first use, not at start-up (it costs a few hundred milliseconds
and, the very first time on a machine, building its font cache), and only its object API
and the Agg canvas are used: no pyplot, no GUI backend, no global figure state, so charts
can be drawn in a worker thread while the event loop carries on.
"""

from __future__ import annotations

import functools
import io
from datetime import date

from core.tracker.activity import Activity

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 3.6, 100  # 800 x 360 px: readable inside a Discord embed
BACKGROUND = "#2b2d31"  # Discord's dark embed colour, so the chart sits in the embed
TEXT = "#dbdee1"
GRID = "#3f4147"
HOURS = "#f0b232"
PALETTE = ("#5865f2", "#57f287", "#eb459e", "#3ba55d", "#00a8fc", "#949cf7")
FONT = "DejaVu Sans"  # ships with matplotlib, so every install draws the same


def render_activity_png(activity: Activity, *, title: str) -> bytes:
    """The chart as PNG bytes. CPU-bound (tens of milliseconds): call it in a thread."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_facecolor(BACKGROUND)
    positions = list(range(len(activity.days)))
    bottom = [0] * len(positions)
    for colour, series in zip(_colours(len(activity.series)), activity.series, strict=True):
        ax.bar(
            positions,
            series.episodes,
            bottom=bottom,
            width=0.8,
            color=colour,
            label=_drawable(series.name, 28),
            linewidth=0,
        )
        bottom = [b + e for b, e in zip(bottom, series.episodes, strict=True)]
    hours_ax = ax.twinx()
    hours_ax.plot(
        positions,
        activity.hours,
        color=HOURS,
        linewidth=1.6,
        marker="o",
        markersize=2.5,
        label="hours",
    )
    top = max(bottom, default=0)
    ax.set_ylim(0, max(top * 1.1, 1))
    hours_ax.set_ylim(0, max(max(activity.hours, default=0) * 1.1, 1))
    ax.set_ylabel("episodes", color=TEXT, fontsize=9, fontfamily=FONT)
    hours_ax.set_ylabel("hours", color=HOURS, fontsize=9, fontfamily=FONT)
    fig.suptitle(_drawable(title, 80), color=TEXT, fontsize=11, x=0.01, y=0.98, ha="left")
    step = max(1, len(positions) // 8)
    ax.set_xticks(positions[::step], [_day_label(d) for d in activity.days[::step]])
    for axis in (ax, hours_ax):
        axis.tick_params(colors=TEXT, labelsize=8)
        for spine in axis.spines.values():
            spine.set_color(GRID)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = hours_ax.get_legend_handles_labels()
    # The legend gets a band of its own under the title, so it never hides a bar.
    entries = len(handles) + len(more_handles)
    columns = 4
    legend = fig.legend(
        handles + more_handles,
        labels + more_labels,
        loc="upper left",
        bbox_to_anchor=(0.01, 0.93),
        fontsize=7.5,
        frameon=False,
        ncols=min(columns, max(1, entries)),
    )
    for text in legend.get_texts():
        text.set_color(TEXT)
    rows = -(-entries // columns)
    # Fixed margins rather than tight_layout, which measures every artist and would more
    # than a third of the render time; the labels' sizes hardly vary.
    fig.subplots_adjust(left=0.075, right=0.925, bottom=0.1, top=0.9 - 0.06 * rows)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor=BACKGROUND)
    return buffer.getvalue()


def _colours(n: int) -> list[str]:
    return [PALETTE[i % len(PALETTE)] if i < 5 else "#80848e" for i in range(n)]


def _day_label(day: date) -> str:
    return f"{day:%b} {day.day}"


@functools.cache
def _charmap() -> frozenset[int]:
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    path = font_manager.findfont(font_manager.FontProperties(family=FONT))
    return frozenset(FT2Font(path).get_charmap())


def _drawable(text: str, limit: int) -> str:
    """Show titles in scripts the font lacks (CJK, emoji) would draw as empty boxes and
    make matplotlib warn on every glyph: such characters become '?'."""
    known = _charmap()
    cleaned = "".join(c if ord(c) in known or c == " " else "?" for c in text)
    # '$' starts mathtext in matplotlib; a literal one must be escaped.
    cleaned = cleaned.replace("$", r"\$")
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
