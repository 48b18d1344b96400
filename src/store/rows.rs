//! What every backend reads back the same way: the select lists of the
//! store's rows and the decoders that turn a result row into a domain
//! type. A backend supplies the `WHERE` (its own placeholders) and a
//! [`Columns`] for its row type; a column added here is read alike by all.

use super::codec::{from_sql_int, http_status, parse_kind, parse_outcome, parse_presence};
use super::{
    AlertRow, AlertStatus, ChangeDetail, ChangeRow, CheckRow, ChildRow, NewHeads, SnapshotRef,
    SnapshotRow, StoreError, StoredResponse, WatchState, WatchSummary,
};
use crate::diff::DiffSummary;
use crate::model::{ChildState, Timestamp};

/// One result row, whichever database it came from. Integers are `i64`
/// in both (SQLite's only integer, PostgreSQL's `BIGINT`).
pub(super) trait Columns {
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn text(&self, i: usize) -> Result<String, StoreError>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn real(&self, i: usize) -> Result<f64, StoreError>;
    fn flag(&self, i: usize) -> Result<bool, StoreError>;
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError>;
}

impl Columns for rusqlite::Row<'_> {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.get(i)?)
    }
    fn text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(i)?)
    }
    fn real(&self, i: usize) -> Result<f64, StoreError> {
        Ok(self.get(i)?)
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.get(i)?)
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        Ok(self.get(i)?)
    }
}

#[cfg(feature = "postgres")]
impl Columns for tokio_postgres::Row {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn real(&self, i: usize) -> Result<f64, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        Ok(self.try_get(i)?)
    }
}

fn time(row: &impl Columns, i: usize) -> Result<Timestamp, StoreError> {
    row.int(i).map(Timestamp)
}

fn opt_time(row: &impl Columns, i: usize) -> Result<Option<Timestamp>, StoreError> {
    Ok(row.opt_int(i)?.map(Timestamp))
}

fn count_u32(row: &impl Columns, i: usize, what: &str) -> Result<u32, StoreError> {
    let n = row.int(i)?;
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} {n} out of range")))
}

/// A watch's state, from `watches w` (by name: the backend adds the
/// `WHERE`), in the order [`watch_state`] reads.
pub(super) const WATCH_STATE_SELECT: &str =
    "SELECT w.id, w.name, w.url, w.presence, w.last_snapshot_id, s.text_sha256,
        s.fetched_at, w.etag, w.last_modified, w.last_check_at, w.filters_sha256,
        w.failing_since, w.failing_reported, coalesce(c.announce, FALSE), w.region
 FROM watches w LEFT JOIN snapshots s ON s.id = w.last_snapshot_id
      LEFT JOIN children c ON c.watch_id = w.id";

pub(super) fn watch_state(row: &impl Columns) -> Result<WatchState, StoreError> {
    let last_snapshot = match row.opt_int(4)? {
        Some(id) => Some(SnapshotRef {
            id,
            sha256: row.text(5)?,
            fetched_at: time(row, 6)?,
        }),
        None => None,
    };
    Ok(WatchState {
        watch_id: row.int(0)?,
        name: row.text(1)?,
        url: row.text(2)?,
        presence: parse_presence(&row.text(3)?)?,
        last_snapshot,
        etag: row.opt_text(7)?,
        last_modified: row.opt_text(8)?,
        last_check_at: opt_time(row, 9)?,
        filters_sha256: row.opt_text(10)?,
        failing_since: opt_time(row, 11)?,
        failing_reported: row.flag(12)?,
        announce: row.flag(13)?,
        region: row.opt_text(14)?,
    })
}

/// Kinds that are not a change of the statement: baselines and health.
macro_rules! not_statement_changes {
    () => {
        "('first-seen', 'rebaselined', 'failing', 'recovered')"
    };
}

/// Every watch with its latest activity (the backend adds the order).
pub(super) const WATCH_SUMMARIES_SELECT: &str = concat!(
    "SELECT w.name, w.url, w.presence, w.last_check_at, w.last_outcome,
        (SELECT max(c.detected_at) FROM changes c
         WHERE c.watch_id = w.id AND c.kind NOT IN ",
    not_statement_changes!(),
    "),
        (SELECT count(*) FROM changes c
         WHERE c.watch_id = w.id AND c.kind NOT IN ",
    not_statement_changes!(),
    "),
        (SELECT count(*) FROM checks k WHERE k.watch_id = w.id),
        (SELECT count(*) FROM checks k
         WHERE k.watch_id = w.id AND k.outcome = 'error'
           AND k.id > coalesce((SELECT max(k2.id) FROM checks k2
                                WHERE k2.watch_id = w.id AND k2.outcome <> 'error'), 0)),
        w.failing_since, w.failing_reported,
        (SELECT k.error FROM checks k WHERE k.watch_id = w.id ORDER BY k.id DESC LIMIT 1),
        (SELECT p.name FROM children c JOIN watches p ON p.id = c.parent_id
         WHERE c.watch_id = w.id),
        (SELECT c.state FROM children c WHERE c.watch_id = w.id),
        (SELECT c.kind FROM changes c
         WHERE c.watch_id = w.id AND c.kind NOT IN ",
    not_statement_changes!(),
    "
         ORDER BY c.id DESC LIMIT 1),
        (SELECT k.reason FROM checks k WHERE k.watch_id = w.id ORDER BY k.id DESC LIMIT 1)
 FROM watches w"
);

pub(super) fn watch_summary(row: &impl Columns) -> Result<WatchSummary, StoreError> {
    Ok(WatchSummary {
        name: row.text(0)?,
        url: row.text(1)?,
        presence: parse_presence(&row.text(2)?)?,
        last_check_at: opt_time(row, 3)?,
        last_outcome: row.opt_text(4)?.as_deref().map(parse_outcome).transpose()?,
        last_change_at: opt_time(row, 5)?,
        n_changes: from_sql_int(row.int(6)?, "change count")?,
        n_checks: from_sql_int(row.int(7)?, "check count")?,
        failures: u32::try_from(row.int(8)?).unwrap_or(u32::MAX),
        failing_since: opt_time(row, 9)?,
        failing_reported: row.flag(10)?,
        last_error: row.opt_text(11)?,
        parent: row.opt_text(12)?,
        child_state: row.opt_text(13)?.as_deref().and_then(ChildState::parse),
        last_change_kind: row.opt_text(14)?.as_deref().map(parse_kind).transpose()?,
        last_reason: row.opt_text(15)?,
    })
}

/// The newest statement changes (the backend adds its `WHERE` for one
/// watch or all, and the limit), as [`change_detail`]s.
pub(super) const STATEMENT_CHANGES_FILTER: &str =
    concat!("c.kind NOT IN ", not_statement_changes!());

/// Columns of a [`ChangeRow`] (from `changes c JOIN checks k`), in the
/// order [`change_row`] reads.
pub(super) const CHANGE_COLUMNS: &str =
    "c.id, c.kind, c.from_snapshot, c.to_snapshot, c.detected_at, c.check_id,
    k.http_status, c.lines_added, c.lines_removed, c.changed_ratio, c.first_change";

pub(super) fn change_row(row: &impl Columns) -> Result<ChangeRow, StoreError> {
    Ok(ChangeRow {
        id: row.int(0)?,
        kind: parse_kind(&row.text(1)?)?,
        from: row.opt_int(2)?,
        to: row.opt_int(3)?,
        detected_at: time(row, 4)?,
        check_id: row.int(5)?,
        http_status: http_status(row.opt_int(6)?)?,
        summary: DiffSummary {
            lines_added: count_u32(row, 7, "lines added")?,
            lines_removed: count_u32(row, 8, "lines removed")?,
            changed_ratio: row.real(9)?,
            first_change: row.opt_text(10)?,
        },
    })
}

/// A change with its watch: [`CHANGE_COLUMNS`] then `w.name, w.url`, from
/// `changes c JOIN checks k … JOIN watches w`.
pub(super) const CHANGE_DETAIL_SELECT: &str = "SELECT c.id, c.kind, c.from_snapshot,
    c.to_snapshot, c.detected_at, c.check_id, k.http_status, c.lines_added, c.lines_removed,
    c.changed_ratio, c.first_change, w.name, w.url
 FROM changes c JOIN checks k ON k.id = c.check_id JOIN watches w ON w.id = c.watch_id";

pub(super) fn change_detail(row: &impl Columns) -> Result<ChangeDetail, StoreError> {
    Ok(ChangeDetail {
        change: change_row(row)?,
        watch: row.text(11)?,
        url: row.text(12)?,
    })
}

/// Columns of a [`SnapshotRow`] (from `snapshots s JOIN texts t`), in the
/// order [`snapshot_row`] reads; `t.size` is column 4.
pub(super) const SNAPSHOT_COLUMNS: &str = "s.id, s.text_sha256, s.raw_sha256, s.fetched_at, t.size,
    (SELECT k.content_type FROM checks k WHERE k.id = s.check_id),
    (SELECT k.final_url FROM checks k WHERE k.id = s.check_id)";

pub(super) fn snapshot_row(row: &impl Columns) -> Result<SnapshotRow, StoreError> {
    Ok(SnapshotRow {
        id: row.int(0)?,
        sha256: row.text(1)?,
        raw_sha256: row.opt_text(2)?,
        fetched_at: time(row, 3)?,
        text_bytes: from_sql_int(row.int(4)?, "text size")?,
        content_type: row.opt_text(5)?,
        final_url: row.opt_text(6)?,
    })
}

/// Columns of a [`CheckRow`] (from `checks`), in the order [`check_row`] reads.
pub(super) const CHECK_COLUMNS: &str =
    "id, started_at, duration_ms, outcome, http_status, final_url, error, bytes,
     raw_sha256, text_sha256, snapshot_id, reason";

pub(super) fn check_row(row: &impl Columns) -> Result<CheckRow, StoreError> {
    Ok(CheckRow {
        id: row.int(0)?,
        started_at: time(row, 1)?,
        duration_ms: from_sql_int(row.int(2)?, "check duration")?,
        outcome: parse_outcome(&row.text(3)?)?,
        http_status: http_status(row.opt_int(4)?)?,
        final_url: row.opt_text(5)?,
        error: row.opt_text(6)?,
        bytes: from_sql_int(row.int(7)?, "body size")?,
        raw_sha256: row.opt_text(8)?,
        text_sha256: row.opt_text(9)?,
        snapshot_id: row.opt_int(10)?,
        reason: row.opt_text(11)?,
    })
}

/// Columns of an [`AlertRow`] (from `alerts a JOIN watches w`), in the
/// order [`alert_row`] reads.
pub(super) const ALERT_COLUMNS: &str =
    "a.id, a.change_id, w.name, a.subscriber, a.channel, a.event, a.status,
    a.attempts, a.created_at, a.next_attempt_at, a.last_attempt_at, a.delivered_at, a.last_error";

pub(super) fn alert_row(row: &impl Columns) -> Result<AlertRow, StoreError> {
    let status = row.text(6)?;
    Ok(AlertRow {
        id: row.text(0)?,
        change_id: row.int(1)?,
        watch: row.text(2)?,
        subscriber: row.text(3)?,
        channel: row.text(4)?,
        event: parse_kind(&row.text(5)?)?,
        status: AlertStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown alert status {status:?}")))?,
        attempts: u32::try_from(row.int(7)?).unwrap_or(u32::MAX),
        created_at: time(row, 8)?,
        next_attempt_at: time(row, 9)?,
        last_attempt_at: opt_time(row, 10)?,
        delivered_at: opt_time(row, 11)?,
        last_error: row.opt_text(12)?,
    })
}

/// A follow watch's children, by the parent's name (the backend adds the
/// `WHERE`), in the order [`child_row`] reads.
pub(super) const CHILD_SELECT: &str = "SELECT w.name, c.url, c.state, c.ord, c.title
 FROM children c JOIN watches w ON w.id = c.watch_id";

pub(super) fn child_row(row: &impl Columns) -> Result<ChildRow, StoreError> {
    let state = row.text(2)?;
    Ok(ChildRow {
        name: row.text(0)?,
        url: row.text(1)?,
        state: ChildState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown child state {state:?}")))?,
        order: row.int(3)?,
        title: row.opt_text(4)?,
    })
}

/// Checks that got a response, with their heads (from `checks c LEFT JOIN
/// check_heads h`), in the order [`response`] reads.
pub(super) const RESPONSE_SELECT: &str =
    "SELECT c.id, c.started_at, c.http_status, c.final_url, c.content_type,
        c.raw_sha256, c.text_sha256, c.snapshot_id,
        EXISTS (SELECT 1 FROM bodies b WHERE b.sha256 = c.raw_sha256),
        h.requested_at, h.remote_ip, h.request_head, h.response_head, h.rendered_by
 FROM checks c LEFT JOIN check_heads h ON h.check_id = c.id";

pub(super) fn response(row: &impl Columns) -> Result<StoredResponse, StoreError> {
    let heads = match opt_time(row, 9)? {
        Some(requested_at) => Some(NewHeads {
            requested_at,
            remote_ip: row.opt_text(10)?,
            request_head: row.bytes(11)?,
            response_head: row.bytes(12)?,
            rendered_by: row.opt_text(13)?,
        }),
        None => None,
    };
    Ok(StoredResponse {
        check_id: row.int(0)?,
        started_at: time(row, 1)?,
        http_status: http_status(row.opt_int(2)?)?.unwrap_or_default(),
        final_url: row.opt_text(3)?,
        content_type: row.opt_text(4)?,
        raw_sha256: row.opt_text(5)?,
        text_sha256: row.opt_text(6)?,
        snapshot_id: row.opt_int(7)?,
        body_stored: row.flag(8)?,
        heads,
    })
}
