-- Why: alerts must survive crashes and outages. Recording a change queues
-- one alert per interested subscriber in the same transaction (this
-- outbox); a delivery worker sends them, retries with backoff, and marks
-- them delivered or, after a permanent error or too long, failed. The alert
-- is rendered at delivery from the change it points to, so a row is small.
CREATE TABLE alerts (
    -- Stable across retries, unique across databases (the meta instance id
    -- is part of it): receivers deduplicate on it.
    id              TEXT PRIMARY KEY NOT NULL,
    change_id       INTEGER NOT NULL REFERENCES changes (id),
    watch_id        INTEGER NOT NULL REFERENCES watches (id),
    subscriber      TEXT NOT NULL,
    -- 'email' or 'webhook', as configured when the alert was queued.
    channel         TEXT NOT NULL,
    event           TEXT NOT NULL,
    -- 'pending', 'delivered' or 'failed'.
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    delivered_at    INTEGER,
    last_error      TEXT
);

CREATE INDEX alerts_by_status_due ON alerts (status, next_attempt_at);

-- One row of facts about this database. `instance` is random at creation
-- and prefixes alert ids.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

INSERT INTO meta (key, value) VALUES ('instance', lower(hex(randomblob(6))));
