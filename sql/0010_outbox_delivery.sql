-- Why: the Discord outbox counted every failed send towards giving up, so a Discord REST
-- outage of ten rounds lost a conflict notification for good (issue 10 #15). Now a
-- transient failure (network error, 5xx, 429) only postpones the row (next_attempt_at,
-- growing with transient_failures); Discord refusing it for good (403: DMs closed or no
-- access; 404: channel gone) marks it refused at once, which /plex status reports.
ALTER TABLE notification_outbox
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN transient_failures integer NOT NULL DEFAULT 0,
    ADD COLUMN refused_at timestamptz;

-- Rows the old rule gave up on: refusals stay refused; anything else (mostly outages)
-- gets another chance. A conflict settled meanwhile is not posted (the bot checks first).
UPDATE notification_outbox SET refused_at = now()
    WHERE delivered_at IS NULL AND last_error ~ '^(403|404) ';
UPDATE notification_outbox SET attempts = 0
    WHERE delivered_at IS NULL AND refused_at IS NULL AND attempts >= 10;

CREATE INDEX notification_outbox_refused ON notification_outbox (user_id)
    WHERE refused_at IS NOT NULL AND delivered_at IS NULL;
