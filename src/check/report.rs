//! What one check concluded, as the CLI prints it, `--json` writes it and
//! the log records it; and the error of a check that could not be recorded.

use std::time::Duration;

use serde::Serialize;

use crate::diff::DiffSummary;
use crate::model::{ChangeId, ChangeKind, CheckId, Outcome, SnapshotId, Timestamp};
use crate::store::StoreError;

/// What one check concluded, for the CLI line, JSON and logs.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub watch: String,
    pub url: String,
    pub outcome: Outcome,
    pub started_at: Timestamp,
    /// How long the check took (`duration_ms` in JSON).
    #[serde(rename = "duration_ms", serialize_with = "serialize_millis")]
    pub duration: Duration,
    pub http_status: Option<u16>,
    /// Why the check failed, or why the page counts as removed.
    pub error: Option<String>,
    /// The rule behind the outcome, e.g. `blocked`, `soft-404`, `flapping`.
    pub reason: Option<String>,
    /// How the text changed, for first-seen, edited, removed and restored.
    pub summary: Option<DiffSummary>,
    /// A health event the check raised (`failing`, `recovered`).
    pub event: Option<ChangeKind>,
    /// For a follow watch whose listing was read: what it changed.
    pub listing: Option<ListingReport>,
    /// How long the server asked us to wait (429/503 with `Retry-After`).
    #[serde(skip)]
    pub retry_after: Option<Duration>,
    pub check_id: CheckId,
    pub snapshot_id: Option<SnapshotId>,
    pub change_id: Option<ChangeId>,
}

/// What one look at a follow watch's listing changed, for the CLI, JSON and
/// the engine (which schedules the active children).
#[derive(Debug, Clone, Serialize)]
pub struct ListingReport {
    /// New statements (child names).
    pub published: Vec<String>,
    /// Statements taken off the listing.
    pub delisted: Vec<String>,
    /// Children retired by `max` on this look.
    pub retired: Vec<String>,
    /// Every child to check from now on: name and URL.
    pub active: Vec<(String, url::Url)>,
}

impl CheckReport {
    /// One log line per outcome worth seeing: changes at info, failures at
    /// warn, unchanged at debug.
    pub fn log(&self) {
        let r = self;
        match r.event {
            Some(ChangeKind::Failing) => tracing::error!(
                watch = %r.watch,
                url = %r.url,
                error = r.error.as_deref().unwrap_or(""),
                "watch is failing"
            ),
            Some(kind) => tracing::info!(watch = %r.watch, event = %kind, "watch health"),
            None => {}
        }
        match r.outcome {
            Outcome::Error => tracing::warn!(
                watch = %r.watch,
                url = %r.url,
                status = r.http_status,
                reason = r.reason.as_deref().unwrap_or(""),
                error = r.error.as_deref().unwrap_or(""),
                "check failed"
            ),
            Outcome::Unchanged if r.reason.is_some() => tracing::info!(
                watch = %r.watch,
                status = r.http_status,
                reason = r.reason.as_deref().unwrap_or(""),
                detail = r.error.as_deref().unwrap_or(""),
                "unchanged"
            ),
            Outcome::Unchanged => {
                tracing::debug!(watch = %r.watch, status = r.http_status, "unchanged")
            }
            outcome => tracing::info!(
                watch = %r.watch,
                url = %r.url,
                %outcome,
                status = r.http_status,
                added = r.summary.as_ref().map(|s| s.lines_added),
                removed = r.summary.as_ref().map(|s| s.lines_removed),
                what = r.summary.as_ref().and_then(|s| s.first_change.as_deref()),
                "change recorded"
            ),
        }
    }
}

fn serialize_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A check that could not be recorded, or was not made.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The store failed: nothing of this check was recorded.
    #[error("watch {watch:?}: {source}")]
    Store {
        watch: String,
        #[source]
        source: StoreError,
    },
    /// Not fetched: the host asked for a long pause (`Retry-After`) during
    /// a one-shot run.
    #[error("watch {watch:?} not checked: {host} asked to retry after {}", humantime::format_duration(*.pause))]
    Skipped {
        watch: String,
        host: String,
        pause: Duration,
    },
    /// Not fetched: another node sharing the store is checking this watch
    /// or checked it recently; this node asks again at `next_due`.
    #[error("watch {watch:?} is checked by another node; next due {next_due}")]
    Elsewhere {
        watch: String,
        next_due: crate::model::Timestamp,
    },
}

impl CheckError {
    /// A watch skipped because its host asked for `pause`.
    pub fn skipped(watch: &str, host: &str, pause: Duration) -> CheckError {
        CheckError::Skipped {
            watch: watch.to_owned(),
            host: host.to_owned(),
            pause,
        }
    }

    /// The watch the error is about.
    pub fn watch(&self) -> &str {
        match self {
            CheckError::Store { watch, .. }
            | CheckError::Skipped { watch, .. }
            | CheckError::Elsewhere { watch, .. } => watch,
        }
    }
}
