-- 0017: what /tv adds to a show beyond watches: the user's rating (Plex `media.rate`,
-- 0-10 like Plex's half stars; NULL = not rated), whether new episodes are announced, and
-- whether the user abandoned it (no up-next entry, no announcements). Plus the rows the
-- Discord outbox points at for the two new notification kinds.
ALTER TABLE tvshows ADD COLUMN user_rating numeric(3, 1)
    CHECK (user_rating >= 0 AND user_rating <= 10);
ALTER TABLE tvshows ADD COLUMN rated_at timestamptz;
ALTER TABLE tvshows ADD COLUMN notify boolean NOT NULL DEFAULT true;
ALTER TABLE tvshows ADD COLUMN abandoned_at timestamptz;
ALTER TABLE tvshow_episodes ADD COLUMN user_rating numeric(3, 1)
    CHECK (user_rating >= 0 AND user_rating <= 10);
ALTER TABLE tvshow_episodes ADD COLUMN rated_at timestamptz;

-- Per-user switches for /tv notify. No row = the defaults (new episodes on, recap off).
CREATE TABLE tv_prefs (
    user_id       bigint PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    new_episodes  boolean NOT NULL DEFAULT true,
    weekly_recap  boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One announcement per show per air date: the unique key is what makes it "once a day"
-- whichever process, and however many refresh runs, find the episode. The outbox row
-- (kind 'new_episode', ref_id = id) is written in the same statement.
CREATE TABLE tv_episode_notices (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tvshow_id   bigint NOT NULL REFERENCES tvshows(id) ON DELETE CASCADE,
    air_date    date NOT NULL,
    episodes    text[] NOT NULL,          -- 'S02E03', in order
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tvshow_id, air_date)
);

-- One weekly recap per user per week (Monday, UTC); outbox kind 'weekly_recap'.
CREATE TABLE tv_recaps (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    week_start  date NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, week_start)
);
