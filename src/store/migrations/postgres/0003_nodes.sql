-- The daemons sharing this database: each writes a heartbeat every few
-- seconds, with its version and the fingerprint of the config it runs, so
-- `chancery status` can list them and say when they disagree.
CREATE TABLE nodes (
    id             TEXT PRIMARY KEY,
    host           TEXT NOT NULL,
    pid            BIGINT NOT NULL,
    version        TEXT NOT NULL,
    config_sha256  TEXT NOT NULL,
    watches        BIGINT NOT NULL,
    started_at     BIGINT NOT NULL,
    heartbeat_at   BIGINT NOT NULL,
    -- Set by a node that stopped cleanly.
    stopped_at     BIGINT
);
