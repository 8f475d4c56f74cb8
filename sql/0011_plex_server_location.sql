-- Why: server discovery pinned the first connection plex.tv lists (usually a LAN address)
-- into plex_config.server_url even when it did not answer, so every plex:// show failed for
-- good (issue 10 #17). Now every connection is probed and only one that answered is kept,
-- apart from the user's own --server-url: discovered_server_url/uuid. And when no address
-- answers, the user is told once per outage, not per scrobble (issue 11): one open row per
-- user in plex_server_problems, which status, doctor and /plex status read, and whose id
-- keys the one Discord notification (notification_outbox kind 'server_problem').
ALTER TABLE plex_config
    ADD COLUMN discovered_server_url text,
    ADD COLUMN discovered_server_uuid text,
    ADD COLUMN discovered_at timestamptz;

CREATE TABLE plex_server_problems (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    address       text,                 -- what did not answer (scheme://host:port, no secrets)
    message       text NOT NULL,        -- what happened and what to do
    started_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    occurrences   integer NOT NULL DEFAULT 1,
    resolved_at   timestamptz
);
CREATE UNIQUE INDEX plex_server_problems_open ON plex_server_problems (user_id)
    WHERE resolved_at IS NULL;
