-- 0005: the worker's batch in one call. plex_settle_queue claims up to p_limit queued
-- scrobbles (FOR UPDATE SKIP LOCKED), settles those of mapped shows with
-- plex_settle_mapped in one global lock order (user, Plex show, season, episode: two
-- batches wait for each other but never deadlock) and records their outcome. Rows it
-- cannot settle come back with settled = false, still pending, for the full path in Python
-- (matching, TMDB, conflicts). Its transaction commits without waiting for the WAL flush:
-- losing it would lose the outcome together with the row's status, which only leaves the
-- row pending to be processed again.
CREATE FUNCTION plex_settle_queue(p_limit int, p_window_seconds float8)
RETURNS TABLE (
    log_id bigint, user_id bigint, created_at timestamptz, event text, show_title text,
    season int, episode int, settled boolean, status text, action text, tvshow_id bigint
) LANGUAGE plpgsql AS $$
DECLARE
    r record;
    s record;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    FOR r IN
        WITH claimed AS (
            SELECT l.id, l.user_id, l.created_at, l.payload FROM plex_webhook_logs l
            WHERE l.status = 'pending' AND l.held_by_conflict_id IS NULL
            ORDER BY l.id LIMIT p_limit FOR UPDATE SKIP LOCKED)
        SELECT c.id, c.user_id, c.created_at, c.payload ->> 'event' AS event,
               c.payload -> 'Metadata' ->> 'grandparentTitle' AS show_title,
               c.payload -> 'Metadata' ->> 'grandparentRatingKey' AS show_key,
               COALESCE(c.payload -> 'Account' ->> 'id', '?') AS account_id,
               c.payload -> 'Metadata' ->> 'ratingKey' AS item_key,
               (c.payload -> 'Metadata' ->> 'parentIndex')::int AS season,
               (c.payload -> 'Metadata' ->> 'index')::int AS episode,
               (c.payload -> 'Metadata' ->> 'lastViewedAt')::bigint AS viewed_at
        FROM claimed c
        ORDER BY c.user_id, 6, 9, 10
    LOOP
        log_id := r.id; user_id := r.user_id; created_at := r.created_at; event := r.event;
        show_title := r.show_title; season := r.season; episode := r.episode;
        settled := false; status := NULL; action := NULL; tvshow_id := NULL;
        IF r.show_key IS NOT NULL AND r.season IS NOT NULL AND r.episode IS NOT NULL THEN
            SELECT * INTO s FROM plex_settle_mapped(
                r.id, r.user_id, r.account_id,
                COALESCE(r.item_key, r.show_key || '/' || r.season || '/' || r.episode),
                r.show_key, r.season, r.episode, r.created_at,
                CASE WHEN r.viewed_at > 0 THEN to_timestamp(r.viewed_at) ELSE r.created_at END,
                p_window_seconds);
            IF FOUND THEN
                settled := true; status := s.status; action := s.action;
                tvshow_id := s.tvshow_id;
                UPDATE plex_webhook_logs l SET status = s.status, action_taken = s.action,
                    tvshow_id = s.tvshow_id,
                    error_message = CASE WHEN s.action = 'show_ignored'
                                         THEN 'this Plex show is ignored' END,
                    retryable = false, held_by_conflict_id = NULL,
                    attempts = l.attempts + 1, next_attempt_at = NULL,
                    processing_duration_ms =
                        (EXTRACT(EPOCH FROM clock_timestamp() - l.created_at) * 1000)::int,
                    processed_at = clock_timestamp()
                WHERE l.id = r.id;
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
