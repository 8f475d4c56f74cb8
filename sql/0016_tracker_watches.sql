-- 0016: the tracker's own marking (/tv mark, /tv unmark) and where every watch came from.
--
-- watch_source: 'webhook', 'history' (the Plex history sync) or 'manual', so /tv history can
-- say where a watch came from. It is set by a trigger from the transaction-local setting
-- plex_tracker.watch_source (unset: 'webhook'), so every path that marks an episode (the
-- SQL hot path, the Python path, conflict replays, the history sync) records its source
-- without each of them being changed: a path only says who it is, once per transaction.
-- Rows watched before this migration keep NULL and read as 'webhook' (the only path then).
ALTER TABLE tvshow_episodes ADD COLUMN watch_source text;

CREATE FUNCTION tracker_watch_source() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.watched THEN
        NEW.watch_source := COALESCE(
            NULLIF(current_setting('plex_tracker.watch_source', true), ''), 'webhook');
    ELSE
        NEW.watch_source := NULL;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER tvshow_episodes_watch_source_update
    BEFORE UPDATE OF watched ON tvshow_episodes
    FOR EACH ROW WHEN (OLD.watched IS DISTINCT FROM NEW.watched)
    EXECUTE FUNCTION tracker_watch_source();
CREATE TRIGGER tvshow_episodes_watch_source_insert
    BEFORE INSERT ON tvshow_episodes
    FOR EACH ROW WHEN (NEW.watched)
    EXECUTE FUNCTION tracker_watch_source();

-- Mark or unmark episodes by hand: one episode, a whole season, or everything up to an
-- episode ("up to here": earlier seasons too, specials only when season 0 is named).
-- Marking a season or a range skips episodes that have not aired yet.
--
-- Locks in the order every writer of watched state follows (0008): the show row first, then
-- its episodes in (season, episode) order; so it never deadlocks with the webhook path, an
-- import or a refresh. The totals are then recounted from the rows by plex_recount_show (a
-- statement taken while the show is held: no mark is in flight and every earlier one is
-- committed), so they always equal the watched rows.
-- Returns how many episodes the scope names and how many of them changed.
CREATE FUNCTION tracker_set_watched(
    p_show_id bigint, p_scope text, p_season int, p_episode int, p_watched boolean,
    p_at timestamptz, p_source text,
    OUT targeted int, OUT changed int
) LANGUAGE plpgsql AS $$
BEGIN
    IF p_scope NOT IN ('episode', 'season', 'up_to') THEN
        RAISE EXCEPTION 'unknown scope %', p_scope USING ERRCODE = '22023';
    END IF;
    PERFORM set_config('plex_tracker.watch_source', p_source, true);
    PERFORM 1 FROM tvshows WHERE id = p_show_id FOR NO KEY UPDATE;
    WITH picked AS (
        SELECT id, watched FROM tvshow_episodes e
        WHERE e.tvshow_id = p_show_id
          AND CASE p_scope
                WHEN 'episode' THEN e.season = p_season AND e.episode = p_episode
                WHEN 'season' THEN e.season = p_season
                ELSE (p_season = 0 AND e.season = 0 AND e.episode <= p_episode)
                  OR (p_season > 0 AND e.season > 0
                      AND (e.season, e.episode) <= (p_season, p_episode))
              END
          AND (p_scope = 'episode' OR NOT p_watched
               OR e.air_date IS NULL OR e.air_date <= (p_at AT TIME ZONE 'UTC')::date)
        ORDER BY e.season, e.episode
        FOR UPDATE),
    flipped AS (
        UPDATE tvshow_episodes e SET watched = p_watched,
            date_watched = CASE WHEN p_watched THEN p_at END
        FROM picked WHERE e.id = picked.id AND picked.watched IS DISTINCT FROM p_watched
        RETURNING 1)
    SELECT (SELECT count(*) FROM picked), (SELECT count(*) FROM flipped)
    INTO targeted, changed;
    IF changed > 0 THEN
        PERFORM plex_recount_show(p_show_id);
    END IF;
END
$$;

-- New-episode notices and "aired since you last watched" look episodes up by air date.
CREATE INDEX tvshow_episodes_air_date ON tvshow_episodes (air_date) WHERE NOT watched;
