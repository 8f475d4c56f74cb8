-- 0018: a settle batch marks only the scrobbles its duplicate check saw.
--
-- Why: plex_settle_queue (0008) chose the rows for its duplicate check (step 1) and for its
-- marks (step 2) with two separate queries, each joining plex_show_mappings under its own
-- snapshot. When the full path in another worker committed a new mapping between the two, a
-- row left out of step 1 (no mapping yet) was marked by step 2 with no duplicate check and no
-- marker: Plex's repeat of that scrobble inside the window would have counted again. Found
-- by the kill -9 test (tests/test_hostile_outage.py), about one run in ten. Step 2 now takes
-- exactly the rows step 1 passed; a row whose mapping appeared in between stays pending for
-- the full path, which checks it.

CREATE OR REPLACE FUNCTION plex_settle_queue(p_limit int, p_window_seconds float8)
RETURNS TABLE (
    log_id bigint, user_id bigint, created_at timestamptz, event text, show_title text,
    season int, episode int, settled boolean, status text, action text, tvshow_id bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
    v_dups bigint[] := '{}';
    v_ignored bigint[] := '{}';
    v_checked bigint[] := '{}';   -- passed the duplicate window (step 1)
    v_done bigint[] := '{}';      -- marked, with
    v_shows bigint[] := '{}';     -- their show and
    v_was boolean[] := '{}';      -- whether it was watched before
    v_mark boolean;
    r record;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT array_agg(c.id) INTO v_ids FROM (
        SELECT l.id FROM plex_webhook_logs l
        WHERE l.status = 'pending' AND l.held_by_conflict_id IS NULL
        ORDER BY l.id LIMIT p_limit FOR UPDATE SKIP LOCKED) c;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;

    -- 1. The duplicate window, in plex_scrobbles_seen key order, before any show is locked.
    FOR r IN
        SELECT l.id, l.user_id, COALESCE(l.plex_account_id, '?') AS account_key,
               plex_scrobble_item(l.plex_item_key, l.plex_rating_key, l.plex_season,
                                  l.plex_episode) AS item_key,
               l.created_at, m.sync_enabled
        FROM plex_webhook_logs l
        JOIN plex_show_mappings m
          ON m.user_id = l.user_id AND m.plex_rating_key = l.plex_rating_key
        WHERE l.id = ANY (v_ids) AND l.plex_season IS NOT NULL AND l.plex_episode IS NOT NULL
          AND (m.tvshow_id IS NOT NULL OR NOT m.sync_enabled)
        ORDER BY 2, 3, 4, 1
    LOOP
        IF NOT plex_first_in_window(r.user_id, r.account_key, r.item_key, r.created_at, r.id,
                                    p_window_seconds) THEN
            v_dups := v_dups || r.id;
        ELSIF NOT r.sync_enabled THEN
            v_ignored := v_ignored || r.id;
        ELSE
            v_checked := v_checked || r.id;
        END IF;
    END LOOP;

    -- 2. The marks, in tracker-show order (the order imports lock shows in, too).
    FOR r IN
        SELECT l.id, m.tvshow_id AS show_id, l.plex_season, l.plex_episode,
               COALESCE(l.plex_watched_at, l.created_at) AS watched_at
        FROM plex_webhook_logs l
        JOIN plex_show_mappings m
          ON m.user_id = l.user_id AND m.plex_rating_key = l.plex_rating_key
        WHERE l.id = ANY (v_checked)
          AND l.plex_season IS NOT NULL AND l.plex_episode IS NOT NULL
          AND m.sync_enabled AND m.tvshow_id IS NOT NULL
        ORDER BY m.tvshow_id, l.plex_season, l.plex_episode, l.id
    LOOP
        v_mark := plex_mark_episode(r.show_id, r.plex_season, r.plex_episode, r.watched_at);
        CONTINUE WHEN v_mark IS NULL;
        v_done := v_done || r.id;
        v_shows := v_shows || r.show_id;
        v_was := v_was || v_mark;
    END LOOP;

    -- 3. The outcomes, in one statement.
    UPDATE plex_webhook_logs l SET status = o.status, action_taken = o.action,
        tvshow_id = o.show_id,
        error_message = CASE WHEN o.action = 'show_ignored' THEN 'this Plex show is ignored' END,
        retryable = false, attempts = l.attempts + 1, next_attempt_at = NULL,
        processing_duration_ms =
            (EXTRACT(EPOCH FROM clock_timestamp() - l.created_at) * 1000)::int,
        processed_at = clock_timestamp()
    FROM (SELECT d.id, 'duplicate' AS status, 'duplicate_scrobble' AS action,
                 NULL::bigint AS show_id
          FROM unnest(v_dups) AS d(id)
          UNION ALL
          SELECT i.id, 'ignored', 'show_ignored', NULL FROM unnest(v_ignored) AS i(id)
          UNION ALL
          SELECT k.id, 'success',
                 CASE WHEN k.was THEN 'already_watched' ELSE 'marked_watched' END, k.show_id
          FROM unnest(v_done, v_shows, v_was) AS k(id, show_id, was)) o
    WHERE l.id = o.id;

    RETURN QUERY
        SELECT l.id, l.user_id, l.created_at, l.event_type, l.plex_title, l.plex_season,
               l.plex_episode, l.status <> 'pending',
               CASE WHEN l.status <> 'pending' THEN l.status END,
               CASE WHEN l.status <> 'pending' THEN l.action_taken END,
               CASE WHEN l.status <> 'pending' THEN l.tvshow_id END
        FROM plex_webhook_logs l WHERE l.id = ANY (v_ids) ORDER BY l.id;
END
$$;
