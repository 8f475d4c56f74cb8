"""Fuzzy title + year matching of a Plex show against the user's tracker shows.

Pure, no I/O. The last step of the matching cascade, used only when no external id
matched. A wrong automatic match silently marks the wrong show, so every rule here leans
towards a conflict (the user picks) rather than a guess.

confidence = title similarity x year factor x country factor, where
- title similarity is 1.0 for equal normalised titles (best of title, original title and
  aliases) and the squared Indel ratio otherwise, so only near-identical titles come
  close to the threshold; plain ratio, never partial ratio, so "Lost" is not "Lost Girl";
- the year factor is 1.0 for the same year, a little less for one year apart (TVDB and
  TMDB disagree about late-December premieres and pilots), and far below the threshold
  beyond two years: same title, another decade, another show (Doctor Who 1963/2005).
  An unknown year keeps a show just under the threshold: a conflict, never a guess;
- a known country on both sides that differs ("(US)" vs "(UK)") is another show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from core.titles import normalize_title, split_title_year, title_country

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_THRESHOLD",
    "NO_MATCH_FLOOR",
    "Candidate",
    "FuzzyDecision",
    "ScoredCandidate",
    "decide",
    "rank",
]

DEFAULT_THRESHOLD = 0.90
# Auto-map only when this far ahead of the runner-up. 0.05 separates "same year" (1.0)
# from "one year off" (0.96): Queer as Folk UK 1999 / US 2000 must be a conflict.
DEFAULT_MARGIN = 0.05
# Below this the best candidate is not a plausible match at all.
NO_MATCH_FLOOR = 0.5
MAX_CANDIDATES = 5

# Titles scoring at least this against each other are "the same title" for the
# unknown-year rule (a remake or a namesake rather than a different show).
_NAMESAKE = 0.9
# Pre-filter for rapidfuzz: Indel ratio (0..100) below this cannot reach NO_MATCH_FLOOR
# after squaring, but is kept low so conflicts still list the nearest shows.
_RATIO_CUTOFF = 40.0

_YEAR_FACTORS = {0: 1.0, 1: 0.96, 2: 0.85}
_YEAR_FAR = 0.6
# Unknown year (either side): below the default threshold, so never automatic. Even a
# unique exact title may be the remake the tracker does not have (Doctor Who without a
# year, tracker holding only 1963). A caller lowering the threshold to 0.88 accepts that
# risk; same-title shows then still block it (see _ambiguous_year).
_YEAR_UNKNOWN = 0.88
_COUNTRY_MISMATCH = 0.5


@dataclass(frozen=True)
class Candidate:
    """A show in the user's tracker."""

    show_id: int
    title: str
    year: int | None
    original_title: str | None = None
    aliases: tuple[str, ...] = ()
    tmdb_id: int | None = None


@dataclass(frozen=True)
class ScoredCandidate:
    candidate: Candidate
    confidence: float
    why: str


@dataclass(frozen=True)
class FuzzyDecision:
    """`auto` is set when the show can be mapped without asking; otherwise
    `conflict_type` says why not and `candidates` lists the best few, best first."""

    auto: ScoredCandidate | None
    conflict_type: str | None
    candidates: tuple[ScoredCandidate, ...]


@dataclass(frozen=True)
class _Prepared:
    names: tuple[str, ...]  # normalised, deduplicated; the first is the main title
    labels: tuple[str, ...]  # the raw names, for `why`
    year: int | None
    country: str | None


_CACHED_TITLE_CHARS = 300  # real titles are far shorter; a webhook's may be megabytes


@lru_cache(maxsize=65536)
def _normalize_cached(title: str) -> str:
    return normalize_title(title)


def _normalize(title: str) -> str:
    # A tracker's titles change rarely; caching keeps a ranking over 1,000 shows cheap. Only
    # short ones are cached, so the cache stays bounded in bytes (65,536 x 300 characters).
    if len(title) > _CACHED_TITLE_CHARS:
        return normalize_title(title)
    return _normalize_cached(title)


@lru_cache(maxsize=16384)
def _prepare(candidate: Candidate) -> _Prepared:
    raw = [candidate.title]
    if candidate.original_title:
        raw.append(candidate.original_title)
    raw.extend(candidate.aliases)
    names: list[str] = []
    labels: list[str] = []
    country: str | None = None
    for label in raw:
        key = _normalize(label)
        country = country or title_country(label)
        if key and key not in names:
            names.append(key)
            labels.append(label)
    year = candidate.year
    if year is None:
        year = split_title_year(candidate.title)[1]
    return _Prepared(tuple(names), tuple(labels), year, country)


def _title_similarity(ratio: float) -> float:
    """Indel ratio (0..100) -> similarity; only an exact key scores 1.0."""
    if ratio >= 100.0:
        return 1.0
    return (ratio / 100.0) ** 2


def _year_factor(query: int | None, show: int | None) -> tuple[float, str]:
    if query is None or show is None:
        return _YEAR_UNKNOWN, f"year {query or '?'} / {show or '?'} unknown"
    gap = abs(query - show)
    if gap == 0:
        return 1.0, f"year {query} = {show}"
    return _YEAR_FACTORS.get(gap, _YEAR_FAR), f"year {query} ≠ {show}"


def rank(title: str, year: int | None, candidates: Sequence[Candidate]) -> list[ScoredCandidate]:
    """Score every plausible candidate for a Plex show, best first.

    `title` may carry Plex's suffixes ("Doctor Who (2005)", "The Office (US)"); a year in
    the title is used when `year` is None. Candidates whose titles are nowhere near are
    left out.
    """
    _, title_year = split_title_year(title)
    if year is None:
        year = title_year
    query = _normalize(title)
    country = title_country(title)

    prepared = [_prepare(c) for c in candidates]
    choices: list[str] = []
    owners: list[int] = []
    starts: list[int] = []  # index in `choices` of each candidate's first name
    for index, prep in enumerate(prepared):
        starts.append(len(choices))
        choices.extend(prep.names)
        owners.extend([index] * len(prep.names))

    best: dict[int, tuple[float, int]] = {}  # candidate index -> (ratio, name index)
    for _, ratio, choice_index in process.extract(
        query,
        choices,
        scorer=fuzz.ratio,
        processor=None,
        limit=None,
        score_cutoff=_RATIO_CUTOFF,
    ):
        owner = owners[choice_index]
        if owner not in best or ratio > best[owner][0]:
            best[owner] = (ratio, choice_index)

    scored: list[ScoredCandidate] = []
    for owner, (ratio, choice_index) in best.items():
        prep = prepared[owner]
        similarity = _title_similarity(ratio)
        name_index = choice_index - starts[owner]
        why = [f"title {similarity:.2f}"]
        if name_index > 0:
            why[0] += f" ({prep.labels[name_index]!r})"
        year_factor, year_why = _year_factor(year, prep.year)
        why.append(year_why)
        country_factor = 1.0
        if country and prep.country and country != prep.country:
            country_factor = _COUNTRY_MISMATCH
            why.append(f"country {country} ≠ {prep.country}")
        confidence = round(similarity * year_factor * country_factor, 4)
        scored.append(ScoredCandidate(candidates[owner], confidence, ", ".join(why)))
    # Ties: lower show_id first, so the order is stable across runs.
    scored.sort(key=lambda s: (-s.confidence, s.candidate.show_id))
    return scored


def _ambiguous_year(
    best: ScoredCandidate, others: Sequence[ScoredCandidate], year: int | None, country: str | None
) -> bool:
    """An unknown year anywhere among same-title shows makes the pick a guess.

    A namesake whose known country differs from the query's ("(UK)" vs "(US)") is told
    apart by the country and does not count.
    """
    prep = _prepare(best.candidate)
    for other in others:
        other_prep = _prepare(other.candidate)
        if country and other_prep.country and other_prep.country != country:
            continue
        same_title = any(
            fuzz.ratio(a, b) / 100.0 >= _NAMESAKE for a in prep.names for b in other_prep.names
        )
        if same_title and None in (year, prep.year, other_prep.year):
            return True
    return False


def decide(
    title: str,
    year: int | None,
    candidates: Sequence[Candidate],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    margin: float = DEFAULT_MARGIN,
) -> FuzzyDecision:
    """Map automatically or explain why not.

    Auto only when the best candidate is at or above `threshold`, at least `margin`
    ahead of the runner-up, and no same-title show leaves the year in doubt. Otherwise
    a conflict: "no_match" (best below NO_MATCH_FLOOR), "multiple_matches" (two or more
    plausible shows too close to call: the runner-up within `margin` of the best and
    no more than `margin` under the threshold, or a same-title show of unknown year) or
    "low_confidence" (one plausible show, not sure enough).
    """
    if year is None:
        year = split_title_year(title)[1]
    ranked = rank(title, year, candidates)
    shortlist = tuple(ranked[:MAX_CANDIDATES])
    if not ranked or ranked[0].confidence < NO_MATCH_FLOOR:
        return FuzzyDecision(None, "no_match", shortlist)
    best = ranked[0]
    runner_up = ranked[1].confidence if len(ranked) > 1 else 0.0
    too_close = best.confidence - runner_up < margin and runner_up >= threshold - margin
    if best.confidence >= threshold and best.confidence - runner_up >= margin:
        if not _ambiguous_year(best, ranked[1:], year, title_country(title)):
            return FuzzyDecision(best, None, shortlist)
        return FuzzyDecision(None, "multiple_matches", shortlist)
    if too_close:
        return FuzzyDecision(None, "multiple_matches", shortlist)
    return FuzzyDecision(None, "low_confidence", shortlist)
