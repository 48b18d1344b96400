//! Confirmation: a removal or a large edit is fetched a second time (after
//! the watch's `confirm_delay`) before it is recorded, because a passing
//! outage, a half-deployed site or one bad server behind a balancer looks
//! exactly like a takedown or a rewrite. The change stands only if the
//! second fetch says the same.

use std::time::Duration;

use crate::model::Outcome;

use super::{Decision, Observation};

/// An edit changing more than this share of the text is confirmed first.
pub const EDIT_RATIO: f64 = 0.5;

/// Whether a decision must be confirmed by a second fetch: a removal, or an
/// edit of more than half the text.
pub fn needed(decision: &Decision) -> bool {
    match decision.outcome {
        Outcome::Removed => true,
        Outcome::Edited => decision
            .summary
            .as_ref()
            .is_some_and(|s| s.changed_ratio > EDIT_RATIO),
        _ => false,
    }
}

/// The first fetch of a check, as the confirming one sees it.
#[derive(Debug, Clone, Copy)]
pub struct First<'a> {
    pub outcome: Outcome,
    /// The text it saw, unless that text was rejected (a soft 404).
    pub text_sha256: Option<&'a str>,
    /// Its error or removal reason, for the note.
    pub error: Option<&'a str>,
    /// How long after it the second fetch was made.
    pub delay: Duration,
}

/// The decision of a confirming fetch, given the first. If both agree (same
/// outcome and, for an edit, the same text), the change stands. Otherwise
/// the second fetch is what the check saw, marked `unconfirmed` with a note
/// naming both; and if the second itself would need confirming, nothing new
/// is recorded (the next check looks again).
pub fn settle(first: &First<'_>, mut second: Decision, observed: Observation<'_>) -> Decision {
    let second_text = match observed {
        Observation::Text { text_sha256 } if !second.text_rejected => Some(text_sha256),
        _ => None,
    };
    let agrees = second.outcome == first.outcome
        && (first.outcome != Outcome::Edited || second_text == first.text_sha256);
    if agrees {
        return second;
    }
    let note = format!(
        "not confirmed: the first fetch said {}{}, a second fetch {} later said {}",
        first.outcome,
        first.error.map(|e| format!(" ({e})")).unwrap_or_default(),
        humantime::format_duration(first.delay),
        second.outcome,
    );
    if needed(&second) {
        second.outcome = Outcome::Unchanged;
        second.summary = None;
        second.lines = None;
        second.keep_validators = false;
        second.current = false;
    }
    if second.outcome != Outcome::Error {
        second.reason = Some("unconfirmed");
        second.detail = Some(note);
    }
    second
}
