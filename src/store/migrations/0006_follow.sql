-- Follow mode: a follow watch (an index page or feed) keeps one child
-- watch per statement URL. A child is an ordinary row in `watches` (own
-- checks, snapshots, changes); this table says whose child it is and where
-- it stands in the listing. Retired children stay: their history is kept.
CREATE TABLE children (
    watch_id  INTEGER PRIMARY KEY NOT NULL REFERENCES watches (id),
    parent_id INTEGER NOT NULL REFERENCES watches (id),
    -- The canonical statement URL, as the listing gave it.
    url       TEXT NOT NULL,
    -- 'listed' | 'scrolled-off' | 'delisted' | 'retired'
    state     TEXT NOT NULL,
    -- Rank within the parent, larger = newer (see src/follow/mod.rs).
    ord       INTEGER NOT NULL,
    -- The link text or feed entry title when first seen.
    title     TEXT,
    -- 1: a new statement; its first snapshot raises `published`.
    announce  INTEGER NOT NULL DEFAULT 0,
    UNIQUE (parent_id, url)
);
CREATE INDEX children_by_parent ON children (parent_id, ord);
