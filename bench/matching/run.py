"""Matching accuracy benchmark: `decide` over real Plex titles against a real tracker.

Run from the repository root: `python -m bench.matching.run` (or `python
bench/matching/run.py`). Exits non-zero when any entry is mapped automatically to the
wrong show, the one outcome that silently corrupts a user's tracker, also when re-run
with the right show removed from the library.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make `core` importable from the repository root.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.fuzzy import Candidate, FuzzyDecision, decide

HERE = Path(__file__).resolve().parent
LIBRARY = HERE / "library.json"
ENTRIES = HERE / "plex_entries.json"


@dataclass(frozen=True)
class Entry:
    plex_title: str
    year: int | None
    expected: int | None  # tracker show id; None = not in the library
    note: str


@dataclass(frozen=True)
class Outcome:
    entry: Entry
    decision: FuzzyDecision

    @property
    def auto_id(self) -> int | None:
        auto = self.decision.auto
        return auto.candidate.show_id if auto else None

    @property
    def wrong_auto(self) -> bool:
        return self.decision.auto is not None and self.auto_id != self.entry.expected

    @property
    def conflict_ok(self) -> bool:
        """A conflict is right when it offers the right show, or when there is none to
        offer: for a show not in the library the answer is "add new" / TMDB search."""
        if self.decision.auto is not None:
            return False
        if self.entry.expected is None:
            return True
        return any(s.candidate.show_id == self.entry.expected for s in self.decision.candidates)


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def entries(self) -> int:
        return len(self.outcomes)

    @property
    def wrong_auto(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.wrong_auto]

    @property
    def auto(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.decision.auto is not None]

    @property
    def conflicts(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.decision.auto is None]

    @property
    def in_library_conflicts(self) -> list[Outcome]:
        return [o for o in self.conflicts if o.entry.expected is not None]

    @property
    def auto_share(self) -> float:
        return len(self.auto) / self.entries if self.entries else 0.0

    @property
    def conflict_ok_share(self) -> float:
        conflicts = self.conflicts
        return sum(o.conflict_ok for o in conflicts) / len(conflicts) if conflicts else 1.0

    @property
    def in_library_conflict_ok_share(self) -> float:
        conflicts = self.in_library_conflicts
        return sum(o.conflict_ok for o in conflicts) / len(conflicts) if conflicts else 1.0

    @property
    def in_library(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.entry.expected is not None]

    @property
    def in_library_auto_share(self) -> float:
        rows = self.in_library
        return sum(o.decision.auto is not None for o in rows) / len(rows) if rows else 0.0


def _load(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list")
    return data


def load_library(path: Path = LIBRARY) -> list[Candidate]:
    return [
        Candidate(
            show_id=int(row["id"]),
            title=str(row["title"]),
            year=row.get("year"),
            original_title=row.get("original_title"),
            aliases=tuple(row.get("aliases", ())),
            tmdb_id=row.get("tmdb_id"),
        )
        for row in _load(path)
    ]


def load_entries(path: Path = ENTRIES) -> list[Entry]:
    return [
        Entry(
            plex_title=str(row["plex_title"]),
            year=row.get("year"),
            expected=row.get("expected"),
            note=str(row.get("note", "")),
        )
        for row in _load(path)
    ]


def evaluate(library: list[Candidate] | None = None, entries: list[Entry] | None = None) -> Report:
    """Run `decide` (default threshold and margin) for every entry."""
    library = load_library() if library is None else library
    entries = load_entries() if entries is None else entries
    known = {c.show_id for c in library}
    report = Report()
    for entry in entries:
        if entry.expected is not None and entry.expected not in known:
            raise ValueError(f"{entry.plex_title!r}: expected id {entry.expected} not in library")
        report.outcomes.append(Outcome(entry, decide(entry.plex_title, entry.year, library)))
    return report


def evaluate_without_answer(
    library: list[Candidate] | None = None, entries: list[Entry] | None = None
) -> list[Outcome]:
    """Every in-library entry again, with its show taken out of the library.

    Turns each entry into a "not in library" trap (the tracker holds only the other
    version of a remade show, only the spin-off, ...): any automatic match is wrong.
    """
    library = load_library() if library is None else library
    entries = load_entries() if entries is None else entries
    outcomes = []
    for entry in entries:
        if entry.expected is None:
            continue
        rest = [c for c in library if c.show_id != entry.expected]
        missing = Entry(entry.plex_title, entry.year, None, f"{entry.note} (answer removed)")
        outcomes.append(Outcome(missing, decide(entry.plex_title, entry.year, rest)))
    return outcomes


def _describe(outcome: Outcome, titles: dict[int, str]) -> str:
    entry, decision = outcome.entry, outcome.decision
    expected = titles.get(entry.expected, "?") if entry.expected else "not in library"
    head = f"{entry.plex_title!r} ({entry.year or '?'}) expected {expected}"
    if decision.auto is not None:
        got = decision.auto
        return (
            f"{head}: AUTO -> #{got.candidate.show_id} {titles[got.candidate.show_id]} [{got.why}]"
        )
    shown = "; ".join(
        f"#{s.candidate.show_id} {titles[s.candidate.show_id]} {s.confidence:.2f}"
        for s in decision.candidates
    )
    return f"{head}: {decision.conflict_type} [{shown or 'no candidates'}]"


def main() -> int:
    library = load_library()
    titles = {c.show_id: f"{c.title} ({c.year or '?'})" for c in library}
    report = evaluate(library)
    in_lib_conflicts = report.in_library_conflicts
    print(f"library shows:                  {len(library)}")
    print(
        f"entries:                        {report.entries} "
        f"({len(report.in_library)} in the library, "
        f"{report.entries - len(report.in_library)} not)"
    )
    print(f"wrong automatic matches:        {len(report.wrong_auto)} (goal 0)")
    print(
        f"resolved automatically:         {report.auto_share:.1%} of all entries, "
        f"{report.in_library_auto_share:.1%} of in-library entries"
    )
    print(
        f"conflicts with the right answer: {report.conflict_ok_share:.1%} of "
        f"{len(report.conflicts)} conflicts ({report.in_library_conflict_ok_share:.1%} of "
        f"{len(in_lib_conflicts)} in-library conflicts)"
    )
    print(
        "  (for a show not in the library a conflict counts as right: the answer there is\n"
        "   'add as new show' / TMDB search, not one of the tracker's shows)"
    )
    removed = evaluate_without_answer(library)
    removed_wrong = [o for o in removed if o.wrong_auto]
    print(
        f"with the right show removed:    {len(removed_wrong)} wrong automatic matches "
        f"in {len(removed)} re-runs (goal 0)"
    )
    misses = [
        o
        for o in report.outcomes
        if o.wrong_auto or (o.decision.auto is None and not o.conflict_ok)
    ]
    print(f"\nmisses ({len(misses)}):")
    for outcome in misses + removed_wrong:
        print("  " + _describe(outcome, titles))
    # In-library entries that needed a human: not errors, but where the auto share goes.
    print(f"\nin-library entries left to the user ({len(in_lib_conflicts)}):")
    for outcome in in_lib_conflicts:
        print("  " + _describe(outcome, titles))
    return 1 if report.wrong_auto or removed_wrong else 0


if __name__ == "__main__":
    sys.exit(main())
