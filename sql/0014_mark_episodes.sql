-- 0014: mark many episodes, of one or many shows, in one statement: what history sync
-- needs to apply a page of plays without a round trip per episode. The rules are those of
-- plex_mark_episode (sql/0004, 0008) for a single scrobble: an earlier watch date is kept;
-- the episode rows are locked, so exactly one of several concurrent markers sees an episode
-- unwatched and counts it; the counts are added to the shows' latest row versions.
--
-- Locks follow the one order every writer of watched state uses (sql/0008): the shows'
-- rows first (FOR NO KEY UPDATE, in id order, only those with an episode to mark), then
-- the episode rows in (show, season, episode) order. Rows already watched at that date or
-- earlier are not rewritten.
--
-- One output row per distinct (show, season, episode) asked for: was_watched is NULL when
-- the tracker doesn't know the episode.
CREATE FUNCTION plex_mark_episodes(
    p_show_ids bigint[], p_seasons int[], p_episodes int[], p_watched_at timestamptz[]
) RETURNS TABLE (tvshow_id bigint, season int, episode int, was_watched boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM 1 FROM tvshows t
    WHERE t.id IN (SELECT e.tvshow_id FROM tvshow_episodes e
                   JOIN unnest(p_show_ids, p_seasons, p_episodes) AS x(sh, s, ep)
                     ON e.tvshow_id = x.sh AND e.season = x.s AND e.episode = x.ep)
    ORDER BY t.id
    FOR NO KEY UPDATE;

    RETURN QUERY
    WITH wanted AS (
        SELECT x.sh, x.s, x.e, min(x.w) AS w
        FROM unnest(p_show_ids, p_seasons, p_episodes, p_watched_at) AS x(sh, s, e, w)
        GROUP BY x.sh, x.s, x.e),
    before AS (
        SELECT t.id, t.tvshow_id AS show, t.season AS s, t.episode AS e, t.watched,
               t.date_watched, t.runtime, wanted.w
        FROM tvshow_episodes t
        JOIN wanted ON t.tvshow_id = wanted.sh AND t.season = wanted.s AND t.episode = wanted.e
        ORDER BY t.tvshow_id, t.season, t.episode
        FOR UPDATE OF t),
    marked AS (
        UPDATE tvshow_episodes u SET watched = true,
            date_watched = LEAST(COALESCE(u.date_watched, b.w), b.w)
        FROM before b
        WHERE u.id = b.id AND (NOT b.watched OR b.date_watched IS NULL OR b.date_watched > b.w)
        RETURNING u.id),
    counted AS (
        UPDATE tvshows t SET watched_episodes = t.watched_episodes + n.newly,
            total_minutes = t.total_minutes + n.minutes,
            plex_synced = true, plex_last_sync = now(), updated_at = now()
        FROM (SELECT b.show, count(*) AS newly, COALESCE(sum(b.runtime), 0) AS minutes
              FROM before b WHERE NOT b.watched GROUP BY b.show) n
        WHERE t.id = n.show
        RETURNING t.id)
    SELECT w.sh, w.s, w.e, b.watched
    FROM wanted w
    LEFT JOIN before b ON b.show = w.sh AND b.s = w.s AND b.e = w.e
    LEFT JOIN (SELECT count(*) AS n FROM marked) m ON true
    LEFT JOIN (SELECT count(*) AS n FROM counted) c ON true;
END
$$;
