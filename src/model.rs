//! Domain words shared by every stage: outcomes of a check, kinds of change,
//! whether a statement is there, a watch's health, the row ids and the
//! timestamp type. Plain data and the small rules that belong to the words
//! themselves (which outcome keeps a snapshot, what presence it leaves);
//! the store persists these types, it does not define them.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, as milliseconds since the Unix epoch (UTC).
///
/// Stored as an integer, so any store keeps it to the millisecond without
/// time-zone or format questions, and rendered as RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }

    /// Milliseconds since the Unix epoch.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// This time plus `span` (saturating: an endless span is the end of time).
    pub fn plus(self, span: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(span.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// How long from this time until `later`; zero if `later` is not later.
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(later.0.saturating_sub(self.0)).unwrap_or(0))
    }

    /// RFC 3339 with second precision, e.g. `2026-11-28T12:00:00Z`.
    pub fn rfc3339(self) -> String {
        let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(self.0).unwrap_or(0));
        humantime::format_rfc3339_seconds(t).to_string()
    }
}

impl serde::Serialize for Timestamp {
    /// Timestamps appear in JSON output as RFC 3339 strings.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// Row id of a watch.
pub type WatchId = i64;
/// Row id of a snapshot (a distinct normalized text of one watch).
pub type SnapshotId = i64;
/// Row id of a check.
pub type CheckId = i64;
/// Row id of a change.
pub type ChangeId = i64;

/// Whether a watch's statement is currently there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Presence {
    /// No snapshot yet: the next successful check is the baseline.
    New,
    /// The last recorded change left the statement in place.
    Present,
    /// The last recorded change was a removal.
    Removed,
}

impl Presence {
    /// The stable name used in the database and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::New => "new",
            Presence::Present => "present",
            Presence::Removed => "removed",
        }
    }

    /// Parses the name written by [`Presence::as_str`].
    pub fn parse(s: &str) -> Option<Presence> {
        Some(match s {
            "new" => Presence::New,
            "present" => Presence::Present,
            "removed" => Presence::Removed,
            _ => return None,
        })
    }
}

/// A watch's health after a check: written with every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    /// Start of the current run of failed checks; `None` after a success.
    pub failing_since: Option<Timestamp>,
    /// Whether this run has raised `failing`.
    pub reported: bool,
}

/// Where a follow watch's child stands in its listing (the rules that move
/// it are in `follow::reconcile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChildState {
    /// Active, on the listing at the last look.
    Listed,
    /// Active, pushed off the covered pages by newer statements.
    ScrolledOff,
    /// Active, but taken off the listing.
    Delisted,
    /// Beyond `max`: not checked, history kept.
    Retired,
}

impl ChildState {
    /// The stable name used in the database and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ChildState::Listed => "listed",
            ChildState::ScrolledOff => "scrolled-off",
            ChildState::Delisted => "delisted",
            ChildState::Retired => "retired",
        }
    }

    /// Parses the name written by [`ChildState::as_str`].
    pub fn parse(s: &str) -> Option<ChildState> {
        Some(match s {
            "listed" => ChildState::Listed,
            "scrolled-off" => ChildState::ScrolledOff,
            "delisted" => ChildState::Delisted,
            "retired" => ChildState::Retired,
            _ => return None,
        })
    }
}

/// What one check concluded. Every check gets exactly one outcome; all but
/// `Unchanged` and `Error` also record a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The first snapshot of a watch: the baseline later checks compare with.
    FirstSeen,
    /// The normalized text is the same as the last snapshot's (or a 304),
    /// or a removed page is still gone.
    Unchanged,
    /// The normalized text differs from the last snapshot's.
    Edited,
    /// The page answered 404/410, or its statement text is gone.
    Removed,
    /// The page is back after having been removed.
    Restored,
    /// The check failed (network, timeout, size, HTTP error). Not a change:
    /// the last good snapshot stays the baseline.
    Error,
    /// The watch's filters changed: the last snapshot's stored raw body was
    /// normalized again under the new filters and became the baseline. Not
    /// a change of the page, so never alerted.
    Rebaselined,
    /// The new text is one the page showed shortly before: it alternates
    /// between versions. Recorded (and alerted) once; later alternations
    /// between the same versions are `unchanged` with reason `flapping`.
    Flapping,
}

impl Outcome {
    /// The stable name used in the database, the CLI and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::FirstSeen => "first-seen",
            Outcome::Unchanged => "unchanged",
            Outcome::Edited => "edited",
            Outcome::Removed => "removed",
            Outcome::Restored => "restored",
            Outcome::Error => "error",
            Outcome::Rebaselined => "rebaselined",
            Outcome::Flapping => "flapping",
        }
    }

    /// Parses the name written by [`Outcome::as_str`].
    pub fn parse(s: &str) -> Option<Outcome> {
        Some(match s {
            "first-seen" => Outcome::FirstSeen,
            "unchanged" => Outcome::Unchanged,
            "edited" => Outcome::Edited,
            "removed" => Outcome::Removed,
            "restored" => Outcome::Restored,
            "error" => Outcome::Error,
            "rebaselined" => Outcome::Rebaselined,
            "flapping" => Outcome::Flapping,
            _ => return None,
        })
    }

    /// Whether a check with this outcome keeps its text as a snapshot.
    pub fn keeps_snapshot(self) -> bool {
        matches!(
            self,
            Outcome::FirstSeen
                | Outcome::Edited
                | Outcome::Restored
                | Outcome::Rebaselined
                | Outcome::Flapping
        )
    }

    /// The presence a check with this outcome leaves behind; `None` keeps
    /// the one before (an unchanged check, an error).
    pub fn presence_after(self) -> Option<Presence> {
        match self {
            Outcome::FirstSeen
            | Outcome::Edited
            | Outcome::Restored
            | Outcome::Rebaselined
            | Outcome::Flapping => Some(Presence::Present),
            Outcome::Removed => Some(Presence::Removed),
            Outcome::Unchanged | Outcome::Error => None,
        }
    }

    /// The change this outcome records, if any.
    pub fn change_kind(self) -> Option<ChangeKind> {
        match self {
            Outcome::FirstSeen => Some(ChangeKind::FirstSeen),
            Outcome::Edited => Some(ChangeKind::Edited),
            Outcome::Removed => Some(ChangeKind::Removed),
            Outcome::Restored => Some(ChangeKind::Restored),
            Outcome::Rebaselined => Some(ChangeKind::Rebaselined),
            Outcome::Flapping => Some(ChangeKind::Flapping),
            Outcome::Unchanged | Outcome::Error => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A recorded event in a watch's history: a change of the page, or of the
/// watch's health (`failing`, `recovered`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// The baseline: no previous snapshot.
    FirstSeen,
    /// The statement's text changed.
    Edited,
    /// The statement was taken down.
    Removed,
    /// The statement came back after being removed.
    Restored,
    /// A new baseline after the watch's filters changed.
    Rebaselined,
    /// The page alternates between versions it showed recently.
    Flapping,
    /// Every check has failed for the watch's `failing_after`.
    Failing,
    /// A check succeeded after the watch was reported failing.
    Recovered,
    /// A new statement appeared on a follow watch's listing (recorded on
    /// the child with its first snapshot).
    Published,
    /// A statement's link was taken off its listing (recorded on the child).
    Delisted,
}

impl ChangeKind {
    /// The stable name used in the database, the CLI and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::FirstSeen => "first-seen",
            ChangeKind::Edited => "edited",
            ChangeKind::Removed => "removed",
            ChangeKind::Restored => "restored",
            ChangeKind::Rebaselined => "rebaselined",
            ChangeKind::Flapping => "flapping",
            ChangeKind::Failing => "failing",
            ChangeKind::Recovered => "recovered",
            ChangeKind::Published => "published",
            ChangeKind::Delisted => "delisted",
        }
    }

    /// Parses the name written by [`ChangeKind::as_str`].
    pub fn parse(s: &str) -> Option<ChangeKind> {
        Some(match s {
            "first-seen" => ChangeKind::FirstSeen,
            "edited" => ChangeKind::Edited,
            "removed" => ChangeKind::Removed,
            "restored" => ChangeKind::Restored,
            "rebaselined" => ChangeKind::Rebaselined,
            "flapping" => ChangeKind::Flapping,
            "failing" => ChangeKind::Failing,
            "recovered" => ChangeKind::Recovered,
            "published" => ChangeKind::Published,
            "delisted" => ChangeKind::Delisted,
            _ => return None,
        })
    }
}

impl ChangeKind {
    /// Whether this is about the watch's health rather than the page's text.
    pub fn is_health(self) -> bool {
        matches!(self, ChangeKind::Failing | ChangeKind::Recovered)
    }

    /// Whether this is an event recorded beside a check's outcome (health,
    /// listing) rather than a change of the page's text.
    pub fn is_event(self) -> bool {
        matches!(
            self,
            ChangeKind::Failing
                | ChangeKind::Recovered
                | ChangeKind::Published
                | ChangeKind::Delisted
        )
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_add_and_measure_without_overflowing() {
        let t = Timestamp(1_000);
        assert_eq!(t.plus(Duration::from_millis(1_500)), Timestamp(2_500));
        assert_eq!(t.plus(Duration::MAX), Timestamp(i64::MAX));
        assert_eq!(t.until(Timestamp(2_500)), Duration::from_millis(1_500));
        assert_eq!(t.until(Timestamp(500)), Duration::ZERO, "not later: zero");
    }
}
