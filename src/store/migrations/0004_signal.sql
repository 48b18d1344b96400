-- Why: a check's status code alone does not say why it failed or why it
-- counts as a removal (blocked by an anti-bot page, a soft 404, a redirect
-- to the home page, a confirmation that disagreed, a flapping page). The
-- reason is stored with the check so `history` can show it.
ALTER TABLE checks ADD COLUMN reason TEXT;

-- Health: the start of the watch's current run of failed checks (NULL when
-- the last check succeeded), and whether that run has been reported as a
-- `failing` event, so `recovered` follows exactly one `failing`.
ALTER TABLE watches ADD COLUMN failing_since INTEGER;
ALTER TABLE watches ADD COLUMN failing_reported INTEGER NOT NULL DEFAULT 0;
