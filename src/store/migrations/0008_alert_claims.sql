-- Claims on alerts: a worker (the daemon's delivery loop, or `chancery
-- check`) claims one due alert before it attempts it, and its result only
-- applies while that claim holds. Two processes never attempt one alert
-- at once, and a worker that died mid-attempt leaves a claim that expires
-- (`claim_until`), after which the alert is due again: delivery stays
-- at-least-once across crashes and exactly-once between live workers.
ALTER TABLE alerts ADD COLUMN claim TEXT;
ALTER TABLE alerts ADD COLUMN claim_until INTEGER;

-- The few claims held at any time, found without reading the whole outbox.
CREATE INDEX alerts_claimed ON alerts (claim) WHERE claim IS NOT NULL;
