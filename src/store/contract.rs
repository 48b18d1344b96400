//! The behaviour every backend must have, as tests: each test below runs
//! against SQLite (a temporary file) and against PostgreSQL (a fresh
//! database on the server `$CHANCERY_POSTGRES` names; `.ci/postgres`
//! starts one). Without that variable the PostgreSQL runs are skipped with
//! a notice, except under CI, where they fail.
//!
//! Tests of one backend's own machinery (SQLite's file and pragmas, its
//! read-only and immutable opening) stay beside it.

use std::time::Duration;

use super::*;
use crate::hash::sha256_hex;
use crate::model::Health;

/// The tables a check writes to, in the order `counts` gives.
pub(super) const TABLES: [&str; 6] = [
    "watches",
    "checks",
    "snapshots",
    "texts",
    "bodies",
    "changes",
];

/// A database for one test, and a way to look at its tables directly.
pub(super) enum TestDb {
    Sqlite(tempfile::TempDir),
    #[cfg(feature = "postgres")]
    Postgres(pg::Database),
}

impl TestDb {
    fn sqlite() -> TestDb {
        TestDb::Sqlite(tempfile::tempdir().expect("temp dir"))
    }

    /// A new handle on the database, as another process would open it.
    fn open(&self) -> Box<dyn Store + Send> {
        match self {
            TestDb::Sqlite(dir) => Box::new(SqliteStore::open_in(dir.path()).expect("open sqlite")),
            #[cfg(feature = "postgres")]
            TestDb::Postgres(db) => Box::new(db.open()),
        }
    }

    /// The one integer `sql` selects.
    fn scalar(&self, sql: &str) -> i64 {
        match self {
            TestDb::Sqlite(dir) => {
                rusqlite::Connection::open(dir.path().join(sqlite::DB_FILE_NAME))
                    .expect("open sqlite")
                    .query_row(sql, [], |row| row.get(0))
                    .expect(sql)
            }
            #[cfg(feature = "postgres")]
            TestDb::Postgres(db) => db.scalar(sql),
        }
    }

    fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT count(*) FROM {table}"))
    }

    /// Rows in each of [`TABLES`].
    fn counts(&self) -> Vec<i64> {
        TABLES.iter().map(|table| self.count(table)).collect()
    }
}

#[cfg(feature = "postgres")]
pub(super) mod pg {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::super::postgres::PgStore;

    /// A database of its own on the test server, dropped after the test.
    pub struct Database {
        server: String,
        password: Option<String>,
        name: String,
        runtime: tokio::runtime::Runtime,
    }

    /// The test server's URL and password, if one is configured; panics
    /// under CI when it is not.
    pub fn server() -> Option<(String, Option<String>)> {
        match std::env::var("CHANCERY_POSTGRES") {
            Ok(url) if !url.is_empty() => {
                Some((url, std::env::var("CHANCERY_POSTGRES_PASSWORD").ok()))
            }
            _ if std::env::var_os("CI").is_some() => panic!(
                "CHANCERY_POSTGRES is not set: under CI the PostgreSQL store tests must run (.ci/postgres starts a server)"
            ),
            _ => {
                eprintln!(
                    "NOTICE: skipping a PostgreSQL store test: set CHANCERY_POSTGRES (eval \"$(bash .ci/postgres)\")"
                );
                None
            }
        }
    }

    impl Database {
        pub fn create() -> Option<Database> {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let (server, password) = server()?;
            let name = format!(
                "chancery_test_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let db = Database {
                server,
                password,
                name,
                runtime,
            };
            db.on_server(&format!("DROP DATABASE IF EXISTS {}", db.name));
            db.on_server(&format!("CREATE DATABASE {}", db.name));
            Some(db)
        }

        /// The URL of this test's database.
        pub fn url(&self) -> String {
            let mut url = url::Url::parse(&self.server).expect("CHANCERY_POSTGRES is a URL");
            url.set_path(&self.name);
            url.to_string()
        }

        pub fn password(&self) -> Option<&str> {
            self.password.as_deref()
        }

        pub fn name(&self) -> &str {
            &self.name
        }

        pub fn count_watches(&self) -> i64 {
            self.scalar("SELECT count(*) FROM watches")
        }

        pub fn open(&self) -> PgStore {
            PgStore::open(&self.url(), self.password()).expect("open postgres")
        }

        /// Runs `sql` on the server's own database (creating, dropping).
        fn on_server(&self, sql: &str) {
            self.run(&self.server, |client| async move {
                client.batch_execute(sql).await.expect(sql)
            });
        }

        pub fn scalar(&self, sql: &str) -> i64 {
            self.run(&self.url(), |client| async move {
                client.query_one(sql, &[]).await.expect(sql).get(0)
            })
        }

        fn run<T, F: std::future::Future<Output = T>>(
            &self,
            url: &str,
            f: impl FnOnce(std::sync::Arc<tokio_postgres::Client>) -> F,
        ) -> T {
            self.runtime.block_on(async {
                let mut config: tokio_postgres::Config = url.parse().expect("postgres URL");
                if let Some(password) = &self.password {
                    config.password(password);
                }
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .expect("connect to the test server");
                let driver = tokio::spawn(connection);
                let value = f(std::sync::Arc::new(client)).await;
                driver.abort();
                value
            })
        }
    }

    impl Drop for Database {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                self.on_server(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ));
            }
        }
    }
}

/// An error the database itself raised (a constraint, say).
fn is_database_error(err: &StoreError) -> bool {
    match err {
        StoreError::Sqlite(_) => true,
        #[cfg(feature = "postgres")]
        StoreError::Postgres(_) => true,
        _ => false,
    }
}

/// Runs each named test against every backend.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[test]
            fn $name() {
                super::$name(&super::TestDb::sqlite());
            })*
        }
        #[cfg(feature = "postgres")]
        mod on_postgres {
            $(#[test]
            fn $name() {
                if let Some(db) = super::pg::Database::create() {
                    super::$name(&super::TestDb::Postgres(db));
                }
            })*
        }
    };
}

contract!(
    two_checkers_racing_on_one_watch_record_it_once,
    a_check_judged_against_a_state_that_moved_on_is_refused_whole,
    checks_in_one_group_commit_land_each_whole_or_not_at_all,
    ensure_watch_registers_once_and_follows_url,
    gc_deletes_routine_checks_and_orphan_bodies_and_keeps_the_evidence,
    an_alert_is_claimed_by_one_worker_and_recorded_only_under_its_claim,
    history_through_edit_removal_and_restore,
    unchanged_check_adds_one_row_and_no_blob,
    responses_keep_heads_and_follow_since,
    identical_blobs_are_stored_once,
    failed_record_check_leaves_nothing,
    change_from_another_watchs_snapshot_is_refused,
    self_contradicting_checks_are_refused_before_writing,
    large_cjk_text_round_trips_compressed,
    watch_summaries_count_changes_without_the_baseline,
    validators_are_kept_on_none_and_replaced_on_some,
    unknown_watch_names_are_errors,
    snapshot_of_another_watch_is_not_found,
);

/// A fetched page: raw body and normalized text with their hashes.
pub(super) struct Page {
    pub(super) raw: Vec<u8>,
    pub(super) raw_sha: String,
    pub(super) text: String,
    pub(super) text_sha: String,
}

impl Page {
    pub(super) fn new(text: &str) -> Page {
        let raw = format!("<html><body><main><p>{text}</p></main></body></html>").into_bytes();
        Page {
            raw_sha: sha256_hex(&raw),
            raw,
            text_sha: sha256_hex(text.as_bytes()),
            text: text.to_owned(),
        }
    }
}

pub(super) fn summary(first_change: &str) -> DiffSummary {
    DiffSummary {
        lines_added: 1,
        lines_removed: 1,
        changed_ratio: 0.5,
        first_change: Some(first_change.to_owned()),
    }
}

/// A check that failed before any body arrived.
pub(super) fn bare(watch_id: WatchId, at: i64, outcome: Outcome) -> NewCheck<'static> {
    NewCheck {
        watch_id,
        started_at: Timestamp(at),
        duration: Duration::from_millis(120),
        outcome,
        http_status: None,
        final_url: None,
        error: None,
        bytes: 0,
        content_type: None,
        charset: None,
        raw_sha256: None,
        text_sha256: None,
        validators: None,
        body: None,
        snapshot: None,
        current: false,
        region: None,
        change: None,
        filters_sha256: None,
        alerts: Vec::new(),
        reason: None,
        health: Health::default(),
        events: Vec::new(),
        follow: None,
        heads: None,
        basis: None,
    }
}

/// A check that observed `page` as a (possibly reused) snapshot.
pub(super) fn seen(
    watch_id: WatchId,
    at: i64,
    outcome: Outcome,
    page: &Page,
    from: Option<SnapshotId>,
) -> NewCheck<'_> {
    NewCheck {
        http_status: Some(200),
        final_url: Some("https://example.org/statement".to_owned()),
        bytes: page.raw.len() as u64,
        content_type: Some("text/html".to_owned()),
        charset: Some("UTF-8".to_owned()),
        raw_sha256: Some(page.raw_sha.clone()),
        text_sha256: Some(page.text_sha.clone()),
        body: Some(NewBody {
            sha256: &page.raw_sha,
            bytes: &page.raw,
        }),
        snapshot: Some(NewSnapshot {
            sha256: &page.text_sha,
            text: &page.text,
        }),
        current: outcome.keeps_snapshot(),
        change: outcome.change_kind().map(|kind| NewChange {
            kind,
            from,
            summary: summary(&page.text),
        }),
        ..bare(watch_id, at, outcome)
    }
}

/// A check whose text equals the last snapshot's: hashes only, no blobs.
pub(super) fn unchanged(watch_id: WatchId, at: i64, page: &Page) -> NewCheck<'static> {
    NewCheck {
        http_status: Some(200),
        bytes: page.raw.len() as u64,
        raw_sha256: Some(page.raw_sha.clone()),
        text_sha256: Some(page.text_sha.clone()),
        ..bare(watch_id, at, Outcome::Unchanged)
    }
}

pub(super) fn removed(watch_id: WatchId, at: i64, from: SnapshotId) -> NewCheck<'static> {
    NewCheck {
        http_status: Some(404),
        error: Some("http 404".to_owned()),
        change: Some(NewChange {
            kind: ChangeKind::Removed,
            from: Some(from),
            summary: DiffSummary::default(),
        }),
        ..bare(watch_id, at, Outcome::Removed)
    }
}

fn a_check_judged_against_a_state_that_moved_on_is_refused_whole(db: &TestDb) {
    let mut store = db.open();
    let state = store.ensure_watch("a", "https://example.org/a").unwrap();
    let basis = Basis::of(&state);
    let first = Page::new("A.");
    store
        .record_check(&NewCheck {
            basis: Some(basis),
            ..seen(state.watch_id, 1_000, Outcome::FirstSeen, &first, None)
        })
        .unwrap();
    // A second checker judged the same new page against the same,
    // now outdated, state: nothing of it is written.
    let checks = store.checks("a", None).unwrap().len();
    let stale = store.record_check(&NewCheck {
        basis: Some(basis),
        ..seen(state.watch_id, 1_001, Outcome::FirstSeen, &first, None)
    });
    assert!(matches!(stale, Err(StoreError::Stale { .. })), "{stale:?}");
    assert_eq!(store.checks("a", None).unwrap().len(), checks);
    // Judged against the state as it is now, it is recorded.
    let now = Basis::of(&store.watch_state("a").unwrap().unwrap());
    store
        .record_check(&NewCheck {
            basis: Some(now),
            ..bare(state.watch_id, 1_002, Outcome::Error)
        })
        .unwrap();
}

/// Two processes (two handles, two threads) record the same new text of
/// one watch at the same moment, each judged against the state they both
/// read: exactly one is recorded, the other is told it is stale, and the
/// history holds one first-seen.
fn two_checkers_racing_on_one_watch_record_it_once(db: &TestDb) {
    let mut first = db.open();
    first.ensure_watch("a", "https://example.org/a").unwrap();
    let pages: Vec<Page> = (0..5).map(|i| Page::new(&format!("Text {i}."))).collect();
    for (round, page) in pages.iter().enumerate() {
        let state = first.watch_state("a").unwrap().unwrap();
        let basis = Basis::of(&state);
        let (outcome, from) = match &state.last_snapshot {
            None => (Outcome::FirstSeen, None),
            Some(last) => (Outcome::Edited, Some(last.id)),
        };
        let start = std::sync::Barrier::new(2);
        let results: Vec<Result<RecordedCheck, StoreError>> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..2)
                .map(|i| {
                    let start = &start;
                    let mut store = db.open();
                    scope.spawn(move || {
                        let at = 1_000 * (round as i64 + 1) + i;
                        start.wait();
                        store.record_check(&NewCheck {
                            basis: Some(basis),
                            ..seen(state.watch_id, at, outcome, page, from)
                        })
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let recorded = results.iter().filter(|r| r.is_ok()).count();
        let stale = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Stale { .. })))
            .count();
        assert_eq!((recorded, stale), (1, 1), "round {round}: {results:?}");
    }
    let kinds: Vec<ChangeKind> = first
        .changes("a", None)
        .unwrap()
        .iter()
        .map(|c| c.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            ChangeKind::Edited,
            ChangeKind::Edited,
            ChangeKind::Edited,
            ChangeKind::Edited,
            ChangeKind::FirstSeen
        ]
    );
    assert_eq!(first.checks("a", None).unwrap().len(), 5);
}

fn checks_in_one_group_commit_land_each_whole_or_not_at_all(db: &TestDb) {
    let mut store = db.open();
    let a = store.ensure_watch("a", "https://example.org/a").unwrap();
    let b = store.ensure_watch("b", "https://example.org/b").unwrap();
    let reader = db.open();
    let (page_a, page_b) = (Page::new("A."), Page::new("B."));
    let checks = [
        NewCheck {
            basis: Some(Basis::of(&a)),
            ..seen(a.watch_id, 1_000, Outcome::FirstSeen, &page_a, None)
        },
        // Judged against the state the first one just moved on.
        NewCheck {
            basis: Some(Basis::of(&a)),
            ..seen(a.watch_id, 1_001, Outcome::FirstSeen, &page_a, None)
        },
        seen(b.watch_id, 1_002, Outcome::FirstSeen, &page_b, None),
    ];
    let mut results = Vec::new();
    store
        .in_one_transaction(checks.len(), &mut |i, s| {
            let result = s.record_check(&checks[i]);
            // Nothing of the group is visible outside it before it commits.
            assert_eq!(reader.checks("a", None).unwrap().len(), 0);
            let kept = result.is_ok();
            results.push(result);
            kept
        })
        .unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(
        matches!(results[1], Err(StoreError::Stale { .. })),
        "{:?}",
        results[1]
    );
    assert!(results[2].is_ok(), "{:?}", results[2]);
    // The stale check left nothing; the others are whole.
    assert_eq!(reader.checks("a", None).unwrap().len(), 1);
    assert_eq!(reader.snapshot("a", None).unwrap().unwrap().text, "A.");
    assert_eq!(reader.snapshot("b", None).unwrap().unwrap().text, "B.");
    // A job that wrote and then failed is rolled back alone.
    store
        .in_one_transaction(2, &mut |i, s| {
            s.record_check(&unchanged(a.watch_id, 2_000 + i as i64, &page_a))
                .unwrap();
            i == 1
        })
        .unwrap();
    let times: Vec<i64> = reader
        .checks("a", None)
        .unwrap()
        .iter()
        .map(|c| c.started_at.0)
        .collect();
    assert_eq!(times, [2_001, 1_000]);
    // And the connection is out of the group's transaction: a lone
    // check is its own transaction again.
    store
        .record_check(&unchanged(a.watch_id, 3_000, &page_a))
        .unwrap();
    assert_eq!(reader.checks("a", None).unwrap().len(), 3);
    // Inside a job that is kept, a write that fails leaves nothing and
    // takes nothing with it: neither the job's first write nor a later one.
    let stale = |at| NewCheck {
        basis: Some(Basis::of(&a)),
        ..unchanged(a.watch_id, at, &page_a)
    };
    let mut results = Vec::new();
    store
        .in_one_transaction(1, &mut |_, s| {
            results.push(s.record_check(&stale(4_000)).is_ok());
            results.push(
                s.record_check(&unchanged(b.watch_id, 4_001, &page_b))
                    .is_ok(),
            );
            results.push(s.record_check(&stale(4_002)).is_ok());
            results.push(
                s.record_check(&unchanged(a.watch_id, 4_003, &page_a))
                    .is_ok(),
            );
            true
        })
        .unwrap();
    assert_eq!(results, [false, true, false, true]);
    let latest = |name| reader.checks(name, Some(1)).unwrap()[0].started_at.0;
    assert_eq!((latest("a"), latest("b")), (4_003, 4_001));
    assert_eq!(reader.checks("a", None).unwrap().len(), 4);
}

fn ensure_watch_registers_once_and_follows_url(db: &TestDb) {
    let mut store = db.open();
    let first = store.ensure_watch("mfa", "https://example.org/a").unwrap();
    assert_eq!(first.presence, Presence::New);
    assert_eq!(first.last_snapshot, None);
    assert_eq!(first.last_check_at, None);
    let again = store.ensure_watch("mfa", "https://example.org/a").unwrap();
    assert_eq!(again, first);
    let moved = store.ensure_watch("mfa", "https://example.org/b").unwrap();
    assert_eq!(moved.watch_id, first.watch_id);
    assert_eq!(moved.url, "https://example.org/b");
    assert_eq!(db.count("watches"), 1);
    assert_eq!(store.watch_state("nope").unwrap(), None);
    // All states in one read are each watch's own, whatever it holds.
    let page = Page::new("Text.");
    store
        .record_check(&seen(
            moved.watch_id,
            1_000,
            Outcome::FirstSeen,
            &page,
            None,
        ))
        .unwrap();
    store.ensure_watch("new", "https://example.org/n").unwrap();
    let mut all = store.watch_states().unwrap();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let one_by_one: Vec<WatchState> = ["mfa", "new"]
        .iter()
        .map(|name| store.watch_state(name).unwrap().unwrap())
        .collect();
    assert_eq!(all, one_by_one);
    assert!(all[0].last_snapshot.is_some());
}

/// gc keeps the evidence (every check a change or snapshot refers to,
/// each watch's latest, snapshots and changes) and deletes the rest of
/// the old routine check rows and the bodies only they referred to.
fn gc_deletes_routine_checks_and_orphan_bodies_and_keeps_the_evidence(db: &TestDb) {
    let mut store = db.open();
    let w = store.ensure_watch("mfa", "https://example.org/s").unwrap();
    let a = Page::new("The ministry notes the report.");
    let b = Page::new("The ministry rejects the report.");
    let first = store
        .record_check(&seen(w.watch_id, 1_000, Outcome::FirstSeen, &a, None))
        .unwrap();
    for at in [2_000, 4_000, 5_000] {
        store.record_check(&unchanged(w.watch_id, at, &a)).unwrap();
    }
    // An error page kept as a body (a 500 with content), referred to
    // by nothing else.
    let junk = Page::new("Internal Server Error");
    let mut error = bare(w.watch_id, 3_000, Outcome::Error);
    error.raw_sha256 = Some(junk.raw_sha.clone());
    error.body = Some(NewBody {
        sha256: &junk.raw_sha,
        bytes: &junk.raw,
    });
    store.record_check(&error).unwrap();
    store
        .record_check(&seen(
            w.watch_id,
            6_000,
            Outcome::Edited,
            &b,
            first.snapshot_id,
        ))
        .unwrap();
    store
        .record_check(&unchanged(w.watch_id, 7_000, &b))
        .unwrap();
    assert_eq!(db.count("checks"), 7);
    assert_eq!(db.count("bodies"), 3);

    let dry = store.gc(Timestamp(6_500), true).unwrap();
    assert_eq!((dry.checks, dry.bodies), (4, 1));
    assert_eq!(db.count("checks"), 7, "a dry run deletes nothing");

    let done = store.gc(Timestamp(6_500), false).unwrap();
    assert_eq!((done.checks, done.bodies), (4, 1));
    assert_eq!(db.count("checks"), 3);
    assert_eq!(db.count("bodies"), 2);
    assert_eq!(db.count("snapshots"), 2);
    assert_eq!(db.count("changes"), 2);
    let kept: Vec<i64> = store
        .checks("mfa", None)
        .unwrap()
        .iter()
        .map(|c| c.started_at.0)
        .collect();
    assert_eq!(kept, [7_000, 6_000, 1_000], "the latest and the evidence");
    // Nothing left to collect: the latest check is always kept.
    assert_eq!(store.gc(Timestamp(i64::MAX), false).unwrap().checks, 0);
}

/// Two processes on one database (two connections): an alert claimed by
/// one is invisible to the other until the claim expires, and a result
/// is recorded only under the claim that made the attempt.
fn an_alert_is_claimed_by_one_worker_and_recorded_only_under_its_claim(db: &TestDb) {
    let mut daemon = db.open();
    let mut cli = db.open();
    let w = daemon.ensure_watch("mfa", "https://example.org/s").unwrap();
    let a = Page::new("The ministry notes the report.");
    let b = Page::new("The ministry rejects the report.");
    let first = daemon
        .record_check(&seen(w.watch_id, 1_000, Outcome::FirstSeen, &a, None))
        .unwrap();
    let mut edit = seen(w.watch_id, 2_000, Outcome::Edited, &b, first.snapshot_id);
    edit.alerts = vec![NewAlert {
        subscriber: "hook".to_owned(),
        channel: "webhook".to_owned(),
    }];
    daemon.record_check(&edit).unwrap();

    let now = Timestamp(3_000);
    let lease = Timestamp(63_000);
    let claimed = daemon
        .claim_due_alert(now, "daemon", lease)
        .unwrap()
        .expect("the due alert");
    assert_eq!(
        cli.claim_due_alert(now, "cli", lease).unwrap(),
        None,
        "held"
    );

    // The daemon's attempt fails; its retry is recorded and the claim
    // released; the next attempt is not due yet.
    let retry = Attempt::Retry {
        error: "HTTP 503".to_owned(),
        next_attempt_at: Timestamp(10_000),
    };
    assert!(
        !cli.record_attempt(&claimed.id, "cli", now, &retry).unwrap(),
        "not its claim"
    );
    assert!(
        daemon
            .record_attempt(&claimed.id, "daemon", now, &retry)
            .unwrap()
    );
    assert_eq!(
        cli.claim_due_alert(now, "cli", lease).unwrap(),
        None,
        "not due"
    );

    // Due again: the CLI claims it, its claim expires mid-attempt and
    // the daemon takes over; the CLI's late result is not recorded.
    let due = Timestamp(10_000);
    let cli_claim = cli
        .claim_due_alert(due, "cli", Timestamp(20_000))
        .unwrap()
        .expect("due again");
    assert_eq!(cli_claim.id, claimed.id);
    let later = Timestamp(20_000);
    let taken = daemon
        .claim_due_alert(later, "daemon-2", Timestamp(80_000))
        .unwrap()
        .expect("an expired claim frees the alert");
    assert!(
        !cli.record_attempt(&claimed.id, "cli", later, &Attempt::Delivered)
            .unwrap(),
        "a result outliving its claim is dropped"
    );
    assert!(
        daemon
            .record_attempt(&taken.id, "daemon-2", later, &Attempt::Delivered)
            .unwrap()
    );
    let alerts = cli.alerts(None, None).unwrap();
    assert_eq!(alerts[0].status, AlertStatus::Delivered);
    assert_eq!(alerts[0].attempts, 2, "the dropped result was not counted");
    // Delivered is final: no claim can record over it.
    assert!(
        !daemon
            .record_attempt(
                &taken.id,
                "daemon-2",
                later,
                &Attempt::Failed {
                    error: "x".to_owned()
                }
            )
            .unwrap()
    );
    assert_eq!(
        daemon
            .claim_due_alert(Timestamp(i64::MAX), "any", Timestamp(i64::MAX))
            .unwrap(),
        None
    );
}

fn history_through_edit_removal_and_restore(db: &TestDb) {
    let mut store = db.open();
    let w = store.ensure_watch("mfa", "https://example.org/s").unwrap();
    let original = Page::new("外交部发言人就此事发表谈话。");
    let edited = Page::new("外交部发言人就该事件发表书面谈话。");

    let first = store
        .record_check(&seen(
            w.watch_id,
            1_000,
            Outcome::FirstSeen,
            &original,
            None,
        ))
        .unwrap();
    let a = first.snapshot_id.unwrap();
    let state = store.watch_state("mfa").unwrap().unwrap();
    assert_eq!(state.presence, Presence::Present);
    assert_eq!(
        state.last_snapshot,
        Some(SnapshotRef {
            id: a,
            sha256: original.text_sha.clone(),
            fetched_at: Timestamp(1_000),
        })
    );

    let second = store
        .record_check(&seen(w.watch_id, 2_000, Outcome::Edited, &edited, Some(a)))
        .unwrap();
    let b = second.snapshot_id.unwrap();
    assert_ne!(a, b);
    let state = store.watch_state("mfa").unwrap().unwrap();
    assert_eq!(state.last_snapshot.as_ref().map(|s| s.id), Some(b));

    let third = store
        .record_check(&unchanged(w.watch_id, 3_000, &edited))
        .unwrap();
    assert_eq!(third.change_id, None);
    assert_eq!(third.snapshot_id, Some(b), "unchanged points at its text");

    let fourth = store.record_check(&removed(w.watch_id, 4_000, b)).unwrap();
    assert_eq!(fourth.snapshot_id, None);
    let state = store.watch_state("mfa").unwrap().unwrap();
    assert_eq!(state.presence, Presence::Removed);
    assert_eq!(
        state.last_snapshot.as_ref().map(|s| s.id),
        Some(b),
        "the last good text survives a removal"
    );

    let fifth = store
        .record_check(&seen(
            w.watch_id,
            5_000,
            Outcome::Restored,
            &original,
            Some(b),
        ))
        .unwrap();
    assert_eq!(
        fifth.snapshot_id,
        Some(a),
        "restored text reuses its snapshot"
    );
    let state = store.watch_state("mfa").unwrap().unwrap();
    assert_eq!(state.presence, Presence::Present);
    assert_eq!(
        state.last_snapshot,
        Some(SnapshotRef {
            id: a,
            sha256: original.text_sha.clone(),
            fetched_at: Timestamp(1_000),
        })
    );
    assert_eq!(state.last_check_at, Some(Timestamp(5_000)));

    let changes = store.changes("mfa", None).unwrap();
    let seq: Vec<_> = changes
        .iter()
        .map(|c| (c.kind, c.from, c.to, c.detected_at.0))
        .collect();
    assert_eq!(
        seq,
        vec![
            (ChangeKind::Restored, Some(b), Some(a), 5_000),
            (ChangeKind::Removed, Some(b), None, 4_000),
            (ChangeKind::Edited, Some(a), Some(b), 2_000),
            (ChangeKind::FirstSeen, None, Some(a), 1_000),
        ]
    );
    assert_eq!(changes[1].http_status, Some(404));
    assert_eq!(changes[0].check_id, fifth.check_id);
    assert_eq!(Some(changes[0].id), fifth.change_id);
    assert_eq!(changes[2].summary, summary(&edited.text));

    let checks = store.checks("mfa", None).unwrap();
    let outcomes: Vec<_> = checks.iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Restored,
            Outcome::Removed,
            Outcome::Unchanged,
            Outcome::Edited,
            Outcome::FirstSeen,
        ]
    );
    assert_eq!(checks[1].error.as_deref(), Some("http 404"));
    assert_eq!(checks[4].bytes, original.raw.len() as u64);
    assert_eq!(checks[4].duration_ms, 120);
    assert_eq!(
        store.checks("mfa", Some(2)).unwrap(),
        checks[..2].to_vec(),
        "limit keeps the newest"
    );

    let snapshots = store.snapshots("mfa", None).unwrap();
    let ids: Vec<_> = snapshots.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![b, a]);
    assert_eq!(snapshots[1].raw_sha256.as_deref(), Some(&*original.raw_sha));
    assert_eq!(snapshots[1].text_bytes, original.text.len() as u64);

    let latest = store.snapshot("mfa", None).unwrap().unwrap();
    assert_eq!(latest.meta.id, a, "latest is the current text");
    assert_eq!(latest.text, original.text);
    let old = store.snapshot("mfa", Some(b)).unwrap().unwrap();
    assert_eq!(old.text, edited.text);
    assert_eq!(store.snapshot("mfa", Some(9_999)).unwrap(), None);
    assert_eq!(
        store.raw_body(&original.raw_sha).unwrap(),
        Some(original.raw.clone())
    );
    assert_eq!(db.counts(), vec![1, 5, 2, 2, 2, 4]);
}

fn unchanged_check_adds_one_row_and_no_blob(db: &TestDb) {
    let mut store = db.open();
    let w = store.ensure_watch("mfa", "https://example.org/s").unwrap();
    let page = Page::new("Statement.");
    store
        .record_check(&seen(w.watch_id, 1_000, Outcome::FirstSeen, &page, None))
        .unwrap();
    let before = db.counts();
    store
        .record_check(&unchanged(w.watch_id, 2_000, &page))
        .unwrap();
    let after = db.counts();
    // watches, checks, snapshots, texts, bodies, changes
    assert_eq!(
        after,
        vec![
            before[0],
            before[1] + 1,
            before[2],
            before[3],
            before[4],
            before[5]
        ]
    );
    let state = store.watch_state("mfa").unwrap().unwrap();
    assert_eq!(state.last_check_at, Some(Timestamp(2_000)));
    assert_eq!(state.presence, Presence::Present);
}

fn responses_keep_heads_and_follow_since(db: &TestDb) {
    let mut store = db.open();
    let w = store.ensure_watch("mfa", "https://example.org/s").unwrap();
    let page = Page::new("Statement.");
    let heads = NewHeads {
        requested_at: Timestamp(1_001),
        remote_ip: Some("192.0.2.7".to_owned()),
        request_head: b"GET /s HTTP/1.1\r\nHost: example.org\r\n\r\n".to_vec(),
        response_head: b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\n\r\n".to_vec(),
        rendered_by: Some("HeadlessChrome/156.0.0.0".to_owned()),
    };
    let first = store
        .record_check(&NewCheck {
            heads: Some(heads.clone()),
            basis: None,
            ..seen(w.watch_id, 1_000, Outcome::FirstSeen, &page, None)
        })
        .unwrap();
    // Unchanged with other bytes: the body is not kept.
    let other = Page {
        raw_sha: sha256_hex(b"other"),
        ..Page::new("Statement.")
    };
    store
        .record_check(&NewCheck {
            heads: Some(heads.clone()),
            basis: None,
            ..unchanged(w.watch_id, 2_000, &other)
        })
        .unwrap();
    // Unchanged with the same bytes: the body is there, so are the heads.
    store
        .record_check(&NewCheck {
            heads: Some(heads.clone()),
            basis: None,
            ..unchanged(w.watch_id, 2_500, &page)
        })
        .unwrap();
    // An error without a response is not a response.
    store
        .record_check(&bare(w.watch_id, 3_000, Outcome::Error))
        .unwrap();

    let all = store.responses("mfa", None).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].check_id, first.check_id);
    assert_eq!(all[0].heads.as_ref(), Some(&heads));
    assert!(all[0].body_stored);
    assert_eq!(all[0].snapshot_id, first.snapshot_id);
    assert_eq!(all[0].raw_sha256.as_deref(), Some(page.raw_sha.as_str()));
    assert!(!all[1].body_stored);
    assert_eq!(all[1].heads, None, "no body, so no heads kept");
    assert_eq!(all[1].snapshot_id, first.snapshot_id);
    assert!(all[2].body_stored);
    assert_eq!(all[2].heads, Some(heads));

    let since = store.responses("mfa", Some(Timestamp(2_500))).unwrap();
    assert_eq!(since.len(), 1);
    assert_eq!(since[0].started_at, Timestamp(2_500));
    assert!(
        store
            .responses("mfa", Some(Timestamp(2_501)))
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store.responses("nope", None),
        Err(StoreError::UnknownWatch(_))
    ));
}

fn identical_blobs_are_stored_once(db: &TestDb) {
    let mut store = db.open();
    let a = store.ensure_watch("a", "https://example.org/a").unwrap();
    let b = store
        .ensure_watch("b", "https://mirror.example.org/a")
        .unwrap();
    let page = Page::new("Same statement on two sites.");
    let first = store
        .record_check(&seen(a.watch_id, 1_000, Outcome::FirstSeen, &page, None))
        .unwrap();
    let second = store
        .record_check(&seen(b.watch_id, 2_000, Outcome::FirstSeen, &page, None))
        .unwrap();
    assert_ne!(
        first.snapshot_id, second.snapshot_id,
        "snapshots are per watch"
    );
    assert_eq!(db.count("bodies"), 1);
    assert_eq!(db.count("texts"), 1);
    assert_eq!(db.count("snapshots"), 2);
    assert_eq!(
        store.raw_body(&page.raw_sha).unwrap(),
        Some(page.raw.clone())
    );
    assert_eq!(store.snapshot("b", None).unwrap().unwrap().text, page.text);
}

fn failed_record_check_leaves_nothing(db: &TestDb) {
    let mut store = db.open();
    let page = Page::new("Statement.");
    // No watch 42: the snapshot insert violates its foreign key after
    // the body and the text were written.
    let err = store
        .record_check(&seen(42, 1_000, Outcome::FirstSeen, &page, None))
        .unwrap_err();
    assert!(is_database_error(&err), "{err:?}");
    assert_eq!(db.counts(), vec![0; 6]);

    // A change whose from-snapshot does not exist fails after the check
    // row was written: it goes too, and the watch keeps its state.
    let w = store.ensure_watch("mfa", "https://example.org/s").unwrap();
    store
        .record_check(&seen(w.watch_id, 1_000, Outcome::FirstSeen, &page, None))
        .unwrap();
    let state = store.watch_state("mfa").unwrap();
    let before = db.counts();
    let edited = Page::new("Edited statement.");
    let err = store
        .record_check(&seen(
            w.watch_id,
            2_000,
            Outcome::Edited,
            &edited,
            Some(9_999),
        ))
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidCheck { .. }), "{err:?}");
    assert_eq!(db.counts(), before);
    assert_eq!(store.watch_state("mfa").unwrap(), state);
}

fn change_from_another_watchs_snapshot_is_refused(db: &TestDb) {
    let mut store = db.open();
    let a = store.ensure_watch("a", "https://example.org/a").unwrap();
    let b = store.ensure_watch("b", "https://example.org/b").unwrap();
    let page = Page::new("A.");
    let other = store
        .record_check(&seen(a.watch_id, 1_000, Outcome::FirstSeen, &page, None))
        .unwrap();
    let err = store
        .record_check(&seen(
            b.watch_id,
            2_000,
            Outcome::Edited,
            &Page::new("B."),
            other.snapshot_id,
        ))
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidCheck { .. }), "{err:?}");
}

fn self_contradicting_checks_are_refused_before_writing(db: &TestDb) {
    let mut store = db.open();
    let w = store.ensure_watch("mfa", "https://example.org/s").unwrap();
    let page = Page::new("Statement.");
    let before = db.counts();

    let wrong_hash = "0".repeat(64);
    let mut bad_body = seen(w.watch_id, 1_000, Outcome::FirstSeen, &page, None);
    bad_body.raw_sha256 = None;
    bad_body.body = Some(NewBody {
        sha256: &wrong_hash,
        bytes: &page.raw,
    });
    let mut bad_text = seen(w.watch_id, 1_000, Outcome::FirstSeen, &page, None);
    bad_text.text_sha256 = None;
    bad_text.snapshot = Some(NewSnapshot {
        sha256: &wrong_hash,
        text: &page.text,
    });
    let mut disagreeing = seen(w.watch_id, 1_000, Outcome::FirstSeen, &page, None);
    disagreeing.text_sha256 = Some(wrong_hash.clone());
    let mut no_change = seen(w.watch_id, 1_000, Outcome::FirstSeen, &page, None);
    no_change.change = None;
    let mut no_snapshot = seen(w.watch_id, 1_000, Outcome::Edited, &page, None);
    no_snapshot.snapshot = None;
    let mut change_on_error = bare(w.watch_id, 1_000, Outcome::Error);
    change_on_error.change = Some(NewChange {
        kind: ChangeKind::Edited,
        from: None,
        summary: DiffSummary::default(),
    });

    for (name, check) in [
        ("body hash", bad_body),
        ("text hash", bad_text),
        ("disagreeing hashes", disagreeing),
        ("first-seen without change", no_change),
        ("edited without snapshot", no_snapshot),
        ("error with change", change_on_error),
    ] {
        match store.record_check(&check) {
            Err(StoreError::InvalidCheck { watch_id, .. }) => {
                assert_eq!(watch_id, w.watch_id, "{name}")
            }
            other => panic!("{name}: expected InvalidCheck, got {other:?}"),
        }
        assert_eq!(db.counts(), before, "{name}");
    }
}

fn large_cjk_text_round_trips_compressed(db: &TestDb) {
    let mut store = db.open();
    let w = store.ensure_watch("mfa", "https://example.org/s").unwrap();
    let text: String = (0..40_000)
        .map(|i| format!("第{i}段：中华人民共和国驻英国大使馆发言人答记者问。日本国大使館からのお知らせ {i}\n"))
        .collect();
    assert!(text.len() > 3_000_000);
    let page = Page::new(&text);
    let recorded = store
        .record_check(&seen(w.watch_id, 1_000, Outcome::FirstSeen, &page, None))
        .unwrap();
    let snapshot = store
        .snapshot("mfa", recorded.snapshot_id)
        .unwrap()
        .unwrap();
    assert_eq!(snapshot.text, text);
    assert_eq!(snapshot.meta.text_bytes, text.len() as u64);
    assert_eq!(
        store.raw_body(&page.raw_sha).unwrap(),
        Some(page.raw.clone())
    );
    let stored: i64 = db.scalar("SELECT CAST(length(data) AS BIGINT) FROM texts");
    assert!(
        (stored as usize) < text.len() / 5,
        "{stored} bytes stored for {}",
        text.len()
    );
}

fn watch_summaries_count_changes_without_the_baseline(db: &TestDb) {
    let mut store = db.open();
    let quiet = store
        .ensure_watch("quiet", "https://example.org/q")
        .unwrap();
    let busy = store.ensure_watch("busy", "https://example.org/b").unwrap();
    store.ensure_watch("idle", "https://example.org/i").unwrap();
    let one = Page::new("One.");
    let two = Page::new("Two.");

    store
        .record_check(&seen(quiet.watch_id, 1_000, Outcome::FirstSeen, &one, None))
        .unwrap();
    store
        .record_check(&unchanged(quiet.watch_id, 2_000, &one))
        .unwrap();

    let a = store
        .record_check(&seen(busy.watch_id, 1_000, Outcome::FirstSeen, &one, None))
        .unwrap()
        .snapshot_id;
    let b = store
        .record_check(&seen(busy.watch_id, 2_000, Outcome::Edited, &two, a))
        .unwrap()
        .snapshot_id;
    store
        .record_check(&removed(busy.watch_id, 3_000, b.unwrap()))
        .unwrap();
    store
        .record_check(&bare(busy.watch_id, 4_000, Outcome::Error))
        .unwrap();

    let summaries = store.watches().unwrap();
    let names: Vec<_> = summaries.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["busy", "idle", "quiet"]);

    let busy = &summaries[0];
    assert_eq!(busy.presence, Presence::Removed, "an error keeps presence");
    assert_eq!(busy.last_outcome, Some(Outcome::Error));
    assert_eq!(busy.last_check_at, Some(Timestamp(4_000)));
    assert_eq!(busy.last_change_at, Some(Timestamp(3_000)));
    assert_eq!((busy.n_changes, busy.n_checks), (2, 4));

    let idle = &summaries[1];
    assert_eq!(idle.presence, Presence::New);
    assert_eq!((idle.last_outcome, idle.last_check_at), (None, None));
    assert_eq!(
        (idle.n_changes, idle.n_checks, idle.last_change_at),
        (0, 0, None)
    );

    let quiet = &summaries[2];
    assert_eq!(quiet.presence, Presence::Present);
    assert_eq!(quiet.last_outcome, Some(Outcome::Unchanged));
    assert_eq!(quiet.last_change_at, None, "first-seen is not a change");
    assert_eq!((quiet.n_changes, quiet.n_checks), (0, 2));
}

fn validators_are_kept_on_none_and_replaced_on_some(db: &TestDb) {
    let mut store = db.open();
    let w = store.ensure_watch("mfa", "https://example.org/s").unwrap();
    let page = Page::new("Statement.");
    let validators = |store: &dyn Store| {
        let state = store.watch_state("mfa").unwrap().unwrap();
        (state.etag, state.last_modified)
    };

    let mut first = seen(w.watch_id, 1_000, Outcome::FirstSeen, &page, None);
    first.validators = Some((
        Some("\"v1\"".to_owned()),
        Some("Sat, 28 Nov 2026 12:00:00 GMT".to_owned()),
    ));
    store.record_check(&first).unwrap();
    let both = (
        Some("\"v1\"".to_owned()),
        Some("Sat, 28 Nov 2026 12:00:00 GMT".to_owned()),
    );
    assert_eq!(validators(&*store), both);

    store
        .record_check(&bare(w.watch_id, 2_000, Outcome::Error))
        .unwrap();
    assert_eq!(validators(&*store), both, "None keeps them");

    let mut next = unchanged(w.watch_id, 3_000, &page);
    next.validators = Some((Some("\"v2\"".to_owned()), None));
    store.record_check(&next).unwrap();
    assert_eq!(
        validators(&*store),
        (Some("\"v2\"".to_owned()), None),
        "Some replaces both"
    );
}

fn unknown_watch_names_are_errors(db: &TestDb) {
    let store = db.open();
    let is_unknown = |result: Result<(), StoreError>| matches!(result, Err(StoreError::UnknownWatch(name)) if name == "ghost");
    assert!(is_unknown(store.changes("ghost", None).map(drop)));
    assert!(is_unknown(store.snapshots("ghost", None).map(drop)));
    assert!(is_unknown(store.checks("ghost", Some(1)).map(drop)));
    assert!(is_unknown(store.snapshot("ghost", None).map(drop)));
    assert_eq!(store.raw_body(&"0".repeat(64)).unwrap(), None);
}

fn snapshot_of_another_watch_is_not_found(db: &TestDb) {
    let mut store = db.open();
    let a = store.ensure_watch("a", "https://example.org/a").unwrap();
    store.ensure_watch("b", "https://example.org/b").unwrap();
    let page = Page::new("A.");
    let id = store
        .record_check(&seen(a.watch_id, 1_000, Outcome::FirstSeen, &page, None))
        .unwrap()
        .snapshot_id;
    assert!(store.snapshot("a", id).unwrap().is_some());
    assert_eq!(store.snapshot("b", id).unwrap(), None);
    assert_eq!(store.snapshot("b", None).unwrap(), None);
}
