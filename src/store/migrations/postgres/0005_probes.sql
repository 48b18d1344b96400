-- The not-found probe, shared by the nodes: each origin's answer to a path
-- that cannot exist (a body when it answered 2xx), when it was fetched,
-- and the lease of the node probing it now, so nodes probe an origin once
-- per day between them.
CREATE TABLE probes (
    origin       TEXT PRIMARY KEY,
    probed_at    BIGINT,
    soft_404     BOOLEAN NOT NULL DEFAULT FALSE,
    body         BYTEA,
    content_type TEXT,
    url          TEXT,
    lease_node   TEXT,
    lease_until  BIGINT
);
