//! Decides what a check means: first-seen, unchanged, edited, removed,
//! restored or error. Pure: it sees the watch's previous state and what this
//! check observed, nothing else, so every rule is a unit test.
//!
//! Invariants: an error is never a change and never replaces the last good
//! snapshot; a removal is recorded once (a page that stays gone is
//! unchanged); a page seen for the first time must be there (a 404 on the
//! first check is an error, not a removal).

pub mod flap;
pub mod health;
pub mod page;

use crate::model::Outcome;
use crate::store::Presence;

/// What one fetch showed, reduced to what classification needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation<'a> {
    /// 304: the validators matched, the page is as it was.
    NotModified,
    /// 404 or 410: the server says the page is gone.
    Gone { status: u16 },
    /// A 2xx whose normalized text is empty: the statement is no longer on
    /// the page (or `select` matches nothing any more).
    Empty,
    /// A 2xx with text whose SHA-256 is `text_sha256`.
    Text { text_sha256: &'a str },
    /// Anything that is not evidence about the page: network failures,
    /// timeouts, oversized bodies, other HTTP statuses, undecodable media.
    Failed,
}

/// The outcome of a check given the watch's state before it.
///
/// `last_sha256` is the hash of the last good snapshot, if any.
pub fn classify(
    presence: Presence,
    last_sha256: Option<&str>,
    observed: Observation<'_>,
) -> Outcome {
    match (presence, observed) {
        (_, Observation::Failed) => Outcome::Error,
        // Nothing to compare with yet: only real text can be a baseline.
        (Presence::New, Observation::Text { .. }) => Outcome::FirstSeen,
        (Presence::New, _) => Outcome::Error,
        (Presence::Present, Observation::NotModified) => Outcome::Unchanged,
        (Presence::Present, Observation::Gone { .. } | Observation::Empty) => Outcome::Removed,
        (Presence::Present, Observation::Text { text_sha256 }) => {
            if last_sha256 == Some(text_sha256) {
                Outcome::Unchanged
            } else {
                Outcome::Edited
            }
        }
        (Presence::Removed, Observation::Text { .. }) => Outcome::Restored,
        // Still gone. A 304 here means the server still has the old page
        // cached against our validators; the pipeline does not send
        // validators for a removed page, so this is only a defensive arm.
        (
            Presence::Removed,
            Observation::Gone { .. } | Observation::Empty | Observation::NotModified,
        ) => Outcome::Unchanged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaa";
    const B: &str = "bbbb";

    #[test]
    fn first_check_needs_text() {
        assert_eq!(
            classify(Presence::New, None, Observation::Text { text_sha256: A }),
            Outcome::FirstSeen
        );
        assert_eq!(
            classify(Presence::New, None, Observation::Gone { status: 404 }),
            Outcome::Error
        );
        assert_eq!(
            classify(Presence::New, None, Observation::Empty),
            Outcome::Error
        );
        assert_eq!(
            classify(Presence::New, None, Observation::Failed),
            Outcome::Error
        );
    }

    #[test]
    fn present_page() {
        let p = Presence::Present;
        assert_eq!(
            classify(p, Some(A), Observation::Text { text_sha256: A }),
            Outcome::Unchanged
        );
        assert_eq!(
            classify(p, Some(A), Observation::Text { text_sha256: B }),
            Outcome::Edited
        );
        assert_eq!(
            classify(p, Some(A), Observation::NotModified),
            Outcome::Unchanged
        );
        assert_eq!(
            classify(p, Some(A), Observation::Gone { status: 410 }),
            Outcome::Removed
        );
        assert_eq!(classify(p, Some(A), Observation::Empty), Outcome::Removed);
        assert_eq!(classify(p, Some(A), Observation::Failed), Outcome::Error);
    }

    #[test]
    fn removed_page() {
        let p = Presence::Removed;
        assert_eq!(
            classify(p, Some(A), Observation::Gone { status: 404 }),
            Outcome::Unchanged
        );
        assert_eq!(classify(p, Some(A), Observation::Empty), Outcome::Unchanged);
        assert_eq!(
            classify(p, Some(A), Observation::Text { text_sha256: A }),
            Outcome::Restored
        );
        assert_eq!(
            classify(p, Some(A), Observation::Text { text_sha256: B }),
            Outcome::Restored
        );
        assert_eq!(classify(p, Some(A), Observation::Failed), Outcome::Error);
    }
}
