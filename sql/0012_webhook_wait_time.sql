-- 0012: how long a webhook waited before it was processed, apart from the processing.
-- processing_duration_ms runs from arrival to the outcome, so a scrobble held for a day
-- behind a conflict showed in `status` as a day of "processing". A trigger records the wait
-- when a row leaves 'pending', so every path that settles rows (the Python worker,
-- plex_settle_queue, conflict replays) gets it without each having to remember.
-- now() is the start of the settling transaction, which is when the row was claimed.
ALTER TABLE plex_webhook_logs
    ADD COLUMN waited_ms integer,
    ADD COLUMN waited_behind_conflict boolean NOT NULL DEFAULT false;

CREATE FUNCTION plex_webhook_logs_record_wait() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.waited_ms := GREATEST(0, (EXTRACT(EPOCH FROM now() - OLD.created_at) * 1000)::int);
    NEW.waited_behind_conflict := OLD.held_by_conflict_id IS NOT NULL;
    RETURN NEW;
END
$$;

CREATE TRIGGER plex_webhook_logs_wait BEFORE UPDATE OF status ON plex_webhook_logs
    FOR EACH ROW WHEN (OLD.status = 'pending' AND NEW.status <> 'pending')
    EXECUTE FUNCTION plex_webhook_logs_record_wait();
