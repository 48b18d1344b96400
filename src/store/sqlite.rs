//! The embedded store: one SQLite file (`chancery.db`) in the state
//! directory, in WAL mode so the daemon writes while the CLI reads.
//!
//! Layout (see `migrations/`): `watches` holds each watch's current state;
//! `checks` gets one small row per attempt; `snapshots` are the distinct
//! normalized texts of a watch; `texts` and `bodies` are zstd-compressed
//! blobs addressed by SHA-256 and shared by everything that has the same
//! bytes; `changes` link two snapshots.
//!
//! Guarantees:
//! - [`SqliteStore::record_check`] is one `BEGIN IMMEDIATE` transaction (or
//!   one savepoint of a group commit's): the check row, its blobs,
//!   snapshot, change and the watch's new state land together or not at
//!   all. An unchanged check writes one `checks` row and
//!   updates its watch; it adds no blob.
//! - A blob is only read back through a bounded decompression (its stored
//!   size, at most [`MAX_BLOB_BYTES`]) and a SHA-256 check against its key,
//!   so a damaged file gives [`StoreError::Corrupt`], never wrong text or an
//!   allocation of whatever size a broken frame claims.
//! - Nothing is cached between calls except prepared statements: a second
//!   process writing the same file is always seen.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use rusqlite::{
    Connection, OptionalExtension, Params, Row, Savepoint, Statement, Transaction,
    TransactionBehavior, params,
};

pub use super::codec::MAX_BLOB_BYTES;
use super::codec::{
    BlobTable, Zstd, attempt_columns, decode_blob, decode_text, encode_blob, parse_presence,
    to_sql_int, validate,
};
use super::copy;
use super::rows;
use super::{
    AlertRow, AlertStatus, Attempt, Basis, ChangeDetail, ChangeRow, CheckRow, ChildRow,
    FollowUpdate, GcSummary, NewAlert, NewCheck, NewEvent, NewHeads, RecordedCheck, Snapshot,
    SnapshotRow, Store, StoreError, StoredResponse, WatchState, WatchSummary,
};
use crate::model::{
    ChangeId, ChangeKind, CheckId, Outcome, Presence, SnapshotId, Timestamp, WatchId,
};

/// The database file inside the state directory.
pub const DB_FILE_NAME: &str = "chancery.db";

/// How long a statement waits for another connection's write lock before
/// failing with `SQLITE_BUSY`. Writes are short, so this only trips when
/// something is stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema migrations, in order. Migration `i` (0-based) brings the
/// database to `user_version` `i + 1`. Never edit one that has shipped:
/// add a new file.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_filters_fingerprint.sql"),
    include_str!("migrations/0003_alert_outbox.sql"),
    include_str!("migrations/0004_signal.sql"),
    include_str!("migrations/0005_response_headers.sql"),
    include_str!("migrations/0006_follow.sql"),
    include_str!("migrations/0007_sticky_region.sql"),
    include_str!("migrations/0008_alert_claims.sql"),
    include_str!("migrations/0009_rendered.sql"),
];

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The embedded SQLite implementation of [`super::Store`].
///
/// Owns one connection; it is `Send` but not `Sync`, so it lives behind a
/// mutex or on a writer thread. Other processes (the CLI next to the
/// daemon) open their own.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    zstd: Zstd,
}

// The daemon moves the store to a writer thread; fail the build, not the
// daemon, if a field ever makes it `!Send`.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<SqliteStore>();
};

impl SqliteStore {
    /// `gc`'s work, under `temp_store = FILE`.
    fn collect_garbage(
        &mut self,
        before: Timestamp,
        dry_run: bool,
        bytes_before: u64,
        size: impl Fn(&Connection) -> Result<u64, StoreError>,
    ) -> Result<GcSummary, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "DROP TABLE IF EXISTS temp.gc_checks;
             CREATE TEMP TABLE gc_checks (id INTEGER PRIMARY KEY);",
        )?;
        let checks = tx.execute(
            "INSERT INTO temp.gc_checks (id)
             SELECT k.id FROM checks k
             WHERE k.started_at < ?1
               AND NOT EXISTS (SELECT 1 FROM changes c WHERE c.check_id = k.id)
               AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.check_id = k.id)
               AND k.id <> (SELECT max(k2.id) FROM checks k2 WHERE k2.watch_id = k.watch_id)",
            [before.0],
        )?;
        // Bodies only the doomed checks refer to.
        let orphans = "SELECT b.sha256 FROM bodies b
             WHERE NOT EXISTS (SELECT 1 FROM checks k
                               WHERE k.raw_sha256 = b.sha256
                                 AND k.id NOT IN (SELECT id FROM temp.gc_checks))
               AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.raw_sha256 = b.sha256)";
        let bodies: i64 = tx.query_row(&format!("SELECT count(*) FROM ({orphans})"), [], |r| {
            r.get(0)
        })?;
        if dry_run {
            tx.execute_batch("DROP TABLE temp.gc_checks;")?;
            tx.rollback()?;
            return Ok(GcSummary {
                checks: checks as u64,
                bodies: u64::try_from(bodies).unwrap_or(0),
                bytes_before,
                bytes_after: bytes_before,
            });
        }
        tx.execute(
            &format!("DELETE FROM bodies WHERE sha256 IN ({orphans})"),
            [],
        )?;
        tx.execute(
            "DELETE FROM check_heads WHERE check_id IN (SELECT id FROM temp.gc_checks)",
            [],
        )?;
        tx.execute(
            "DELETE FROM checks WHERE id IN (SELECT id FROM temp.gc_checks)",
            [],
        )?;
        tx.execute_batch("DROP TABLE temp.gc_checks;")?;
        tx.commit()?;
        // Give the freed pages back to the file system.
        self.conn.execute_batch("VACUUM;")?;
        Ok(GcSummary {
            checks: checks as u64,
            bodies: u64::try_from(bodies).unwrap_or(0),
            bytes_before,
            bytes_after: size(&self.conn)?,
        })
    }

    /// Opens (creating if needed) `chancery.db` in `state_dir`, creating the
    /// directory too, so a fresh install needs no setup step.
    pub fn open_in(state_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|source| StoreError::CreateDir {
            path: state_dir.display().to_string(),
            source,
        })?;
        SqliteStore::open(&state_dir.join(DB_FILE_NAME))
    }

    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date. Every connection gets WAL, `synchronous=NORMAL`,
    /// foreign keys and a busy timeout, since SQLite keeps none of these
    /// per file except the journal mode.
    ///
    /// Fails with [`StoreError::TooNew`] on a database written by a newer
    /// build, rather than guessing at a schema it does not know, and with
    /// [`StoreError::DiskFull`] when the disk is too full to open it at
    /// all (SQLite's "disk I/O error" would not say so).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_unchecked(path).map_err(|e| match super::free_bytes(path) {
            Some(free) if free < super::LOW_DISK_BYTES => StoreError::DiskFull {
                path: path.display().to_string(),
                free,
            },
            _ => e,
        })
    }

    /// Opens the database at `path` for reading only, beside writers (the
    /// daemon): SQLite refuses every write on this connection. The schema
    /// must be current (migrating is a write): `chancery check` or `run`
    /// brings it up to date.
    pub fn open_read_only(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::read_only_at(path, path, rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX)
    }

    /// Opens the database at `path` for reading only, as the file stands,
    /// without its write-ahead log or any lock (SQLite's `immutable`): for
    /// reading a history when the disk is too full for [`Self::open`].
    /// After a clean stop the log is merged into the file, so nothing is
    /// missing; after a crash, what only the log held is not seen. Nothing
    /// may write to the file meanwhile, which a full disk ensures.
    pub fn open_immutable(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut uri = String::from("file:");
        for b in path.as_os_str().as_encoded_bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'.' | b'-' | b'_' | b'~' => {
                    uri.push(char::from(*b));
                }
                _ => uri.push_str(&format!("%{b:02X}")),
            }
        }
        uri.push_str("?immutable=1");
        SqliteStore::read_only_at(path, &uri, rusqlite::OpenFlags::SQLITE_OPEN_URI)
    }

    /// A read-only connection to the database at `path`, opened through
    /// `target` (the path itself, or a URI naming it) with `flags` added;
    /// the schema must be this build's, since it cannot be migrated.
    fn read_only_at(
        path: &Path,
        target: impl AsRef<Path>,
        flags: rusqlite::OpenFlags,
    ) -> Result<SqliteStore, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let flags = flags | rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
        let conn = Connection::open_with_flags(target, flags).map_err(open_error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        check_schema(&conn).map_err(|e| match e {
            StoreError::Sqlite(source) => open_error(source),
            other => other,
        })?;
        Ok(SqliteStore {
            conn,
            path: path.to_owned(),
            zstd: Zstd::default(),
        })
    }

    fn open_unchecked(path: &Path) -> Result<SqliteStore, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_error)?;
        configure(&conn).map_err(open_error)?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn,
            path: path.to_owned(),
            zstd: Zstd::default(),
        })
    }

    /// The database file, for messages and for `chancery` to tell the user
    /// where its history is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The id of the watch named `name`, or [`StoreError::UnknownWatch`].
    fn watch_id(&self, name: &str) -> Result<WatchId, StoreError> {
        self.conn
            .prepare_cached("SELECT id FROM watches WHERE name = ?1")?
            .query_row([name], |row| row.get(0))
            .optional()?
            .ok_or_else(|| StoreError::UnknownWatch(name.to_owned()))
    }
}

/// Per-connection settings. The busy timeout comes first so that switching
/// to WAL waits for, rather than fails on, a concurrent opener.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // E.g. a file system without shared memory: still correct, but the
        // CLI and the daemon will block each other.
        tracing::warn!(journal_mode = %mode, "database is not in WAL mode");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // A check's record runs in a savepoint of its group commit (see
    // `in_one_transaction`): the pages it changes are copied to a
    // sub-journal first, which SQLite spills to a new temporary file past
    // 64 KiB, a file created and removed for most records. In memory it is
    // a copy of a few pages. `gc` moves its large temporary work back to
    // disk.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// For connections that cannot migrate: the schema must be this build's.
fn check_schema(conn: &Connection) -> Result<(), StoreError> {
    let found = user_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found < SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "schema {found} must be migrated to {SCHEMA_VERSION} before it is read (run `chancery check` or start the daemon once)"
        )));
    }
    Ok(())
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Applies the migrations this database lacks, each in its own transaction
/// together with its `user_version` bump. An up-to-date database takes no
/// write lock.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found = user_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = u32::try_from(index + 1).expect("a handful of migrations fits in u32");
        if version <= found {
            continue;
        }
        let failed = |source: rusqlite::Error| StoreError::Migration {
            version,
            source: source.into(),
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        // Another process may have migrated while this one waited for the
        // write lock; re-read under the lock.
        let current = user_version(&tx).map_err(failed)?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found: current,
                known: SCHEMA_VERSION,
            });
        }
        if current >= version {
            continue;
        }
        tx.execute_batch(sql).map_err(failed)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
    }
    Ok(())
}

/// The SQL of each blob table.
impl BlobTable {
    fn exists_sql(self) -> &'static str {
        match self {
            BlobTable::Bodies => "SELECT 1 FROM bodies WHERE sha256 = ?1",
            BlobTable::Texts => "SELECT 1 FROM texts WHERE sha256 = ?1",
        }
    }

    fn insert_sql(self) -> &'static str {
        match self {
            BlobTable::Bodies => "INSERT INTO bodies (sha256, size, data) VALUES (?1, ?2, ?3)",
            BlobTable::Texts => "INSERT INTO texts (sha256, size, data) VALUES (?1, ?2, ?3)",
        }
    }

    fn select_sql(self) -> &'static str {
        match self {
            BlobTable::Bodies => "SELECT size, data FROM bodies WHERE sha256 = ?1",
            BlobTable::Texts => "SELECT size, data FROM texts WHERE sha256 = ?1",
        }
    }
}

/// Stores `bytes` under `sha256` unless a blob with that key is already
/// there. Checks the key and compresses only when it actually writes, so a
/// repeated body costs one indexed lookup.
fn put_blob(
    tx: &Connection,
    zstd: &mut Zstd,
    table: BlobTable,
    watch_id: WatchId,
    sha256: &str,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let exists = tx
        .prepare_cached(table.exists_sql())?
        .query_row([sha256], |_| Ok(()))
        .optional()?
        .is_some();
    if exists {
        return Ok(());
    }
    let (size, data) = encode_blob(zstd, table, watch_id, sha256, bytes)?;
    tx.prepare_cached(table.insert_sql())?
        .execute(params![sha256, size, data])?;
    Ok(())
}

/// Reads a blob back, bounded by its stored size and checked against its key.
fn get_blob(
    conn: &Connection,
    table: BlobTable,
    sha256: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let row = conn
        .prepare_cached(table.select_sql())?
        .query_row([sha256], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
        })
        .optional()?;
    match row {
        Some((size, data)) => decode_blob(table, sha256, size, &data).map(Some),
        None => Ok(None),
    }
}

/// Runs a query and maps each row with a decoder that may report corruption.
fn collect<T>(
    stmt: &mut Statement<'_>,
    params: impl Params,
    decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// `LIMIT` for an optional limit: SQLite treats a negative limit as none.
fn sql_limit(limit: Option<usize>) -> i64 {
    limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

fn load_state(conn: &Connection, name: &str) -> Result<Option<WatchState>, StoreError> {
    let mut stmt = conn.prepare_cached(&LOAD_STATE)?;
    let mut states = collect(&mut stmt, [name], |row| rows::watch_state(row))?;
    Ok(states.pop())
}

/// A watch's state by name. `+?1`, not `?1`: with a parameter compared in
/// the WHERE clause of a LEFT JOIN, SQLite ties the plan to the bound
/// value and prepares the statement again whenever it changes, that is on
/// every check of another watch (a third of a 304 pass's instructions,
/// docs/profile.md). The unary plus keeps the comparison and the index
/// (`EXPLAIN QUERY PLAN`: `SEARCH w USING INDEX … (name=?)`) and lets the
/// cached statement be reused.
static LOAD_STATE: LazyLock<String> =
    LazyLock::new(|| format!("{} WHERE w.name = +?1", rows::WATCH_STATE_SELECT));

/// The snapshot of `watch_id` with text `text_sha256`, if there is one.
fn find_snapshot(
    tx: &Connection,
    watch_id: WatchId,
    text_sha256: &str,
) -> Result<Option<SnapshotId>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT id FROM snapshots WHERE watch_id = ?1 AND text_sha256 = ?2")?
        .query_row(params![watch_id, text_sha256], |row| row.get(0))
        .optional()?)
}

/// Binds `values` to the statement's parameters, which the SQL names in
/// this order. Named in the SQL for the reader, bound by position for
/// speed: rusqlite's by-name binding looks each name up on every call (a
/// tenth of an unchanged check's CPU). Debug builds check the names.
fn bind_in_order(
    stmt: &mut Statement<'_>,
    values: &[(&str, &dyn rusqlite::ToSql)],
) -> rusqlite::Result<()> {
    debug_assert_eq!(stmt.parameter_count(), values.len(), "parameter count");
    for (i, (name, value)) in values.iter().enumerate() {
        debug_assert_eq!(
            stmt.parameter_name(i + 1),
            Some(*name),
            "parameter {}",
            i + 1
        );
        stmt.raw_bind_parameter(i + 1, value)?;
    }
    Ok(())
}

/// Writes everything one check produced inside `tx` (which the caller
/// commits): blobs, snapshot, check row, heads, change, alerts, events,
/// follow children and the watch's new state. Anything that must be atomic
/// with a check belongs here.
fn write_check(
    tx: &Connection,
    zstd: &mut Zstd,
    check: &NewCheck<'_>,
) -> Result<RecordedCheck, StoreError> {
    let watch_id = check.watch_id;
    if let Some(basis) = check.basis {
        let (presence, last_snapshot, failing_reported): (String, Option<SnapshotId>, bool) = tx
            .prepare_cached(
                "SELECT presence, last_snapshot_id, failing_reported FROM watches WHERE id = ?1",
            )?
            .query_row([watch_id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?;
        let now = Basis {
            presence: parse_presence(&presence)?,
            last_snapshot,
            failing_reported,
        };
        if now != basis {
            return Err(StoreError::Stale { watch_id });
        }
    }
    if let Some(body) = check.body {
        put_blob(
            tx,
            zstd,
            BlobTable::Bodies,
            watch_id,
            body.sha256,
            body.bytes,
        )?;
    }

    // The snapshot this check's text is: written for first-seen, edited and
    // restored (reusing the row when the text was seen before); looked up for
    // an unchanged check so its row still points at the text it saw.
    let mut new_snapshot = None;
    let snapshot_id = match (check.snapshot, check.outcome) {
        (Some(snapshot), _) => {
            put_blob(
                tx,
                zstd,
                BlobTable::Texts,
                watch_id,
                snapshot.sha256,
                snapshot.text.as_bytes(),
            )?;
            match find_snapshot(tx, watch_id, snapshot.sha256)? {
                Some(id) => Some(id),
                None => {
                    let raw_sha256 = check
                        .body
                        .map(|body| body.sha256)
                        .or(check.raw_sha256.as_deref());
                    let id: SnapshotId = tx
                        .prepare_cached(
                            "INSERT INTO snapshots (watch_id, text_sha256, raw_sha256, fetched_at)
                             VALUES (?1, ?2, ?3, ?4) RETURNING id",
                        )?
                        .query_row(
                            params![watch_id, snapshot.sha256, raw_sha256, check.started_at.0],
                            |row| row.get(0),
                        )?;
                    new_snapshot = Some(id);
                    Some(id)
                }
            }
        }
        (None, Outcome::Unchanged) => match check.text_sha256.as_deref() {
            Some(text_sha256) => find_snapshot(tx, watch_id, text_sha256)?,
            None => None,
        },
        (None, _) => None,
    };

    let (etag, last_modified) = match &check.validators {
        Some((etag, last_modified)) => (etag.as_deref(), last_modified.as_deref()),
        None => (None, None),
    };
    let duration_ms = u64::try_from(check.duration.as_millis()).unwrap_or(u64::MAX);
    let mut insert = tx.prepare_cached(
        "INSERT INTO checks (watch_id, started_at, duration_ms, outcome, http_status,
                             final_url, error, bytes, content_type, charset, raw_sha256,
                             text_sha256, snapshot_id, etag, last_modified, reason)
         VALUES (:watch_id, :started_at, :duration_ms, :outcome, :http_status,
                 :final_url, :error, :bytes, :content_type, :charset, :raw_sha256,
                 :text_sha256, :snapshot_id, :etag, :last_modified, :reason)
         RETURNING id",
    )?;
    bind_in_order(
        &mut insert,
        &[
            (":watch_id", &watch_id),
            (":started_at", &check.started_at.0),
            (":duration_ms", &to_sql_int(duration_ms)),
            (":outcome", &check.outcome.as_str()),
            (":http_status", &check.http_status),
            (":final_url", &check.final_url),
            (":error", &check.error),
            (":bytes", &to_sql_int(check.bytes)),
            (":content_type", &check.content_type),
            (":charset", &check.charset),
            (":raw_sha256", &check.raw_sha256),
            (":text_sha256", &check.text_sha256),
            (":snapshot_id", &snapshot_id),
            (":etag", &etag),
            (":last_modified", &last_modified),
            (":reason", &check.reason),
        ],
    )?;
    let check_id: i64 = match insert.raw_query().next()? {
        Some(row) => row.get(0)?,
        None => return Err(rusqlite::Error::QueryReturnedNoRows.into()),
    };
    if let Some(id) = new_snapshot {
        tx.prepare_cached("UPDATE snapshots SET check_id = ?1 WHERE id = ?2")?
            .execute(params![check_id, id])?;
    }
    if let Some(heads) = &check.heads {
        // Heads are kept when the body they describe is in the store, the
        // only checks an export can write. Keeping them for every response
        // (304s included) measured +520 bytes per check on disk, three
        // times the rest of an idle watch's history, for rows nothing reads.
        let body_kept = match (check.body, check.raw_sha256.as_deref()) {
            (Some(_), _) => true,
            (None, Some(raw_sha256)) => tx
                .prepare_cached(BlobTable::Bodies.exists_sql())?
                .query_row([raw_sha256], |_| Ok(()))
                .optional()?
                .is_some(),
            (None, None) => false,
        };
        if body_kept {
            insert_heads(tx, check_id, heads)?;
        }
    }

    let change_id = match &check.change {
        Some(change) => Some(insert_change(tx, check, change, check_id, snapshot_id)?),
        None => None,
    };
    if let (Some(change_id), Some(change)) = (change_id, &check.change) {
        insert_alerts(
            tx,
            check.watch_id,
            check.started_at,
            &check.alerts,
            change.kind,
            change_id,
        )?;
    }
    let mut event_id = None;
    for event in &check.events {
        let id = insert_event(tx, check, event, check_id, snapshot_id)?;
        insert_alerts(
            tx,
            check.watch_id,
            check.started_at,
            &event.alerts,
            event.kind,
            id,
        )?;
        event_id = event_id.or(Some(id));
    }
    if let Some(follow) = &check.follow {
        write_follow(tx, check, follow, check_id)?;
    }

    // A removal keeps the last snapshot: it is the last good text, the
    // baseline a restore is compared with.
    let presence = check.outcome.presence_after();
    let last_snapshot_id = snapshot_id.filter(|_| check.current);
    let mut update = tx.prepare_cached(
        "UPDATE watches SET
             last_check_at = :at,
             last_outcome = :outcome,
             presence = COALESCE(:presence, presence),
             last_snapshot_id = COALESCE(:last_snapshot_id, last_snapshot_id),
             etag = CASE WHEN :new_validators THEN :etag ELSE etag END,
             last_modified = CASE WHEN :new_validators THEN :last_modified ELSE last_modified END,
             filters_sha256 = COALESCE(:filters_sha256, filters_sha256),
             failing_since = :failing_since,
             failing_reported = :failing_reported,
             region = CASE WHEN :new_region THEN :region ELSE region END
         WHERE id = :watch_id",
    )?;
    bind_in_order(
        &mut update,
        &[
            (":at", &check.started_at.0),
            (":outcome", &check.outcome.as_str()),
            (":presence", &presence.map(Presence::as_str)),
            (":last_snapshot_id", &last_snapshot_id),
            (":new_validators", &check.validators.is_some()),
            (":etag", &etag),
            (":last_modified", &last_modified),
            (":filters_sha256", &check.filters_sha256),
            (":failing_since", &check.health.failing_since.map(|t| t.0)),
            (":failing_reported", &check.health.reported),
            (":new_region", &check.region.is_some()),
            (":region", &check.region.as_ref().and_then(|r| r.as_deref())),
            (":watch_id", &watch_id),
        ],
    )?;
    let updated = update.raw_execute()?;
    if updated != 1 {
        // Unreachable while foreign keys are on (the check row would have
        // failed first), but cheap to make sure.
        return Err(StoreError::InvalidCheck {
            watch_id,
            reason: "no such watch".to_owned(),
        });
    }

    Ok(RecordedCheck {
        check_id,
        snapshot_id,
        change_id,
        event_id,
    })
}

/// Keeps the HTTP heads of a check for the evidence export.
fn insert_heads(tx: &Connection, check_id: CheckId, heads: &NewHeads) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO check_heads
             (check_id, requested_at, remote_ip, request_head, response_head, rendered_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        check_id,
        heads.requested_at.0,
        heads.remote_ip,
        heads.request_head,
        heads.response_head,
        heads.rendered_by,
    ])?;
    Ok(())
}

/// Queues the check's alerts for its change, ids `<instance>-<change>-<subscriber>`.
fn insert_alerts(
    tx: &Connection,
    watch_id: WatchId,
    at: Timestamp,
    alerts: &[NewAlert],
    kind: ChangeKind,
    change_id: ChangeId,
) -> Result<(), StoreError> {
    if alerts.is_empty() {
        return Ok(());
    }
    let instance: String = tx
        .prepare_cached("SELECT value FROM meta WHERE key = 'instance'")?
        .query_row([], |row| row.get(0))?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO alerts (id, change_id, watch_id, subscriber, channel, event, status,
                             attempts, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?7)",
    )?;
    for alert in alerts {
        let id = format!("{instance}-{change_id}-{}", alert.subscriber);
        insert.execute(params![
            id,
            change_id,
            watch_id,
            alert.subscriber,
            alert.channel,
            kind.as_str(),
            at.0,
        ])?;
    }
    Ok(())
}

/// Records an event in the changes table. Health events and `delisted`
/// point at the watch's current snapshot (`from`); `published` at the
/// check's new snapshot (`to`). `first_change` carries the detail (the last
/// error, the statement's title), so alerts and `history` can show it.
fn insert_event(
    tx: &Connection,
    check: &NewCheck<'_>,
    event: &NewEvent,
    check_id: super::CheckId,
    snapshot_id: Option<SnapshotId>,
) -> Result<ChangeId, StoreError> {
    let to = (event.kind == ChangeKind::Published)
        .then_some(snapshot_id)
        .flatten();
    event_row(
        tx,
        check.watch_id,
        check_id,
        event.kind,
        check.started_at,
        event.detail.as_deref(),
        to,
    )
}

fn event_row(
    tx: &Connection,
    watch_id: WatchId,
    check_id: super::CheckId,
    kind: ChangeKind,
    at: Timestamp,
    detail: Option<&str>,
    to: Option<SnapshotId>,
) -> Result<ChangeId, StoreError> {
    let id = tx
        .prepare_cached(
            "INSERT INTO changes (watch_id, check_id, kind, from_snapshot, to_snapshot,
                                  detected_at, lines_added, lines_removed, changed_ratio,
                                  first_change)
             VALUES (?1, ?2, ?3,
                     CASE WHEN ?6 IS NULL
                          THEN (SELECT last_snapshot_id FROM watches WHERE id = ?1) END,
                     ?6, ?4, 0, 0, 0.0, ?5)
             RETURNING id",
        )?
        .query_row(
            params![watch_id, check_id, kind.as_str(), at.0, detail, to],
            |row| row.get(0),
        )?;
    Ok(id)
}

/// Writes a follow watch's reconciled listing: new child watches, every
/// child's state and rank, and `delisted` events with their alerts, in the
/// parent check's transaction.
fn write_follow(
    tx: &Connection,
    check: &NewCheck<'_>,
    follow: &FollowUpdate,
    check_id: super::CheckId,
) -> Result<(), StoreError> {
    for child in &follow.children {
        tx.prepare_cached(
            "INSERT INTO watches (name, url, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO NOTHING",
        )?
        .execute(params![child.name, child.url, check.started_at.0])?;
        let child_id: WatchId = tx
            .prepare_cached("SELECT id FROM watches WHERE name = ?1")?
            .query_row([&child.name], |row| row.get(0))?;
        tx.prepare_cached(
            "INSERT INTO children (watch_id, parent_id, url, state, ord, title, announce)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (watch_id) DO UPDATE SET state = excluded.state, ord = excluded.ord",
        )?
        .execute(params![
            child_id,
            check.watch_id,
            child.url,
            child.state.as_str(),
            child.order,
            child.title,
            child.announce,
        ])?;
        if let Some(alerts) = &child.delisted {
            let detail = format!(
                "taken off the listing {}",
                check.final_url.as_deref().unwrap_or("")
            );
            let id = event_row(
                tx,
                child_id,
                check_id,
                ChangeKind::Delisted,
                check.started_at,
                Some(&detail),
                None,
            )?;
            insert_alerts(
                tx,
                child_id,
                check.started_at,
                alerts,
                ChangeKind::Delisted,
                id,
            )?;
        }
    }
    Ok(())
}

fn insert_change(
    tx: &Connection,
    check: &NewCheck<'_>,
    change: &super::NewChange,
    check_id: i64,
    snapshot_id: Option<SnapshotId>,
) -> Result<ChangeId, StoreError> {
    let watch_id = check.watch_id;
    if let Some(from) = change.from {
        // A foreign key only proves the snapshot exists; a diff against
        // another watch's text would be silently wrong.
        let owner: Option<WatchId> = tx
            .prepare_cached("SELECT watch_id FROM snapshots WHERE id = ?1")?
            .query_row([from], |row| row.get(0))
            .optional()?;
        if owner != Some(watch_id) {
            return Err(StoreError::InvalidCheck {
                watch_id,
                reason: format!("change from snapshot {from}, which is not one of this watch's"),
            });
        }
    }
    // A removal has no snapshot (validate() refuses one), so `to` is NULL.
    let to = check.snapshot.and(snapshot_id);
    let summary = &change.summary;
    let id = tx
        .prepare_cached(
            "INSERT INTO changes (watch_id, check_id, kind, from_snapshot, to_snapshot,
                                  detected_at, lines_added, lines_removed, changed_ratio,
                                  first_change)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             RETURNING id",
        )?
        .query_row(
            params![
                watch_id,
                check_id,
                change.kind.as_str(),
                change.from,
                to,
                check.started_at.0,
                summary.lines_added,
                summary.lines_removed,
                summary.changed_ratio,
                summary.first_change,
            ],
            |row| row.get(0),
        )?;
    Ok(id)
}

/// One write: its own `BEGIN IMMEDIATE` transaction (taking the write
/// lock up front, so it cannot fail half-way with `SQLITE_BUSY` on
/// upgrading a read lock), or inside a group commit's transaction
/// ([`Store::in_one_transaction`]), a savepoint of it.
enum WriteTx<'c> {
    Alone(Transaction<'c>),
    InGroup(Savepoint<'c>),
}

impl<'c> WriteTx<'c> {
    fn begin(conn: &'c mut Connection) -> rusqlite::Result<WriteTx<'c>> {
        if conn.is_autocommit() {
            conn.transaction_with_behavior(TransactionBehavior::Immediate)
                .map(WriteTx::Alone)
        } else {
            conn.savepoint().map(WriteTx::InGroup)
        }
    }

    fn commit(self) -> rusqlite::Result<()> {
        match self {
            WriteTx::Alone(tx) => tx.commit(),
            WriteTx::InGroup(sp) => sp.commit(),
        }
    }
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            WriteTx::Alone(tx) => tx,
            WriteTx::InGroup(sp) => sp,
        }
    }
}

impl Store for SqliteStore {
    fn ensure_watch(&mut self, name: &str, url: &str) -> Result<WatchState, StoreError> {
        // The common case, a known watch at the same URL, is a read: no
        // write transaction on every check.
        if let Some(state) = load_state(&self.conn, name)?
            && state.url == url
        {
            return Ok(state);
        }
        let tx = WriteTx::begin(&mut self.conn)?;
        tx.prepare_cached(
            "INSERT INTO watches (name, url, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET url = excluded.url WHERE url <> excluded.url",
        )?
        .execute(params![name, url, Timestamp::now().0])?;
        let state =
            load_state(&tx, name)?.expect("the watch was inserted or found in this transaction");
        tx.commit()?;
        Ok(state)
    }

    fn watch_state(&self, name: &str) -> Result<Option<WatchState>, StoreError> {
        load_state(&self.conn, name)
    }

    fn watch_states(&self) -> Result<Vec<WatchState>, StoreError> {
        let mut stmt = self.conn.prepare(rows::WATCH_STATE_SELECT)?;
        collect(&mut stmt, [], |row| rows::watch_state(row))
    }

    fn record_check(&mut self, check: &NewCheck<'_>) -> Result<RecordedCheck, StoreError> {
        validate(check)?;
        let tx = WriteTx::begin(&mut self.conn)?;
        let recorded = write_check(&tx, &mut self.zstd, check)?;
        tx.commit()?;
        Ok(recorded)
    }

    fn in_one_transaction(
        &mut self,
        n: usize,
        job: &mut dyn FnMut(usize, &mut dyn Store) -> bool,
    ) -> Result<(), StoreError> {
        // IMMEDIATE, as for one check: the write lock up front.
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        for i in 0..n {
            let outcome = self.conn.execute_batch("SAVEPOINT job").and_then(|()| {
                let kept = job(i, self);
                // `job` catches its own panics (SharedStore::write); a
                // failed one leaves nothing of its writes.
                self.conn.execute_batch(if kept {
                    "RELEASE job"
                } else {
                    "ROLLBACK TO job; RELEASE job"
                })
            });
            if let Err(e) = outcome {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(e.into());
            }
        }
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        Ok(())
    }

    fn watches(&self) -> Result<Vec<WatchSummary>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{} ORDER BY w.name", rows::WATCH_SUMMARIES_SELECT))?;
        collect(&mut stmt, [], |row| rows::watch_summary(row))
    }

    fn changes_before(
        &self,
        watch: &str,
        before: Option<ChangeId>,
        limit: Option<usize>,
    ) -> Result<Vec<ChangeRow>, StoreError> {
        let watch_id = self.watch_id(watch)?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {}
             FROM changes c JOIN checks k ON k.id = c.check_id
             WHERE c.watch_id = ?1 AND (?2 IS NULL OR c.id < ?2) ORDER BY c.id DESC LIMIT ?3",
            rows::CHANGE_COLUMNS
        ))?;
        collect(
            &mut stmt,
            params![watch_id, before, sql_limit(limit)],
            |row| rows::change_row(row),
        )
    }

    fn snapshots(&self, watch: &str, limit: Option<usize>) -> Result<Vec<SnapshotRow>, StoreError> {
        let watch_id = self.watch_id(watch)?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {}
             FROM snapshots s JOIN texts t ON t.sha256 = s.text_sha256
             WHERE s.watch_id = ?1 ORDER BY s.id DESC LIMIT ?2",
            rows::SNAPSHOT_COLUMNS
        ))?;
        collect(&mut stmt, params![watch_id, sql_limit(limit)], |row| {
            rows::snapshot_row(row)
        })
    }

    fn checks_before(
        &self,
        watch: &str,
        before: Option<CheckId>,
        limit: Option<usize>,
    ) -> Result<Vec<CheckRow>, StoreError> {
        let watch_id = self.watch_id(watch)?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {} FROM checks WHERE watch_id = ?1 AND (?2 IS NULL OR id < ?2)
             ORDER BY id DESC LIMIT ?3",
            rows::CHECK_COLUMNS
        ))?;
        collect(
            &mut stmt,
            params![watch_id, before, sql_limit(limit)],
            |row| rows::check_row(row),
        )
    }

    fn snapshot(
        &self,
        watch: &str,
        id: Option<SnapshotId>,
    ) -> Result<Option<Snapshot>, StoreError> {
        let watch_id = self.watch_id(watch)?;
        // The latest is the watch's current text (after a restore, an old
        // row), falling back to the newest row if the pointer is unset.
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {}, t.data
             FROM snapshots s JOIN texts t ON t.sha256 = s.text_sha256
             WHERE s.watch_id = ?1 AND s.id = COALESCE(
                 ?2,
                 (SELECT last_snapshot_id FROM watches WHERE id = ?1),
                 (SELECT max(id) FROM snapshots WHERE watch_id = ?1))",
            rows::SNAPSHOT_COLUMNS
        ))?;
        let mut found = collect(&mut stmt, params![watch_id, id], |row| {
            let meta = rows::snapshot_row(row)?;
            let data = row.get_ref(7)?.as_blob().map_err(|err| {
                StoreError::Corrupt(format!("text {}: data is not a blob: {err}", meta.sha256))
            })?;
            let text = decode_text(&meta.sha256, row.get(4)?, data)?;
            Ok(Snapshot { meta, text })
        })?;
        Ok(found.pop())
    }

    fn raw_body(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        get_blob(&self.conn, BlobTable::Bodies, sha256)
    }

    fn children(&self, parent: &str) -> Result<Vec<ChildRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "{} WHERE c.parent_id = (SELECT id FROM watches WHERE name = ?1)
             ORDER BY c.ord DESC",
            rows::CHILD_SELECT
        ))?;
        collect(&mut stmt, [parent], |row| rows::child_row(row))
    }

    fn watch_by_url(&self, url: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT w.name FROM watches w LEFT JOIN children c ON c.watch_id = w.id
                 WHERE w.url = ?1 OR c.url = ?1
                 ORDER BY c.watch_id IS NULL, w.id DESC LIMIT 1",
            )?
            .query_row([url], |row| row.get(0))
            .optional()?)
    }

    fn gc(&mut self, before: Timestamp, dry_run: bool) -> Result<GcSummary, StoreError> {
        let size = |conn: &Connection| -> Result<u64, StoreError> {
            let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            Ok(u64::try_from(pages * page).unwrap_or(0))
        };
        let bytes_before = size(&self.conn)?;
        // The doomed check ids and VACUUM's copy of the whole database are
        // temporary: on disk, not in this process's memory.
        self.conn.pragma_update(None, "temp_store", "FILE")?;
        let outcome = self.collect_garbage(before, dry_run, bytes_before, size);
        self.conn.pragma_update(None, "temp_store", "MEMORY")?;
        outcome
    }

    fn backup(&self, dest: &Path) -> Result<u64, StoreError> {
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("backup to {} failed: {what}: {e}", dest.display()))
        };
        // Written beside the destination and renamed when complete and
        // checked: a failed backup never leaves a file that looks whole.
        let partial = dest.with_file_name(format!(
            ".{}.partial",
            dest.file_name()
                .map_or("backup".into(), |n| n.to_string_lossy())
        ));
        let _ = std::fs::remove_file(&partial);
        let result = (|| {
            let mut out = Connection::open(&partial).map_err(|e| failed("create", &e))?;
            {
                let backup = rusqlite::backup::Backup::new(&self.conn, &mut out)
                    .map_err(|e| failed("start", &e))?;
                // Small steps with pauses: writers beside us wait at most
                // one step; a write meanwhile restarts the copy of what
                // changed, as SQLite's online backup does.
                backup
                    .run_to_completion(512, std::time::Duration::from_millis(2), None)
                    .map_err(|e| failed("copy", &e))?;
            }
            // One self-contained file: no -wal beside it.
            out.pragma_update(None, "journal_mode", "DELETE")
                .map_err(|e| failed("journal mode", &e))?;
            let check: String = out
                .query_row("PRAGMA integrity_check", [], |row| row.get(0))
                .map_err(|e| failed("integrity check", &e))?;
            if check != "ok" {
                return Err(failed("integrity check", &check));
            }
            drop(out);
            std::fs::File::open(&partial)
                .and_then(|f| f.sync_all())
                .map_err(|e| failed("sync", &e))?;
            std::fs::rename(&partial, dest).map_err(|e| failed("rename", &e))?;
            std::fs::metadata(dest)
                .map(|m| m.len())
                .map_err(|e| failed("stat", &e))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result
    }

    fn snapshot_id_of(
        &self,
        watch_id: WatchId,
        text_sha256: &str,
    ) -> Result<Option<SnapshotId>, StoreError> {
        find_snapshot(&self.conn, watch_id, text_sha256)
    }

    fn claim_due_alert(
        &mut self,
        now: Timestamp,
        claim: &str,
        until: Timestamp,
    ) -> Result<Option<AlertRow>, StoreError> {
        // One statement, so one write transaction: two processes can never
        // both see the alert unclaimed.
        let id: Option<String> = self
            .conn
            .prepare_cached(
                "UPDATE alerts SET claim = ?2, claim_until = ?3
                 WHERE id = (SELECT id FROM alerts
                             WHERE status = 'pending' AND next_attempt_at <= ?1
                               AND (claim_until IS NULL OR claim_until <= ?1)
                             ORDER BY next_attempt_at, created_at LIMIT 1)
                 RETURNING id",
            )?
            .query_row(params![now.0, claim, until.0], |row| row.get(0))
            .optional()?;
        let Some(id) = id else { return Ok(None) };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {} FROM alerts a JOIN watches w ON w.id = a.watch_id
             WHERE a.id = ?1",
            rows::ALERT_COLUMNS
        ))?;
        Ok(collect(&mut stmt, [&id], |row| rows::alert_row(row))?.pop())
    }

    fn live_claims(&self, now: Timestamp) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT claim FROM alerts WHERE claim IS NOT NULL AND claim_until > ?1",
        )?;
        collect(&mut stmt, [now.0], |row| Ok(row.get(0)?))
    }

    fn release_claim(&mut self, claim: &str) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .prepare_cached("UPDATE alerts SET claim = NULL, claim_until = NULL WHERE claim = ?1")?
            .execute([claim])?)
    }

    fn alerts(
        &self,
        status: Option<AlertStatus>,
        limit: Option<usize>,
    ) -> Result<Vec<AlertRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {} FROM alerts a JOIN watches w ON w.id = a.watch_id
             WHERE ?1 IS NULL OR a.status = ?1
             ORDER BY a.created_at DESC, a.id DESC LIMIT ?2",
            rows::ALERT_COLUMNS
        ))?;
        collect(
            &mut stmt,
            params![status.map(AlertStatus::as_str), sql_limit(limit)],
            |row| rows::alert_row(row),
        )
    }

    fn next_alert_due(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT min(next_attempt_at) FROM alerts WHERE status = 'pending'")?
            .query_row([], |row| row.get::<_, Option<i64>>(0))?
            .map(Timestamp))
    }

    fn record_attempt(
        &mut self,
        id: &str,
        claim: &str,
        at: Timestamp,
        attempt: &Attempt,
    ) -> Result<bool, StoreError> {
        let (status, next, error, delivered) = attempt_columns(attempt, at);
        // Only the claim that made the attempt may record it, and only
        // while the alert is still pending.
        let updated = self
            .conn
            .prepare_cached(
                "UPDATE alerts SET status = ?2, attempts = attempts + 1, last_attempt_at = ?3,
                     next_attempt_at = COALESCE(?4, next_attempt_at),
                     last_error = COALESCE(?5, last_error), delivered_at = ?6,
                     claim = NULL, claim_until = NULL
                 WHERE id = ?1 AND claim = ?7 AND status = 'pending'",
            )?
            .execute(params![id, status, at.0, next, error, delivered, claim])?;
        Ok(updated == 1)
    }

    fn retry_alerts(&mut self, id: Option<&str>, now: Timestamp) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE alerts SET status = 'pending', next_attempt_at = ?2
                 WHERE status IN ('pending', 'failed') AND (?1 IS NULL OR id = ?1)",
            )?
            .execute(params![id, now.0])?)
    }

    fn change_detail(&self, id: ChangeId) -> Result<Option<ChangeDetail>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{} WHERE c.id = ?1", rows::CHANGE_DETAIL_SELECT))?;
        let mut found = collect(&mut stmt, [id], |row| rows::change_detail(row))?;
        Ok(found.pop())
    }

    fn recent_changes(
        &self,
        watch: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ChangeDetail>, StoreError> {
        let watch_id = watch.map(|w| self.watch_id(w)).transpose()?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "{} WHERE (?1 IS NULL OR c.watch_id = ?1) AND {}
             ORDER BY c.id DESC LIMIT ?2",
            rows::CHANGE_DETAIL_SELECT,
            rows::STATEMENT_CHANGES_FILTER
        ))?;
        collect(
            &mut stmt,
            params![watch_id, sql_limit(Some(limit))],
            |row| rows::change_detail(row),
        )
    }

    fn responses(
        &self,
        watch: &str,
        since: Option<Timestamp>,
    ) -> Result<Vec<StoredResponse>, StoreError> {
        let watch_id = self.watch_id(watch)?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "{} WHERE c.watch_id = ?1 AND c.http_status IS NOT NULL AND c.started_at >= ?2
             ORDER BY c.id",
            rows::RESPONSE_SELECT
        ))?;
        let since = since.map_or(i64::MIN, |t| t.0);
        collect(&mut stmt, params![watch_id, since], |row| {
            rows::response(row)
        })
    }
}

impl super::copy::Tables for SqliteStore {
    fn instance(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'instance'", [], |row| {
                row.get(0)
            })?)
    }

    fn set_instance(&mut self, instance: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'instance'",
            [instance],
        )?;
        Ok(())
    }

    fn count_rows(&self, table: &copy::Table) -> Result<u64, StoreError> {
        let n: i64 =
            self.conn
                .query_row(&format!("SELECT count(*) FROM {}", table.name), [], |row| {
                    row.get(0)
                })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn count_rows_through(
        &self,
        table: &copy::Table,
        key: &copy::Value,
    ) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(
            &format!(
                "SELECT count(*) FROM {} WHERE {} <= ?1",
                table.name,
                table.key()
            ),
            [to_sqlite(key)],
            |row| row.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn max_key(&self, table: &copy::Table) -> Result<Option<copy::Value>, StoreError> {
        let key: rusqlite::types::Value = self.conn.query_row(
            &format!("SELECT max({}) FROM {}", table.key(), table.name),
            [],
            |row| row.get(0),
        )?;
        Ok(Some(from_sqlite(key)).filter(|k| *k != copy::Value::Null))
    }

    fn dump_rows(
        &self,
        table: &copy::Table,
        after: Option<&copy::Value>,
        limit: usize,
    ) -> Result<Vec<Vec<copy::Value>>, StoreError> {
        let sql = copy::dump_sql(table, |i| format!("?{i}"), table.key());
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let after = after.map_or(rusqlite::types::Value::Null, to_sqlite);
        collect(&mut stmt, params![after, sql_limit(Some(limit))], |row| {
            (0..table.columns.len())
                .map(|i| Ok(from_sqlite(row.get(i)?)))
                .collect::<Result<Vec<_>, StoreError>>()
        })
    }

    fn load_rows(
        &mut self,
        table: &copy::Table,
        rows: &[Vec<copy::Value>],
    ) -> Result<(), StoreError> {
        let sql = copy::load_sql(table, |i| format!("?{i}"));
        let tx = WriteTx::begin(&mut self.conn)?;
        {
            let mut stmt = tx.prepare_cached(&sql)?;
            for row in rows {
                stmt.execute(rusqlite::params_from_iter(row.iter().map(to_sqlite)))?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn finish_load(&mut self) -> Result<(), StoreError> {
        // AUTOINCREMENT keeps its counters in sqlite_sequence, which
        // explicit ids already moved on.
        Ok(())
    }
}

fn to_sqlite(value: &copy::Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match value {
        copy::Value::Null => V::Null,
        copy::Value::Int(n) => V::Integer(*n),
        copy::Value::Real(x) => V::Real(*x),
        copy::Value::Text(t) => V::Text(t.clone()),
        copy::Value::Bytes(b) => V::Blob(b.clone()),
    }
}

fn from_sqlite(value: rusqlite::types::Value) -> copy::Value {
    use rusqlite::types::Value as V;
    match value {
        V::Null => copy::Value::Null,
        V::Integer(n) => copy::Value::Int(n),
        V::Real(x) => copy::Value::Real(x),
        V::Text(t) => copy::Value::Text(t),
        V::Blob(b) => copy::Value::Bytes(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::{Page, TABLES, seen};

    fn count(store: &SqliteStore, table: &str) -> i64 {
        store
            .conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .unwrap()
    }

    fn open_temp() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn open_in_creates_directory_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state").join("chancery");
        let store = SqliteStore::open_in(&state_dir).unwrap();
        assert_eq!(store.path(), state_dir.join("chancery.db"));
        assert!(store.path().is_file());
        assert_eq!(user_version(&store.conn).unwrap(), SCHEMA_VERSION);
        for table in TABLES {
            assert_eq!(count(&store, table), 0, "{table}");
        }
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let foreign_keys: bool = store
            .conn
            .pragma_query_value(None, "foreign_keys", |row| row.get(0))
            .unwrap();
        assert!(foreign_keys);
        let synchronous: i64 = store
            .conn
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap();
        assert_eq!(synchronous, 1, "NORMAL");
        let temp_store: i64 = store
            .conn
            .pragma_query_value(None, "temp_store", |row| row.get(0))
            .unwrap();
        assert_eq!(temp_store, 2, "MEMORY");
    }

    #[test]
    fn gc_works_on_disk_and_gives_the_connection_back_its_memory_journal() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open_in(dir.path()).unwrap();
        store.ensure_watch("mfa", "https://example.org/a").unwrap();
        let temp_store = |store: &SqliteStore| -> i64 {
            store
                .conn
                .pragma_query_value(None, "temp_store", |row| row.get(0))
                .unwrap()
        };
        assert_eq!(temp_store(&store), 2);
        store.gc(Timestamp(i64::MAX), false).unwrap();
        assert_eq!(temp_store(&store), 2, "MEMORY again after gc");
    }

    #[test]
    fn reopen_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open_in(dir.path()).unwrap();
        let state = store.ensure_watch("mfa", "https://example.org/a").unwrap();
        drop(store);
        let store = SqliteStore::open_in(dir.path()).unwrap();
        assert_eq!(user_version(&store.conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(store.watch_state("mfa").unwrap(), Some(state));
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in(dir.path()).unwrap();
        store
            .conn
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(store);
        match SqliteStore::open_in(dir.path()) {
            Err(StoreError::TooNew { found, known }) => {
                assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    #[test]
    fn a_file_that_is_not_a_database_is_an_open_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chancery.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        match SqliteStore::open(&path) {
            Err(err @ StoreError::Open { .. }) => {
                assert!(err.to_string().contains(&path.display().to_string()));
            }
            other => panic!("expected Open, got {other:?}"),
        }
    }

    #[test]
    fn a_history_is_read_as_its_file_stands_when_it_cannot_be_opened_for_writing() {
        let dir = tempfile::tempdir().unwrap();
        // A path an SQLite URI must escape.
        let state = dir.path().join("state 100% #1?");
        let path = state.join(DB_FILE_NAME);
        {
            let mut store = SqliteStore::open_in(&state).unwrap();
            let a = store.ensure_watch("a", "https://example.org/a").unwrap();
            store
                .record_check(&seen(
                    a.watch_id,
                    1_000,
                    Outcome::FirstSeen,
                    &Page::new("A."),
                    None,
                ))
                .unwrap();
        }
        let store = SqliteStore::open_immutable(&path).unwrap();
        assert_eq!(store.snapshot("a", None).unwrap().unwrap().text, "A.");
        assert!(
            !state.join("chancery.db-shm").exists(),
            "reading created no shared-memory file"
        );
        // A file of an older schema would need a migration: refused.
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION - 1)
            .unwrap();
        assert!(matches!(
            SqliteStore::open_immutable(&path),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn a_state_dir_that_cannot_be_created_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"").unwrap();
        let state_dir = file.join("state");
        match SqliteStore::open_in(&state_dir) {
            Err(err @ StoreError::CreateDir { .. }) => {
                assert!(err.to_string().contains(&state_dir.display().to_string()));
            }
            other => panic!("expected CreateDir, got {other:?}"),
        }
    }

    #[test]
    fn reading_one_watch_after_another_reuses_the_prepared_statement() {
        let (_dir, mut store) = open_temp();
        for i in 0..3 {
            store
                .ensure_watch(&format!("w{i}"), "https://example.org/a")
                .unwrap();
        }
        let before = store
            .conn
            .prepare_cached(&LOAD_STATE)
            .unwrap()
            .get_status(rusqlite::StatementStatus::RePrepare);
        for round in 0..4 {
            let name = format!("w{}", round % 3);
            assert!(store.watch_state(&name).unwrap().is_some());
        }
        let after = store
            .conn
            .prepare_cached(&LOAD_STATE)
            .unwrap()
            .get_status(rusqlite::StatementStatus::RePrepare);
        assert_eq!(after, before, "the state read was prepared again");
    }

    #[test]
    fn readers_are_not_blocked_by_an_open_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = SqliteStore::open_in(dir.path()).unwrap();
        let w = writer.ensure_watch("mfa", "https://example.org/s").unwrap();
        let page = Page::new("Statement.");

        let tx = writer
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        write_check(
            &tx,
            &mut Zstd::default(),
            &seen(w.watch_id, 1_000, Outcome::FirstSeen, &page, None),
        )
        .unwrap();

        // A second process (the CLI) opens and reads while the write is open.
        let reader = SqliteStore::open_in(dir.path()).unwrap();
        let summaries = reader.watches().unwrap();
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].n_checks, 0, "uncommitted check is invisible");
        assert_eq!(
            reader.watch_state("mfa").unwrap().unwrap().presence,
            Presence::New
        );

        // With WAL the writer commits past an open read transaction (with a
        // rollback journal this commit would wait for the reader, then fail
        // with SQLITE_BUSY), and the reader keeps a stable view until it ends.
        let read = reader.conn.unchecked_transaction().unwrap();
        assert_eq!(reader.watches().unwrap()[0].n_checks, 0);
        tx.commit().unwrap();
        assert_eq!(reader.watches().unwrap()[0].n_checks, 0);
        read.finish().unwrap();
        assert_eq!(reader.watches().unwrap()[0].n_checks, 1);
        assert_eq!(
            reader.watch_state("mfa").unwrap().unwrap().presence,
            Presence::Present
        );
    }

    #[test]
    fn corrupt_blobs_are_errors_not_panics() {
        let (_dir, mut store) = open_temp();
        let w = store.ensure_watch("mfa", "https://example.org/s").unwrap();
        let page = Page::new("Statement.");
        store
            .record_check(&seen(w.watch_id, 1_000, Outcome::FirstSeen, &page, None))
            .unwrap();
        for table in ["texts", "bodies"] {
            let (sha, original) = if table == "texts" {
                (&page.text_sha, page.text.as_bytes())
            } else {
                (&page.raw_sha, page.raw.as_slice())
            };
            // Same size, other content: only the hash check can tell.
            let mut altered = original.to_vec();
            altered[0] ^= 1;
            let altered = zstd::bulk::compress(&altered, 3).unwrap();
            let damage: [(&str, &dyn rusqlite::ToSql); 4] = [
                (
                    "UPDATE {table} SET data = ?1",
                    &b"not a zstd frame".as_slice(),
                ),
                ("UPDATE {table} SET data = ?1", &altered),
                ("UPDATE {table} SET size = ?1", &(1_i64 << 40)),
                ("UPDATE {table} SET size = ?1", &-1_i64),
            ];
            for (sql, value) in damage {
                let tx = store.conn.transaction().unwrap();
                tx.execute(&sql.replace("{table}", table), [value]).unwrap();
                let result = if table == "texts" {
                    store_snapshot_text(&tx)
                } else {
                    get_blob(&tx, BlobTable::Bodies, sha).map(Option::unwrap_or_default)
                };
                match result {
                    Err(err @ StoreError::Corrupt(_)) => {
                        assert!(err.to_string().contains(sha.as_str()), "{err}");
                    }
                    other => panic!("{sql} on {table}: expected Corrupt, got {other:?}"),
                }
                tx.rollback().unwrap();
            }
        }
        // Rolled back: the data reads fine again.
        assert_eq!(
            store.snapshot("mfa", None).unwrap().unwrap().text,
            page.text
        );

        store
            .conn
            .execute("UPDATE texts SET data = x'00'", [])
            .unwrap();
        assert!(matches!(
            store.snapshot("mfa", None),
            Err(StoreError::Corrupt(_))
        ));
    }

    /// The text of the only snapshot, read through the same decoder
    /// `snapshot()` uses, inside an open transaction.
    fn store_snapshot_text(tx: &Connection) -> Result<Vec<u8>, StoreError> {
        let (sha, size, data): (String, i64, Vec<u8>) = tx
            .query_row("SELECT sha256, size, data FROM texts", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .unwrap();
        decode_text(&sha, size, &data).map(String::into_bytes)
    }
}
