-- 0007: when a queued scrobble was watched, normalised at intake like its other keys
-- (plex_rating_key, plex_item_key, plex_account_id, plex_season, plex_episode), so the
-- worker's SQL fast path can read columns instead of raw payload fields that relays send
-- in any shape (a date string, a float, nothing). NULL: use created_at, when it arrived.
-- Rows already queued get it from their payload: a whole number of seconds, 1 .. 2^33.
ALTER TABLE plex_webhook_logs ADD COLUMN plex_watched_at timestamptz;

UPDATE plex_webhook_logs l SET plex_watched_at = to_timestamp(v.secs)
FROM (
    SELECT id, CASE WHEN payload -> 'Metadata' ->> 'lastViewedAt' ~ '^\s*[0-9]{1,10}\s*$'
                    THEN trim(payload -> 'Metadata' ->> 'lastViewedAt')::bigint END AS secs
    FROM plex_webhook_logs WHERE status = 'pending'
) v
WHERE l.id = v.id AND v.secs BETWEEN 1 AND 8589934592;
