-- 0003: scheduled jobs run once per tick across processes. Every `plex-tracker run` fires
-- the same wall-clock ticks; the first to insert (job, tick) runs it, the others skip.
-- `host` says which process ran it (hostname:pid), for operators and the scale-out test.
ALTER TABLE job_runs ADD COLUMN tick timestamptz;
ALTER TABLE job_runs ADD COLUMN host text;
CREATE UNIQUE INDEX job_runs_job_tick ON job_runs (job, tick) WHERE tick IS NOT NULL;
