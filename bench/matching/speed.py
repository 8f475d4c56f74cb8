"""How long the fuzzy step takes over a large tracker library.

    python -m bench.matching.speed [--shows 1000] [--calls 200]

The fuzzy step runs only for Plex shows no id settles, once per new show, so this is a
ceiling check, not a hot path: it should stay around a millisecond for 1,000 shows.
"""

from __future__ import annotations

import argparse
import statistics
import time

from core.fuzzy import Candidate, decide

WORDS = ["red", "blue", "night", "court", "house", "star", "dark", "lost", "city", "law"]


def library(size: int) -> list[Candidate]:
    return [
        Candidate(
            i,
            f"The {WORDS[i % 10].title()} {WORDS[(i // 10) % 10]} {i}",
            1960 + i % 60,
            aliases=(f"{WORDS[(i // 100) % 10]} & {i}",),
        )
        for i in range(size)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shows", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    shows = library(args.shows)
    started = time.perf_counter()
    decide("Warm the cache", 2000, shows)
    first = time.perf_counter() - started
    times = []
    for i in range(args.calls):
        started = time.perf_counter()
        decide(f"The Night Court {i}", 2012, shows)
        times.append(time.perf_counter() - started)
    times.sort()
    print(
        f"decide() over {args.shows} shows: first call {first * 1000:.1f} ms (normalises "
        f"every title), then median {statistics.median(times) * 1000:.2f} ms, "
        f"p99 {times[int(len(times) * 0.99) - 1] * 1000:.2f} ms over {args.calls} calls"
    )


if __name__ == "__main__":
    main()
