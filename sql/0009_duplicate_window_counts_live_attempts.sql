-- 0009: the duplicate window counts only attempts that succeeded or are still in flight.
--
-- Why: the marker in plex_scrobbles_seen stayed with a scrobble whose attempt FAILED (TMDB
-- down, an episode not known yet), so Plex's next scrobble of that item inside the window
-- was dropped as its duplicate and nothing was marked. Now a marker whose scrobble failed
-- (or was ignored, or whose row is gone) is taken over by the new scrobble.
--
-- The marker row is locked before its scrobble's status is read, in a statement of its own:
-- a scrobble that arrives while the first attempt is still in flight waits for it and then
-- sees how it ended (one statement would judge by the status as it was when it started).
CREATE OR REPLACE FUNCTION plex_first_in_window(
    p_user_id bigint, p_account_id text, p_item_key text, p_seen_at timestamptz,
    p_log_id bigint, p_window_seconds float8
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_log bigint;
    v_seen timestamptz;
BEGIN
    LOOP
        INSERT INTO plex_scrobbles_seen (user_id, account_id, item_key, seen_at, log_id)
        VALUES (p_user_id, p_account_id, p_item_key, p_seen_at, p_log_id)
        ON CONFLICT (user_id, account_id, item_key) DO NOTHING;
        IF FOUND THEN
            RETURN true;
        END IF;
        SELECT s.log_id, s.seen_at INTO v_log, v_seen FROM plex_scrobbles_seen s
        WHERE s.user_id = p_user_id AND s.account_id = p_account_id AND s.item_key = p_item_key
        FOR UPDATE;
        EXIT WHEN FOUND;  -- else pruned in between: insert again
    END LOOP;
    -- A retry of the same log row is never its own duplicate.
    IF v_log <> p_log_id
       AND v_seen > p_seen_at - make_interval(secs => p_window_seconds)
       AND EXISTS (SELECT 1 FROM plex_webhook_logs l
                   WHERE l.id = v_log AND l.status IN ('pending', 'success')) THEN
        RETURN false;
    END IF;
    UPDATE plex_scrobbles_seen SET seen_at = p_seen_at, log_id = p_log_id
    WHERE user_id = p_user_id AND account_id = p_account_id AND item_key = p_item_key;
    RETURN true;
END
$$;
