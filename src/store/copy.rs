//! `chancery store copy`: a whole history moved from one store to another
//! (SQLite to PostgreSQL and back), row for row with the same ids, so
//! alert ids, change links and snapshot numbers mean the same afterwards.
//!
//! Tables are copied in an order that satisfies every foreign key, each in
//! batches in key order, each batch one transaction in the destination.
//! A copy that stops (a crash, Ctrl-C, a lost connection) resumes after the
//! last batch that landed: the destination's greatest key says where. The
//! two references that go in a circle (a watch's current snapshot, a
//! snapshot's first check) are written last, as updates. Every blob is
//! decompressed and checked against its SHA-256 as it is read, and the
//! compressed bytes are written unchanged; at the end the row counts of
//! both sides are compared.

use std::fmt;

use super::{Store, StoreError};

/// What a store offers the copy, beside [`Store`]: its tables as rows.
pub trait Tables: Store {
    /// The history's instance id (`meta`), part of every alert id.
    fn instance(&self) -> Result<String, StoreError>;
    fn set_instance(&mut self, instance: &str) -> Result<(), StoreError>;
    fn count_rows(&self, table: &Table) -> Result<u64, StoreError>;
    /// Rows whose key is at most `key`.
    fn count_rows_through(&self, table: &Table, key: &Value) -> Result<u64, StoreError>;
    /// The greatest key (text keys compared byte by byte).
    fn max_key(&self, table: &Table) -> Result<Option<Value>, StoreError>;
    /// At most `limit` rows with a key above `after`, in key order, as
    /// stored (blobs still compressed: [`copy`] checks them).
    fn dump_rows(
        &self,
        table: &Table,
        after: Option<&Value>,
        limit: usize,
    ) -> Result<Vec<Vec<Value>>, StoreError>;
    /// Writes `rows` (as dumped) in one transaction.
    fn load_rows(&mut self, table: &Table, rows: &[Vec<Value>]) -> Result<(), StoreError>;
    /// After the last row: whatever the backend needs so new rows get new
    /// ids (PostgreSQL's identity sequences).
    fn finish_load(&mut self) -> Result<(), StoreError>;
}

/// The SQL to select a batch: key after `$after` (or all when null), key
/// order, limited. `p(i)` spells parameter `i` in the backend's syntax and
/// `order` the key's ordering expression.
pub(super) fn dump_sql(table: &Table, p: impl Fn(usize) -> String, order: &str) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} IS NULL OR {order} > {} ORDER BY {order} LIMIT {}",
        table.column_list(),
        table.name,
        p(1),
        p(1),
        p(2)
    )
}

/// The SQL to write one row: an insert, or for an update table, an update
/// of its other columns by key.
pub(super) fn load_sql(table: &Table, p: impl Fn(usize) -> String) -> String {
    if table.update {
        let sets: Vec<String> = table.columns[1..]
            .iter()
            .enumerate()
            .map(|(i, (name, _))| format!("{name} = {}", p(i + 2)))
            .collect();
        format!(
            "UPDATE {} SET {} WHERE {} = {}",
            table.name,
            sets.join(", "),
            table.key(),
            p(1)
        )
    } else {
        let params: Vec<String> = (1..=table.columns.len()).map(&p).collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            table.name,
            table.column_list(),
            params.join(", ")
        )
    }
}

/// Checks a dumped blob row (`sha256, size, data`) against its key.
pub(super) fn verify_blob(table: &Table, row: &[Value]) -> Result<(), StoreError> {
    let blob = if table.name == "bodies" {
        super::codec::BlobTable::Bodies
    } else {
        super::codec::BlobTable::Texts
    };
    match row {
        [Value::Text(sha256), Value::Int(size), Value::Bytes(data)] => {
            super::codec::decode_blob(blob, sha256, *size, data).map(drop)
        }
        other => Err(StoreError::Corrupt(format!(
            "{table}: a row that is not (sha256, size, data): {:?}",
            other.iter().map(std::mem::discriminant).collect::<Vec<_>>()
        ))),
    }
}

/// One column's value, as every backend can read and write it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

/// How a column is stored: what a backend must bind (PostgreSQL is strict
/// about `BIGINT` against `BOOLEAN`; SQLite stores both as integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Bool,
    Real,
    Text,
    Bytes,
}

/// A table as the copy sees it.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// Columns in the order rows carry them; the first is the key.
    pub columns: &'static [(&'static str, Kind)],
    /// Written with `UPDATE … WHERE key = …` (a reference in a circle,
    /// copied after the rows it points at), not `INSERT`.
    pub update: bool,
    /// The blob column whose bytes must hash to the key (zstd frame with
    /// the uncompressed size in column 1).
    pub blob: bool,
}

impl Table {
    pub fn key(&self) -> &'static str {
        self.columns[0].0
    }

    /// The select list, comma-separated.
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether the key is text (compared byte-wise on both sides).
    pub fn text_key(&self) -> bool {
        self.columns[0].1 == Kind::Text
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

use Kind::{Bool, Bytes, Int, Real, Text};

/// The history's tables in copying order. `meta` is not among them: the
/// copy carries the instance id itself (alert ids contain it), and each
/// backend keeps its own schema version.
pub const TABLES: &[Table] = &[
    Table {
        name: "texts",
        columns: &[("sha256", Text), ("size", Int), ("data", Bytes)],
        update: false,
        blob: true,
    },
    Table {
        name: "bodies",
        columns: &[("sha256", Text), ("size", Int), ("data", Bytes)],
        update: false,
        blob: true,
    },
    Table {
        name: "watches",
        // last_snapshot_id comes with `watch_pointers`.
        columns: &[
            ("id", Int),
            ("name", Text),
            ("url", Text),
            ("created_at", Int),
            ("presence", Text),
            ("etag", Text),
            ("last_modified", Text),
            ("last_check_at", Int),
            ("last_outcome", Text),
            ("filters_sha256", Text),
            ("failing_since", Int),
            ("failing_reported", Bool),
            ("region", Text),
        ],
        update: false,
        blob: false,
    },
    Table {
        name: "snapshots",
        // check_id comes with `snapshot_checks`.
        columns: &[
            ("id", Int),
            ("watch_id", Int),
            ("text_sha256", Text),
            ("raw_sha256", Text),
            ("fetched_at", Int),
        ],
        update: false,
        blob: false,
    },
    Table {
        name: "checks",
        columns: &[
            ("id", Int),
            ("watch_id", Int),
            ("started_at", Int),
            ("duration_ms", Int),
            ("outcome", Text),
            ("http_status", Int),
            ("final_url", Text),
            ("error", Text),
            ("bytes", Int),
            ("content_type", Text),
            ("charset", Text),
            ("raw_sha256", Text),
            ("text_sha256", Text),
            ("snapshot_id", Int),
            ("etag", Text),
            ("last_modified", Text),
            ("reason", Text),
        ],
        update: false,
        blob: false,
    },
    Table {
        name: "check_heads",
        columns: &[
            ("check_id", Int),
            ("requested_at", Int),
            ("remote_ip", Text),
            ("request_head", Bytes),
            ("response_head", Bytes),
            ("rendered_by", Text),
        ],
        update: false,
        blob: false,
    },
    Table {
        name: "changes",
        columns: &[
            ("id", Int),
            ("watch_id", Int),
            ("check_id", Int),
            ("kind", Text),
            ("from_snapshot", Int),
            ("to_snapshot", Int),
            ("detected_at", Int),
            ("lines_added", Int),
            ("lines_removed", Int),
            ("changed_ratio", Real),
            ("first_change", Text),
        ],
        update: false,
        blob: false,
    },
    Table {
        name: "children",
        columns: &[
            ("watch_id", Int),
            ("parent_id", Int),
            ("url", Text),
            ("state", Text),
            ("ord", Int),
            ("title", Text),
            ("announce", Bool),
        ],
        update: false,
        blob: false,
    },
    Table {
        name: "alerts",
        columns: &[
            ("id", Text),
            ("change_id", Int),
            ("watch_id", Int),
            ("subscriber", Text),
            ("channel", Text),
            ("event", Text),
            ("status", Text),
            ("attempts", Int),
            ("created_at", Int),
            ("next_attempt_at", Int),
            ("last_attempt_at", Int),
            ("delivered_at", Int),
            ("last_error", Text),
            ("claim", Text),
            ("claim_until", Int),
        ],
        update: false,
        blob: false,
    },
    // The circle: written once both ends exist.
    Table {
        name: "watches",
        columns: &[("id", Int), ("last_snapshot_id", Int)],
        update: true,
        blob: false,
    },
    Table {
        name: "snapshots",
        columns: &[("id", Int), ("check_id", Int)],
        update: true,
        blob: false,
    },
];

/// Rows per batch (one transaction in the destination). Blobs make a
/// batch of bodies at most a few megabytes.
pub const BATCH: usize = 500;

/// How far a copy has come, for the progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub rows: u64,
    pub total: u64,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copied {
    /// Rows written now, per table (an update pass counts as its table).
    pub written: u64,
    /// Rows found already there from an earlier, interrupted copy.
    pub already: u64,
    /// Blobs whose SHA-256 was checked.
    pub blobs_verified: u64,
}

/// Copies the whole history in `from` to `to`. `to` must be empty, or
/// hold an interrupted copy of this same history (same instance id), which
/// is then completed. `progress` is told after each batch. After
/// `stop_after` batches (tests: an interrupted copy) it returns early.
pub fn copy(
    from: &dyn Tables,
    to: &mut dyn Tables,
    mut progress: impl FnMut(Progress),
    stop_after: Option<usize>,
) -> Result<Copied, StoreError> {
    let instance = from.instance()?;
    let theirs = to.instance()?;
    if theirs != instance && to.count_rows(&TABLES[2])? > 0 {
        return Err(StoreError::Unsupported(
            "the destination already holds another history: copy into an empty store".to_owned(),
        ));
    }
    if theirs != instance {
        to.set_instance(&instance)?;
    }
    let mut total = 0;
    for table in TABLES.iter().filter(|t| !t.update) {
        total += from.count_rows(table)?;
    }
    let mut copied = Copied::default();
    let mut done = 0;
    let mut batches = 0;
    for table in TABLES {
        // Inserts resume after the destination's greatest key (batches land
        // whole, in key order); updates are cheap and idempotent: redone.
        let mut after = if table.update {
            None
        } else {
            to.max_key(table)?
        };
        if let Some(key) = &after {
            let already = from.count_rows_through(table, key)?;
            copied.already += already;
            done += already;
        }
        loop {
            let rows = from.dump_rows(table, after.as_ref(), BATCH)?;
            let Some(last) = rows.last() else { break };
            after = Some(last[0].clone());
            if table.blob {
                // Decompressed and hashed against its key before anything
                // of the batch is written; a damaged one is named.
                for row in &rows {
                    verify_blob(table, row)?;
                }
                copied.blobs_verified += rows.len() as u64;
            }
            to.load_rows(table, &rows)?;
            if !table.update {
                copied.written += rows.len() as u64;
                done += rows.len() as u64;
            }
            progress(Progress { rows: done, total });
            batches += 1;
            if stop_after.is_some_and(|n| batches >= n) {
                return Ok(copied);
            }
        }
    }
    to.finish_load()?;
    for table in TABLES.iter().filter(|t| !t.update) {
        let (theirs, ours) = (to.count_rows(table)?, from.count_rows(table)?);
        if theirs != ours {
            return Err(StoreError::Corrupt(format!(
                "after the copy, {table} has {theirs} rows in the destination and {ours} in the source"
            )));
        }
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChildState, Outcome, Timestamp};
    use crate::store::contract::{Page, removed, seen, unchanged};
    use crate::store::{ChildUpdate, FollowUpdate, NewAlert, NewCheck, NewHeads, SqliteStore};

    /// A history with a row in every table: edits, a removal and a
    /// restore, alerts, kept heads, a follow child.
    fn history(store: &mut dyn Store) {
        let w = store.ensure_watch("mfa", "https://example.org/s").unwrap();
        let (a, b) = (
            Page::new("外交部发言人就此事发表谈话。"),
            Page::new("外交部发言人就该事件发表书面谈话。"),
        );
        let hook = vec![NewAlert {
            subscriber: "hook".to_owned(),
            channel: "webhook".to_owned(),
        }];
        let first = store
            .record_check(&NewCheck {
                heads: Some(NewHeads {
                    requested_at: Timestamp(1_000),
                    remote_ip: Some("192.0.2.7".to_owned()),
                    request_head: b"GET /s HTTP/1.1\r\n\r\n".to_vec(),
                    response_head: b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
                    rendered_by: None,
                }),
                follow: Some(FollowUpdate {
                    children: vec![ChildUpdate {
                        name: "mfa/one".to_owned(),
                        url: "https://example.org/one".to_owned(),
                        state: ChildState::Listed,
                        order: 1,
                        title: Some("One".to_owned()),
                        announce: true,
                        delisted: None,
                    }],
                }),
                ..seen(w.watch_id, 1_000, Outcome::FirstSeen, &a, None)
            })
            .unwrap();
        store
            .record_check(&unchanged(w.watch_id, 1_500, &a))
            .unwrap();
        let edit = store
            .record_check(&NewCheck {
                alerts: hook.clone(),
                ..seen(w.watch_id, 2_000, Outcome::Edited, &b, first.snapshot_id)
            })
            .unwrap();
        store
            .record_check(&NewCheck {
                alerts: hook.clone(),
                ..removed(w.watch_id, 3_000, edit.snapshot_id.unwrap())
            })
            .unwrap();
        store
            .record_check(&NewCheck {
                alerts: hook,
                ..seen(w.watch_id, 4_000, Outcome::Restored, &a, edit.snapshot_id)
            })
            .unwrap();
        let claimed = store
            .claim_due_alert(Timestamp(5_000), "worker", Timestamp(9_000))
            .unwrap()
            .unwrap();
        store
            .record_attempt(
                &claimed.id,
                "worker",
                Timestamp(5_000),
                &crate::store::Attempt::Delivered,
            )
            .unwrap();
    }

    /// Everything the history says, read through the Store trait.
    fn reading(store: &dyn Store) -> String {
        let mut out = format!("{:?}\n", store.watches().unwrap());
        for watch in ["mfa", "mfa/one"] {
            out += &format!("{:?}\n", store.changes(watch, None).unwrap());
            out += &format!("{:?}\n", store.checks(watch, None).unwrap());
            out += &format!("{:?}\n", store.responses(watch, None).unwrap());
            for snapshot in store.snapshots(watch, None).unwrap() {
                out += &format!("{:?}\n", store.snapshot(watch, Some(snapshot.id)).unwrap());
                if let Some(raw) = &snapshot.raw_sha256 {
                    out += &format!("{:?}\n", store.raw_body(raw).unwrap());
                }
            }
            out += &format!("{:?}\n", store.watch_state(watch).unwrap());
        }
        out += &format!("{:?}\n", store.children("mfa").unwrap());
        out += &format!("{:?}\n", store.alerts(None, None).unwrap());
        out
    }

    fn sqlite(dir: &tempfile::TempDir, name: &str) -> SqliteStore {
        SqliteStore::open(&dir.path().join(name)).unwrap()
    }

    fn copied(from: &dyn Tables, to: &mut dyn Tables) -> Copied {
        copy(from, to, |_| {}, None).unwrap()
    }

    #[test]
    fn a_history_copied_reads_the_same_and_goes_on_with_new_ids() {
        let dir = tempfile::tempdir().unwrap();
        let mut source = sqlite(&dir, "a.db");
        history(&mut source);
        let want = reading(&source);
        let mut copy_of = sqlite(&dir, "b.db");
        let done = copied(&source, &mut copy_of);
        assert_eq!(done.already, 0);
        assert_eq!(done.blobs_verified, 4, "two texts, two bodies");
        assert_eq!(reading(&copy_of), want);
        assert_eq!(copy_of.instance().unwrap(), source.instance().unwrap());

        #[cfg(feature = "postgres")]
        if let Some(db) = crate::store::contract::pg::Database::create() {
            let mut pg = db.open();
            copied(&source, &mut pg);
            assert_eq!(reading(&pg), want, "SQLite to PostgreSQL");
            let mut back = sqlite(&dir, "c.db");
            copied(&pg, &mut back);
            assert_eq!(reading(&back), want, "and back");
            // New rows get new ids after the copied ones.
            let state = pg.watch_state("mfa").unwrap().unwrap();
            let next = pg
                .record_check(&unchanged(
                    state.watch_id,
                    6_000,
                    &Page::new("外交部发言人就此事发表谈话。"),
                ))
                .unwrap();
            assert!(next.check_id > source.checks("mfa", None).unwrap()[0].id);
        }

        // A destination with another history is refused.
        let mut other = sqlite(&dir, "d.db");
        other.ensure_watch("x", "https://example.org/x").unwrap();
        assert!(matches!(
            copy(&source, &mut other, |_| {}, None),
            Err(StoreError::Unsupported(_))
        ));
    }

    #[test]
    fn an_interrupted_copy_resumes_where_it_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let mut source = sqlite(&dir, "a.db");
        history(&mut source);
        let mut targets: Vec<Box<dyn Tables>> = vec![Box::new(sqlite(&dir, "b.db"))];
        #[cfg(feature = "postgres")]
        let db = crate::store::contract::pg::Database::create();
        #[cfg(feature = "postgres")]
        if let Some(db) = &db {
            targets.push(Box::new(db.open()));
        }
        for target in &mut targets {
            // Stopped after three batches (texts, bodies, watches).
            let first = copy(&source, target.as_mut(), |_| {}, Some(3)).unwrap();
            assert_eq!(
                target.count_rows(&TABLES[3]).unwrap(),
                0,
                "no snapshots yet"
            );
            let mut seen = Vec::new();
            let rest = copy(&source, target.as_mut(), |p| seen.push(p), None).unwrap();
            assert_eq!(rest.already, first.written);
            let total = seen.last().unwrap().total;
            assert_eq!(
                seen.last().unwrap().rows,
                total,
                "progress ends at the total"
            );
            assert_eq!(first.written + rest.written, total);
            assert_eq!(reading(target.as_ref()), reading(&source));
        }
    }

    #[test]
    fn a_damaged_blob_stops_the_copy_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut source = sqlite(&dir, "a.db");
        history(&mut source);
        drop(source);
        let conn = rusqlite::Connection::open(dir.path().join("a.db")).unwrap();
        let sha: String = conn
            .query_row("SELECT sha256 FROM bodies LIMIT 1", [], |r| r.get(0))
            .unwrap();
        conn.execute(
            "UPDATE bodies SET data = ?1 WHERE sha256 = ?2",
            rusqlite::params![zstd::bulk::compress(b"forged", 1).unwrap(), sha],
        )
        .unwrap();
        drop(conn);
        let source = sqlite(&dir, "a.db");
        let mut target = sqlite(&dir, "b.db");
        match copy(&source, &mut target, |_| {}, None) {
            Err(StoreError::Corrupt(message)) => assert!(message.contains(&sha), "{message}"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert_eq!(
            target.count_rows(&TABLES[1]).unwrap(),
            0,
            "no body was written"
        );
    }
}
