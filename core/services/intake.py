"""Webhook intake: validate, decide what is worth processing, and persist before answering."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from core.db import webhook_logs
from core.db.plex_config import PlexConfig
from core.db.pool import Pool
from core.db.webhook_logs import NewLog
from core.errors import InvalidInputError
from core.metrics import Metrics
from core.payload import (
    PlexWebhook,
    account_problem,
    parse_payload_for_storage,
    scrobble_keys,
    scrobble_problem,
)
from core.tracker.ratings import RATE_EVENT, record_rating

log = logging.getLogger(__name__)

RAW_BODY_KEEP = 8 * 1024  # enough of a bad body to see what was wrong, not a whole upload
# What one log line or stored reason may quote from a payload: a fuzzer's megabyte-long
# event name or title must not become a megabyte of log per request.
QUOTE_CHARS = 80
REASON_CHARS = 300


def quoted(value: object, limit: int = QUOTE_CHARS) -> str:
    """Payload text as a log line or a stored reason may show it: cut to `limit` characters,
    and repr'd when it holds line breaks or control characters (no forged log lines)."""
    text = value if isinstance(value, str) else str(value)
    cut = text[:limit]
    shown = cut if cut.isprintable() else repr(cut)
    return shown if len(text) <= limit else f"{shown}…(+{len(text) - limit} chars)"


def _clip(text: str, limit: int = REASON_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass(frozen=True)
class Verdict:
    status: str  # pending, ignored, failed
    action: str | None
    reason: str | None


@dataclass(frozen=True)
class Accepted:
    log_id: int
    status: str
    http_status: int
    message: str


def is_followed_account(hook: PlexWebhook, config: PlexConfig) -> bool:
    """Whose watches count: the chosen accounts (ids, titles as a convenience), else the
    token's owner. Plex's local admin account often has id 1 rather than the plex.tv id."""
    account = hook.account
    account_id = account.id if account else None
    title = (account.title or "").casefold() if account else ""
    if config.followed_accounts:
        chosen = {a.casefold() for a in config.followed_accounts}
        return (account_id is not None and account_id.casefold() in chosen) or (
            bool(title) and title in chosen
        )
    if config.plex_account_id is None and not config.plex_username:
        return True  # owner unknown (token not verified): every account counts
    owner_ids = {"1"} | ({str(config.plex_account_id)} if config.plex_account_id else set())
    if account_id in owner_ids:
        return True
    return bool(title) and title == (config.plex_username or "").casefold()


def judge(hook: PlexWebhook, config: PlexConfig) -> Verdict:
    """What to do with a valid webhook, decided at the edge so only scrobbles reach the queue."""
    if not config.enabled:
        return Verdict("ignored", "sync_disabled", "Plex sync is disabled for this user")
    if hook.event != "media.scrobble":
        return Verdict("ignored", "ignored_event", f"{quoted(hook.event)} is not a scrobble")
    meta = hook.metadata
    if meta is None:
        # A scrobble says what was watched; without that there is nothing to record.
        return Verdict("failed", "invalid_payload", scrobble_problem(hook))
    media_type = meta.media_type
    if media_type != "episode":
        what = quoted(media_type) if media_type else "unknown media"
        return Verdict("ignored", "ignored_media_type", f"{what} is not a TV episode")
    if config.server_uuid and (hook.server is None or hook.server.uuid != config.server_uuid):
        return Verdict("ignored", "ignored_server", "server not followed")
    if problem := account_problem(hook):  # whose watch it is must be readable to decide
        return Verdict("failed", "invalid_payload", problem)
    if not is_followed_account(hook, config):
        return Verdict("ignored", "ignored_account", "account not followed")
    if not config.auto_mark_watched:
        return Verdict("ignored", "auto_mark_off", "auto-mark watched is off")
    if problem := scrobble_problem(hook):
        return Verdict("failed", "invalid_payload", problem)
    return Verdict("pending", None, None)


def new_log(
    user_id: int,
    hook: PlexWebhook,
    verdict: Verdict,
    *,
    payload_json: str,
    raw_body: str | None = None,
    elapsed_ms: int | None = None,
) -> NewLog:
    """The log row for a parsed webhook. A queued scrobble carries its normalised keys (the
    worker's SQL reads these columns; its Python path derives the same with the same
    `scrobble_keys`); other rows carry what the payload says, for the logs."""
    meta = hook.metadata
    keys = scrobble_keys(hook) if verdict.status == "pending" else None
    watched_at = keys.watched_at if keys else None
    return NewLog(
        user_id=user_id,
        event_type=hook.event,
        status=verdict.status,
        action_taken=verdict.action,
        payload_json=payload_json,
        raw_body=raw_body,
        plex_account_id=keys.account_key if keys else (hook.account.id if hook.account else None),
        plex_rating_key=keys.show_key if keys else (meta.plex_show_key if meta else None),
        plex_item_key=keys.item_key if keys else (meta.rating_key if meta else None),
        plex_title=(meta.grandparent_title or meta.title) if meta else None,
        plex_season=keys.season if keys else (meta.season if meta else None),
        plex_episode=keys.episode if keys else (meta.episode if meta else None),
        error_message=_clip(verdict.reason) if verdict.reason else None,
        processing_duration_ms=None if verdict.status == "pending" else elapsed_ms,
        plex_watched_at=datetime.fromtimestamp(watched_at, UTC) if watched_at else None,
    )


class LogWriter:
    """Inserts log rows, grouping the ones that arrive while an insert is on its way.

    With one webhook at a time each is written at once; with many at once they share one
    statement and one connection, instead of queueing for pool connections one by one.
    Nothing is answered before its row is committed.
    """

    MAX_BATCH = 128

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._waiting: list[tuple[NewLog, asyncio.Future[int]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, new: NewLog) -> int:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append((new, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="webhook-log-writer")
        return await done

    async def _flush(self) -> None:
        while self._waiting:
            batch = self._waiting[: self.MAX_BATCH]
            del self._waiting[: self.MAX_BATCH]
            try:
                async with self._pool.acquire() as conn:
                    ids = await webhook_logs.insert_many(conn, [new for new, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc)
                else:
                    # One row the database refuses must not fail the others: go one by one.
                    await self._write_singly(batch)
                continue
            for (_, done), log_id in zip(batch, ids, strict=True):
                _settle(done, log_id)

    async def _write_singly(self, batch: list[tuple[NewLog, asyncio.Future[int]]]) -> None:
        for new, done in batch:
            try:
                async with self._pool.acquire() as conn:
                    (log_id,) = await webhook_logs.insert_many(conn, [new])
            except Exception as exc:
                _settle(done, exc)
            else:
                _settle(done, log_id)


def _settle(done: asyncio.Future[int], result: int | BaseException) -> None:
    if done.done():  # the request went away meanwhile
        return
    if isinstance(result, BaseException):
        done.set_exception(result)
    else:
        done.set_result(result)


class WebhookIntake:
    def __init__(self, *, pool: Pool, metrics: Metrics) -> None:
        self._pool = pool
        self._metrics = metrics
        self._writer = LogWriter(pool)
        self.queued = asyncio.Event()  # set when a scrobble is queued, so the worker wakes

    async def accept(self, user_id: int, config: PlexConfig, payload_text: str | bytes) -> Accepted:
        started = time.perf_counter()
        try:
            parsed = parse_payload_for_storage(payload_text)
        except InvalidInputError as exc:
            return await self.reject(user_id, str(exc), raw_body=payload_text)
        hook = parsed.hook
        verdict = judge(hook, config)
        if hook.event == RATE_EVENT and verdict.action == "ignored_event":
            # A rating is stored now (core/tracker/ratings.py); the row says what happened.
            followed = is_followed_account(hook, config)
            rated = await record_rating(
                self._pool, user_id, config, hook, parsed.raw, followed=followed
            )
            verdict = Verdict(rated.status, rated.action, rated.reason)
        # Numbers that jsonb can't hold were dropped from the stored payload: keep the body
        # as it came too (its first part), so nothing the sender said is lost.
        raw_body = _excerpt(payload_text) if parsed.dropped else None
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        new = new_log(
            user_id,
            hook,
            verdict,
            payload_json=parsed.text,
            raw_body=raw_body,
            elapsed_ms=elapsed_ms,
        )
        log_id = await self._writer.write(new)
        if verdict.status == "pending":
            self.queued.set()
            return Accepted(log_id, "pending", 200, "queued")
        self._metrics.webhooks.labels(status=verdict.status, event=hook.event).inc()
        # The event is quoted once; a reason that only restates it is left out.
        reason = "" if verdict.action == "ignored_event" else f" ({_clip(verdict.reason or '')})"
        log.info(
            "webhook %d user=%d event=%s status=%s action=%s%s",
            log_id,
            user_id,
            quoted(hook.event),
            verdict.status,
            verdict.action,
            reason,
        )
        if verdict.status == "failed":
            return Accepted(log_id, "failed", 400, new.error_message or "invalid payload")
        return Accepted(log_id, verdict.status, 200, new.error_message or verdict.status)

    async def reject(
        self,
        user_id: int,
        reason: str,
        *,
        raw_body: str | bytes | None = None,
        http_status: int = 400,
    ) -> Accepted:
        """Bad input from a known user: a `failed` row saying why, and a 4xx for the sender."""
        reason = _clip(reason)
        log_id = await self._writer.write(
            NewLog(
                user_id=user_id,
                event_type=None,
                status="failed",
                action_taken="invalid_payload",
                raw_body=_excerpt(raw_body) if raw_body else None,
                error_message=reason,
                processing_duration_ms=0,
            ),
        )
        self._metrics.webhooks.labels(status="failed", event="invalid").inc()
        log.info("webhook %d user=%d rejected: %s", log_id, user_id, reason)
        return Accepted(log_id, "failed", http_status, reason)


def _excerpt(body: str | bytes) -> str:
    """The first RAW_BODY_KEEP bytes of a body, as text PostgreSQL will store."""
    if isinstance(body, bytes):
        body = body[:RAW_BODY_KEEP].decode("utf-8", "replace")
    text = body[:RAW_BODY_KEEP].replace("\x00", "")
    # Lone surrogates can't be stored either (text given to us already decoded).
    return text.encode("utf-8", "replace").decode("utf-8")
