"""When the ids don't settle it: fuzzy title + year, else a conflict the owner decides."""

from __future__ import annotations

import logging
from typing import Any

from core.clients.errors import UpstreamError
from core.clients.tmdb import TmdbClient
from core.db import conflicts, outbox, tvshows, webhook_logs
from core.db.pool import Conn
from core.fuzzy import Candidate, ScoredCandidate, decide, rank
from core.metrics import Metrics
from core.services.matching import Matched, Matcher, PlexShow

log = logging.getLogger(__name__)

MAX_CANDIDATES = 5


def _candidate_json(scored: ScoredCandidate, source: str) -> dict[str, Any]:
    c = scored.candidate
    return {
        "source": source,
        "tvshow_id": c.show_id if source == "tracker" else None,
        "tmdb_id": c.tmdb_id,
        "title": c.title,
        "year": c.year,
        "confidence": round(scored.confidence, 3),
        "why": scored.why,
    }


class ConflictService:
    def __init__(
        self, *, tmdb: TmdbClient, matcher: Matcher, metrics: Metrics, threshold: float
    ) -> None:
        self._tmdb = tmdb
        self._matcher = matcher
        self._metrics = metrics
        self._threshold = threshold

    async def held_behind(self, conn: Conn, user_id: int, rating_key: str) -> int | None:
        """The open conflict a new scrobble of this Plex show must queue behind, if any."""
        found = await conflicts.open_for_show(conn, user_id, rating_key)
        return found.id if found else None

    async def handle_unmatched(
        self, conn: Conn, user_id: int, plex: PlexShow, log_id: int
    ) -> Matched | int:
        """Map by title when certain (returns Matched); otherwise hold the scrobble behind
        the show's open conflict, creating it with candidates (returns the conflict id)."""
        rows = await tvshows.fuzzy_candidates(conn, user_id)
        library = [
            Candidate(
                show_id=r["id"],
                title=r["title"],
                year=r["year"],
                original_title=r["original_title"],
                aliases=tuple(r["aliases"] or ()),
                tmdb_id=r["tmdb_id"],
            )
            for r in rows
        ]
        decision = decide(plex.title, plex.year, library, threshold=self._threshold)
        if decision.auto is not None:
            show = await tvshows.get(conn, user_id, decision.auto.candidate.show_id)
            assert show is not None
            result = Matched(show, "fuzzy", decision.auto.confidence)
            await self._matcher.remember(conn, user_id, plex, result)
            return result
        candidates = [_candidate_json(s, "tracker") for s in decision.candidates]
        if len(candidates) < MAX_CANDIDATES:
            candidates += await self._tmdb_candidates(plex, {c["tmdb_id"] for c in candidates})
        candidates.sort(key=lambda c: -float(c["confidence"]))
        conflict, created = await conflicts.create_or_get_open(
            conn,
            user_id=user_id,
            plex_rating_key=plex.rating_key,
            plex_guid=plex.guid,
            plex_title=plex.title,
            plex_year=plex.year,
            plex_thumb=plex.thumb,
            conflict_type=decision.conflict_type or "low_confidence",
            potential_matches=candidates[:MAX_CANDIDATES],
        )
        await webhook_logs.hold(
            conn, log_id, conflict.id, "conflict_created" if created else "held_for_conflict"
        )
        if created:
            await outbox.enqueue(conn, user_id=user_id, kind="conflict", ref_id=conflict.id)
            log.info(
                "user %d: conflict %d (%s) for Plex show %r, %d candidates",
                user_id,
                conflict.id,
                conflict.conflict_type,
                plex.title,
                len(candidates),
            )
        return conflict.id

    async def _tmdb_candidates(self, plex: PlexShow, seen: set[Any]) -> list[dict[str, Any]]:
        """TMDB's idea of this show, to offer as "add new": the known id, else a search."""
        if not self._tmdb.configured:
            return []
        found: list[Candidate] = []
        try:
            if plex.ids.tmdb_id is not None:
                details = await self._tmdb.tv(plex.ids.tmdb_id)
                found.append(
                    Candidate(
                        0, details.name, details.year, details.original_name, tmdb_id=details.id
                    )
                )
            else:
                for year in (plex.year, None) if plex.year else (None,):
                    results = await self._tmdb.search_tv(plex.title, year)
                    found = [
                        Candidate(0, r.name, r.year, r.original_name, tmdb_id=r.id)
                        for r in results[:MAX_CANDIDATES]
                    ]
                    if found:
                        break
        except UpstreamError as exc:
            # The conflict still helps without TMDB's suggestions; the user can search later.
            log.warning("TMDB suggestions for %r unavailable: %s", plex.title, exc)
            return []
        scored = rank(plex.title, plex.year, found) if found else []
        by_id = {s.candidate.tmdb_id: s for s in scored}
        out = []
        for c in found:
            if c.tmdb_id in seen:
                continue
            s = by_id.get(c.tmdb_id) or ScoredCandidate(c, 0.0, "TMDB search")
            if plex.ids.tmdb_id == c.tmdb_id:
                s = ScoredCandidate(c, 1.0, "TMDB id from Plex; not in your tracker")
            out.append(_candidate_json(s, "tmdb"))
        return out
