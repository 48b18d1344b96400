-- Several nodes on one database share the checking: a node claims a
-- watch's next check (a lease naming the node, until a time) before it
-- fetches; another node's claim is refused while the lease lives or while
-- the watch was checked recently. Recording the check ends the lease; a
-- node that dies leaves it to expire.
ALTER TABLE watches ADD COLUMN lease_node TEXT;
ALTER TABLE watches ADD COLUMN lease_until BIGINT;
