//! Flapping: versions alternating *without settling*, as a page behind
//! load-balanced servers with different builds does. Each alternation would
//! look like an edit; instead the first return to a recent version is
//! reported once as `flapping`, and later alternations between the same
//! versions stay quiet (the watch's current text still follows the page)
//! until a version settles or a genuinely new one appears.
//!
//! A version *settles* when it holds for `flap_settle` checks in a row: it
//! is then the page's current version, and moving away from it is a real
//! change, even back to an earlier version (a walk-back, or an edit that is
//! re-applied after one). For a journalist that is the story, so it is
//! alerted as `edited`, never silenced.
//!
//! "Recent" is what the watch showed within `flap_window` (the snapshots at
//! either end of its last few content changes). Pure: the caller reads the
//! changes from the store and passes them as [`Step`]s.

use std::collections::HashSet;
use std::time::Duration;

use crate::model::{ChangeKind, SnapshotId, Timestamp};

/// One recorded change, as much of it as flapping looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub kind: ChangeKind,
    /// The snapshot before the change.
    pub from: Option<SnapshotId>,
    /// The snapshot after it (none for a removal).
    pub to: Option<SnapshotId>,
    pub detected_at: Timestamp,
}

/// How many recent content changes are looked at.
pub const RECENT_CHANGES: usize = 6;

/// What a would-be edit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flap {
    /// A new version (or an old one from outside the window): an edit.
    No,
    /// A return to a recent version: report `flapping` once.
    Start,
    /// Flapping is already reported and this is one of its versions.
    Quiet,
}

/// Judges an edit to the text that snapshot `seen_before` holds (`None`:
/// the text is new to this watch). `recent` is the watch's changes, newest
/// first; `settled`: the current version held for `flap_settle` checks.
pub fn judge(
    seen_before: Option<SnapshotId>,
    recent: &[Step],
    now: Timestamp,
    window: Duration,
    settled: bool,
) -> Flap {
    let Some(id) = seen_before else {
        return Flap::No;
    };
    if settled {
        return Flap::No;
    }
    let content: Vec<&Step> = recent
        .iter()
        .filter(|c| !c.kind.is_event())
        .take(RECENT_CHANGES)
        .collect();
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    let versions = |since: i64| -> HashSet<SnapshotId> {
        content
            .iter()
            .filter(|c| c.detected_at.as_millis() >= since)
            .flat_map(|c| [c.from, c.to])
            .flatten()
            .collect()
    };
    match content.first() {
        // Already flapping: its versions are those around the report.
        Some(latest) if latest.kind == ChangeKind::Flapping => {
            let since = latest.detected_at.as_millis().saturating_sub(window_ms);
            if versions(since).contains(&id) {
                Flap::Quiet
            } else {
                Flap::No
            }
        }
        _ => {
            if versions(now.as_millis().saturating_sub(window_ms)).contains(&id) {
                Flap::Start
            } else {
                Flap::No
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    const WINDOW: Duration = Duration::from_secs(24 * 3600);

    fn change(kind: ChangeKind, from: Option<i64>, to: Option<i64>, hour: i64) -> Step {
        Step {
            kind,
            from,
            to,
            detected_at: Timestamp(hour * HOUR),
        }
    }

    #[test]
    fn back_to_a_recent_version_starts_flapping_once() {
        // A (1) then B (2) an hour later; now A again.
        let recent = [
            change(ChangeKind::Edited, Some(1), Some(2), 101),
            change(ChangeKind::FirstSeen, None, Some(1), 100),
        ];
        assert_eq!(
            judge(Some(1), &recent, Timestamp(102 * HOUR), WINDOW, false),
            Flap::Start
        );
        // A brand-new text is an edit.
        assert_eq!(
            judge(None, &recent, Timestamp(102 * HOUR), WINDOW, false),
            Flap::No
        );
        // After the flapping report, both versions are quiet, even days later.
        let flapping = [
            change(ChangeKind::Flapping, Some(2), Some(1), 102),
            recent[0],
            recent[1],
        ];
        for id in [1, 2] {
            assert_eq!(
                judge(Some(id), &flapping, Timestamp(500 * HOUR), WINDOW, false),
                Flap::Quiet
            );
        }
    }

    #[test]
    fn leaving_a_settled_version_is_an_edit_even_back_to_a_recent_one() {
        // A, then B, then A again, each long enough to settle.
        let recent = [
            change(ChangeKind::Edited, Some(1), Some(2), 101),
            change(ChangeKind::FirstSeen, None, Some(1), 100),
        ];
        assert_eq!(
            judge(Some(1), &recent, Timestamp(102 * HOUR), WINDOW, true),
            Flap::No
        );
        // Even while flapping is reported: a version that settled ends it.
        let flapping = [
            change(ChangeKind::Flapping, Some(2), Some(1), 102),
            recent[0],
            recent[1],
        ];
        assert_eq!(
            judge(Some(2), &flapping, Timestamp(103 * HOUR), WINDOW, true),
            Flap::No
        );
        assert_eq!(
            judge(Some(2), &flapping, Timestamp(103 * HOUR), WINDOW, false),
            Flap::Quiet
        );
    }

    #[test]
    fn an_old_version_outside_the_window_is_an_edit() {
        let recent = [
            change(ChangeKind::Edited, Some(1), Some(2), 10),
            change(ChangeKind::FirstSeen, None, Some(1), 0),
        ];
        assert_eq!(
            judge(Some(1), &recent, Timestamp(100 * HOUR), WINDOW, false),
            Flap::No
        );
    }

    #[test]
    fn health_events_do_not_hide_the_flapping_report() {
        let recent = [
            change(ChangeKind::Recovered, Some(1), None, 103),
            change(ChangeKind::Failing, Some(1), None, 102),
            change(ChangeKind::Flapping, Some(2), Some(1), 101),
            change(ChangeKind::Edited, Some(1), Some(2), 100),
        ];
        assert_eq!(
            judge(Some(2), &recent, Timestamp(104 * HOUR), WINDOW, false),
            Flap::Quiet
        );
    }
}
