-- 0014: mark many episodes, of one or many shows, in one statement: what history sync
-- needs to apply a page of plays without a round trip per episode. The rules are those of
-- plex_mark_episode (sql/0004) for a single scrobble: the episode rows are locked, so
-- exactly one of several concurrent markers sees an episode unwatched and counts it; the
-- shows' counters are bumped by an UPDATE that PostgreSQL re-applies to the latest row
-- version, so none is lost; an earlier watch date is kept.
--
-- Rows are locked in (show, season, episode) order and the shows' rows only after every
-- episode row, so two callers wait for each other instead of deadlocking, and a webhook's
-- single mark (episode, then show) never waits on a lock this holds while holding one it
-- wants. Rows already watched at this date or earlier are not rewritten.
--
-- One output row per distinct (show, season, episode) asked for: was_watched is NULL when
-- the tracker doesn't know the episode.
CREATE FUNCTION plex_mark_episodes(
    p_show_ids bigint[], p_seasons int[], p_episodes int[], p_watched_at timestamptz[]
) RETURNS TABLE (tvshow_id bigint, season int, episode int, was_watched boolean)
LANGUAGE sql AS $$
    WITH wanted AS (
        SELECT x.sh, x.s, x.e, min(x.w) AS w
        FROM unnest(p_show_ids, p_seasons, p_episodes, p_watched_at) AS x(sh, s, e, w)
        GROUP BY x.sh, x.s, x.e),
    before AS (
        SELECT t.id, t.tvshow_id, t.season, t.episode, t.watched, t.date_watched, t.runtime,
               wanted.w
        FROM tvshow_episodes t
        JOIN wanted ON t.tvshow_id = wanted.sh AND t.season = wanted.s AND t.episode = wanted.e
        ORDER BY t.tvshow_id, t.season, t.episode
        FOR UPDATE OF t),
    marked AS (
        UPDATE tvshow_episodes e SET watched = true,
            date_watched = LEAST(COALESCE(e.date_watched, before.w), before.w)
        FROM before
        WHERE e.id = before.id
          AND (NOT before.watched OR before.date_watched IS NULL OR before.date_watched > before.w)
        RETURNING e.id),
    counted AS (
        UPDATE tvshows t SET watched_episodes = t.watched_episodes + n.newly,
            total_minutes = t.total_minutes + n.minutes,
            plex_synced = true, plex_last_sync = now(), updated_at = now()
        FROM (SELECT b.tvshow_id, count(*) AS newly, COALESCE(sum(b.runtime), 0) AS minutes
              FROM before b WHERE NOT b.watched GROUP BY b.tvshow_id) n
        WHERE t.id = n.tvshow_id
        RETURNING t.id)
    SELECT w.sh, w.s, w.e, b.watched
    FROM wanted w
    LEFT JOIN before b ON b.tvshow_id = w.sh AND b.season = w.s AND b.episode = w.e
    LEFT JOIN (SELECT count(*) AS n FROM marked) m ON true
    LEFT JOIN (SELECT count(*) AS n FROM counted) c ON true
$$;
