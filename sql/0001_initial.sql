-- 0001: every table of the design in one go, with the indexes the webhook path needs.
-- Names follow the seed's schema (users, tvshows, plex_config, plex_show_mappings,
-- plex_webhook_logs, plex_conflicts) so its queries and dashboards still read true.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE users (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    discord_id  bigint UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tvshows (
    id               bigserial PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title            text NOT NULL,
    original_title   text,
    aliases          text[] NOT NULL DEFAULT '{}',
    tmdb_id          integer,
    tvdb_id          integer,
    imdb_id          text,
    show_start_date  date,
    status           text,              -- TMDB's status: "Returning Series", "Ended", …
    in_production    boolean NOT NULL DEFAULT false,
    poster_path      text,
    total_episodes   integer NOT NULL DEFAULT 0,
    watched_episodes integer NOT NULL DEFAULT 0,
    total_minutes    integer NOT NULL DEFAULT 0,
    source           text NOT NULL DEFAULT 'import',
    plex_synced      boolean NOT NULL DEFAULT false,
    plex_last_sync   timestamptz,
    episodes_refreshed_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tvshows_user_tmdb ON tvshows (user_id, tmdb_id) WHERE tmdb_id IS NOT NULL;
CREATE INDEX tvshows_user_tvdb ON tvshows (user_id, tvdb_id) WHERE tvdb_id IS NOT NULL;
CREATE INDEX tvshows_user_imdb ON tvshows (user_id, imdb_id) WHERE imdb_id IS NOT NULL;
CREATE INDEX tvshows_user_title ON tvshows (user_id, lower(title));

CREATE TABLE tvshow_episodes (
    id            bigserial PRIMARY KEY,
    tvshow_id     bigint NOT NULL REFERENCES tvshows(id) ON DELETE CASCADE,
    season        integer NOT NULL,
    episode       integer NOT NULL,
    title         text,
    runtime       integer,            -- minutes
    air_date      date,
    watched       boolean NOT NULL DEFAULT false,
    date_watched  timestamptz,
    UNIQUE (tvshow_id, season, episode)
);
CREATE INDEX tvshow_episodes_watched ON tvshow_episodes (tvshow_id) WHERE watched;

CREATE TABLE plex_config (
    user_id              bigint PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    plex_token           text,         -- AES-256-GCM, iv:tag:ciphertext
    plex_account_id      bigint,       -- the token owner's plex.tv id, when known
    plex_username        text,
    server_url           text,
    server_uuid          text,         -- pinned Server.uuid; NULL accepts any server
    webhook_secret       text,         -- encrypted, so it can be shown again
    webhook_secret_hash  text,         -- sha256 hex, for lookup
    enabled              boolean NOT NULL DEFAULT true,
    auto_add_shows       boolean NOT NULL DEFAULT true,
    auto_mark_watched    boolean NOT NULL DEFAULT true,
    followed_accounts    text[] NOT NULL DEFAULT '{}',  -- Account.id or Account.title; empty = owner
    notify_channel_id    bigint,       -- Discord channel for conflicts; NULL = DM
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX plex_config_secret_hash ON plex_config (webhook_secret_hash)
    WHERE webhook_secret_hash IS NOT NULL;

CREATE TABLE plex_show_mappings (
    id                  bigserial PRIMARY KEY,
    user_id             bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    plex_rating_key     text NOT NULL,
    plex_guid           text,
    plex_title          text,
    plex_year           integer,
    tvshow_id           bigint REFERENCES tvshows(id) ON DELETE CASCADE,
    tmdb_id             integer,
    tvdb_id             integer,
    imdb_id             text,
    match_confidence    numeric(4, 3),
    match_method        text NOT NULL,   -- existing, tmdb_id, tvdb_id, imdb_id, auto_add, fuzzy, manual, ignored
    manually_confirmed  boolean NOT NULL DEFAULT false,
    sync_enabled        boolean NOT NULL DEFAULT true,  -- false: this Plex show is ignored
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, plex_rating_key)
);
CREATE INDEX plex_show_mappings_tvshow ON plex_show_mappings (tvshow_id);

CREATE TABLE plex_conflicts (
    id                  bigserial PRIMARY KEY,
    user_id             bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    plex_rating_key     text NOT NULL,
    plex_guid           text,
    plex_title          text NOT NULL,
    plex_year           integer,
    plex_thumb          text,
    conflict_type       text NOT NULL
        CHECK (conflict_type IN ('no_match', 'multiple_matches', 'low_confidence')),
    potential_matches   jsonb NOT NULL DEFAULT '[]',
    resolved            boolean NOT NULL DEFAULT false,
    resolved_tvshow_id  bigint REFERENCES tvshows(id) ON DELETE SET NULL,
    resolution_action   text,          -- picked, added, chose_show, ignored
    resolved_by         text,          -- "cli", "api", "discord:<id>"
    resolved_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);
-- One open conflict per Plex show: a second uncertain scrobble joins the first.
CREATE UNIQUE INDEX plex_conflicts_open ON plex_conflicts (user_id, plex_rating_key)
    WHERE NOT resolved;
CREATE INDEX plex_conflicts_resolved_at ON plex_conflicts (resolved_at) WHERE resolved;

CREATE TABLE plex_webhook_logs (
    id                      bigserial PRIMARY KEY,
    user_id                 bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    event_type              text,
    status                  text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'success', 'failed', 'ignored', 'duplicate')),
    action_taken            text,
    payload                 jsonb,
    raw_body                text,          -- kept only when the payload was not valid JSON
    plex_account_id         text,
    plex_rating_key         text,          -- the show's (grandparent) rating key
    plex_item_key           text,          -- the episode's own rating key
    plex_title              text,
    plex_season             integer,
    plex_episode            integer,
    tvshow_id               bigint REFERENCES tvshows(id) ON DELETE SET NULL,
    held_by_conflict_id     bigint REFERENCES plex_conflicts(id) ON DELETE SET NULL,
    processing_duration_ms  integer,
    error_message           text,
    retryable               boolean NOT NULL DEFAULT false,
    attempts                integer NOT NULL DEFAULT 0,
    next_attempt_at         timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    processed_at            timestamptz
);
CREATE INDEX plex_webhook_logs_user_created ON plex_webhook_logs (user_id, created_at DESC);
CREATE INDEX plex_webhook_logs_status ON plex_webhook_logs (status, created_at);
CREATE INDEX plex_webhook_logs_created ON plex_webhook_logs (created_at);
-- The worker's queue: pending rows not held behind a conflict.
CREATE INDEX plex_webhook_logs_queue ON plex_webhook_logs (id)
    WHERE status = 'pending' AND held_by_conflict_id IS NULL;
CREATE INDEX plex_webhook_logs_held ON plex_webhook_logs (held_by_conflict_id)
    WHERE held_by_conflict_id IS NOT NULL;
CREATE INDEX plex_webhook_logs_retry ON plex_webhook_logs (next_attempt_at)
    WHERE status = 'failed' AND retryable;

-- Last scrobble per (user, account, item): the duplicate window is decided by one upsert.
CREATE TABLE plex_scrobbles_seen (
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    account_id  text NOT NULL,
    item_key    text NOT NULL,
    seen_at     timestamptz NOT NULL,
    log_id      bigint NOT NULL,   -- the scrobble that set seen_at: its own retries are not duplicates
    PRIMARY KEY (user_id, account_id, item_key)
);

-- Notifications for the Discord bot, written in the same transaction as what they announce,
-- so nothing is lost while Discord is down or the bot is off.
CREATE TABLE notification_outbox (
    id                  bigserial PRIMARY KEY,
    user_id             bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind                text NOT NULL,        -- conflict, failure
    ref_id              bigint NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    delivered_at        timestamptz,
    attempts            integer NOT NULL DEFAULT 0,
    last_error          text,
    discord_channel_id  bigint,
    discord_message_id  bigint,
    UNIQUE (kind, ref_id)
);
CREATE INDEX notification_outbox_undelivered ON notification_outbox (id) WHERE delivered_at IS NULL;

CREATE TABLE api_tokens (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash    text NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz
);

CREATE TABLE job_runs (
    id           bigserial PRIMARY KEY,
    job          text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    outcome      text,
    detail       text
);
CREATE INDEX job_runs_job ON job_runs (job, started_at DESC);

CREATE VIEW plex_sync_stats AS
SELECT u.id AS user_id,
       count(l.id) AS total_webhooks,
       count(l.id) FILTER (WHERE l.status = 'success') AS successful,
       count(l.id) FILTER (WHERE l.status = 'failed') AS failed,
       count(l.id) FILTER (WHERE l.status = 'ignored') AS ignored,
       count(l.id) FILTER (WHERE l.status = 'duplicate') AS duplicates,
       count(l.id) FILTER (WHERE l.status = 'pending') AS pending,
       count(l.id) FILTER (WHERE l.action_taken IN ('marked_watched', 'show_added')) AS episodes_marked,
       count(l.id) FILTER (WHERE l.action_taken = 'show_added') AS shows_added,
       max(l.created_at) AS last_webhook_at,
       avg(l.processing_duration_ms) AS avg_processing_ms
FROM users u
LEFT JOIN plex_webhook_logs l ON l.user_id = u.id
GROUP BY u.id;

CREATE VIEW plex_webhook_activity AS
SELECT user_id,
       date_trunc('day', created_at) AS day,
       status,
       count(*) AS webhooks,
       avg(processing_duration_ms) AS avg_processing_ms
FROM plex_webhook_logs
GROUP BY user_id, date_trunc('day', created_at), status;

CREATE VIEW plex_unmapped_shows AS
SELECT c.user_id, c.id AS conflict_id, c.plex_rating_key, c.plex_title, c.plex_year,
       c.conflict_type, c.created_at,
       (SELECT count(*) FROM plex_webhook_logs l WHERE l.held_by_conflict_id = c.id) AS held_scrobbles
FROM plex_conflicts c
WHERE NOT c.resolved;
