"""Processing one queued scrobble: duplicate check, match, mark the episode, say what happened."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from core.clients.errors import UpstreamError
from core.crypto import CryptoError
from core.db import plex_config, scrobbles, tvshows
from core.db.pool import Conn
from core.db.webhook_logs import QueuedLog
from core.payload import Metadata, PlexWebhook, ScrobbleKeys, scrobble_keys, scrobble_problem
from core.services.conflicts import ConflictService
from core.services.matching import IgnoredShow, Matched, Matcher, Unmatched
from core.services.plex_servers import ServerUnreachable
from core.services.shows import ShowCatalog
from core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    status: str  # success, failed, ignored, duplicate, or pending when held behind a conflict
    action: str
    tvshow_id: int | None = None
    error: str | None = None
    retryable: bool = False
    conflict_id: int | None = None


class WebhookProcessor:
    def __init__(
        self,
        *,
        matcher: Matcher,
        conflicts: ConflictService,
        catalog: ShowCatalog,
        settings: Settings,
    ) -> None:
        self._matcher = matcher
        self._conflicts = conflicts
        self._catalog = catalog
        self._settings = settings

    @staticmethod
    def _parse(row: QueuedLog) -> tuple[PlexWebhook, Metadata, ScrobbleKeys] | Outcome:
        """The stored payload, read by the same model and rules as intake, so these keys are
        the ones on the log row (which the SQL fast path reads)."""
        try:
            hook = PlexWebhook.model_validate(row.payload)
        except ValidationError:
            return Outcome("failed", "invalid_payload", error="stored payload no longer validates")
        keys = scrobble_keys(hook)
        if hook.metadata is None or keys is None:
            return Outcome("failed", "invalid_payload", error=scrobble_problem(hook))
        return hook, hook.metadata, keys

    async def _is_first(self, conn: Conn, row: QueuedLog, keys: ScrobbleKeys) -> bool:
        return await scrobbles.first_in_window(
            conn,
            user_id=row.user_id,
            account_id=keys.account_key,
            item_key=keys.item_key,
            seen_at=row.created_at,
            log_id=row.id,
            window_seconds=self._settings.duplicate_window_seconds,
        )

    async def process(self, conn: Conn, row: QueuedLog, *, replay: bool = False) -> Outcome:
        """Run inside the caller's transaction; everything it writes commits or rolls back
        together with the log row's new status, so a crash never half-processes a scrobble."""
        parsed = self._parse(row)
        if isinstance(parsed, Outcome):
            return parsed
        hook, meta, keys = parsed
        if not replay and not await self._is_first(conn, row, keys):
            return Outcome("duplicate", "duplicate_scrobble")
        try:
            # The common case, a show already mapped, needs nothing more than its mapping: a
            # mapped show never has an open conflict (resolving one creates the mapping).
            result = await self._matcher.existing(conn, row.user_id, keys.show_key)
            if result is None:
                if not replay:
                    # Later scrobbles of a show with an open conflict queue behind it, in order.
                    held = await self._conflicts.held_behind(conn, row.user_id, keys.show_key)
                    if held is not None:
                        return Outcome("pending", "held_for_conflict", conflict_id=held)
                config = await plex_config.get(conn, row.user_id)
                if config is None:
                    return Outcome("ignored", "not_connected", error="Plex is no longer connected")
                result = await self._matcher.match(
                    conn, row.user_id, config, meta, hook.server.uuid if hook.server else None
                )
            if isinstance(result, IgnoredShow):
                return Outcome("ignored", "show_ignored", error=result.reason)
            if isinstance(result, Unmatched):
                settled = await self._conflicts.handle_unmatched(
                    conn, row.user_id, result.plex, row.id
                )
                if not isinstance(settled, Matched):
                    # conflict_created, or held_for_conflict when another scrobble of the
                    # show raised it a moment ago
                    return Outcome("pending", settled.action, conflict_id=settled.conflict_id)
                result = settled
            return await self._mark(conn, row, result, keys)
        except ServerUnreachable as exc:  # the message says what to do; told once per outage
            return Outcome("failed", "server_unreachable", error=str(exc), retryable=True)
        except UpstreamError as exc:
            return Outcome("failed", "upstream_error", error=str(exc), retryable=exc.retryable)
        except CryptoError as exc:
            return Outcome("failed", "decrypt_failed", error=str(exc))

    async def _mark(
        self, conn: Conn, row: QueuedLog, matched: Matched, keys: ScrobbleKeys
    ) -> Outcome:
        show = matched.show
        season, episode = keys.season, keys.episode
        watched_at = _watched_at(row, keys)
        result = await tvshows.mark_episode_watched(conn, show.id, season, episode, watched_at)
        # A new episode the tracker hasn't heard of: ask TMDB for that season once.
        if not result.known and await self._catalog.refresh_season(conn, show, season):
            result = await tvshows.mark_episode_watched(conn, show.id, season, episode, watched_at)
        if not result.known:
            return Outcome(
                "failed",
                "episode_unknown",
                tvshow_id=show.id,
                error=f"S{season:02d}E{episode:02d} of {show.title!r} is not in the tracker (yet)",
                retryable=True,
            )
        if matched.added:
            action = "show_added"
        else:
            action = "marked_watched" if result.newly_watched else "already_watched"
        return Outcome("success", action, tvshow_id=show.id)


def _watched_at(row: QueuedLog, keys: ScrobbleKeys) -> datetime:
    """When Plex says it was watched, else when the webhook arrived."""
    if keys.watched_at:
        return datetime.fromtimestamp(keys.watched_at, UTC)
    return row.created_at
