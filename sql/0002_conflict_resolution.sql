-- 0002: what resolving a conflict did, kept on the conflict row. Replayed scrobbles leave
-- the conflict (held_by_conflict_id is cleared when they finish), so a second "resolve"
-- (a double click, two people at once) can only report the first outcome if it is stored.
ALTER TABLE plex_conflicts ADD COLUMN resolution_replayed integer;
ALTER TABLE plex_conflicts ADD COLUMN resolution_marked integer;
