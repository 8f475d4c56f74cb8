"""Fuzzy scorer: decisions as a table over a small tracker full of look-alikes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.fuzzy import (
    DEFAULT_THRESHOLD,
    NO_MATCH_FLOOR,
    Candidate,
    FuzzyDecision,
    ScoredCandidate,
    decide,
    rank,
)

TRACKER: tuple[Candidate, ...] = (
    Candidate(1, "Doctor Who", 1963, tmdb_id=121),
    Candidate(2, "Doctor Who", 2005, tmdb_id=57243),
    Candidate(3, "Battlestar Galactica", 1978),
    Candidate(4, "Battlestar Galactica", 2004),
    Candidate(5, "The Office", 2001, aliases=("The Office (UK)",)),
    Candidate(6, "The Office", 2005, aliases=("The Office (US)",)),
    Candidate(7, "Queer as Folk", 1999, aliases=("Queer as Folk (UK)",)),
    Candidate(8, "Queer as Folk", 2000, aliases=("Queer as Folk (US)",)),
    Candidate(9, "Marvel's Daredevil", 2015),
    Candidate(10, "Law & Order: Special Victims Unit", 1999, aliases=("Law & Order: SVU",)),
    Candidate(11, "Money Heist", 2017, original_title="La casa de papel"),
    Candidate(12, "You", 2018),
    Candidate(13, "Lost", 2004),
    Candidate(14, "Dark", 2017),
    Candidate(15, "9-1-1", 2018),
    Candidate(16, "9-1-1: Lone Star", 2020),
    Candidate(17, "1883", 2021),
    Candidate(18, "Firefly", None),
    Candidate(19, "Hawaii Five-O", 1968),
    Candidate(20, "Hawaii Five-0", 2010),
    Candidate(21, "Penn & Teller: Bullshit!", 2003),
    Candidate(22, "Star Trek: Deep Space Nine", 1993),
    Candidate(23, "Shōgun", 2024),
    Candidate(24, "Dexter", 2006),
    Candidate(25, "Dexter: New Blood", 2021),
    Candidate(26, "Breaking Bad", 2008),
)

# (plex title, year, expected auto show id or None, expected conflict type or None)
DECISIONS: list[tuple[str, int | None, int | None, str | None]] = [
    # Same title, year decides.
    ("Doctor Who", 1963, 1, None),
    ("Doctor Who (2005)", 2005, 2, None),
    ("Doctor Who (2005)", None, 2, None),  # year from the title suffix
    ("Battlestar Galactica (2003)", 2003, 4, None),  # one year off: TVDB vs TMDB
    ("Hawaii Five-0", 2010, 20, None),
    ("Hawaii Five-O", 1968, 19, None),
    # Same title, unknown year: never a guess.
    ("Doctor Who", None, None, "multiple_matches"),
    ("The Office", None, None, "multiple_matches"),
    # Same title, other decade, not in the tracker: the nearest namesake is not it.
    ("Doctor Who (2023)", 2023, None, "low_confidence"),
    ("Battlestar Galactica", 1990, None, "low_confidence"),
    # Country suffix and year.
    ("The Office (US)", 2005, 6, None),
    ("The Office (UK)", 2001, 5, None),
    ("The Office (US)", None, None, "low_confidence"),
    ("Queer as Folk (US)", 2000, 8, None),
    ("Queer as Folk", 2000, None, "multiple_matches"),  # one year from the UK show
    ("The Office (AU)", 2024, None, "no_match"),  # other country and other decade
    # Prefixes, "&", original titles, accents.
    ("Daredevil", 2015, 9, None),
    ("Law and Order: SVU", 1999, 10, None),
    ("La Casa de Papel", 2017, 11, None),
    ("Shogun", 2024, 23, None),
    ("Penn & Teller: Bullsh*t!", 2003, 21, None),  # censored spelling, fuzzy but close
    # Short and numeric titles never partial-match.
    ("You", 2018, 12, None),
    ("You're the Worst", 2014, None, "no_match"),
    ("Lost Girl", 2010, None, "no_match"),
    ("Dark Winds", 2022, None, "no_match"),
    ("9-1-1", 2018, 15, None),
    ("9-1-1: Lone Star", 2020, 16, None),
    ("1899", 2022, None, "no_match"),
    ("Dexter: Original Sin", 2024, None, "no_match"),
    # An unknown year on either side is never automatic, even for a unique title: the
    # tracker may hold only the other version of a remade show.
    ("Firefly", 2002, None, "low_confidence"),
    ("Breaking Bad", None, None, "low_confidence"),
    # Near but not near enough to act alone.
    ("Star Trek: Deep Space 9", 1993, None, "low_confidence"),
    ("Something Else Entirely", 2020, None, "no_match"),
]


@pytest.mark.parametrize(("title", "year", "auto_id", "conflict"), DECISIONS)
def test_decide(title: str, year: int | None, auto_id: int | None, conflict: str | None) -> None:
    decision = decide(title, year, TRACKER)
    got = decision.auto.candidate.show_id if decision.auto else None
    assert (got, decision.conflict_type) == (auto_id, conflict), decision
    assert len(decision.candidates) <= 5
    if decision.auto is not None:
        assert decision.auto == decision.candidates[0]
        assert decision.auto.confidence >= DEFAULT_THRESHOLD


@pytest.mark.parametrize(
    ("title", "year", "expected_id"),
    [
        ("Doctor Who", None, 2),
        ("The Office", None, 6),
        ("Queer as Folk", 2000, 8),
        ("Star Trek: Deep Space 9", 1993, 22),
        ("Doctor Who (2023)", 2023, 2),
    ],
)
def test_conflicts_list_the_right_show(title: str, year: int | None, expected_id: int) -> None:
    decision = decide(title, year, TRACKER)
    assert decision.auto is None
    assert expected_id in {s.candidate.show_id for s in decision.candidates}


def test_two_exact_matches_same_year_are_a_conflict() -> None:
    duplicates = [Candidate(1, "Lupin", 2021), Candidate(2, "Lupin", 2021)]
    decision = decide("Lupin", 2021, duplicates)
    assert decision.conflict_type == "multiple_matches"
    assert [s.candidate.show_id for s in decision.candidates] == [1, 2]


def test_namesake_with_unknown_year_blocks_auto() -> None:
    shows = [Candidate(1, "Charmed", 2018), Candidate(2, "Charmed", None)]
    assert decide("Charmed", 2018, shows).conflict_type == "multiple_matches"


def test_unknown_year_auto_only_when_caller_lowers_threshold() -> None:
    assert decide("Breaking Bad", None, TRACKER, threshold=0.88).auto is not None
    # ...and even then a same-title show of another year keeps it a conflict,
    # while a namesake from another country does not.
    assert decide("Doctor Who", None, TRACKER, threshold=0.88).auto is None
    office = decide("The Office (US)", None, TRACKER, threshold=0.88)
    assert office.auto is not None and office.auto.candidate.show_id == 6


def test_margin_and_threshold_are_respected() -> None:
    shows = [Candidate(1, "Battlestar Galactica", 2004)]
    assert decide("Battlestar Galactica", 2003, shows).auto is not None  # 0.96
    strict = decide("Battlestar Galactica", 2003, shows, threshold=0.99)
    assert strict.conflict_type == "low_confidence"
    two = [Candidate(1, "Dark", 2017), Candidate(2, "Dark", 2018)]
    assert decide("Dark", 2017, two, margin=0.0).auto is not None
    assert decide("Dark", 2017, two).conflict_type == "multiple_matches"


def test_empty_tracker_is_no_match() -> None:
    assert decide("Breaking Bad", 2008, []) == FuzzyDecision(None, "no_match", ())


def test_rank_explains_itself() -> None:
    best = rank("The Office (US)", 2005, TRACKER)[0]
    assert best.candidate.show_id == 6
    assert best.why == "title 1.00, year 2005 = 2005"
    money = rank("La Casa de Papel", 2017, TRACKER)[0]
    assert "'La casa de papel'" in money.why
    uk = next(s for s in rank("The Office (US)", 2001, TRACKER) if s.candidate.show_id == 5)
    assert "country US ≠ UK" in uk.why


def test_rank_is_sorted_and_bounded() -> None:
    ranked = rank("Doctor Who", 2005, TRACKER)
    assert ranked == sorted(ranked, key=lambda s: (-s.confidence, s.candidate.show_id))
    assert all(0.0 <= s.confidence <= 1.0 for s in ranked)


@given(title=st.text(max_size=40), year=st.one_of(st.none(), st.integers(1900, 2100)))
@settings(max_examples=200)
def test_decide_is_total(title: str, year: int | None) -> None:
    decision = decide(title, year, TRACKER)
    assert (decision.auto is None) != (decision.conflict_type is None)
    assert decision.conflict_type in (None, "no_match", "multiple_matches", "low_confidence")
    if decision.conflict_type == "no_match" and decision.candidates:
        assert decision.candidates[0].confidence < NO_MATCH_FLOOR


def test_scored_candidate_is_plain_data() -> None:
    scored = ScoredCandidate(TRACKER[0], 1.0, "title 1.00")
    assert scored.candidate.title == "Doctor Who"
