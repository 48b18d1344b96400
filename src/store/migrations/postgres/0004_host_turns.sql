-- Politeness across nodes: at most per_host_concurrency requests to one
-- host at a time from all nodes together (a slot each, with a lease so a
-- dead node's slot frees itself), and requests spaced by per_host_delay
-- and any Retry-After (not_before).
CREATE TABLE hosts (
    host       TEXT PRIMARY KEY,
    not_before BIGINT NOT NULL
);
CREATE TABLE host_slots (
    host  TEXT NOT NULL,
    slot  BIGINT NOT NULL,
    node  TEXT NOT NULL,
    until BIGINT NOT NULL,
    PRIMARY KEY (host, slot)
);
