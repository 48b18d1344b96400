//! The history: watches, every check, distinct snapshots, raw bodies,
//! changes and the alert outbox. [`Store`] is the narrow interface every
//! caller uses (the check driver, the delivery worker, the daemon and each
//! CLI command), [`Location`] opens one as a `Box<dyn Store>`, and
//! two backends implement it: [`sqlite::SqliteStore`], the embedded
//! default, and `postgres::PgStore`, one database shared by several nodes
//! (cargo feature `postgres`). `contract.rs` holds the tests both must pass.
//!
//! The store persists the domain types of [`crate::model`]; it decides
//! nothing about them. Invariant: [`Store::record_check`] is one
//! transaction (or one savepoint of a group commit, [`SharedStore::write`]).
//! A crash leaves either the whole check (row, blobs, snapshot, change,
//! alerts, watch state) or none of it.

mod codec;
#[cfg(test)]
mod contract;
pub mod copy;
#[cfg(feature = "postgres")]
pub mod postgres;
mod rows;
mod shared;
pub mod sqlite;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::diff::DiffSummary;
use crate::model::{
    ChangeId, ChangeKind, CheckId, ChildState, Health, Outcome, Presence, SnapshotId, Timestamp,
    WatchId,
};

pub use shared::SharedStore;
pub use sqlite::SqliteStore;

/// Where a history lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file (`chancery.db` in the state dir).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`[store] url`), with its password.
    Postgres {
        url: String,
        password: Option<crate::config::Secret>,
    },
}

impl Location {
    /// The embedded default: `chancery.db` in `state_dir`.
    pub fn in_state_dir(state_dir: &Path) -> Location {
        Location::Sqlite(state_dir.join(sqlite::DB_FILE_NAME))
    }

    /// Whether a history exists there (read-only commands do not create one).
    pub fn exists(&self) -> bool {
        match self {
            Location::Sqlite(path) => path.exists(),
            // A database server's database exists before chancery uses it
            // (someone created it); its tables are made on first open.
            Location::Postgres { .. } => true,
        }
    }

    /// Opens the history, creating it (and its directory) if needed, with
    /// its schema brought up to date.
    pub fn open(&self) -> Result<Box<dyn Store + Send>, StoreError> {
        Ok(self.open_tables()?)
    }

    /// Where a `store copy` argument points: a `postgres://` URL (its
    /// password from `password`), else a SQLite file, or the state dir
    /// holding `chancery.db`.
    pub fn parse(arg: &str, password: Option<crate::config::Secret>) -> Location {
        if arg.starts_with("postgres://") || arg.starts_with("postgresql://") {
            Location::Postgres {
                url: arg.to_owned(),
                password,
            }
        } else {
            let path = PathBuf::from(arg);
            if path.is_dir() {
                Location::in_state_dir(&path)
            } else {
                Location::Sqlite(path)
            }
        }
    }

    /// Opens the history with its tables for `store copy`, creating it if
    /// needed, as [`Location::open`] does.
    pub fn open_tables(&self) -> Result<Box<dyn copy::Tables + Send>, StoreError> {
        match self {
            Location::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
                Ok(Box::new(SqliteStore::open(path)?))
            }
            #[cfg(feature = "postgres")]
            Location::Postgres { url, password } => Ok(Box::new(postgres::PgStore::open(
                url,
                password.as_ref().map(|p| p.expose()),
            )?)),
            #[cfg(not(feature = "postgres"))]
            Location::Postgres { .. } => Err(StoreError::Unsupported(NO_POSTGRES.to_owned())),
        }
    }

    /// Opens the history for reading only, beside writers (the web view):
    /// the database itself refuses every write. The schema must be
    /// current: `chancery check` or `run` brings it up to date.
    pub fn open_read_only(&self) -> Result<Box<dyn Store + Send>, StoreError> {
        match self {
            Location::Sqlite(path) => Ok(Box::new(SqliteStore::open_read_only(path)?)),
            #[cfg(feature = "postgres")]
            Location::Postgres { url, password } => Ok(Box::new(
                postgres::PgStore::open_read_only(url, password.as_ref().map(|p| p.expose()))?,
            )),
            #[cfg(not(feature = "postgres"))]
            Location::Postgres { .. } => self.open(),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres { url, .. } => f.write_str(&redact_url(url)),
        }
    }
}

/// What a build without the `postgres` feature says of a `[store] url`.
pub const NO_POSTGRES: &str =
    "this chancery was built without PostgreSQL support (cargo feature `postgres`)";

/// A database URL as messages may show it: any password in it replaced.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "the configured database URL".to_owned(),
    }
}

/// Bytes free to an unprivileged writer on the filesystem holding `path`
/// (or its nearest existing ancestor); `None` if that cannot be read.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let dir = path.ancestors().find(|p| p.exists())?;
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Below this much free space, a failure to open or write the history is
/// reported as a full disk, and `status` warns.
pub const LOW_DISK_BYTES: u64 = 64 * 1024 * 1024;

/// A snapshot as the pipeline needs it to classify the next check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotRef {
    pub id: SnapshotId,
    /// SHA-256 of the normalized text.
    pub sha256: String,
    /// When the check that first produced this text ran.
    pub fetched_at: Timestamp,
}

/// What the pipeline needs to know about a watch before checking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchState {
    pub watch_id: WatchId,
    pub name: String,
    pub url: String,
    pub presence: Presence,
    /// The last good snapshot (kept through removals and errors).
    pub last_snapshot: Option<SnapshotRef>,
    /// Validators from the last response that had them, for a conditional request.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub last_check_at: Option<Timestamp>,
    /// Fingerprint of the filters that produced the last snapshot (see
    /// `config::Watch::filters_sha256`); `None` if never recorded.
    pub filters_sha256: Option<String>,
    /// When the current run of failed checks began (none: the last check
    /// succeeded).
    pub failing_since: Option<Timestamp>,
    /// Whether that run has been reported as a `failing` event.
    pub failing_reported: bool,
    /// A follow watch's child that is a new statement: its first snapshot
    /// raises `published`.
    pub announce: bool,
    /// Where `content = "auto"` found the statement last time.
    pub region: Option<String>,
}

/// A health event (`failing`, `recovered`) raised by a check, with the
/// alerts it queues. Recorded in the changes table beside any page change.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: ChangeKind,
    /// For `failing`, the last error.
    pub detail: Option<String>,
    pub alerts: Vec<NewAlert>,
}

/// A raw body to keep, content-addressed by its SHA-256.
#[derive(Debug, Clone, Copy)]
pub struct NewBody<'a> {
    pub sha256: &'a str,
    pub bytes: &'a [u8],
}

/// A normalized text to keep as a snapshot, content-addressed per watch.
#[derive(Debug, Clone, Copy)]
pub struct NewSnapshot<'a> {
    pub sha256: &'a str,
    pub text: &'a str,
}

/// A change to record with a check.
#[derive(Debug, Clone)]
pub struct NewChange {
    pub kind: ChangeKind,
    /// The snapshot before the change (none for a first-seen).
    pub from: Option<SnapshotId>,
    pub summary: DiffSummary,
}

/// Everything one check produced, written in one transaction.
#[derive(Debug, Clone)]
pub struct NewCheck<'a> {
    pub watch_id: WatchId,
    pub started_at: Timestamp,
    pub duration: Duration,
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub final_url: Option<String>,
    /// Why the check failed, for `Outcome::Error` (and the reason of a removal).
    pub error: Option<String>,
    /// Body bytes received (after decompression); 0 for a 304.
    pub bytes: u64,
    pub content_type: Option<String>,
    /// The encoding the body was decoded with.
    pub charset: Option<String>,
    /// SHA-256 of the raw body and of the normalized text, when there was a body.
    pub raw_sha256: Option<String>,
    pub text_sha256: Option<String>,
    /// Validators to remember for the next conditional request. `None` keeps
    /// the ones stored; `Some` replaces both (a missing one is cleared).
    pub validators: Option<(Option<String>, Option<String>)>,
    /// The raw body to keep (only with a new snapshot: unchanged checks add no blob).
    pub body: Option<NewBody<'a>>,
    /// The normalized text this check observed, when it is a (possibly
    /// reused) snapshot: first-seen, edited, restored.
    pub snapshot: Option<NewSnapshot<'a>>,
    /// The text this check saw becomes the watch's current snapshot: with
    /// `snapshot`, or for an unchanged check whose text is a stored
    /// snapshot (an alternation kept quiet as flapping).
    pub current: bool,
    pub change: Option<NewChange>,
    /// The fingerprint of the filters this check normalized with; `None`
    /// keeps the stored one.
    pub filters_sha256: Option<String>,
    /// Alerts to queue for the change, in the same transaction (needs `change`).
    pub alerts: Vec<NewAlert>,
    /// Why the check failed, or the rule behind its outcome: `blocked`,
    /// `not-found`, `soft-404`, `redirected`, `unconfirmed`, `flapping`…
    pub reason: Option<String>,
    /// The watch's health after this check.
    pub health: Health,
    /// Events this check raises besides its change: health (`failing`,
    /// `recovered`) and, for a new statement's first snapshot, `published`.
    pub events: Vec<NewEvent>,
    /// For a follow watch: the reconciled listing, written with the check.
    pub follow: Option<FollowUpdate>,
    /// The main-content region to remember: `None` keeps the stored one,
    /// `Some(None)` forgets it (the whole page was kept).
    pub region: Option<Option<String>>,
    /// The HTTP heads, when the check got a response. Kept for the
    /// evidence export when the body is in the store (this check's `body`,
    /// or the same bytes kept earlier), dropped otherwise.
    pub heads: Option<NewHeads>,
    /// The watch's state this check was judged against. When set, the
    /// check is recorded only if the watch still has it (compare-and-set
    /// in the write transaction), else [`StoreError::Stale`]: two processes
    /// checking one watch at once (the daemon and `chancery check`) never
    /// both record the same change.
    pub basis: Option<Basis>,
}

/// What a check's decision rests on: the watch's presence, its current
/// snapshot, and whether its failing run was reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Basis {
    pub presence: Presence,
    pub last_snapshot: Option<SnapshotId>,
    pub failing_reported: bool,
}

impl Basis {
    /// The basis of a check judged against `state`.
    pub fn of(state: &WatchState) -> Basis {
        Basis {
            presence: state.presence,
            last_snapshot: state.last_snapshot.as_ref().map(|s| s.id),
            failing_reported: state.failing_reported,
        }
    }
}

/// A follow watch's child as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChildRow {
    /// The child's watch name, `<parent>/<slug>`.
    pub name: String,
    pub url: String,
    pub state: ChildState,
    pub order: i64,
    pub title: Option<String>,
}

impl ChildRow {
    /// The child's name and URL, if it is still checked (not retired).
    pub fn active(&self) -> Option<(String, url::Url)> {
        if self.state == ChildState::Retired {
            return None;
        }
        Some((self.name.clone(), url::Url::parse(&self.url).ok()?))
    }
}

/// One child after reconciling a listing.
#[derive(Debug, Clone)]
pub struct ChildUpdate {
    pub name: String,
    pub url: String,
    pub state: ChildState,
    pub order: i64,
    /// Set for a new child only.
    pub title: Option<String>,
    /// A new statement: its first snapshot raises `published`.
    pub announce: bool,
    /// Its link was taken off the listing on this look: a `delisted`
    /// event on the child, queueing these alerts.
    pub delisted: Option<Vec<NewAlert>>,
}

/// A follow watch's reconciled listing.
#[derive(Debug, Clone, Default)]
pub struct FollowUpdate {
    /// Every child whose row changes (new ones included).
    pub children: Vec<ChildUpdate>,
}

/// The HTTP request and response heads of a check, as HTTP/1 text (status
/// or request line, headers, empty line), so an archive can be written from
/// them without knowing how they were captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHeads {
    /// When the request was sent; the archive's capture time.
    pub requested_at: Timestamp,
    pub remote_ip: Option<String>,
    pub request_head: Vec<u8>,
    pub response_head: Vec<u8>,
    /// The browser that rendered the stored body (`render = "browser"`):
    /// the body is then the DOM after the page's scripts, not the bytes
    /// the server sent. `None`: the response as received.
    pub rendered_by: Option<String>,
}

/// A check that got an HTTP response, with what an archive of it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub check_id: CheckId,
    pub started_at: Timestamp,
    pub http_status: u16,
    pub final_url: Option<String>,
    pub content_type: Option<String>,
    pub raw_sha256: Option<String>,
    pub text_sha256: Option<String>,
    /// The snapshot the check's text is, when it is one (also for unchanged).
    pub snapshot_id: Option<SnapshotId>,
    /// Whether the raw body is in the store ([`Store::raw_body`]): bodies
    /// are kept with snapshots, so most unchanged checks have none.
    pub body_stored: bool,
    /// `None` for checks recorded before heads were kept.
    pub heads: Option<NewHeads>,
}

/// A host whose next request must wait longer than this (a `Retry-After`)
/// has its watches' checks refused until then rather than waited for.
pub const HOST_PAUSE_SKIP: Duration = Duration::from_secs(30);

/// The answer to a node asking to check a watch ([`Store::claim_check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Check it: the watch is this node's until the lease ends or the
    /// check is recorded.
    Granted,
    /// Another node is checking it, or checked it recently: ask again at
    /// `next_due`.
    Elsewhere { next_due: Timestamp },
}

impl Claim {
    /// Decides a claim by `node` at `now` on a watch last checked at
    /// `last_check_at`, whose latest `failures` checks failed, with the
    /// lease `lease` (holder, until) on it, for a watch checked every
    /// `interval`. Granted unless another node holds a live lease, or the
    /// watch was checked too recently: less than half an interval ago (so
    /// a node whose schedule runs a little ahead of another's never checks
    /// what the other just checked, and a node's own next check, an
    /// interval after its last, always passes), or, after two failures or
    /// more, within four fifths of the [`crate::schedule::backoff`] the
    /// store's count calls for (a node's own backoff, jittered by a tenth
    /// at most, passes; another node's plain interval does not, so a
    /// failing site is asked as seldom whichever node asks).
    pub fn decide(
        node: &str,
        now: Timestamp,
        interval: Duration,
        last_check_at: Option<Timestamp>,
        failures: u32,
        lease: Option<(&str, Timestamp)>,
    ) -> Claim {
        let wait = crate::schedule::backoff(interval, failures, crate::schedule::MAX_BACKOFF);
        let next = last_check_at.map(|t| t.plus(wait));
        if let Some((holder, until)) = lease
            && holder != node
            && until > now
        {
            return Claim::Elsewhere {
                next_due: next.map_or(until, |n| n.max(until)),
            };
        }
        let too_soon = if failures <= 1 {
            interval / 2
        } else {
            wait - wait / 5
        };
        match (last_check_at, next) {
            (Some(last), Some(next)) if last.until(now) < too_soon => {
                Claim::Elsewhere { next_due: next }
            }
            _ => Claim::Granted,
        }
    }
}

/// The answer to a node asking for a turn at a host ([`Store::claim_host`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostTurn {
    /// Fetch now, in this slot; hand it back with [`Store::release_host`].
    Go { slot: u32 },
    /// Every slot is taken, or the host's gap has not passed: ask again
    /// at `until`.
    Wait { until: Timestamp },
}

impl HostTurn {
    /// Decides a turn at `now` at a host whose next request may start at
    /// `not_before`, with `taken` (slot, lease end) among `slots`: the
    /// lowest slot that is free or whose lease ran out (a node died
    /// holding it), else wait for the first lease to end.
    pub fn decide(
        now: Timestamp,
        not_before: Timestamp,
        taken: &[(u32, Timestamp)],
        slots: u32,
    ) -> HostTurn {
        if not_before > now {
            return HostTurn::Wait { until: not_before };
        }
        let busy = |slot: u32| taken.iter().any(|(s, until)| *s == slot && *until > now);
        match (0..slots.max(1)).find(|slot| !busy(*slot)) {
            Some(slot) => HostTurn::Go { slot },
            None => HostTurn::Wait {
                until: taken.iter().map(|(_, until)| *until).min().unwrap_or(now),
            },
        }
    }
}

/// A host's answer to a path that cannot exist, as the not-found probe
/// fetched it ([`Store::record_probe`]): its body, when the host answered
/// with 2xx (a "soft 404"); `None` when it answered properly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeAnswer {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub url: String,
}

/// The answer to a node about to probe a host's not-found page
/// ([`Store::claim_probe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeClaim {
    /// A node probed it at `probed_at`, within the time a probe is
    /// trusted: its answer.
    Known {
        probed_at: Timestamp,
        answer: Option<ProbeAnswer>,
    },
    /// Probe it now, then [`Store::record_probe`].
    Probe,
    /// Another node is probing it: ask again at `until` at the latest.
    Wait { until: Timestamp },
}

impl ProbeClaim {
    /// Decides a probe claim by `node` at `now` on an origin last probed at
    /// `probed_at` (with its `answer`), a probe trusted for `ttl`, with the
    /// lease `lease` (holder, until) on it: the stored answer while fresh,
    /// else a wait while another node's lease lives, else this node's turn.
    pub fn decide(
        node: &str,
        now: Timestamp,
        ttl: Duration,
        probed_at: Option<Timestamp>,
        answer: Option<ProbeAnswer>,
        lease: Option<(&str, Timestamp)>,
    ) -> ProbeClaim {
        match probed_at {
            Some(at) if at <= now && at.until(now) < ttl => {
                return ProbeClaim::Known {
                    probed_at: at,
                    answer,
                };
            }
            _ => {}
        }
        match lease {
            Some((holder, until)) if holder != node && until > now => ProbeClaim::Wait { until },
            _ => ProbeClaim::Probe,
        }
    }
}

/// A daemon sharing the store, as it reports itself ([`Store::heartbeat`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRow {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub version: String,
    /// [`crate::config::Config::fingerprint`] of the config it runs.
    pub config_sha256: String,
    pub watches: u64,
    pub started_at: Timestamp,
    pub heartbeat_at: Timestamp,
    /// When it stopped cleanly; `None` while it runs (or if it died).
    pub stopped_at: Option<Timestamp>,
}

/// An alert to queue: one per (change, subscriber).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    pub subscriber: String,
    /// `email` or `webhook`.
    pub channel: String,
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum AlertStatus {
    /// Waiting for its (next) delivery attempt.
    Pending,
    Delivered,
    /// Given up on: a permanent error, or retried for longer than allowed.
    Failed,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Pending => "pending",
            AlertStatus::Delivered => "delivered",
            AlertStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<AlertStatus> {
        Some(match s {
            "pending" => AlertStatus::Pending,
            "delivered" => AlertStatus::Delivered,
            "failed" => AlertStatus::Failed,
            _ => return None,
        })
    }
}

/// A queued alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRow {
    /// Stable across retries; sent as `X-Chancery-Delivery`.
    pub id: String,
    pub change_id: ChangeId,
    pub watch: String,
    pub subscriber: String,
    pub channel: String,
    pub event: ChangeKind,
    pub status: AlertStatus,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub next_attempt_at: Timestamp,
    pub last_attempt_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Failed; try again at the given time.
    Retry {
        error: String,
        next_attempt_at: Timestamp,
    },
    /// Failed for good.
    Failed {
        error: String,
    },
}

/// A change with the watch it belongs to, for rendering an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeDetail {
    pub watch: String,
    pub url: String,
    pub change: ChangeRow,
}

/// Ids assigned by [`Store::record_check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedCheck {
    pub check_id: CheckId,
    pub snapshot_id: Option<SnapshotId>,
    pub change_id: Option<ChangeId>,
    /// The health event's id, if the check raised one.
    pub event_id: Option<ChangeId>,
}

/// One line of `chancery list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchSummary {
    pub name: String,
    pub url: String,
    pub presence: Presence,
    pub last_check_at: Option<Timestamp>,
    pub last_outcome: Option<Outcome>,
    pub last_change_at: Option<Timestamp>,
    /// The kind of that change.
    pub last_change_kind: Option<ChangeKind>,
    /// Changes recorded, not counting baselines (first-seen, rebaselined).
    pub n_changes: u64,
    pub n_checks: u64,
    /// Checks that failed in a row, up to the latest one (0 if it succeeded).
    pub failures: u32,
    /// When the current run of failed checks began.
    pub failing_since: Option<Timestamp>,
    /// Whether the watch has been reported `failing` (and not recovered).
    pub failing_reported: bool,
    /// The last check's error, if it failed.
    pub last_error: Option<String>,
    /// The rule behind the last check's outcome (e.g. `blocked`).
    pub last_reason: Option<String>,
    /// For a follow watch's child: its parent.
    pub parent: Option<String>,
    /// For a child: where it stands in the listing.
    pub child_state: Option<ChildState>,
}

/// What a watched page is now, from its last check and its history; what
/// `list`, `status` and the web view show first, apart from its last change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    /// Reported failing: every check has failed for `failing_after`.
    Failing,
    /// The last check was refused (403/429, a challenge page).
    Blocked,
    /// The last check failed otherwise (network, HTTP error, bad body).
    Error,
    /// The statement was removed and has not come back.
    Removed,
    /// The last check worked and the statement is there.
    Ok,
    /// Never checked.
    New,
}

impl Standing {
    pub fn of(s: &WatchSummary) -> Standing {
        if s.failing_reported {
            Standing::Failing
        } else if s.last_outcome == Some(Outcome::Error) {
            if s.last_reason.as_deref() == Some("blocked") {
                Standing::Blocked
            } else {
                Standing::Error
            }
        } else if s.presence == Presence::Removed {
            Standing::Removed
        } else if s.last_check_at.is_none() {
            Standing::New
        } else {
            Standing::Ok
        }
    }

    /// The name in JSON and in counts.
    pub fn as_str_lower(self) -> &'static str {
        match self {
            Standing::Failing => "failing",
            other => other.as_str(),
        }
    }

    /// The name in the `list` table: a failing watch stands out.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Failing => "FAILING",
            Standing::Blocked => "blocked",
            Standing::Error => "error",
            Standing::Removed => "removed",
            Standing::Ok => "ok",
            Standing::New => "new",
        }
    }
}

/// A recorded change, as `history` and `diff` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeRow {
    pub id: ChangeId,
    pub kind: ChangeKind,
    pub from: Option<SnapshotId>,
    /// The snapshot after the change (none for a removal).
    pub to: Option<SnapshotId>,
    pub detected_at: Timestamp,
    pub check_id: CheckId,
    pub http_status: Option<u16>,
    pub summary: DiffSummary,
}

/// A snapshot's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotRow {
    pub id: SnapshotId,
    pub sha256: String,
    /// SHA-256 of the raw body this text was first normalized from.
    pub raw_sha256: Option<String>,
    pub fetched_at: Timestamp,
    /// Length of the normalized text in bytes.
    pub text_bytes: u64,
    /// The response's `Content-Type` and final URL, needed to normalize the
    /// raw body again exactly as the check did.
    pub content_type: Option<String>,
    pub final_url: Option<String>,
}

/// A snapshot with its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    #[serde(flatten)]
    pub meta: SnapshotRow,
    pub text: String,
}

/// One recorded check attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckRow {
    pub id: CheckId,
    pub started_at: Timestamp,
    pub duration_ms: u64,
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub final_url: Option<String>,
    pub error: Option<String>,
    pub bytes: u64,
    pub raw_sha256: Option<String>,
    pub text_sha256: Option<String>,
    pub snapshot_id: Option<SnapshotId>,
    /// Why it failed, or the rule behind its outcome.
    pub reason: Option<String>,
}

/// A storage failure. Messages name the database file where one is involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create state directory {path}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("database migration {version} failed")]
    Migration {
        version: u32,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database server could not be reached, or refused us. The
    /// caller names the database (its URL without a password).
    #[error("cannot connect to the database server: {0}")]
    Connect(String),
    /// This backend cannot do what was asked (the message says what to
    /// use instead).
    #[error("{0}")]
    Unsupported(String),
    /// The disk is (nearly) full: SQLite cannot even create its
    /// shared-memory file. Nothing stored is damaged.
    #[error(
        "the disk holding {path} is full ({} free): free some space; the history is intact",
        bytesize::ByteSize::b(*.free)
    )]
    DiskFull { path: String, free: u64 },
    #[error("database was written by a newer chancery (schema {found}, this build knows {known})")]
    TooNew { found: u32, known: u32 },
    #[error("no watch named {0:?} in the database")]
    UnknownWatch(String),
    /// Another process recorded a check of this watch while this one was
    /// being judged: nothing was written; judge it again.
    #[error("watch id {watch_id} was recorded by another check meanwhile")]
    Stale { watch_id: WatchId },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The pipeline handed over a check that contradicts itself (a hash that
    /// does not match its bytes, a change that does not fit the outcome).
    /// Refused before anything is written, so a content address never
    /// points at the wrong bytes.
    #[error("refusing to record check for watch id {watch_id}: {reason}")]
    InvalidCheck { watch_id: WatchId, reason: String },
    /// zstd could not compress a blob (in practice: out of memory).
    #[error("cannot compress blob {sha256}")]
    Compress {
        sha256: String,
        #[source]
        source: std::io::Error,
    },
    /// A group commit failed: this write was rolled back with the others
    /// of its group (the first error is logged and told to one of them).
    #[error("the write was not committed: {0}")]
    NotCommitted(String),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused a statement (a constraint, a lost connection).
    /// Not a `source`: the message already says everything once.
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL: {}", postgres::describe(.0))]
    Postgres(tokio_postgres::Error),
}

#[cfg(feature = "postgres")]
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        StoreError::Postgres(e)
    }
}

/// The storage interface. Reads take `&self`; every write is one transaction.
/// What `chancery gc` deleted, or would delete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GcSummary {
    /// Check rows (with their stored request and response heads).
    pub checks: u64,
    /// Raw bodies no remaining check or snapshot refers to.
    pub bodies: u64,
    /// The database file's size before and after (equal for a dry run).
    pub bytes_before: u64,
    pub bytes_after: u64,
}

pub trait Store {
    /// Deletes check rows that started before `before`, except those a
    /// change or a snapshot refers to and each watch's latest, then the raw
    /// bodies nothing refers to any more, in one transaction, and reclaims
    /// the space. Snapshots, texts, changes and alerts are never deleted.
    /// With `dry_run`, counts without deleting.
    fn gc(&mut self, before: Timestamp, dry_run: bool) -> Result<GcSummary, StoreError>;
    /// Writes a consistent copy of the whole history to `dest` (a new file)
    /// while other processes keep reading and writing, and checks it.
    /// Returns the copy's size in bytes.
    fn backup(&self, dest: &std::path::Path) -> Result<u64, StoreError>;
    /// Registers a watch (or updates its URL) and returns its state.
    fn ensure_watch(&mut self, name: &str, url: &str) -> Result<WatchState, StoreError>;
    /// The state of a watch, if it was ever registered.
    fn watch_state(&self, name: &str) -> Result<Option<WatchState>, StoreError>;
    /// The state of every registered watch, in one read: what a one-shot
    /// run checking many watches would otherwise read one at a time.
    fn watch_states(&self) -> Result<Vec<WatchState>, StoreError>;
    /// Records one check with its blobs, snapshot, change and the watch's new
    /// state, atomically.
    fn record_check(&mut self, check: &NewCheck<'_>) -> Result<RecordedCheck, StoreError>;
    /// Group commit: runs `job(0)` … `job(n - 1)` in order inside one write
    /// transaction, each in a savepoint of its own. A job that returns
    /// `false` (or panics) is rolled back alone; the others commit
    /// together. `Ok` once they are committed; an error means none was.
    fn in_one_transaction(
        &mut self,
        n: usize,
        job: &mut dyn FnMut(usize, &mut dyn Store) -> bool,
    ) -> Result<(), StoreError>;
    /// Claims the next check of watch `watch_id` (on `host`) for `node`
    /// until `until` (see [`Claim::decide`]), atomically across nodes. A
    /// host paused for longer than [`HOST_PAUSE_SKIP`] (a `Retry-After`
    /// another node was given) refuses it too, until the pause ends, so no
    /// check sits waiting for its turn that long. A history one process
    /// checks (SQLite: the daemon holds the state dir's lock) grants every
    /// claim without recording it.
    fn claim_check(
        &mut self,
        watch_id: WatchId,
        host: &str,
        node: &str,
        now: Timestamp,
        interval: Duration,
        until: Timestamp,
    ) -> Result<Claim, StoreError> {
        let _ = (watch_id, host, node, now, interval, until);
        Ok(Claim::Granted)
    }
    /// Asks for a turn at `host` for `node` (see [`HostTurn::decide`]):
    /// at most `slots` nodes' requests at once, starts spaced by `delay`,
    /// a slot held until `until` at most. A store one process uses grants
    /// every turn: that process's own schedule and host gate are the
    /// limits.
    fn claim_host(
        &mut self,
        host: &str,
        node: &str,
        now: Timestamp,
        slots: u32,
        delay: Duration,
        until: Timestamp,
    ) -> Result<HostTurn, StoreError> {
        let _ = (host, node, now, slots, delay, until);
        Ok(HostTurn::Go { slot: 0 })
    }
    /// Hands a turn back; with `not_before`, the host's next request
    /// waits until then (a `Retry-After`).
    fn release_host(
        &mut self,
        host: &str,
        slot: u32,
        node: &str,
        not_before: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let _ = (host, slot, node, not_before);
        Ok(())
    }
    /// Asks whether `node` should probe the not-found page of `origin`
    /// (see [`ProbeClaim::decide`]), leasing the probe until `until` if
    /// so, atomically across nodes: one probe per origin per `ttl` for
    /// the nodes together. A store one process uses says probe every
    /// time: that process caches the answer itself.
    fn claim_probe(
        &mut self,
        origin: &str,
        node: &str,
        now: Timestamp,
        ttl: Duration,
        until: Timestamp,
    ) -> Result<ProbeClaim, StoreError> {
        let _ = (origin, node, now, ttl, until);
        Ok(ProbeClaim::Probe)
    }
    /// Records what `node`'s probe of `origin` found at `probed_at` and
    /// ends its lease. `found`: `None` when the probe failed (nothing is
    /// stored; another node may probe at once), `Some(answer)` otherwise.
    fn record_probe(
        &mut self,
        origin: &str,
        node: &str,
        probed_at: Timestamp,
        found: Option<Option<&ProbeAnswer>>,
    ) -> Result<(), StoreError> {
        let _ = (origin, node, probed_at, found);
        Ok(())
    }
    /// Records that `node` is alive at `node.heartbeat_at` (or, with
    /// `stopped_at`, that it stopped). A store one process uses keeps no
    /// node list.
    fn heartbeat(&mut self, node: &NodeRow) -> Result<(), StoreError> {
        let _ = node;
        Ok(())
    }
    /// The nodes that reported, newest heartbeat first; none for a store
    /// one process uses.
    fn nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        Ok(Vec::new())
    }
    /// All watches with their latest activity, by name.
    fn watches(&self) -> Result<Vec<WatchSummary>, StoreError>;
    /// Changes of a watch, newest first.
    fn changes(&self, watch: &str, limit: Option<usize>) -> Result<Vec<ChangeRow>, StoreError> {
        self.changes_before(watch, None, limit)
    }
    /// Changes of a watch older than change `before` (all if `None`),
    /// newest first: one page of a long history.
    fn changes_before(
        &self,
        watch: &str,
        before: Option<ChangeId>,
        limit: Option<usize>,
    ) -> Result<Vec<ChangeRow>, StoreError>;
    /// Snapshots of a watch, newest first.
    fn snapshots(&self, watch: &str, limit: Option<usize>) -> Result<Vec<SnapshotRow>, StoreError>;
    /// Checks of a watch, newest first.
    fn checks(&self, watch: &str, limit: Option<usize>) -> Result<Vec<CheckRow>, StoreError> {
        self.checks_before(watch, None, limit)
    }
    /// Checks of a watch older than check `before` (all if `None`),
    /// newest first.
    fn checks_before(
        &self,
        watch: &str,
        before: Option<CheckId>,
        limit: Option<usize>,
    ) -> Result<Vec<CheckRow>, StoreError>;
    /// One snapshot of a watch with its text; `None` for the latest.
    fn snapshot(&self, watch: &str, id: Option<SnapshotId>)
    -> Result<Option<Snapshot>, StoreError>;
    /// A stored raw body by its SHA-256.
    fn raw_body(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// A follow watch's children, newest first (`order` descending); none
    /// for a watch never recorded.
    fn children(&self, parent: &str) -> Result<Vec<ChildRow>, StoreError>;
    /// The name of the watch with this URL: the newest child first, then
    /// any watch.
    fn watch_by_url(&self, url: &str) -> Result<Option<String>, StoreError>;
    /// The id of the watch's snapshot with this text, if it ever had it.
    fn snapshot_id_of(
        &self,
        watch_id: WatchId,
        text_sha256: &str,
    ) -> Result<Option<SnapshotId>, StoreError>;

    /// Claims the oldest pending alert due at `now` that nobody holds a
    /// live claim on, for `claim` until `until`, and returns it. Atomic
    /// across processes: no two claims hold one alert at once.
    fn claim_due_alert(
        &mut self,
        now: Timestamp,
        claim: &str,
        until: Timestamp,
    ) -> Result<Option<AlertRow>, StoreError>;
    /// Alerts, newest first, optionally only those with `status`.
    fn alerts(
        &self,
        status: Option<AlertStatus>,
        limit: Option<usize>,
    ) -> Result<Vec<AlertRow>, StoreError>;
    /// The earliest next attempt of any pending alert.
    fn next_alert_due(&self) -> Result<Option<Timestamp>, StoreError>;
    /// The claims on alerts still live at `now` (not expired).
    fn live_claims(&self, now: Timestamp) -> Result<Vec<String>, StoreError>;
    /// Releases every alert held by `claim` (its worker is gone): they are
    /// due again as if it had never claimed them. Returns how many.
    fn release_claim(&mut self, claim: &str) -> Result<usize, StoreError>;
    /// Records a delivery attempt of alert `id` made at `at` under `claim`,
    /// and releases the claim. Returns false (and records nothing) when the
    /// claim no longer holds: it expired and another worker took the alert,
    /// or the alert is no longer pending.
    fn record_attempt(
        &mut self,
        id: &str,
        claim: &str,
        at: Timestamp,
        attempt: &Attempt,
    ) -> Result<bool, StoreError>;
    /// Makes failed (and pending) alerts due now: all, or the one with `id`.
    /// Returns how many were rescheduled.
    fn retry_alerts(&mut self, id: Option<&str>, now: Timestamp) -> Result<usize, StoreError>;
    /// A change by id, with its watch's name and URL.
    fn change_detail(&self, id: ChangeId) -> Result<Option<ChangeDetail>, StoreError>;
    /// The newest changes of the statements (not baselines, not health
    /// events), of one watch or of all, newest first, at most `limit`.
    fn recent_changes(
        &self,
        watch: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ChangeDetail>, StoreError>;
    /// Checks of a watch that got an HTTP response, oldest first, started
    /// at or after `since`: what the evidence export reads. Bodies and
    /// texts are read with [`Store::raw_body`] and [`Store::snapshot`].
    fn responses(
        &self,
        watch: &str,
        since: Option<Timestamp>,
    ) -> Result<Vec<StoredResponse>, StoreError>;
}

#[cfg(test)]
mod claim_tests {
    use super::*;

    #[test]
    fn a_host_turn_goes_to_a_free_or_abandoned_slot_after_the_gap() {
        let (t, free) = (Timestamp(10_000), Timestamp(0));
        assert_eq!(HostTurn::decide(t, free, &[], 2), HostTurn::Go { slot: 0 });
        assert_eq!(
            HostTurn::decide(t, free, &[(0, Timestamp(20_000))], 2),
            HostTurn::Go { slot: 1 }
        );
        assert_eq!(
            HostTurn::decide(
                t,
                free,
                &[(0, Timestamp(20_000)), (1, Timestamp(15_000))],
                2
            ),
            HostTurn::Wait {
                until: Timestamp(15_000)
            },
            "both busy: wait for the first to end"
        );
        assert_eq!(
            HostTurn::decide(t, free, &[(0, Timestamp(20_000)), (1, Timestamp(9_000))], 2),
            HostTurn::Go { slot: 1 },
            "slot 1's node died: its lease ran out"
        );
        assert_eq!(
            HostTurn::decide(t, Timestamp(12_000), &[], 2),
            HostTurn::Wait {
                until: Timestamp(12_000)
            },
            "the gap after the last start (or a Retry-After)"
        );
    }

    const MIN: Duration = Duration::from_secs(60);

    fn at(minutes: i64) -> Timestamp {
        Timestamp(minutes * 60_000)
    }

    #[test]
    fn a_claim_is_granted_unless_another_node_holds_it_or_it_was_just_checked() {
        let decide = |last, lease| Claim::decide("a", at(100), 10 * MIN, last, 0, lease);
        assert_eq!(decide(None, None), Claim::Granted, "never checked");
        assert_eq!(
            decide(Some(at(90)), None),
            Claim::Granted,
            "an interval ago"
        );
        assert_eq!(
            decide(Some(at(95)), None),
            Claim::Granted,
            "half of one ago"
        );
        assert_eq!(
            decide(Some(at(96)), None),
            Claim::Elsewhere { next_due: at(106) },
            "checked four minutes ago: due an interval after that"
        );
        assert_eq!(
            decide(Some(at(90)), Some(("b", at(102)))),
            Claim::Elsewhere { next_due: at(102) },
            "b is checking it: ask again when its lease ends"
        );
        assert_eq!(
            decide(Some(at(80)), Some(("b", at(99)))),
            Claim::Granted,
            "b's lease ran out (b died mid-check)"
        );
        assert_eq!(
            decide(Some(at(90)), Some(("a", at(102)))),
            Claim::Granted,
            "its own lease (a check retried after a stale record)"
        );
    }

    #[test]
    fn one_node_probes_a_host_and_the_others_read_its_answer() {
        let day = Duration::from_secs(24 * 3600);
        let answer = Some(ProbeAnswer {
            body: b"Not found".to_vec(),
            content_type: Some("text/html".to_owned()),
            url: "https://example.org/x".to_owned(),
        });
        let decide = |probed_at, lease| {
            ProbeClaim::decide("b", at(100), day, probed_at, answer.clone(), lease)
        };
        assert_eq!(decide(None, None), ProbeClaim::Probe, "never probed");
        assert_eq!(
            decide(Some(at(90)), None),
            ProbeClaim::Known {
                probed_at: at(90),
                answer: answer.clone()
            }
        );
        assert_eq!(
            decide(Some(at(100 - 24 * 60)), None),
            ProbeClaim::Probe,
            "a day old"
        );
        assert_eq!(
            decide(None, Some(("a", at(101)))),
            ProbeClaim::Wait { until: at(101) },
            "a is probing it"
        );
        assert_eq!(
            decide(None, Some(("a", at(99)))),
            ProbeClaim::Probe,
            "a died probing it"
        );
        assert_eq!(
            decide(Some(at(90)), Some(("a", at(101)))),
            ProbeClaim::Known {
                probed_at: at(90),
                answer: answer.clone()
            },
            "a fresh answer is read even while another node probes"
        );
    }

    #[test]
    fn a_failing_watch_is_claimed_no_sooner_than_its_backoff_on_any_node() {
        // Every 10 minutes; the store counts three failures in a row: the
        // next check is 40 minutes after the last, from whichever node.
        let decide = |last, failures| Claim::decide("b", at(100), 10 * MIN, last, failures, None);
        assert_eq!(
            decide(Some(at(90)), 3),
            Claim::Elsewhere { next_due: at(130) },
            "another node at the plain interval"
        );
        assert_eq!(decide(Some(at(90)), 1), Claim::Granted, "one failure");
        assert_eq!(
            decide(Some(at(68)), 3),
            Claim::Granted,
            "32 minutes ago: a jittered 40-minute backoff"
        );
        assert_eq!(
            decide(Some(at(69)), 3),
            Claim::Elsewhere { next_due: at(109) }
        );
        // Capped, like the schedule's.
        assert_eq!(
            decide(Some(at(90)), 60),
            Claim::Elsewhere {
                next_due: at(90).plus(crate::schedule::MAX_BACKOFF)
            }
        );
    }
}
