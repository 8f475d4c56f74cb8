-- 0013: Plex watch history sync (issue 12). Plex never retries a webhook, so plex-tracker
-- also reads the server's own history: runs, how far each source has been applied
-- (watermarks that move only in the transaction that applied the work), the episodes
-- waiting behind a conflict, and per-user sync settings.

-- One row per sync run (CLI, job, API, Discord, after connect). Counters are updated as
-- pages are applied, so the API and Discord can show progress while it runs.
CREATE TABLE plex_sync_runs (
    id                bigserial PRIMARY KEY,
    user_id           bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    trigger           text NOT NULL,          -- cli, job, api, discord, connect
    mode              text NOT NULL CHECK (mode IN ('incremental', 'full', 'since')),
    since             timestamptz,            -- mode 'since': plays from this instant on
    dry_run           boolean NOT NULL DEFAULT false,
    state             text NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'interrupted')),
    server_id         text,                   -- the server's machineIdentifier
    phase             text,                   -- library, history
    progress_done     integer NOT NULL DEFAULT 0,
    progress_total    integer,
    shows_seen        integer NOT NULL DEFAULT 0,
    episodes_marked   integer NOT NULL DEFAULT 0,
    already_watched   integer NOT NULL DEFAULT 0,
    shows_added       integer NOT NULL DEFAULT 0,
    conflicts_raised  integer NOT NULL DEFAULT 0,
    episodes_held     integer NOT NULL DEFAULT 0,
    skipped           jsonb NOT NULL DEFAULT '{}',   -- reason -> count
    plex_requests     integer NOT NULL DEFAULT 0,
    error             text,
    host              text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    heartbeat_at      timestamptz,
    finished_at       timestamptz
);
CREATE INDEX plex_sync_runs_user ON plex_sync_runs (user_id, id DESC);
CREATE INDEX plex_sync_runs_queued ON plex_sync_runs (id) WHERE state = 'queued';
CREATE INDEX plex_sync_runs_running ON plex_sync_runs (heartbeat_at) WHERE state = 'running';

-- History read per (user, server, account), newest first. `watermark`: every play up to it
-- has been applied. While a run is part-way, `resume_*` say where it stopped: the next run
-- continues there with the same lower bound instead of starting over.
CREATE TABLE plex_sync_cursors (
    user_id         bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    server_id       text NOT NULL,
    account_id      text NOT NULL,
    watermark       timestamptz,
    resume_offset   integer,                  -- NULL: not resuming
    resume_since    timestamptz,              -- the interrupted run's lower bound (NULL: all)
    resume_newest   timestamptz,              -- the newest play it had seen
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, server_id, account_id)
);

-- The owner's library state per show: the show's `lastViewedAt` when its episodes were
-- last applied. A show whose `lastViewedAt` has not moved since needs no request.
CREATE TABLE plex_sync_shows (
    user_id         bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    server_id       text NOT NULL,
    show_key        text NOT NULL,
    last_viewed_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, server_id, show_key)
);

-- Episodes a sync found for a Plex show that is waiting behind a conflict: one row per
-- episode (the earliest play). Resolving the conflict marks them and deletes the rows.
CREATE TABLE plex_history_held (
    id             bigserial PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conflict_id    bigint NOT NULL REFERENCES plex_conflicts(id) ON DELETE CASCADE,
    show_key       text NOT NULL,
    season         integer NOT NULL,
    episode        integer NOT NULL,
    watched_at     timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (conflict_id, season, episode)
);

-- Per-user settings of history sync, and whether the owner was told their token is refused.
CREATE TABLE plex_sync_settings (
    user_id            bigint PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    excluded_sections  text[] NOT NULL DEFAULT '{}',   -- section titles or ids, as given
    token_rejected_at  timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Conflicts raised by a sync hold history episodes too: count them as held.
CREATE OR REPLACE VIEW plex_unmapped_shows AS
SELECT c.user_id, c.id AS conflict_id, c.plex_rating_key, c.plex_title, c.plex_year,
       c.conflict_type, c.created_at,
       (SELECT count(*) FROM plex_webhook_logs l WHERE l.held_by_conflict_id = c.id)
       + (SELECT count(*) FROM plex_history_held h WHERE h.conflict_id = c.id) AS held_scrobbles
FROM plex_conflicts c
WHERE NOT c.resolved;
