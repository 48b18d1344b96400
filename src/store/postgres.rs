//! The shared store: one PostgreSQL database that several chancery nodes
//! (and their CLIs) use at once. Same tables and meaning as SQLite's (see
//! `migrations/postgres/`), same [`Store`] behaviour: the contract tests in
//! `store/contract.rs` run against both.
//!
//! The [`Store`] trait is synchronous, as SQLite is: callers run it on
//! tokio's blocking pool ([`super::SharedStore`]) or on a plain thread.
//! Each [`PgStore`] owns a current-thread runtime that drives its
//! connections (`tokio-postgres`, pooled by `deadpool-postgres`) while a
//! call blocks on it, on the caller's thread. A connection the server
//! dropped meanwhile is noticed when next used: that call fails, and the
//! pool gives the next one a new connection. Calling it
//! from inside an async task would panic, as any blocking call there
//! should; [`PgStore::open`] and drop are safe anywhere.
//!
//! Round trips are what a check costs here (each one system calls and
//! wake-ups on both sides), so statements that need no answer in between
//! go together: tokio-postgres pipelines requests polled together, and
//! the server runs them in order. A transaction's `BEGIN` goes with its
//! first statements, a short write's `COMMIT` with its last ([`Quick`]),
//! and a group commit's savepoints with the statements after them. A 304
//! check takes about ten round trips (the state, the claim, the host's
//! turn and its release, the record).
//!
//! Guarantees, beside SQLite's:
//! - [`PgStore::record_check`] is one transaction (a savepoint inside a
//!   group commit). A check judged against a state (`basis`) locks its
//!   watch row first, so two nodes checking one watch at once never both
//!   record the same change: the second sees the first's commit and gets
//!   [`StoreError::Stale`].
//! - Blobs and snapshots are inserted with `ON CONFLICT DO NOTHING`: two
//!   nodes storing the same body wait for each other instead of failing.
//! - A connection is never reused with a transaction left open: one
//!   dropped part-way (a panic) is taken out of the pool, and the server
//!   rolls its transaction back when it closes.

use std::future::Future;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

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

/// The schema migrations, in order; migration `i` (0-based) brings the
/// database to version `i + 1` (`meta` key `schema`). Never edit one that
/// has shipped: add a new file.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/postgres/0001_initial.sql"),
    include_str!("migrations/postgres/0002_check_leases.sql"),
    include_str!("migrations/postgres/0003_nodes.sql"),
    include_str!("migrations/postgres/0004_host_turns.sql"),
    include_str!("migrations/postgres/0005_probes.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The advisory lock migrations hold, so nodes starting together migrate
/// once (any constant of our own; this one spells "chancery").
const MIGRATION_LOCK: i64 = 0x6368_616e_6365_7279;

/// Connections one store keeps. The store is used behind a mutex, so one
/// is busy at a time; the others are spares while a broken one is replaced.
const POOL_SIZE: usize = 4;

/// How long to wait for a connection (pool or server) before failing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL implementation of [`super::Store`].
pub struct PgStore {
    /// Drives the connections; `None` only while being dropped.
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    /// The connection of an open group commit
    /// ([`Store::in_one_transaction`]): every call uses it meanwhile.
    held: Option<Held>,
    /// Simple statements the open group owes the server (its `BEGIN`,
    /// a job's savepoint, a write's release), sent ahead of its next
    /// statement in the same round trip instead of one trip each.
    owed: std::sync::Mutex<String>,
    /// No write has landed yet in the group's current job, so the job's
    /// own savepoint can undo its first write without one of its own.
    fresh: bool,
    zstd: Zstd,
    /// The URL without its password, for messages.
    target: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// A pooled connection inside a transaction. Dropped without
/// [`Held::finish`] (a panic part-way), it leaves the pool closed, and the
/// server rolls the transaction back: no later user finds it open.
struct Held(Option<Object>);

impl Held {
    fn db(&self) -> &ClientWrapper {
        self.0.as_ref().expect("a held connection until finished")
    }

    /// The transaction is over (committed or rolled back): back to the pool.
    fn finish(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(object) = self.0.take() {
            drop(Object::take(object));
        }
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Close held connections first, then stop the runtime without
        // waiting for it: dropping a runtime blocks, which tokio refuses
        // inside an async task, where the last handle may well go.
        drop(self.held.take());
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

// The daemon moves the store to the blocking pool; fail the build, not the
// daemon, if a field ever makes it `!Send`.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<PgStore>();
};

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host/db`, with
    /// `sslmode` and the other libpq parameters tokio-postgres knows),
    /// with `password` if given, and brings its schema up to date.
    ///
    /// TLS (sslmode `prefer`, the default, or `require`) goes through
    /// rustls, verifying the server against the platform's roots.
    pub fn open(url: &str, password: Option<&str>) -> Result<PgStore, StoreError> {
        let store = PgStore::connect(url, password, false)?;
        store.off_thread(|| store.block_on(migrate(&store.pool)))?;
        Ok(store)
    }

    /// Connects for reading only (the web view): every transaction is
    /// read-only, so PostgreSQL itself refuses any write. The schema must
    /// be this build's, since it cannot be migrated.
    pub fn open_read_only(url: &str, password: Option<&str>) -> Result<PgStore, StoreError> {
        let store = PgStore::connect(url, password, true)?;
        let found = store.off_thread(|| {
            store.block_on(async {
                let db = checkout(&store.pool).await?;
                schema_version(&db).await
            })
        })?;
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
        Ok(store)
    }

    fn connect(url: &str, password: Option<&str>, read_only: bool) -> Result<PgStore, StoreError> {
        let target = super::redact_url(url);
        let connect_error =
            |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Connect(e.to_string());
        let mut config =
            tokio_postgres::Config::from_str(url).map_err(|e| connect_error(e.into()))?;
        if let Some(password) = password {
            config.password(password);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if read_only {
            let options = config.get_options().unwrap_or_default().to_owned();
            config.options(format!("{options} -c default_transaction_read_only=on"));
        }
        config.application_name("chancery");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = {
            use rustls_platform_verifier::ConfigVerifierExt;
            let client = rustls::ClientConfig::with_platform_verifier()
                .map_err(|e| connect_error(e.into()))?;
            tokio_postgres_rustls::MakeRustlsConnect::new(client)
        };
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        // On the calling thread: every use blocks on it one at a time
        // (the store is behind a mutex), and a runtime thread of its own
        // cost a pair of thread switches per statement, half of a 304
        // check's CPU (perf, docs/bench-nodes.md).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| connect_error(e.into()))?;
        let pool = {
            let _in_runtime = runtime.enter();
            Pool::builder(manager)
                .max_size(POOL_SIZE)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(CONNECT_TIMEOUT))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .build()
                .map_err(|e| connect_error(e.into()))?
        };
        Ok(PgStore {
            runtime: Some(runtime),
            pool,
            held: None,
            owed: std::sync::Mutex::default(),
            fresh: false,
            zstd: Zstd::default(),
            target,
        })
    }

    /// Runs `f` on a thread of its own: opening may happen inside an async
    /// task (the daemon's start, the web view), where blocking on a
    /// runtime is refused.
    fn off_thread<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|scope| {
            scope
                .spawn(f)
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// The database, as messages show it (no password).
    pub fn target(&self) -> &str {
        &self.target
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("the runtime lives until drop")
            .block_on(future)
    }

    /// Runs `f` on the connection of the open group commit (behind what
    /// the group owes), or on one from the pool.
    fn read<T>(
        &self,
        f: impl AsyncFnOnce(&ClientWrapper) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.block_on(async {
            match &self.held {
                Some(held) => {
                    let owed = take_owed(&self.owed);
                    ahead(held.db(), &owed, f(held.db())).await
                }
                None => {
                    let conn = checkout(&self.pool).await?;
                    f(&conn).await
                }
            }
        })
    }

    /// Runs `f` in a transaction of its own, or in a savepoint of the open
    /// group commit: all of its writes land, or none.
    ///
    /// The opening (`BEGIN`, `SAVEPOINT`) goes with `f`'s first statement
    /// and a savepoint's release with the group's next one, so a write
    /// costs no round trip of its own beyond its statements (and, alone,
    /// its `COMMIT`).
    fn write<T>(
        &mut self,
        f: impl AsyncFnOnce(&ClientWrapper, &mut Zstd) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let PgStore {
            runtime,
            pool,
            held,
            owed,
            fresh,
            zstd,
            target: _,
        } = self;
        let runtime = runtime.as_ref().expect("the runtime lives until drop");
        runtime.block_on(async {
            match held {
                Some(held) => {
                    let db = held.db();
                    let mut lead = take_owed(owed);
                    // A job's first write is undone by the job's own
                    // savepoint, which nothing else in the job needs yet.
                    let own = !*fresh;
                    if own {
                        lead.push_str("SAVEPOINT write;");
                    }
                    match ahead(db, &lead, f(db, zstd)).await {
                        Ok(value) => {
                            if own {
                                owed_mut(owed).push_str("RELEASE write;");
                            }
                            *fresh = false;
                            Ok(value)
                        }
                        Err(e) => {
                            db.batch_execute(if own {
                                "ROLLBACK TO write; RELEASE write"
                            } else {
                                // The job's savepoint stays, as it began.
                                "ROLLBACK TO job"
                            })
                            .await?;
                            Err(e)
                        }
                    }
                }
                None => {
                    let held = Held(Some(checkout(pool).await?));
                    match ahead(held.db(), "BEGIN", f(held.db(), zstd)).await {
                        Ok(value) => {
                            held.db().batch_execute("COMMIT").await?;
                            held.finish();
                            Ok(value)
                        }
                        Err(e) => {
                            if held.db().batch_execute("ROLLBACK").await.is_ok() {
                                held.finish();
                            }
                            Err(e)
                        }
                    }
                }
            }
        })
    }

    /// Runs `f`, a short write of a few dependent steps, in as few round
    /// trips as they allow: through [`Quick`], its opening goes with its
    /// first statements and its end with its last. Alone it is a
    /// transaction that commits without waiting for the WAL flush (see
    /// [`Quick`]); inside a group, a savepoint of the group's.
    fn quick<T>(
        &mut self,
        f: impl AsyncFnOnce(&mut Quick<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let PgStore {
            runtime,
            pool,
            held,
            owed,
            fresh,
            ..
        } = self;
        let runtime = runtime.as_ref().expect("the runtime lives until drop");
        runtime.block_on(async {
            match held {
                Some(held) => {
                    // What the group owes and the savepoint, sent first:
                    // `f` may fail before its first statement, and the
                    // group must not lose its `BEGIN` or a job's savepoint.
                    let mut open = take_owed(owed);
                    open.push_str("SAVEPOINT quick");
                    held.db().batch_execute(&open).await?;
                    let mut quick = Quick {
                        db: held.db(),
                        open: String::new(),
                        close: "RELEASE quick",
                    };
                    match f(&mut quick).await {
                        Ok(value) => {
                            quick.end().await?;
                            *fresh = false;
                            Ok(value)
                        }
                        Err(e) => {
                            held.db()
                                .batch_execute("ROLLBACK TO quick; RELEASE quick")
                                .await?;
                            Err(e)
                        }
                    }
                }
                None => {
                    let conn = Held(Some(checkout(pool).await?));
                    let mut quick = Quick {
                        db: conn.db(),
                        open: "BEGIN; SET LOCAL synchronous_commit TO off;".to_owned(),
                        close: "COMMIT",
                    };
                    // On an error the connection is dropped, not pooled:
                    // its transaction dies with it.
                    let value = f(&mut quick).await?;
                    quick.end().await?;
                    conn.finish();
                    Ok(value)
                }
            }
        })
    }

    /// The id of the watch named `name`, or [`StoreError::UnknownWatch`].
    fn watch_id(&self, name: &str) -> Result<WatchId, StoreError> {
        self.read(async |db| watch_id(db, name).await)
    }
}

/// A connection from the pool.
async fn checkout(pool: &Pool) -> Result<Object, StoreError> {
    use deadpool_postgres::PoolError;
    pool.get().await.map_err(|e| {
        StoreError::Connect(match e {
            PoolError::Backend(e) => describe(&e),
            PoolError::Timeout(_) => {
                format!("no connection within {} s", CONNECT_TIMEOUT.as_secs())
            }
            other => other.to_string(),
        })
    })
}

/// Runs `f` on `db` with `lead` (simple statements, possibly none) sent
/// ahead of `f`'s first request, in the same round trip: tokio-postgres
/// sends requests in the order they are first polled, and the server runs
/// them in that order.
async fn ahead<T, E>(
    db: &ClientWrapper,
    lead: &str,
    f: impl Future<Output = Result<T, E>>,
) -> Result<T, StoreError>
where
    StoreError: From<E>,
{
    let f = async { f.await.map_err(StoreError::from) };
    if lead.is_empty() {
        return f.await;
    }
    let lead = async { db.batch_execute(lead).await.map_err(db_error) };
    let ((), value) = futures_util::future::try_join(lead, f).await?;
    Ok(value)
}

/// What the group owes, taken to be sent.
fn take_owed(owed: &std::sync::Mutex<String>) -> String {
    std::mem::take(&mut *owed.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

fn owed_mut(owed: &mut std::sync::Mutex<String>) -> &mut String {
    owed.get_mut()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A driver's error as the store's (a plain function, where a generic
/// `From` bound would make `StoreError::from` ambiguous).
fn db_error(e: tokio_postgres::Error) -> StoreError {
    e.into()
}

/// A short write in flight ([`PgStore::quick`]): what opens it, sent with
/// its first statements, and what ends it, sent with its last.
///
/// Alone, it commits without waiting for the WAL flush. It is used for
/// leases, host turns and heartbeats, which a server crash may lose
/// harmlessly (a lost lease or turn is taken again, a lost heartbeat is
/// written again), but which every check takes, so waiting for the disk
/// on each would bound a node by fsyncs. Checks and alerts are never
/// written this way; inside a group commit it is a savepoint, and the
/// group's own durability holds.
struct Quick<'a> {
    db: &'a ClientWrapper,
    /// Not sent yet.
    open: String,
    /// Not sent yet when not empty.
    close: &'static str,
}

impl<'a> Quick<'a> {
    /// The connection, to prepare statements on.
    fn db(&self) -> &'a ClientWrapper {
        self.db
    }

    /// Runs `f` (requests on [`Quick::db`]) behind the opening, if it is
    /// still to be sent.
    async fn first<T, E>(&mut self, f: impl Future<Output = Result<T, E>>) -> Result<T, StoreError>
    where
        StoreError: From<E>,
    {
        let open = std::mem::take(&mut self.open);
        ahead(self.db, &open, f).await
    }

    /// Runs `f` with the end sent right behind it: the last statements
    /// and the commit in one round trip.
    async fn last<T, E>(&mut self, f: impl Future<Output = Result<T, E>>) -> Result<T, StoreError>
    where
        StoreError: From<E>,
    {
        let close = std::mem::take(&mut self.close);
        let db = self.db;
        let f = async { f.await.map_err(StoreError::from) };
        let end = async { db.batch_execute(close).await.map_err(db_error) };
        let (value, ()) = self
            .first::<_, StoreError>(futures_util::future::try_join(f, end))
            .await?;
        Ok(value)
    }

    /// Sends whatever is still owed: the end (and the opening, if no
    /// statement went).
    async fn end(&mut self) -> Result<(), StoreError> {
        let close = std::mem::take(&mut self.close);
        let mut rest = std::mem::take(&mut self.open);
        rest.push_str(close);
        if !rest.is_empty() {
            self.db.batch_execute(&rest).await?;
        }
        Ok(())
    }
}

/// A PostgreSQL error in one line: the server's own words (severity,
/// message, detail) when it sent any, else what went wrong on the way.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {} ({detail})", db.severity(), db.message()),
            None => format!("{}: {}", db.severity(), db.message()),
        },
        None => {
            // "error connecting to server", then why (its sources).
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                let more = cause.to_string();
                if !text.ends_with(&more) {
                    text = format!("{text}: {more}");
                }
                source = cause.source();
            }
            text
        }
    }
}

/// A connection from the pool with a transaction begun on it.
async fn begin(pool: &Pool) -> Result<Held, StoreError> {
    let object = checkout(pool).await?;
    object.batch_execute("BEGIN").await?;
    Ok(Held(Some(object)))
}

async fn watch_id(db: &ClientWrapper, name: &str) -> Result<WatchId, StoreError> {
    query_opt(db, "SELECT id FROM watches WHERE name = $1", &[&name])
        .await?
        .map(|row| row.try_get(0))
        .transpose()?
        .ok_or_else(|| StoreError::UnknownWatch(name.to_owned()))
}

/// Runs a cached statement; at most one row.
async fn query_opt(
    db: &ClientWrapper,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, StoreError> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.query_opt(&statement, params).await?)
}

/// Runs a cached statement; exactly one row.
async fn query_one(
    db: &ClientWrapper,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, StoreError> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.query_one(&statement, params).await?)
}

/// Runs a cached statement; the rows it changed.
async fn execute(
    db: &ClientWrapper,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.execute(&statement, params).await?)
}

/// Runs a cached statement and decodes each row.
async fn collect<T>(
    db: &ClientWrapper,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    decode: impl Fn(&Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let statement = db.prepare_cached(sql).await?;
    db.query(&statement, params)
        .await?
        .iter()
        .map(decode)
        .collect()
}

/// Applies the migrations the database lacks, in one transaction holding
/// an advisory lock: nodes starting together migrate once, and one that
/// finds a newer schema refuses it.
async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    let held = begin(pool).await?;
    let db = held.db();
    let failed = |version: u32| {
        move |e: tokio_postgres::Error| StoreError::Migration {
            version,
            source: e.into(),
        }
    };
    db.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(failed(1))?;
    let found = schema_version(db).await?;
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
        db.batch_execute(sql).await.map_err(failed(version))?;
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('schema', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&version.to_string()],
        )
        .await
        .map_err(failed(version))?;
    }
    db.batch_execute("COMMIT").await?;
    held.finish();
    Ok(())
}

/// The schema version the database is at; 0 for an empty one.
async fn schema_version(db: &ClientWrapper) -> Result<u32, StoreError> {
    let has_meta: bool = db
        .query_one("SELECT to_regclass('meta') IS NOT NULL", &[])
        .await?
        .try_get(0)?;
    if !has_meta {
        return Ok(0);
    }
    let Some(row) = db
        .query_opt("SELECT value FROM meta WHERE key = 'schema'", &[])
        .await?
    else {
        return Ok(0);
    };
    let value: &str = row.try_get(0)?;
    value
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("schema version {value:?}")))
}

impl BlobTable {
    fn pg_insert_sql(self) -> &'static str {
        match self {
            BlobTable::Bodies => {
                "INSERT INTO bodies (sha256, size, data) VALUES ($1, $2, $3)
                 ON CONFLICT (sha256) DO NOTHING"
            }
            BlobTable::Texts => {
                "INSERT INTO texts (sha256, size, data) VALUES ($1, $2, $3)
                 ON CONFLICT (sha256) DO NOTHING"
            }
        }
    }

    fn pg_exists_sql(self) -> &'static str {
        match self {
            BlobTable::Bodies => "SELECT 1 FROM bodies WHERE sha256 = $1",
            BlobTable::Texts => "SELECT 1 FROM texts WHERE sha256 = $1",
        }
    }
}

/// Stores `bytes` under `sha256` unless that blob is there already;
/// checks and compresses only when it writes.
async fn put_blob(
    db: &ClientWrapper,
    zstd: &mut Zstd,
    table: BlobTable,
    watch_id: WatchId,
    sha256: &str,
    bytes: &[u8],
) -> Result<(), StoreError> {
    if query_opt(db, table.pg_exists_sql(), &[&sha256])
        .await?
        .is_some()
    {
        return Ok(());
    }
    let (size, data) = encode_blob(zstd, table, watch_id, sha256, bytes)?;
    execute(db, table.pg_insert_sql(), &[&sha256, &size, &data]).await?;
    Ok(())
}

async fn load_state(db: &ClientWrapper, name: &str) -> Result<Option<WatchState>, StoreError> {
    query_opt(db, &LOAD_STATE, &[&name])
        .await?
        .map(|row| rows::watch_state(&row))
        .transpose()
}

static LOAD_STATE: LazyLock<String> =
    LazyLock::new(|| format!("{} WHERE w.name = $1", rows::WATCH_STATE_SELECT));

async fn find_snapshot(
    db: &ClientWrapper,
    watch_id: WatchId,
    text_sha256: &str,
) -> Result<Option<SnapshotId>, StoreError> {
    query_opt(
        db,
        "SELECT id FROM snapshots WHERE watch_id = $1 AND text_sha256 = $2",
        &[&watch_id, &text_sha256],
    )
    .await?
    .map(|row| row.try_get(0))
    .transpose()
    .map_err(StoreError::from)
}

/// Writes everything one check produced, inside the caller's transaction.
/// The same steps as SQLite's `write_check`, in the same order.
async fn write_check(
    db: &ClientWrapper,
    zstd: &mut Zstd,
    check: &NewCheck<'_>,
) -> Result<RecordedCheck, StoreError> {
    let watch_id = check.watch_id;
    if let Some(basis) = check.basis {
        // FOR UPDATE: a node recording this watch meanwhile holds the row
        // until it commits, and then this reads what it wrote.
        let row = query_one(
            db,
            "SELECT presence, last_snapshot_id, failing_reported FROM watches
             WHERE id = $1 FOR UPDATE",
            &[&watch_id],
        )
        .await?;
        let now = Basis {
            presence: parse_presence(row.try_get(0)?)?,
            last_snapshot: row.try_get(1)?,
            failing_reported: row.try_get(2)?,
        };
        if now != basis {
            return Err(StoreError::Stale { watch_id });
        }
    }
    if let Some(body) = check.body {
        put_blob(
            db,
            zstd,
            BlobTable::Bodies,
            watch_id,
            body.sha256,
            body.bytes,
        )
        .await?;
    }

    let mut new_snapshot = None;
    let snapshot_id = match (check.snapshot, check.outcome) {
        (Some(snapshot), _) => {
            put_blob(
                db,
                zstd,
                BlobTable::Texts,
                watch_id,
                snapshot.sha256,
                snapshot.text.as_bytes(),
            )
            .await?;
            let raw_sha256 = check
                .body
                .map(|body| body.sha256)
                .or(check.raw_sha256.as_deref());
            let inserted = query_opt(
                db,
                "INSERT INTO snapshots (watch_id, text_sha256, raw_sha256, fetched_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (watch_id, text_sha256) DO NOTHING RETURNING id",
                &[
                    &watch_id,
                    &snapshot.sha256,
                    &raw_sha256,
                    &check.started_at.0,
                ],
            )
            .await?;
            match inserted {
                Some(row) => {
                    let id: SnapshotId = row.try_get(0)?;
                    new_snapshot = Some(id);
                    Some(id)
                }
                None => find_snapshot(db, watch_id, snapshot.sha256).await?,
            }
        }
        (None, Outcome::Unchanged) => match check.text_sha256.as_deref() {
            Some(text_sha256) => find_snapshot(db, watch_id, text_sha256).await?,
            None => None,
        },
        (None, _) => None,
    };

    let (etag, last_modified) = match &check.validators {
        Some((etag, last_modified)) => (etag.as_deref(), last_modified.as_deref()),
        None => (None, None),
    };
    let duration_ms = to_sql_int(u64::try_from(check.duration.as_millis()).unwrap_or(u64::MAX));
    let http_status = check.http_status.map(i64::from);
    let bytes = to_sql_int(check.bytes);
    let check_id: CheckId = query_one(
        db,
        "INSERT INTO checks (watch_id, started_at, duration_ms, outcome, http_status,
                             final_url, error, bytes, content_type, charset, raw_sha256,
                             text_sha256, snapshot_id, etag, last_modified, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         RETURNING id",
        &[
            &watch_id,
            &check.started_at.0,
            &duration_ms,
            &check.outcome.as_str(),
            &http_status,
            &check.final_url,
            &check.error,
            &bytes,
            &check.content_type,
            &check.charset,
            &check.raw_sha256,
            &check.text_sha256,
            &snapshot_id,
            &etag,
            &last_modified,
            &check.reason,
        ],
    )
    .await?
    .try_get(0)?;
    if let Some(id) = new_snapshot {
        execute(
            db,
            "UPDATE snapshots SET check_id = $1 WHERE id = $2",
            &[&check_id, &id],
        )
        .await?;
    }
    if let Some(heads) = &check.heads {
        // As in SQLite: heads only where the body they describe is kept.
        let body_kept = match (check.body, check.raw_sha256.as_deref()) {
            (Some(_), _) => true,
            (None, Some(raw_sha256)) => {
                query_opt(db, BlobTable::Bodies.pg_exists_sql(), &[&raw_sha256])
                    .await?
                    .is_some()
            }
            (None, None) => false,
        };
        if body_kept {
            insert_heads(db, check_id, heads).await?;
        }
    }

    let change_id = match &check.change {
        Some(change) => Some(insert_change(db, check, change, check_id, snapshot_id).await?),
        None => None,
    };
    if let (Some(change_id), Some(change)) = (change_id, &check.change) {
        insert_alerts(
            db,
            watch_id,
            check.started_at,
            &check.alerts,
            change.kind,
            change_id,
        )
        .await?;
    }
    let mut event_id = None;
    for event in &check.events {
        let id = insert_event(db, check, event, check_id, snapshot_id).await?;
        insert_alerts(
            db,
            watch_id,
            check.started_at,
            &event.alerts,
            event.kind,
            id,
        )
        .await?;
        event_id = event_id.or(Some(id));
    }
    if let Some(follow) = &check.follow {
        write_follow(db, check, follow, check_id).await?;
    }

    let presence = check.outcome.presence_after().map(Presence::as_str);
    let last_snapshot_id = snapshot_id.filter(|_| check.current);
    let updated = execute(
        db,
        "UPDATE watches SET
             last_check_at = $1,
             last_outcome = $2,
             presence = COALESCE($3, presence),
             last_snapshot_id = COALESCE($4, last_snapshot_id),
             etag = CASE WHEN $5 THEN $6 ELSE etag END,
             last_modified = CASE WHEN $5 THEN $7 ELSE last_modified END,
             filters_sha256 = COALESCE($8, filters_sha256),
             failing_since = $9,
             failing_reported = $10,
             region = CASE WHEN $11 THEN $12 ELSE region END,
             lease_node = NULL,
             lease_until = NULL
         WHERE id = $13",
        &[
            &check.started_at.0,
            &check.outcome.as_str(),
            &presence,
            &last_snapshot_id,
            &check.validators.is_some(),
            &etag,
            &last_modified,
            &check.filters_sha256,
            &check.health.failing_since.map(|t| t.0),
            &check.health.reported,
            &check.region.is_some(),
            &check.region.as_ref().and_then(|r| r.as_deref()),
            &watch_id,
        ],
    )
    .await?;
    if updated != 1 {
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

async fn insert_heads(
    db: &ClientWrapper,
    check_id: CheckId,
    heads: &NewHeads,
) -> Result<(), StoreError> {
    execute(
        db,
        "INSERT INTO check_heads
             (check_id, requested_at, remote_ip, request_head, response_head, rendered_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &check_id,
            &heads.requested_at.0,
            &heads.remote_ip,
            &heads.request_head,
            &heads.response_head,
            &heads.rendered_by,
        ],
    )
    .await?;
    Ok(())
}

/// Queues alerts for a change, ids `<instance>-<change>-<subscriber>`.
async fn insert_alerts(
    db: &ClientWrapper,
    watch_id: WatchId,
    at: Timestamp,
    alerts: &[NewAlert],
    kind: ChangeKind,
    change_id: ChangeId,
) -> Result<(), StoreError> {
    if alerts.is_empty() {
        return Ok(());
    }
    let instance: String = query_one(db, "SELECT value FROM meta WHERE key = 'instance'", &[])
        .await?
        .try_get(0)?;
    for alert in alerts {
        let id = format!("{instance}-{change_id}-{}", alert.subscriber);
        execute(
            db,
            "INSERT INTO alerts (id, change_id, watch_id, subscriber, channel, event, status,
                                 attempts, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)",
            &[
                &id,
                &change_id,
                &watch_id,
                &alert.subscriber,
                &alert.channel,
                &kind.as_str(),
                &at.0,
            ],
        )
        .await?;
    }
    Ok(())
}

async fn insert_event(
    db: &ClientWrapper,
    check: &NewCheck<'_>,
    event: &NewEvent,
    check_id: CheckId,
    snapshot_id: Option<SnapshotId>,
) -> Result<ChangeId, StoreError> {
    let to = (event.kind == ChangeKind::Published)
        .then_some(snapshot_id)
        .flatten();
    event_row(
        db,
        check.watch_id,
        check_id,
        event.kind,
        check.started_at,
        event.detail.as_deref(),
        to,
    )
    .await
}

async fn event_row(
    db: &ClientWrapper,
    watch_id: WatchId,
    check_id: CheckId,
    kind: ChangeKind,
    at: Timestamp,
    detail: Option<&str>,
    to: Option<SnapshotId>,
) -> Result<ChangeId, StoreError> {
    Ok(query_one(
        db,
        "INSERT INTO changes (watch_id, check_id, kind, from_snapshot, to_snapshot,
                              detected_at, lines_added, lines_removed, changed_ratio,
                              first_change)
         VALUES ($1, $2, $3,
                 CASE WHEN $6::BIGINT IS NULL
                      THEN (SELECT last_snapshot_id FROM watches WHERE id = $1) END,
                 $6, $4, 0, 0, 0.0, $5)
         RETURNING id",
        &[&watch_id, &check_id, &kind.as_str(), &at.0, &detail, &to],
    )
    .await?
    .try_get(0)?)
}

async fn write_follow(
    db: &ClientWrapper,
    check: &NewCheck<'_>,
    follow: &FollowUpdate,
    check_id: CheckId,
) -> Result<(), StoreError> {
    for child in &follow.children {
        execute(
            db,
            "INSERT INTO watches (name, url, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
            &[&child.name, &child.url, &check.started_at.0],
        )
        .await?;
        let child_id = watch_id(db, &child.name).await?;
        execute(
            db,
            "INSERT INTO children (watch_id, parent_id, url, state, ord, title, announce)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (watch_id) DO UPDATE SET state = excluded.state, ord = excluded.ord",
            &[
                &child_id,
                &check.watch_id,
                &child.url,
                &child.state.as_str(),
                &child.order,
                &child.title,
                &child.announce,
            ],
        )
        .await?;
        if let Some(alerts) = &child.delisted {
            let detail = format!(
                "taken off the listing {}",
                check.final_url.as_deref().unwrap_or("")
            );
            let id = event_row(
                db,
                child_id,
                check_id,
                ChangeKind::Delisted,
                check.started_at,
                Some(&detail),
                None,
            )
            .await?;
            insert_alerts(
                db,
                child_id,
                check.started_at,
                alerts,
                ChangeKind::Delisted,
                id,
            )
            .await?;
        }
    }
    Ok(())
}

async fn insert_change(
    db: &ClientWrapper,
    check: &NewCheck<'_>,
    change: &super::NewChange,
    check_id: CheckId,
    snapshot_id: Option<SnapshotId>,
) -> Result<ChangeId, StoreError> {
    let watch_id = check.watch_id;
    if let Some(from) = change.from {
        let owner: Option<WatchId> =
            query_opt(db, "SELECT watch_id FROM snapshots WHERE id = $1", &[&from])
                .await?
                .map(|row| row.try_get(0))
                .transpose()?;
        if owner != Some(watch_id) {
            return Err(StoreError::InvalidCheck {
                watch_id,
                reason: format!("change from snapshot {from}, which is not one of this watch's"),
            });
        }
    }
    let to = check.snapshot.and(snapshot_id);
    let summary = &change.summary;
    Ok(query_one(
        db,
        "INSERT INTO changes (watch_id, check_id, kind, from_snapshot, to_snapshot,
                              detected_at, lines_added, lines_removed, changed_ratio,
                              first_change)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         RETURNING id",
        &[
            &watch_id,
            &check_id,
            &change.kind.as_str(),
            &change.from,
            &to,
            &check.started_at.0,
            &i64::from(summary.lines_added),
            &i64::from(summary.lines_removed),
            &summary.changed_ratio,
            &summary.first_change,
        ],
    )
    .await?
    .try_get(0)?)
}

/// `LIMIT` for an optional limit: PostgreSQL reads `LIMIT NULL` as none.
fn pg_limit(limit: Option<usize>) -> Option<i64> {
    limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

impl Store for PgStore {
    fn ensure_watch(&mut self, name: &str, url: &str) -> Result<WatchState, StoreError> {
        // The common case, a known watch at the same URL, is a read.
        if let Some(state) = self.watch_state(name)?
            && state.url == url
        {
            return Ok(state);
        }
        self.write(async |db, _| {
            execute(
                db,
                "INSERT INTO watches (name, url, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET url = excluded.url
                 WHERE watches.url <> excluded.url",
                &[&name, &url, &Timestamp::now().0],
            )
            .await?;
            Ok(load_state(db, name)
                .await?
                .expect("the watch was inserted or found in this transaction"))
        })
    }

    fn watch_state(&self, name: &str) -> Result<Option<WatchState>, StoreError> {
        self.read(async |db| load_state(db, name).await)
    }

    fn watch_states(&self) -> Result<Vec<WatchState>, StoreError> {
        self.read(async |db| collect(db, rows::WATCH_STATE_SELECT, &[], rows::watch_state).await)
    }

    fn record_check(&mut self, check: &NewCheck<'_>) -> Result<RecordedCheck, StoreError> {
        validate(check)?;
        self.write(async |db, zstd| write_check(db, zstd, check).await)
    }

    fn in_one_transaction(
        &mut self,
        n: usize,
        job: &mut dyn FnMut(usize, &mut dyn Store) -> bool,
    ) -> Result<(), StoreError> {
        // `BEGIN`, each job's savepoint and its release are owed, and go
        // with the next statement: a job that writes costs no round trip
        // beyond its statements.
        let conn = self.block_on(checkout(&self.pool))?;
        self.held = Some(Held(Some(conn)));
        *owed_mut(&mut self.owed) = "BEGIN;".to_owned();
        let mut outcome = Ok(());
        for i in 0..n {
            owed_mut(&mut self.owed).push_str("SAVEPOINT job;");
            self.fresh = true;
            // `job` catches its own panics (SharedStore::write); a failed
            // one leaves nothing of its writes.
            let kept = job(i, self);
            if kept {
                owed_mut(&mut self.owed).push_str("RELEASE job;");
            } else {
                let mut undo = take_owed(&self.owed);
                undo.push_str("ROLLBACK TO job; RELEASE job");
                let db = self.held.as_ref().expect("held for the group").db();
                outcome = self.block_on(db.batch_execute(&undo));
                if outcome.is_err() {
                    break;
                }
            }
        }
        self.fresh = false;
        let owed = take_owed(&self.owed);
        let held = self.held.take().expect("held for the group");
        let end = match outcome {
            Ok(()) => self.block_on(held.db().batch_execute(&format!("{owed}COMMIT"))),
            Err(e) => {
                let _ = self.block_on(held.db().batch_execute("ROLLBACK"));
                Err(e)
            }
        };
        match end {
            Ok(()) => {
                held.finish();
                Ok(())
            }
            // Dropping `held` closes the connection: nothing of the
            // group is left half done on it.
            Err(e) => Err(e.into()),
        }
    }

    fn claim_check(
        &mut self,
        watch_id: WatchId,
        host: &str,
        node: &str,
        now: Timestamp,
        interval: Duration,
        until: Timestamp,
    ) -> Result<super::Claim, StoreError> {
        // Two round trips: the locked read (with the opening), then the
        // lease and the commit.
        self.quick(async |q| {
            let db = q.db();
            // The row lock makes the read and the claim one step: two
            // nodes asking at once are answered one after the other.
            let read = db
                .prepare_cached(
                    "SELECT w.last_check_at, w.lease_node, w.lease_until, h.not_before,
                            CASE WHEN w.last_outcome = 'error' THEN
                                (SELECT count(*) FROM checks k
                                 WHERE k.watch_id = w.id AND k.outcome = 'error'
                                   AND k.id > coalesce((SELECT max(k2.id) FROM checks k2
                                                        WHERE k2.watch_id = w.id
                                                          AND k2.outcome <> 'error'), 0))
                            ELSE 0 END
                     FROM watches w LEFT JOIN hosts h ON h.host = $2
                     WHERE w.id = $1 FOR UPDATE OF w",
                )
                .await?;
            let lease = db
                .prepare_cached(
                    "UPDATE watches SET lease_node = $2, lease_until = $3 WHERE id = $1",
                )
                .await?;
            let row = q.first(db.query_one(&read, &[&watch_id, &host])).await?;
            let last: Option<i64> = row.try_get(0)?;
            let holder: Option<String> = row.try_get(1)?;
            let lease_until: Option<i64> = row.try_get(2)?;
            let paused_until: Option<i64> = row.try_get(3)?;
            let failures = u32::try_from(row.try_get::<_, i64>(4)?).unwrap_or(u32::MAX);
            let held_by = holder.as_deref().zip(lease_until.map(Timestamp));
            let last = last.map(Timestamp);
            let mut claim = super::Claim::decide(node, now, interval, last, failures, held_by);
            if claim == super::Claim::Granted
                && let Some(not_before) = paused_until.map(Timestamp)
                && not_before > now.plus(super::HOST_PAUSE_SKIP)
            {
                claim = super::Claim::Elsewhere {
                    next_due: not_before,
                };
            }
            if claim == super::Claim::Granted {
                q.last(db.execute(&lease, &[&watch_id, &node, &until.0]))
                    .await?;
            }
            Ok(claim)
        })
    }

    fn claim_host(
        &mut self,
        host: &str,
        node: &str,
        now: Timestamp,
        slots: u32,
        delay: Duration,
        until: Timestamp,
    ) -> Result<super::HostTurn, StoreError> {
        // Two round trips: the host's row made, locked and read with its
        // slots (with the opening), then the turn and the commit.
        self.quick(async |q| {
            let db = q.db();
            let make = db
                .prepare_cached(
                    "INSERT INTO hosts (host, not_before) VALUES ($1, 0) ON CONFLICT DO NOTHING",
                )
                .await?;
            let lock = db
                .prepare_cached("SELECT not_before FROM hosts WHERE host = $1 FOR UPDATE")
                .await?;
            let read = db
                .prepare_cached("SELECT slot, until FROM host_slots WHERE host = $1")
                .await?;
            let take = db
                .prepare_cached(
                    "INSERT INTO host_slots (host, slot, node, until) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (host, slot) DO UPDATE SET node = excluded.node,
                                                            until = excluded.until",
                )
                .await?;
            let space = db
                .prepare_cached("UPDATE hosts SET not_before = $2 WHERE host = $1")
                .await?;
            // The host's row, locked: nodes asking for one host are
            // answered one at a time. The server runs these in order, so
            // the slots are read once the lock is held.
            let (_, locked, rows) = q
                .first(futures_util::future::try_join3(
                    db.execute(&make, &[&host]),
                    db.query_one(&lock, &[&host]),
                    db.query(&read, &[&host]),
                ))
                .await?;
            let not_before: i64 = locked.try_get(0)?;
            let taken = rows
                .iter()
                .map(|row| {
                    let slot = u32::try_from(row.try_get::<_, i64>(0)?).unwrap_or(u32::MAX);
                    Ok((slot, Timestamp(row.try_get(1)?)))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let turn = super::HostTurn::decide(now, Timestamp(not_before), &taken, slots);
            if let super::HostTurn::Go { slot } = turn {
                let slot = i64::from(slot);
                let next = now.plus(delay).0;
                q.last(futures_util::future::try_join(
                    db.execute(&take, &[&host, &slot, &node, &until.0]),
                    db.execute(&space, &[&host, &next]),
                ))
                .await?;
            }
            Ok(turn)
        })
    }

    fn release_host(
        &mut self,
        host: &str,
        slot: u32,
        node: &str,
        not_before: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        // One round trip.
        self.quick(async |q| {
            let db = q.db();
            let free = db
                .prepare_cached(
                    "DELETE FROM host_slots WHERE host = $1 AND slot = $2 AND node = $3",
                )
                .await?;
            let pause = db
                .prepare_cached(
                    "UPDATE hosts SET not_before = GREATEST(not_before, $2) WHERE host = $1",
                )
                .await?;
            let slot = i64::from(slot);
            let not_before = not_before.map(|t| t.0);
            q.last(futures_util::future::try_join(
                db.execute(&free, &[&host, &slot, &node]),
                async {
                    match &not_before {
                        Some(t) => db.execute(&pause, &[&host, t]).await.map(drop),
                        None => Ok(()),
                    }
                },
            ))
            .await
            .map(drop)
        })
    }

    fn claim_probe(
        &mut self,
        origin: &str,
        node: &str,
        now: Timestamp,
        ttl: Duration,
        until: Timestamp,
    ) -> Result<super::ProbeClaim, StoreError> {
        // Two round trips: the origin's row made, locked and read (with
        // the opening), then the lease and the commit.
        self.quick(async |q| {
            let db = q.db();
            let make = db
                .prepare_cached("INSERT INTO probes (origin) VALUES ($1) ON CONFLICT DO NOTHING")
                .await?;
            let read = db
                .prepare_cached(
                    "SELECT probed_at, soft_404, body, content_type, url, lease_node, lease_until
                     FROM probes WHERE origin = $1 FOR UPDATE",
                )
                .await?;
            let lease = db
                .prepare_cached(
                    "UPDATE probes SET lease_node = $2, lease_until = $3 WHERE origin = $1",
                )
                .await?;
            let (_, row) = q
                .first(futures_util::future::try_join(
                    db.execute(&make, &[&origin]),
                    db.query_one(&read, &[&origin]),
                ))
                .await?;
            let probed_at: Option<i64> = row.try_get(0)?;
            let soft_404: bool = row.try_get(1)?;
            let answer = match (soft_404, row.try_get::<_, Option<Vec<u8>>>(2)?) {
                (true, Some(body)) => Some(super::ProbeAnswer {
                    body,
                    content_type: row.try_get(3)?,
                    url: row.try_get::<_, Option<String>>(4)?.unwrap_or_default(),
                }),
                _ => None,
            };
            let holder: Option<String> = row.try_get(5)?;
            let lease_until: Option<i64> = row.try_get(6)?;
            let held_by = holder.as_deref().zip(lease_until.map(Timestamp));
            let claim = super::ProbeClaim::decide(
                node,
                now,
                ttl,
                probed_at.map(Timestamp),
                answer,
                held_by,
            );
            if claim == super::ProbeClaim::Probe {
                q.last(db.execute(&lease, &[&origin, &node, &until.0]))
                    .await?;
            }
            Ok(claim)
        })
    }

    fn record_probe(
        &mut self,
        origin: &str,
        node: &str,
        probed_at: Timestamp,
        found: Option<Option<&super::ProbeAnswer>>,
    ) -> Result<(), StoreError> {
        // One round trip; only this node's own lease is ended.
        self.quick(async |q| {
            let db = q.db();
            match found {
                Some(answer) => {
                    let store = db
                        .prepare_cached(
                            "UPDATE probes SET probed_at = $3, soft_404 = $4, body = $5,
                                 content_type = $6, url = $7, lease_node = NULL, lease_until = NULL
                             WHERE origin = $1 AND (lease_node = $2 OR lease_node IS NULL)",
                        )
                        .await?;
                    let body = answer.map(|a| a.body.as_slice());
                    let content_type = answer.and_then(|a| a.content_type.as_deref());
                    let url = answer.map(|a| a.url.as_str());
                    q.last(db.execute(
                        &store,
                        &[
                            &origin,
                            &node,
                            &probed_at.0,
                            &answer.is_some(),
                            &body,
                            &content_type,
                            &url,
                        ],
                    ))
                    .await
                    .map(drop)
                }
                None => {
                    let free = db
                        .prepare_cached(
                            "UPDATE probes SET lease_node = NULL, lease_until = NULL
                             WHERE origin = $1 AND lease_node = $2",
                        )
                        .await?;
                    q.last(db.execute(&free, &[&origin, &node])).await.map(drop)
                }
            }
        })
    }

    fn heartbeat(&mut self, node: &super::NodeRow) -> Result<(), StoreError> {
        let pid = i64::from(node.pid);
        let watches = to_sql_int(node.watches);
        let stopped = node.stopped_at.map(|t| t.0);
        // One round trip.
        self.quick(async |q| {
            let db = q.db();
            let beat = db
                .prepare_cached(
                    "INSERT INTO nodes (id, host, pid, version, config_sha256, watches, started_at,
                                        heartbeat_at, stopped_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                         config_sha256 = excluded.config_sha256, watches = excluded.watches,
                         heartbeat_at = excluded.heartbeat_at, stopped_at = excluded.stopped_at",
                )
                .await?;
            q.last(db.execute(
                &beat,
                &[
                    &node.id,
                    &node.host,
                    &pid,
                    &node.version,
                    &node.config_sha256,
                    &watches,
                    &node.started_at.0,
                    &node.heartbeat_at.0,
                    &stopped,
                ],
            ))
            .await
            .map(drop)
        })
    }

    fn nodes(&self) -> Result<Vec<super::NodeRow>, StoreError> {
        self.read(async |db| {
            collect(
                db,
                "SELECT id, host, pid, version, config_sha256, watches, started_at, heartbeat_at,
                        stopped_at
                 FROM nodes ORDER BY heartbeat_at DESC, id",
                &[],
                |row| {
                    Ok(super::NodeRow {
                        id: row.try_get(0)?,
                        host: row.try_get(1)?,
                        pid: u32::try_from(row.try_get::<_, i64>(2)?).unwrap_or(0),
                        version: row.try_get(3)?,
                        config_sha256: row.try_get(4)?,
                        watches: u64::try_from(row.try_get::<_, i64>(5)?).unwrap_or(0),
                        started_at: Timestamp(row.try_get(6)?),
                        heartbeat_at: Timestamp(row.try_get(7)?),
                        stopped_at: row.try_get::<_, Option<i64>>(8)?.map(Timestamp),
                    })
                },
            )
            .await
        })
    }

    fn watches(&self) -> Result<Vec<WatchSummary>, StoreError> {
        // COLLATE "C": by bytes, as SQLite orders, whatever the database's
        // locale.
        let sql = format!(
            "{} ORDER BY w.name COLLATE \"C\"",
            rows::WATCH_SUMMARIES_SELECT
        );
        self.read(async |db| collect(db, &sql, &[], rows::watch_summary).await)
    }

    fn changes_before(
        &self,
        watch: &str,
        before: Option<ChangeId>,
        limit: Option<usize>,
    ) -> Result<Vec<ChangeRow>, StoreError> {
        let watch_id = self.watch_id(watch)?;
        let sql = format!(
            "SELECT {}
             FROM changes c JOIN checks k ON k.id = c.check_id
             WHERE c.watch_id = $1 AND ($2::BIGINT IS NULL OR c.id < $2)
             ORDER BY c.id DESC LIMIT $3",
            rows::CHANGE_COLUMNS
        );
        self.read(async |db| {
            collect(
                db,
                &sql,
                &[&watch_id, &before, &pg_limit(limit)],
                rows::change_row,
            )
            .await
        })
    }

    fn snapshots(&self, watch: &str, limit: Option<usize>) -> Result<Vec<SnapshotRow>, StoreError> {
        let watch_id = self.watch_id(watch)?;
        let sql = format!(
            "SELECT {}
             FROM snapshots s JOIN texts t ON t.sha256 = s.text_sha256
             WHERE s.watch_id = $1 ORDER BY s.id DESC LIMIT $2",
            rows::SNAPSHOT_COLUMNS
        );
        self.read(async |db| {
            collect(db, &sql, &[&watch_id, &pg_limit(limit)], rows::snapshot_row).await
        })
    }

    fn checks_before(
        &self,
        watch: &str,
        before: Option<CheckId>,
        limit: Option<usize>,
    ) -> Result<Vec<CheckRow>, StoreError> {
        let watch_id = self.watch_id(watch)?;
        self.read(async |db| {
            collect(
                db,
                &format!(
                    "SELECT {} FROM checks WHERE watch_id = $1 AND ($2::BIGINT IS NULL OR id < $2)
                     ORDER BY id DESC LIMIT $3",
                    rows::CHECK_COLUMNS
                ),
                &[&watch_id, &before, &pg_limit(limit)],
                rows::check_row,
            )
            .await
        })
    }

    fn snapshot(
        &self,
        watch: &str,
        id: Option<SnapshotId>,
    ) -> Result<Option<Snapshot>, StoreError> {
        let watch_id = self.watch_id(watch)?;
        let sql = format!(
            "SELECT {}, t.data
             FROM snapshots s JOIN texts t ON t.sha256 = s.text_sha256
             WHERE s.watch_id = $1 AND s.id = COALESCE(
                 $2::BIGINT,
                 (SELECT last_snapshot_id FROM watches WHERE id = $1),
                 (SELECT max(id) FROM snapshots WHERE watch_id = $1))",
            rows::SNAPSHOT_COLUMNS
        );
        let mut found = self.read(async |db| {
            collect(db, &sql, &[&watch_id, &id], |row| {
                let meta = rows::snapshot_row(row)?;
                let text = decode_text(&meta.sha256, row.try_get(4)?, row.try_get(7)?)?;
                Ok(Snapshot { meta, text })
            })
            .await
        })?;
        Ok(found.pop())
    }

    fn raw_body(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(async |db| {
            match query_opt(
                db,
                "SELECT size, data FROM bodies WHERE sha256 = $1",
                &[&sha256],
            )
            .await?
            {
                Some(row) => {
                    decode_blob(BlobTable::Bodies, sha256, row.try_get(0)?, row.try_get(1)?)
                        .map(Some)
                }
                None => Ok(None),
            }
        })
    }

    fn children(&self, parent: &str) -> Result<Vec<ChildRow>, StoreError> {
        self.read(async |db| {
            collect(
                db,
                &format!(
                    "{} WHERE c.parent_id = (SELECT id FROM watches WHERE name = $1)
                     ORDER BY c.ord DESC",
                    rows::CHILD_SELECT
                ),
                &[&parent],
                rows::child_row,
            )
            .await
        })
    }

    fn watch_by_url(&self, url: &str) -> Result<Option<String>, StoreError> {
        self.read(async |db| {
            query_opt(
                db,
                "SELECT w.name FROM watches w LEFT JOIN children c ON c.watch_id = w.id
                 WHERE w.url = $1 OR c.url = $1
                 ORDER BY c.watch_id IS NULL, w.id DESC LIMIT 1",
                &[&url],
            )
            .await?
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(StoreError::from)
        })
    }

    fn gc(&mut self, before: Timestamp, dry_run: bool) -> Result<GcSummary, StoreError> {
        let size = async |db: &ClientWrapper| -> Result<u64, StoreError> {
            let bytes: i64 = query_one(db, "SELECT pg_database_size(current_database())", &[])
                .await?
                .try_get(0)?;
            Ok(u64::try_from(bytes).unwrap_or(0))
        };
        let summary = self.write(async |db, _| {
            let bytes_before = size(db).await?;
            db.batch_execute("CREATE TEMP TABLE gc_checks (id BIGINT PRIMARY KEY) ON COMMIT DROP")
                .await?;
            let checks = execute(
                db,
                "INSERT INTO gc_checks (id)
                 SELECT k.id FROM checks k
                 WHERE k.started_at < $1
                   AND NOT EXISTS (SELECT 1 FROM changes c WHERE c.check_id = k.id)
                   AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.check_id = k.id)
                   AND k.id <> (SELECT max(k2.id) FROM checks k2 WHERE k2.watch_id = k.watch_id)",
                &[&before.0],
            )
            .await?;
            let orphans = "SELECT b.sha256 FROM bodies b
                 WHERE NOT EXISTS (SELECT 1 FROM checks k
                                   WHERE k.raw_sha256 = b.sha256
                                     AND k.id NOT IN (SELECT id FROM gc_checks))
                   AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.raw_sha256 = b.sha256)";
            let bodies: i64 = db
                .query_one(&format!("SELECT count(*) FROM ({orphans}) o"), &[])
                .await?
                .try_get(0)?;
            let summary = GcSummary {
                checks,
                bodies: u64::try_from(bodies).unwrap_or(0),
                bytes_before,
                bytes_after: bytes_before,
            };
            if dry_run {
                // Nothing deleted; the temporary table goes with the
                // transaction, committed with nothing else in it.
                return Ok(summary);
            }
            db.execute(
                &format!("DELETE FROM bodies WHERE sha256 IN ({orphans})"),
                &[],
            )
            .await?;
            db.batch_execute(
                "DELETE FROM check_heads WHERE check_id IN (SELECT id FROM gc_checks);
                 DELETE FROM checks WHERE id IN (SELECT id FROM gc_checks);",
            )
            .await?;
            Ok(summary)
        })?;
        if dry_run {
            return Ok(summary);
        }
        // Plain VACUUM: the space is reused by later writes without the
        // exclusive lock VACUUM FULL would hold against the other nodes.
        self.read(async |db| {
            db.batch_execute("VACUUM (ANALYZE) checks, check_heads, bodies")
                .await?;
            Ok(GcSummary {
                bytes_after: size(db).await?,
                ..summary
            })
        })
    }

    fn backup(&self, dest: &std::path::Path) -> Result<u64, StoreError> {
        Err(StoreError::Unsupported(format!(
            "`chancery backup` copies a SQLite history; back up the PostgreSQL store {} with pg_dump (not written to {})",
            self.target,
            dest.display()
        )))
    }

    fn snapshot_id_of(
        &self,
        watch_id: WatchId,
        text_sha256: &str,
    ) -> Result<Option<SnapshotId>, StoreError> {
        self.read(async |db| find_snapshot(db, watch_id, text_sha256).await)
    }

    fn claim_due_alert(
        &mut self,
        now: Timestamp,
        claim: &str,
        until: Timestamp,
    ) -> Result<Option<AlertRow>, StoreError> {
        // One statement; SKIP LOCKED lets claimers on other nodes pass an
        // alert being claimed instead of waiting for it, and the WHERE is
        // checked again on the row once locked.
        let sql = format!(
            "WITH claimed AS (
                 UPDATE alerts SET claim = $2, claim_until = $3
                 WHERE id = (SELECT id FROM alerts
                             WHERE status = 'pending' AND next_attempt_at <= $1
                               AND (claim_until IS NULL OR claim_until <= $1)
                             ORDER BY next_attempt_at, created_at LIMIT 1
                             FOR UPDATE SKIP LOCKED)
                 RETURNING *)
             SELECT {} FROM claimed a JOIN watches w ON w.id = a.watch_id",
            rows::ALERT_COLUMNS
        );
        self.write(async |db, _| {
            query_opt(db, &sql, &[&now.0, &claim, &until.0])
                .await?
                .map(|row| rows::alert_row(&row))
                .transpose()
        })
    }

    fn live_claims(&self, now: Timestamp) -> Result<Vec<String>, StoreError> {
        self.read(async |db| {
            collect(
                db,
                "SELECT DISTINCT claim FROM alerts WHERE claim IS NOT NULL AND claim_until > $1",
                &[&now.0],
                |row| Ok(row.try_get(0)?),
            )
            .await
        })
    }

    fn release_claim(&mut self, claim: &str) -> Result<usize, StoreError> {
        self.write(async |db, _| {
            let n = execute(
                db,
                "UPDATE alerts SET claim = NULL, claim_until = NULL WHERE claim = $1",
                &[&claim],
            )
            .await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn alerts(
        &self,
        status: Option<AlertStatus>,
        limit: Option<usize>,
    ) -> Result<Vec<AlertRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM alerts a JOIN watches w ON w.id = a.watch_id
             WHERE $1::TEXT IS NULL OR a.status = $1
             ORDER BY a.created_at DESC, a.id DESC LIMIT $2",
            rows::ALERT_COLUMNS
        );
        self.read(async |db| {
            collect(
                db,
                &sql,
                &[&status.map(AlertStatus::as_str), &pg_limit(limit)],
                rows::alert_row,
            )
            .await
        })
    }

    fn next_alert_due(&self) -> Result<Option<Timestamp>, StoreError> {
        self.read(async |db| {
            Ok(query_one(
                db,
                "SELECT min(next_attempt_at) FROM alerts WHERE status = 'pending'",
                &[],
            )
            .await?
            .try_get::<_, Option<i64>>(0)?
            .map(Timestamp))
        })
    }

    fn record_attempt(
        &mut self,
        id: &str,
        claim: &str,
        at: Timestamp,
        attempt: &Attempt,
    ) -> Result<bool, StoreError> {
        let (status, next, error, delivered) = attempt_columns(attempt, at);
        self.write(async |db, _| {
            let updated = execute(
                db,
                "UPDATE alerts SET status = $2, attempts = attempts + 1, last_attempt_at = $3,
                     next_attempt_at = COALESCE($4, next_attempt_at),
                     last_error = COALESCE($5, last_error), delivered_at = $6,
                     claim = NULL, claim_until = NULL
                 WHERE id = $1 AND claim = $7 AND status = 'pending'",
                &[&id, &status, &at.0, &next, &error, &delivered, &claim],
            )
            .await?;
            Ok(updated == 1)
        })
    }

    fn retry_alerts(&mut self, id: Option<&str>, now: Timestamp) -> Result<usize, StoreError> {
        self.write(async |db, _| {
            let n = execute(
                db,
                "UPDATE alerts SET status = 'pending', next_attempt_at = $2
                 WHERE status IN ('pending', 'failed') AND ($1::TEXT IS NULL OR id = $1)",
                &[&id, &now.0],
            )
            .await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn change_detail(&self, id: ChangeId) -> Result<Option<ChangeDetail>, StoreError> {
        let sql = format!("{} WHERE c.id = $1", rows::CHANGE_DETAIL_SELECT);
        self.read(async |db| {
            query_opt(db, &sql, &[&id])
                .await?
                .map(|row| rows::change_detail(&row))
                .transpose()
        })
    }

    fn recent_changes(
        &self,
        watch: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ChangeDetail>, StoreError> {
        let watch_id = watch.map(|w| self.watch_id(w)).transpose()?;
        let sql = format!(
            "{} WHERE ($1::BIGINT IS NULL OR c.watch_id = $1) AND {}
             ORDER BY c.id DESC LIMIT $2",
            rows::CHANGE_DETAIL_SELECT,
            rows::STATEMENT_CHANGES_FILTER
        );
        self.read(async |db| {
            collect(
                db,
                &sql,
                &[&watch_id, &pg_limit(Some(limit))],
                rows::change_detail,
            )
            .await
        })
    }

    fn responses(
        &self,
        watch: &str,
        since: Option<Timestamp>,
    ) -> Result<Vec<StoredResponse>, StoreError> {
        let watch_id = self.watch_id(watch)?;
        let since = since.map_or(i64::MIN, |t| t.0);
        self.read(async |db| {
            collect(
                db,
                &format!(
                    "{} WHERE c.watch_id = $1 AND c.http_status IS NOT NULL AND c.started_at >= $2
                     ORDER BY c.id",
                    rows::RESPONSE_SELECT
                ),
                &[&watch_id, &since],
                rows::response,
            )
            .await
        })
    }
}

impl copy::Tables for PgStore {
    fn instance(&self) -> Result<String, StoreError> {
        self.read(async |db| {
            Ok(
                query_one(db, "SELECT value FROM meta WHERE key = 'instance'", &[])
                    .await?
                    .try_get(0)?,
            )
        })
    }

    fn set_instance(&mut self, instance: &str) -> Result<(), StoreError> {
        self.write(async |db, _| {
            execute(
                db,
                "UPDATE meta SET value = $1 WHERE key = 'instance'",
                &[&instance],
            )
            .await
            .map(drop)
        })
    }

    fn count_rows(&self, table: &copy::Table) -> Result<u64, StoreError> {
        let sql = format!("SELECT count(*) FROM {}", table.name);
        self.read(async |db| {
            let n: i64 = query_one(db, &sql, &[]).await?.try_get(0)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn count_rows_through(
        &self,
        table: &copy::Table,
        key: &copy::Value,
    ) -> Result<u64, StoreError> {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {} <= $1",
            table.name,
            key_order(table)
        );
        let key = bind(key, table.columns[0].1)?;
        self.read(async |db| {
            let n: i64 = query_one(db, &sql, &[&*key]).await?.try_get(0)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn max_key(&self, table: &copy::Table) -> Result<Option<copy::Value>, StoreError> {
        let sql = format!("SELECT max({}) FROM {}", key_order(table), table.name);
        self.read(async |db| {
            let row = query_one(db, &sql, &[]).await?;
            Ok(Some(dumped(&row, 0, table.columns[0].1)?).filter(|k| *k != copy::Value::Null))
        })
    }

    fn dump_rows(
        &self,
        table: &copy::Table,
        after: Option<&copy::Value>,
        limit: usize,
    ) -> Result<Vec<Vec<copy::Value>>, StoreError> {
        let cast = if table.text_key() {
            "::TEXT"
        } else {
            "::BIGINT"
        };
        let sql = copy::dump_sql(
            table,
            |i| {
                if i == 1 {
                    format!("$1{cast}")
                } else {
                    format!("${i}")
                }
            },
            &key_order(table),
        );
        let after = bind(after.unwrap_or(&copy::Value::Null), table.columns[0].1)?;
        let limit = pg_limit(Some(limit));
        let rows = self.read(async |db| {
            collect(db, &sql, &[&*after, &limit], |row| {
                table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, kind))| dumped(row, i, *kind))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await
        })?;
        Ok(rows)
    }

    fn load_rows(
        &mut self,
        table: &copy::Table,
        rows: &[Vec<copy::Value>],
    ) -> Result<(), StoreError> {
        let sql = copy::load_sql(table, |i| format!("${i}"));
        let bound = rows
            .iter()
            .map(|row| {
                row.iter()
                    .zip(table.columns)
                    .map(|(value, (_, kind))| bind(value, *kind))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write(async |db, _| {
            let statement = db.prepare_cached(&sql).await?;
            for row in &bound {
                let params: Vec<&(dyn ToSql + Sync)> =
                    row.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect();
                db.execute(&statement, &params).await?;
            }
            Ok(())
        })
    }

    fn finish_load(&mut self) -> Result<(), StoreError> {
        // Rows came with their ids: move each identity past the greatest,
        // or the next insert would collide with a copied row.
        self.write(async |db, _| {
            for table in ["watches", "snapshots", "checks", "changes"] {
                db.batch_execute(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                                   coalesce((SELECT max(id) FROM {table}), 1),
                                   (SELECT max(id) FROM {table}) IS NOT NULL)"
                ))
                .await?;
            }
            Ok(())
        })
    }
}

/// The key as the copy orders it: text byte by byte, as SQLite does.
fn key_order(table: &copy::Table) -> String {
    if table.text_key() {
        format!("{} COLLATE \"C\"", table.key())
    } else {
        table.key().to_owned()
    }
}

/// A copied value as a parameter of the column's type; a value of
/// another type is refused, not coerced.
fn bind(value: &copy::Value, kind: copy::Kind) -> Result<Box<dyn ToSql + Sync + Send>, StoreError> {
    use copy::{Kind, Value};
    Ok(match (kind, value) {
        (Kind::Int, Value::Int(n)) => Box::new(*n),
        (Kind::Bool, Value::Int(n)) => Box::new(*n != 0),
        (Kind::Real, Value::Real(x)) => Box::new(*x),
        (Kind::Text, Value::Text(t)) => Box::new(t.clone()),
        (Kind::Bytes, Value::Bytes(b)) => Box::new(b.clone()),
        (Kind::Int, Value::Null) => Box::new(None::<i64>),
        (Kind::Bool, Value::Null) => Box::new(None::<bool>),
        (Kind::Real, Value::Null) => Box::new(None::<f64>),
        (Kind::Text, Value::Null) => Box::new(None::<String>),
        (Kind::Bytes, Value::Null) => Box::new(None::<Vec<u8>>),
        (kind, value) => {
            return Err(StoreError::Corrupt(format!(
                "a {kind:?} column holds {value:?}"
            )));
        }
    })
}

/// Column `i` of a dumped row, read as its type; booleans become 0 or 1,
/// as SQLite stores them.
fn dumped(row: &Row, i: usize, kind: copy::Kind) -> Result<copy::Value, StoreError> {
    use copy::{Kind, Value};
    Ok(match kind {
        Kind::Int => row
            .try_get::<_, Option<i64>>(i)?
            .map_or(Value::Null, Value::Int),
        Kind::Bool => row
            .try_get::<_, Option<bool>>(i)?
            .map_or(Value::Null, |b| Value::Int(i64::from(b))),
        Kind::Real => row
            .try_get::<_, Option<f64>>(i)?
            .map_or(Value::Null, Value::Real),
        Kind::Text => row
            .try_get::<_, Option<String>>(i)?
            .map_or(Value::Null, Value::Text),
        Kind::Bytes => row
            .try_get::<_, Option<Vec<u8>>>(i)?
            .map_or(Value::Null, Value::Bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::pg::Database;
    use crate::store::contract::{Page, bare, seen, unchanged};

    /// Nodes started together on an empty database: each migrates or
    /// waits for the one migrating, none fails, the schema is made once.
    #[test]
    fn nodes_opening_an_empty_database_together_migrate_it_once() {
        let Some(db) = Database::create() else { return };
        let opened: Vec<Result<PgStore, StoreError>> = std::thread::scope(|scope| {
            let db = &db;
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(move || PgStore::open(&db.url(), db.password())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for store in &opened {
            assert!(store.is_ok(), "{store:?}");
        }
        assert_eq!(
            db.scalar("SELECT value::BIGINT FROM meta WHERE key = 'schema'"),
            i64::from(SCHEMA_VERSION)
        );
        assert_eq!(
            db.scalar("SELECT count(*) FROM meta WHERE key = 'instance'"),
            1
        );
    }

    #[test]
    fn a_database_of_a_newer_chancery_is_refused() {
        let Some(db) = Database::create() else { return };
        drop(db.open());
        db.scalar(&format!(
            "WITH u AS (UPDATE meta SET value = '{}' WHERE key = 'schema' RETURNING 1) SELECT count(*) FROM u",
            SCHEMA_VERSION + 1
        ));
        for opened in [
            PgStore::open(&db.url(), db.password()),
            PgStore::open_read_only(&db.url(), db.password()),
        ] {
            match opened {
                Err(StoreError::TooNew { found, known }) => {
                    assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
                }
                other => panic!("expected TooNew, got {other:?}"),
            }
        }
    }

    /// The web view's handle: PostgreSQL itself refuses its writes.
    #[test]
    fn a_read_only_handle_reads_and_cannot_write() {
        let Some(db) = Database::create() else { return };
        let mut writer = db.open();
        let w = writer.ensure_watch("a", "https://example.org/a").unwrap();
        writer
            .record_check(&seen(
                w.watch_id,
                1_000,
                Outcome::FirstSeen,
                &Page::new("A."),
                None,
            ))
            .unwrap();
        let mut reader = PgStore::open_read_only(&db.url(), db.password()).unwrap();
        assert_eq!(reader.snapshot("a", None).unwrap().unwrap().text, "A.");
        match reader.ensure_watch("b", "https://example.org/b") {
            Err(StoreError::Postgres(e)) => {
                assert!(describe(&e).contains("read-only transaction"), "{e}");
            }
            other => panic!("expected a refused write, got {other:?}"),
        }
        assert_eq!(db.count_watches(), 1);
    }

    /// The server drops the store's connection (a restart, a failover, an
    /// idle timeout): the next call gets a new one.
    #[test]
    fn a_connection_the_server_dropped_is_replaced() {
        let Some(db) = Database::create() else { return };
        let mut store = db.open();
        store.ensure_watch("a", "https://example.org/a").unwrap();
        let killed = db.scalar(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            db.name()
        ));
        assert!(killed >= 1, "the store's connection was there to drop");
        // The connection is driven only during calls: the first call
        // after the drop may fail on it; the next gets a new one.
        let ok = (0..50).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            store.watch_state("a").is_ok_and(|s| s.is_some())
        });
        assert!(ok, "the store did not reconnect");
        store.ensure_watch("b", "https://example.org/b").unwrap();
        assert_eq!(db.count_watches(), 2);
    }

    /// Two nodes asking for one watch's check: the first gets it, the
    /// second is told when to ask again; recording ends the lease, and a
    /// lease that ran out (its node died) passes to the next asker.
    #[test]
    fn one_node_at_a_time_gets_a_watchs_check() {
        let Some(db) = Database::create() else { return };
        let (mut a, mut b) = (db.open(), db.open());
        let w = a.ensure_watch("w", "https://example.org/w").unwrap();
        let minute = std::time::Duration::from_secs(60);
        let claim = |s: &mut PgStore, node: &str, now: i64, until: i64| {
            s.claim_check(
                w.watch_id,
                "example.org",
                node,
                Timestamp(now),
                minute,
                Timestamp(until),
            )
            .unwrap()
        };
        assert_eq!(
            claim(&mut a, "a", 1_000, 61_000),
            super::super::Claim::Granted
        );
        assert_eq!(
            claim(&mut b, "b", 2_000, 62_000),
            super::super::Claim::Elsewhere {
                next_due: Timestamp(61_000)
            }
        );
        a.record_check(&seen(
            w.watch_id,
            1_000,
            Outcome::FirstSeen,
            &Page::new("W."),
            None,
        ))
        .unwrap();
        assert_eq!(
            db.scalar("SELECT count(*) FROM watches WHERE lease_node IS NOT NULL"),
            0
        );
        assert_eq!(
            claim(&mut b, "b", 3_000, 63_000),
            super::super::Claim::Elsewhere {
                next_due: Timestamp(61_000)
            },
            "checked two seconds ago"
        );
        assert_eq!(
            claim(&mut b, "b", 61_000, 121_000),
            super::super::Claim::Granted
        );
        // b dies holding it; a asks after b's lease ran out.
        assert_eq!(
            claim(&mut a, "a", 121_000, 181_000),
            super::super::Claim::Granted
        );

        // The host was told to wait (a Retry-After) far beyond the next
        // check: claims are refused until then, not left waiting.
        let turn = a
            .claim_host(
                "example.org",
                "a",
                Timestamp(200_000),
                2,
                Duration::ZERO,
                Timestamp(260_000),
            )
            .unwrap();
        let super::super::HostTurn::Go { slot } = turn else {
            panic!("{turn:?}")
        };
        a.release_host("example.org", slot, "a", Some(Timestamp(3_600_000)))
            .unwrap();
        assert_eq!(
            claim(&mut b, "b", 200_000, 260_000),
            super::super::Claim::Elsewhere {
                next_due: Timestamp(3_600_000)
            }
        );
        assert_eq!(
            claim(&mut b, "b", 3_600_000, 3_660_000),
            super::super::Claim::Granted
        );
    }

    /// Claims and turns work inside a group commit too, as savepoints of
    /// it: the group's opening is not lost to them, and what they write
    /// commits with the group.
    #[test]
    fn short_writes_inside_a_group_commit_with_it() {
        let Some(db) = Database::create() else { return };
        let mut a = db.open();
        let w = a.ensure_watch("w", "https://example.org/w").unwrap();
        let minute = std::time::Duration::from_secs(60);
        let mut asked = Vec::new();
        a.in_one_transaction(2, &mut |i, s| {
            if i == 0 {
                asked.push(format!(
                    "{:?}",
                    s.claim_host(
                        "example.org",
                        "a",
                        Timestamp(1_000),
                        2,
                        Duration::ZERO,
                        Timestamp(61_000)
                    )
                    .unwrap()
                ));
            }
            asked.push(format!(
                "{:?}",
                s.claim_check(
                    w.watch_id,
                    "example.org",
                    "a",
                    Timestamp(1_000),
                    minute,
                    Timestamp(61_000)
                )
                .unwrap()
            ));
            true
        })
        .unwrap();
        assert_eq!(asked, ["Go { slot: 0 }", "Granted", "Granted"]);
        assert_eq!(db.scalar("SELECT count(*) FROM host_slots"), 1);
        assert_eq!(
            db.scalar("SELECT count(*) FROM watches WHERE lease_node = 'a'"),
            1
        );
    }

    /// A watch whose last checks failed is claimed after the backoff the
    /// store's count calls for, whichever node failed them.
    #[test]
    fn a_failing_watch_waits_out_its_backoff_on_every_node() {
        let Some(db) = Database::create() else { return };
        let (mut a, mut b) = (db.open(), db.open());
        let w = a.ensure_watch("w", "https://example.org/w").unwrap();
        let minute = std::time::Duration::from_secs(60);
        let claim = |s: &mut PgStore, node: &str, now: i64| {
            s.claim_check(
                w.watch_id,
                "example.org",
                node,
                Timestamp(now),
                minute,
                Timestamp(now + 60_000),
            )
            .unwrap()
        };
        let page = Page::new("W.");
        a.record_check(&seen(w.watch_id, 0, Outcome::FirstSeen, &page, None))
            .unwrap();
        // a's three failed checks, a minute apart (its own backoff aside).
        for at in [60_000, 120_000, 180_000] {
            a.record_check(&bare(w.watch_id, at, Outcome::Error))
                .unwrap();
        }
        // b, which saw none of them, asks a minute after the last: the
        // third failure in a row means four minutes.
        assert_eq!(
            claim(&mut b, "b", 240_000),
            super::super::Claim::Elsewhere {
                next_due: Timestamp(420_000)
            }
        );
        assert_eq!(claim(&mut b, "b", 420_000), super::super::Claim::Granted);
        // A success resets the count.
        b.record_check(&unchanged(w.watch_id, 420_000, &page))
            .unwrap();
        assert_eq!(claim(&mut a, "a", 480_000), super::super::Claim::Granted);
    }

    /// Nodes probe a host's not-found page once between them: the
    /// first is leased the probe, the others wait for it and then read
    /// its answer; a failed probe frees the lease at once.
    #[test]
    fn nodes_share_the_not_found_probe() {
        use super::super::{ProbeAnswer, ProbeClaim};
        let Some(db) = Database::create() else { return };
        let (mut a, mut b) = (db.open(), db.open());
        let day = Duration::from_secs(24 * 3600);
        let origin = "https://example.org";
        let claim = |s: &mut PgStore, node: &str, now: i64| {
            s.claim_probe(origin, node, Timestamp(now), day, Timestamp(now + 60_000))
                .unwrap()
        };
        assert_eq!(claim(&mut a, "a", 1_000), ProbeClaim::Probe);
        assert_eq!(
            claim(&mut b, "b", 2_000),
            ProbeClaim::Wait {
                until: Timestamp(61_000)
            }
        );
        // a's probe failed: b may probe at once.
        a.record_probe(origin, "a", Timestamp(3_000), None).unwrap();
        assert_eq!(claim(&mut b, "b", 4_000), ProbeClaim::Probe);
        let answer = ProbeAnswer {
            body: b"<h1>Page not found</h1>".to_vec(),
            content_type: Some("text/html".to_owned()),
            url: "https://example.org/chancery-not-found-probe-1".to_owned(),
        };
        b.record_probe(origin, "b", Timestamp(5_000), Some(Some(&answer)))
            .unwrap();
        assert_eq!(
            claim(&mut a, "a", 6_000),
            ProbeClaim::Known {
                probed_at: Timestamp(5_000),
                answer: Some(answer)
            }
        );
        // A host that answers properly is remembered as such, a day long.
        b.record_probe(origin, "b", Timestamp(7_000), Some(None))
            .unwrap();
        assert_eq!(
            claim(&mut a, "a", 8_000),
            ProbeClaim::Known {
                probed_at: Timestamp(7_000),
                answer: None
            }
        );
        assert_eq!(claim(&mut a, "a", 7_000 + 86_400_000), ProbeClaim::Probe);
    }

    /// A store dropped inside an async task (the daemon's last handle)
    /// does not panic: its runtime is shut down without blocking.
    #[test]
    fn a_store_opened_and_dropped_inside_an_async_task_does_not_panic() {
        let Some(db) = Database::create() else { return };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = PgStore::open(&db.url(), db.password()).unwrap();
            drop(store);
        });
    }
}
