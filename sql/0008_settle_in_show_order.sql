-- 0008: one lock order for everything that writes a show's watched state, and a settle batch
-- that reads the log row's columns instead of the payload.
--
-- Why:
-- * A recount (import, season refresh) read the episodes, then waited for the show row a
--   mark had updated; PostgreSQL re-applied the recount's old totals on top, losing the
--   increment. And a mark locked its episode, then its show, while an import locked the
--   show, then its episodes: a deadlock. Now every writer locks the SHOW ROW FIRST (FOR NO
--   KEY UPDATE, which foreign-key checks do not wait for), then episodes; a recount counts
--   only once it holds the show, so it sees every committed mark and no mark is in flight.
-- * plex_settle_queue took locks in Plex-key order; two Plex keys of one tracker show (4K
--   and HD libraries) made two batches take two shows in opposite orders: a deadlock. Now a
--   batch first does all its duplicate checks (in plex_scrobbles_seen key order, as the
--   full path does its one check before anything else), then marks in TRACKER-SHOW order.
-- * The batch read `payload -> 'Metadata'`, so relayed shapes (grandparentKey only, numbers
--   as strings) fell to the slow path, and one odd `lastViewedAt` ("soon", 1.5, 1e30) failed
--   the whole batch. It now reads only the columns intake normalised (plex_rating_key,
--   plex_item_key, plex_account_id, plex_season, plex_episode, plex_watched_at from 0007),
--   the values the Python full path reads (core.payload.scrobble_keys).

-- The item a scrobble is about, for the duplicate window: the episode's own rating key, else
-- show key/season/episode (intake stores it so; rows from before may lack it).
CREATE OR REPLACE FUNCTION plex_scrobble_item(
    p_item_key text, p_show_key text, p_season int, p_episode int
) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    -- (explicit casts keep the body immutable, so the planner inlines it)
    SELECT COALESCE(p_item_key, p_show_key || '/' || p_season::text || '/' || p_episode::text)
$$;

-- Recount a show's totals from its episodes, holding the show first.
CREATE OR REPLACE FUNCTION plex_recount_show(p_show_id bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_total integer;
BEGIN
    PERFORM 1 FROM tvshows WHERE id = p_show_id FOR NO KEY UPDATE;
    -- A statement of its own: its snapshot is taken after the lock, so marks that held the
    -- show before us are committed and counted.
    UPDATE tvshows t SET
        total_episodes = agg.total, watched_episodes = agg.watched,
        total_minutes = agg.minutes, updated_at = now()
    FROM (SELECT count(*) AS total,
                 count(*) FILTER (WHERE e.watched) AS watched,
                 COALESCE(sum(e.runtime) FILTER (WHERE e.watched), 0) AS minutes
          FROM tvshow_episodes e WHERE e.tvshow_id = p_show_id) agg
    WHERE t.id = p_show_id
    RETURNING agg.total INTO v_total;
    RETURN v_total;
END
$$;

-- Mark one episode watched and count it on its show: NULL when the tracker doesn't know the
-- episode (then nothing is locked, so the caller may ask TMDB without holding the show),
-- else whether it was watched before. An earlier watch date is kept. One statement, locking
-- in order: `before` is gated on `shown` (an InitPlan, evaluated before any episode row
-- reaches `before`'s lock), so the show is locked first; the episode lock then reads the
-- episode's latest version and the count is re-applied to the show's latest version, so
-- concurrent marks neither double-count nor lose one.
CREATE OR REPLACE FUNCTION plex_mark_episode(
    p_show_id bigint, p_season int, p_episode int, p_watched_at timestamptz
) RETURNS boolean LANGUAGE sql AS $$
    WITH shown AS (
        SELECT t.id FROM tvshows t
        WHERE t.id = p_show_id
          AND EXISTS (SELECT 1 FROM tvshow_episodes e
                      WHERE e.tvshow_id = p_show_id AND e.season = p_season
                        AND e.episode = p_episode)
        FOR NO KEY UPDATE),
    before AS (
        SELECT e.id, e.watched, e.runtime FROM tvshow_episodes e
        WHERE e.tvshow_id = p_show_id AND e.season = p_season AND e.episode = p_episode
          AND EXISTS (SELECT 1 FROM shown)
        FOR UPDATE),
    marked AS (
        UPDATE tvshow_episodes e SET watched = true,
            date_watched = LEAST(COALESCE(e.date_watched, p_watched_at), p_watched_at)
        FROM before WHERE e.id = before.id
        RETURNING before.watched AS was_watched, before.runtime),
    counted AS (
        UPDATE tvshows SET watched_episodes = watched_episodes + 1,
            total_minutes = total_minutes + COALESCE((SELECT runtime FROM marked), 0),
            plex_synced = true, plex_last_sync = now(), updated_at = now()
        WHERE id = p_show_id AND EXISTS (SELECT 1 FROM marked WHERE NOT was_watched)
        RETURNING 1)
    SELECT was_watched FROM marked LEFT JOIN (SELECT count(*) FROM counted) c ON true
$$;

-- The worker's batch in one call: claim up to p_limit queued scrobbles (SKIP LOCKED), settle
-- those of mapped (or ignored) Plex shows, record their outcome, and return every claimed row
-- in arrival order; rows it could not settle (no mapping yet, an episode the tracker doesn't
-- know) come back with settled = false, still pending, for the full path in Python. Its
-- transaction commits without waiting for the WAL flush: losing it loses the outcome together
-- with the status, which only leaves the rows pending to be processed again.
CREATE OR REPLACE FUNCTION plex_settle_queue(p_limit int, p_window_seconds float8)
RETURNS TABLE (
    log_id bigint, user_id bigint, created_at timestamptz, event text, show_title text,
    season int, episode int, settled boolean, status text, action text, tvshow_id bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
    v_dups bigint[] := '{}';
    v_ignored bigint[] := '{}';
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
        END IF;
    END LOOP;

    -- 2. The marks, in tracker-show order (the order imports lock shows in, too).
    FOR r IN
        SELECT l.id, m.tvshow_id AS show_id, l.plex_season, l.plex_episode,
               COALESCE(l.plex_watched_at, l.created_at) AS watched_at
        FROM plex_webhook_logs l
        JOIN plex_show_mappings m
          ON m.user_id = l.user_id AND m.plex_rating_key = l.plex_rating_key
        WHERE l.id = ANY (v_ids) AND NOT (l.id = ANY (v_dups || v_ignored))
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

-- Its per-row predecessor; nothing calls it any more.
DROP FUNCTION IF EXISTS plex_settle_mapped(
    bigint, bigint, text, text, text, int, int, timestamptz, timestamptz, float8);
