"""When the ids don't settle it: fuzzy title + year, else a conflict the owner decides.

Creation (`handle_unmatched`, from the queue worker) holds the scrobble behind the Plex
show's one open conflict; later scrobbles of that show queue behind it (`held_behind`).
Resolution (`resolve`, from the CLI, the JSON API and Discord) records the owner's choice
as a manual mapping or an ignore rule and replays the held scrobbles in order, in one
transaction with the conflict row locked, so resolving twice is harmless.

Joining and resolving exclude each other: a worker joins (or opens) a conflict only while it
holds the Plex show's matching lock (`mappings.lock_plex_show`, taken by `Matcher.match`),
or with the open conflict share-locked (`held_behind`); `resolve` takes both the lock and the
conflict row. The retry job re-queues anything found held behind a resolved conflict anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from core.clients.errors import NotFound, UpstreamError
from core.clients.tmdb import TmdbClient
from core.db import conflicts, mappings, outbox, tvshows, webhook_logs
from core.db.conflicts import Conflict
from core.db.mappings import NewMapping
from core.db.pool import Conn, Pool
from core.db.tvshows import Show
from core.db.webhook_logs import QueuedLog
from core.errors import DomainError, InvalidInputError, NotFoundError
from core.fuzzy import Candidate, ScoredCandidate, decide, rank
from core.guid import MAX_ID, parse_guid
from core.metrics import Metrics
from core.services.matching import Matched, Matcher, PlexShow
from core.services.shows import ShowCatalog

if TYPE_CHECKING:
    from core.services.processor import Outcome

log = logging.getLogger(__name__)

MAX_CANDIDATES = 5
# Replay outcomes that count as "an episode got marked".
_MARKED = frozenset({"marked_watched", "show_added"})


@dataclass(frozen=True)
class Held:
    """The scrobble waits behind this open conflict (`created`: it raised it)."""

    conflict_id: int
    created: bool

    @property
    def action(self) -> str:
        return "conflict_created" if self.created else "held_for_conflict"


# -- the owner's choice -------------------------------------------------------------------
@dataclass(frozen=True)
class Pick:
    """Candidate `number` as listed, 1 = the first of `potential_matches`: a tracker show,
    or a TMDB show that is then added to the tracker with its episodes."""

    number: int


@dataclass(frozen=True)
class UseTmdb:
    """This TMDB show: the tracker's show with that id, else added from TMDB."""

    tmdb_id: int


@dataclass(frozen=True)
class UseShow:
    """Any show already in the owner's tracker."""

    show_id: int


@dataclass(frozen=True)
class Ignore:
    """Never sync this Plex show: its held and future scrobbles are ignored."""


Choice = Pick | UseTmdb | UseShow | Ignore


def parse_choice(text: str) -> Choice:
    """`pick:N`, `tmdb:N`, `show:N` or `ignore`: a choice carried as text (buttons, forms)."""
    kind, _, value = text.strip().lower().partition(":")
    if kind == "ignore" and not value:
        return Ignore()
    makers: dict[str, type[Pick] | type[UseTmdb] | type[UseShow]] = {
        "pick": Pick,
        "tmdb": UseTmdb,
        "show": UseShow,
    }
    if kind in makers and value.isdigit() and int(value) > 0:
        return makers[kind](int(value))
    raise InvalidInputError(f"unknown choice {text[:40]!r}: use pick:N, tmdb:N, show:N or ignore")


@dataclass(frozen=True)
class Resolution:
    """What resolving did: everything an edge needs to tell the owner."""

    conflict_id: int
    user_id: int
    plex_title: str
    action: str  # picked, added, chose_show, ignored
    tvshow_id: int | None
    tvshow_title: str | None
    held: int  # scrobbles that were held behind the conflict and got replayed
    episodes_marked: int  # of those, episodes newly marked watched
    already_resolved: bool  # resolved earlier: nothing was done now
    resolved_by: str | None
    resolved_at: datetime | None


class ResolveHook(Protocol):
    """Applies what waited behind a resolved conflict; `show` None: it is ignored."""

    async def __call__(
        self, conn: Conn, conflict: Conflict, show: Show | None
    ) -> tuple[int, int]: ...


class Replayer(Protocol):
    """The queue worker: runs one row in a savepoint and records its outcome."""

    async def process_one(self, conn: Conn, row: QueuedLog, *, replay: bool = False) -> Outcome: ...


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
        self,
        *,
        pool: Pool,
        tmdb: TmdbClient,
        matcher: Matcher,
        catalog: ShowCatalog,
        metrics: Metrics,
        threshold: float,
    ) -> None:
        self._pool = pool
        self._tmdb = tmdb
        self._matcher = matcher
        self._catalog = catalog
        self._metrics = metrics
        self._threshold = threshold
        self._replayer: Replayer | None = None
        self._resolve_hooks: list[ResolveHook] = []

    def replay_with(self, replayer: Replayer) -> None:
        """The worker is built after this service (it needs the processor, which needs
        this), so the composition root hands it over once both exist."""
        self._replayer = replayer

    def on_resolve(self, hook: ResolveHook) -> None:
        """Also apply what others hold behind a conflict (history sync's episodes) when it
        is resolved, in the same transaction; the hook returns (held, newly marked)."""
        self._resolve_hooks.append(hook)

    async def held_behind(self, conn: Conn, user_id: int, rating_key: str) -> int | None:
        """The open conflict a new scrobble of this Plex show must queue behind, if any.

        Share-locked: while `resolve` holds the conflict this waits, then sees it resolved
        and the scrobble goes through the new mapping instead of being parked for ever;
        and `resolve` waits for a transaction that has just parked one, then replays it."""
        found = await conflicts.open_for_show(conn, user_id, rating_key, for_share=True)
        return found.id if found else None

    async def handle_unmatched(
        self, conn: Conn, user_id: int, plex: PlexShow, log_id: int | None
    ) -> Matched | Held:
        """Map by title when certain (returns Matched); otherwise hold the scrobble behind
        the show's open conflict, creating it with candidates. `log_id` None: the caller
        holds what it has itself (history sync holds episodes, not a webhook row)."""
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
        held = Held(conflict.id, created)
        if log_id is not None:
            await webhook_logs.hold(conn, log_id, conflict.id, held.action)
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
        return held

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

    # -- reading and resolving ------------------------------------------------------------
    async def list_open(self, user_id: int | None) -> list[Conflict]:
        """Open conflicts, oldest first; every user's when `user_id` is None (operator)."""
        async with self._pool.acquire() as conn:
            return await conflicts.list_open(conn, user_id)

    async def get(self, user_id: int | None, conflict_id: int) -> Conflict:
        """One conflict, open or resolved. Another user's is "not found", like a missing one."""
        async with self._pool.acquire() as conn:
            found = await conflicts.get(conn, conflict_id)
        if found is None or (user_id is not None and found.user_id != user_id):
            raise NotFoundError(f"no conflict {conflict_id}")
        return found

    async def resolve(
        self, conflict_id: int, *, user_id: int | None, choice: Choice, resolved_by: str
    ) -> Resolution:
        """Record the owner's choice and replay the held scrobbles, all in one transaction.

        `user_id` None is the operator (CLI without --user); otherwise a conflict of another
        user is NotFoundError. The conflict row is locked first, so a second resolution
        (double click, two people at once) waits, finds it resolved and returns the first
        outcome without doing anything. Any error rolls everything back: nothing is lost.
        """
        if self._replayer is None:
            raise RuntimeError("ConflictService.replay_with(worker) was not called")
        async with self._pool.acquire() as conn, conn.transaction():
            found = await conflicts.get(conn, conflict_id)
            if found is None or (user_id is not None and found.user_id != user_id):
                raise NotFoundError(f"no conflict {conflict_id}")
            # A worker matching this Plex show holds its lock from before it looks for the
            # open conflict until its scrobble is parked behind it (committed): wait for it,
            # so the replay below sees that scrobble, and a worker that comes later finds
            # the mapping instead of opening a second conflict. Taken before the conflict
            # row, the order the worker takes them in.
            await mappings.lock_plex_show(conn, found.user_id, found.plex_rating_key)
            conflict = await conflicts.get(conn, conflict_id, for_update=True)
            if conflict is None:  # resolved long ago and pruned meanwhile
                raise NotFoundError(f"no conflict {conflict_id}")
            if conflict.resolved:
                return await self._resolution(conn, conflict, already_resolved=True)
            show, action = await self._apply(conn, conflict, choice)
            await conflicts.mark_resolved(
                conn,
                conflict.id,
                tvshow_id=show.id if show else None,
                action=action,
                resolved_by=resolved_by,
            )
            # In arrival order; each in its own savepoint, so one bad row fails alone
            # (recorded as failed, retryable where it makes sense) instead of undoing this.
            rows = await webhook_logs.claim_held(conn, conflict.id)
            marked = 0
            for row in rows:
                outcome = await self._replayer.process_one(conn, row, replay=True)
                if outcome.status == "success" and outcome.action in _MARKED:
                    marked += 1
            replayed = len(rows)
            for hook in self._resolve_hooks:
                held, newly = await hook(conn, conflict, show)
                replayed, marked = replayed + held, marked + newly
            await conflicts.record_replay(conn, conflict.id, replayed=replayed, marked=marked)
            log.info(
                "user %d: conflict %d (%r) resolved by %s: %s%s; replayed %d, marked %d",
                conflict.user_id,
                conflict.id,
                conflict.plex_title,
                resolved_by,
                action,
                f" -> show {show.id}" if show else "",
                replayed,
                marked,
            )
            done = await conflicts.get(conn, conflict.id)
            assert done is not None
            return await self._resolution(conn, done, already_resolved=False)

    async def _apply(
        self, conn: Conn, conflict: Conflict, choice: Choice
    ) -> tuple[Show | None, str]:
        """Write the mapping (or ignore rule) the choice asks for; (show, action)."""
        user_id = conflict.user_id
        if isinstance(choice, Ignore):
            await mappings.upsert(
                conn,
                NewMapping(
                    user_id=user_id,
                    plex_rating_key=conflict.plex_rating_key,
                    plex_guid=conflict.plex_guid,
                    plex_title=conflict.plex_title,
                    plex_year=conflict.plex_year,
                    tvshow_id=None,
                    tmdb_id=None,
                    tvdb_id=None,
                    imdb_id=None,
                    match_confidence=None,
                    match_method="ignored",
                    manually_confirmed=True,
                    sync_enabled=False,
                ),
            )
            return None, "ignored"
        if isinstance(choice, Pick):
            options = conflict.potential_matches
            if not 1 <= choice.number <= len(options):
                listed = f"1 to {len(options)}" if options else "none"
                raise InvalidInputError(
                    f"conflict {conflict.id} has no candidate {choice.number} (candidates: "
                    f"{listed}); choose a show by TMDB id or tracker show id instead"
                )
            picked = options[choice.number - 1]
            if picked.get("tvshow_id") is not None:
                show = await self._tracker_show(conn, user_id, int(picked["tvshow_id"]))
                action = "picked"
            elif picked.get("tmdb_id") is not None:
                show = await self._tmdb_show(conn, user_id, int(picked["tmdb_id"]))
                action = "added"
            else:
                raise InvalidInputError(f"candidate {choice.number} names no show")
        elif isinstance(choice, UseTmdb):
            show = await self._tmdb_show(conn, user_id, choice.tmdb_id)
            action = "added"
        else:
            show = await self._tracker_show(conn, user_id, choice.show_id)
            action = "chose_show"
        plex = PlexShow(
            conflict.plex_rating_key,
            conflict.plex_title,
            conflict.plex_year,
            conflict.plex_guid,
            parse_guid(conflict.plex_guid),
            conflict.plex_thumb,
        )
        await self._matcher.remember(conn, user_id, plex, Matched(show, "manual", 1.0), manual=True)
        return show, action

    async def _tracker_show(self, conn: Conn, user_id: int, show_id: int) -> Show:
        show = await tvshows.get(conn, user_id, show_id)
        if show is None:
            raise NotFoundError(f"show {show_id} is not in this user's tracker")
        return show

    async def _tmdb_show(self, conn: Conn, user_id: int, tmdb_id: int) -> Show:
        """The tracker's show with this TMDB id, else added from TMDB with its episodes."""
        if not 0 < tmdb_id <= MAX_ID:  # the column is an integer: refuse it before it
            raise InvalidInputError(f"{tmdb_id} is not a TMDB id (1 to {MAX_ID})")
        existing = await tvshows.by_external_id(conn, user_id, tmdb_id=tmdb_id)
        if existing is not None:
            return existing
        if not self._tmdb.configured:
            raise InvalidInputError(
                "TMDB is not configured (TMDB_API_KEY): choose a show already in the tracker"
            )
        try:
            show, _ = await self._catalog.add_from_tmdb(conn, user_id, tmdb_id)
        except NotFound:
            raise NotFoundError(f"TMDB has no TV show {tmdb_id}") from None
        except UpstreamError as exc:
            # Client messages name the service and status, never keys: safe to show.
            raise DomainError(f"could not add TMDB show {tmdb_id}: {exc}; try again") from None
        return show

    async def _resolution(
        self, conn: Conn, conflict: Conflict, *, already_resolved: bool
    ) -> Resolution:
        show = (
            await tvshows.get(conn, conflict.user_id, conflict.resolved_tvshow_id)
            if conflict.resolved_tvshow_id is not None
            else None
        )
        return Resolution(
            conflict_id=conflict.id,
            user_id=conflict.user_id,
            plex_title=conflict.plex_title,
            action=conflict.resolution_action or "?",
            tvshow_id=conflict.resolved_tvshow_id,
            tvshow_title=show.title if show else None,
            held=conflict.resolution_replayed or 0,
            episodes_marked=conflict.resolution_marked or 0,
            already_resolved=already_resolved,
            resolved_by=conflict.resolved_by,
            resolved_at=conflict.resolved_at,
        )
