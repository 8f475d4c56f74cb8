"""The matching benchmark as a test: no wrong automatic match, ever."""

from __future__ import annotations

from bench.matching.run import evaluate, evaluate_without_answer

# Measured on 2026-11-23 with the default threshold (0.90) and margin (0.05): 271 entries
# (215 in the library), 0 wrong automatic matches, 74.5% of all entries and 94.0% of the
# in-library ones mapped automatically (the rest are conflicts: unknown years, near-miss
# spellings). The floors leave a little room for tuning.
MIN_AUTO_SHARE = 0.73
MIN_IN_LIBRARY_AUTO_SHARE = 0.92


def test_matching_benchmark() -> None:
    report = evaluate()
    assert report.entries >= 150
    assert len(report.in_library) >= 100
    assert report.entries - len(report.in_library) >= 25

    wrong = [(o.entry.plex_title, o.entry.year, o.auto_id) for o in report.wrong_auto]
    assert wrong == []

    missing = [
        (o.entry.plex_title, o.entry.year) for o in report.in_library_conflicts if not o.conflict_ok
    ]
    assert missing == []
    assert report.in_library_conflict_ok_share == 1.0

    assert report.auto_share >= MIN_AUTO_SHARE
    assert report.in_library_auto_share >= MIN_IN_LIBRARY_AUTO_SHARE


def test_matching_benchmark_with_the_answer_removed() -> None:
    """Each in-library entry again without its show: nothing may be auto-mapped."""
    outcomes = evaluate_without_answer()
    assert len(outcomes) >= 100
    wrong = [(o.entry.plex_title, o.entry.year, o.auto_id) for o in outcomes if o.wrong_auto]
    assert wrong == []
