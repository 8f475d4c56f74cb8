-- 0004: the scrobble hot path as database functions. Each statement costs a round trip,
-- and on small hosts the round trips, not the work, are what a webhook costs; so settling
-- a scrobble of a mapped show is one call. The Python table modules call these same
-- functions, so each rule lives here once.

-- The duplicate window (was an upsert in core/db/scrobbles.py): true when this scrobble is
-- the first of its item by its account inside the window. A retry of the same log row is
-- never its own duplicate. Two at once serialise on the primary key.
CREATE FUNCTION plex_first_in_window(
    p_user_id bigint, p_account_id text, p_item_key text, p_seen_at timestamptz,
    p_log_id bigint, p_window_seconds float8
) RETURNS boolean LANGUAGE sql AS $$
    WITH counted AS (
        INSERT INTO plex_scrobbles_seen AS s (user_id, account_id, item_key, seen_at, log_id)
        VALUES (p_user_id, p_account_id, p_item_key, p_seen_at, p_log_id)
        ON CONFLICT (user_id, account_id, item_key) DO UPDATE
            SET seen_at = EXCLUDED.seen_at, log_id = EXCLUDED.log_id
            WHERE s.log_id = EXCLUDED.log_id
               OR s.seen_at <= EXCLUDED.seen_at - make_interval(secs => p_window_seconds)
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM counted)
$$;

-- Mark one episode watched and count it on its show: NULL when the tracker doesn't know
-- the episode, else whether it was watched before. The episode row is locked, so exactly
-- one of many concurrent scrobbles sees it unwatched; the show's counters are bumped by an
-- UPDATE that PostgreSQL re-applies to the latest row version, so none is lost. An earlier
-- watch date is kept.
CREATE FUNCTION plex_mark_episode(
    p_show_id bigint, p_season int, p_episode int, p_watched_at timestamptz
) RETURNS boolean LANGUAGE sql AS $$
    WITH before AS (
        SELECT id, watched, runtime FROM tvshow_episodes
        WHERE tvshow_id = p_show_id AND season = p_season AND episode = p_episode
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

-- The whole fast path for one scrobble: duplicate check, the Plex show's mapping, marking.
-- Returns (status, action, tvshow_id), or no row when the scrobble needs the full path in
-- Python (no mapping yet, or an episode the tracker doesn't know).
CREATE FUNCTION plex_settle_mapped(
    p_log_id bigint, p_user_id bigint, p_account_id text, p_item_key text,
    p_show_key text, p_season int, p_episode int, p_seen_at timestamptz,
    p_watched_at timestamptz, p_window_seconds float8,
    OUT status text, OUT action text, OUT tvshow_id bigint
) RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE
    v_sync boolean;
    v_show bigint;
    v_was boolean;
BEGIN
    IF NOT plex_first_in_window(p_user_id, p_account_id, p_item_key, p_seen_at, p_log_id,
                                p_window_seconds) THEN
        status := 'duplicate'; action := 'duplicate_scrobble'; tvshow_id := NULL;
        RETURN NEXT; RETURN;
    END IF;
    SELECT m.sync_enabled, m.tvshow_id INTO v_sync, v_show
    FROM plex_show_mappings m WHERE m.user_id = p_user_id AND m.plex_rating_key = p_show_key;
    IF FOUND AND NOT v_sync THEN
        status := 'ignored'; action := 'show_ignored'; tvshow_id := NULL;
        RETURN NEXT; RETURN;
    END IF;
    IF v_show IS NULL THEN
        RETURN;
    END IF;
    v_was := plex_mark_episode(v_show, p_season, p_episode, p_watched_at);
    IF v_was IS NULL THEN
        RETURN;
    END IF;
    status := 'success';
    action := CASE WHEN v_was THEN 'already_watched' ELSE 'marked_watched' END;
    tvshow_id := v_show;
    RETURN NEXT;
END
$$;
