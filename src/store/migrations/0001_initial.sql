-- Why: the first schema. One row per watch with its current state, every
-- check attempt, distinct normalized texts per watch (snapshots) over
-- content-addressed compressed blobs, and the changes between snapshots.
--
-- Conventions:
-- * Times are Unix milliseconds (INTEGER), as `model::Timestamp`.
-- * Hashes are lowercase hex SHA-256 (TEXT).
-- * Blobs (`bodies.data`, `texts.data`) are zstd frames; `size` is the
--   uncompressed length, which bounds decompression.
-- * Outcome, change kind and presence are the stable names from
--   `model.rs`. There are no CHECK constraints on them: SQLite cannot alter
--   a CHECK, so a new outcome would need a table rebuild. The code rejects
--   unknown names as corrupt when reading.
-- * AUTOINCREMENT on history tables so ids never get reused and
--   "ORDER BY id DESC" stays "newest first" even if rows are pruned later.

-- Raw response bodies, deduplicated by hash. Only kept with a new snapshot.
CREATE TABLE bodies (
    sha256 TEXT PRIMARY KEY NOT NULL,
    size   INTEGER NOT NULL,
    data   BLOB NOT NULL
);

-- Normalized texts, content-addressed and shared across watches.
CREATE TABLE texts (
    sha256 TEXT PRIMARY KEY NOT NULL,
    size   INTEGER NOT NULL,
    data   BLOB NOT NULL
);

CREATE TABLE watches (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    url              TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    -- 'new' | 'present' | 'removed'
    presence         TEXT NOT NULL DEFAULT 'new',
    -- The last good snapshot, kept through removals and errors.
    last_snapshot_id INTEGER REFERENCES snapshots (id),
    etag             TEXT,
    last_modified    TEXT,
    last_check_at    INTEGER,
    last_outcome     TEXT
);

-- A distinct normalized text of one watch. A page that goes back to an
-- earlier text reuses that row, so "restored" points at the original.
CREATE TABLE snapshots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    watch_id    INTEGER NOT NULL REFERENCES watches (id),
    text_sha256 TEXT NOT NULL REFERENCES texts (sha256),
    -- The raw body this text was first normalized from. Not a foreign key:
    -- the body may not have been kept.
    raw_sha256  TEXT,
    fetched_at  INTEGER NOT NULL,
    -- The check that first produced this text. Set right after that check's
    -- row is written, in the same transaction.
    check_id    INTEGER REFERENCES checks (id),
    UNIQUE (watch_id, text_sha256)
);

-- Every check attempt, including errors and unchanged ones. The hashes are
-- what the check saw; the blobs exist only when a snapshot kept them.
CREATE TABLE checks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    watch_id      INTEGER NOT NULL REFERENCES watches (id),
    started_at    INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    http_status   INTEGER,
    final_url     TEXT,
    error         TEXT,
    bytes         INTEGER NOT NULL,
    content_type  TEXT,
    charset       TEXT,
    raw_sha256    TEXT,
    text_sha256   TEXT,
    snapshot_id   INTEGER REFERENCES snapshots (id),
    etag          TEXT,
    last_modified TEXT
);

CREATE TABLE changes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    watch_id      INTEGER NOT NULL REFERENCES watches (id),
    check_id      INTEGER NOT NULL REFERENCES checks (id),
    -- 'first-seen' | 'edited' | 'removed' | 'restored'
    kind          TEXT NOT NULL,
    from_snapshot INTEGER REFERENCES snapshots (id),
    -- NULL for a removal.
    to_snapshot   INTEGER REFERENCES snapshots (id),
    detected_at   INTEGER NOT NULL,
    lines_added   INTEGER NOT NULL,
    lines_removed INTEGER NOT NULL,
    changed_ratio REAL NOT NULL,
    first_change  TEXT
);

-- Read paths: a watch's checks and changes, newest first. Ids grow with
-- time (AUTOINCREMENT; a wall clock can step back), so "by watch and time"
-- is "WHERE watch_id = ? ORDER BY id DESC", which walks these indexes.
-- Snapshots need none beyond UNIQUE (watch_id, text_sha256): a watch has few.
-- Foreign-key child columns (snapshot ids, check_id) are not indexed:
-- nothing deletes parents yet. A pruning migration should add them.
CREATE INDEX checks_by_watch ON checks (watch_id, id);
CREATE INDEX changes_by_watch ON changes (watch_id, id);
