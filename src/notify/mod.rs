//! Alerts: who is told about a change, and how.
//!
//! Recording a change queues one alert per interested subscriber in the
//! same store transaction (the outbox), so no alert is lost to a crash. The
//! delivery worker ([`outbox`]) sends queued alerts by email ([`email`]) or
//! signed webhook ([`webhook`]), retries failures with backoff, and gives up
//! only after `alert_max_age`. Alerts are rendered at delivery from the
//! stored history ([`AlertData`]), so the outbox row stays small.

pub mod email;
pub mod outbox;
pub mod webhook;

use serde::Serialize;

use crate::config::{Channel, Event, Subscriber, Watch};
use crate::diff::{ChangedLines, DiffSummary};
use crate::follow::{FollowSpec, Source};
use crate::model::{ChangeKind, Timestamp};
use crate::store::NewAlert;

/// The alerts an event of `watch` queues: one per subscriber named in its
/// `notify` whose `events` and `min_change` want it and, for an edit, whose
/// `match`/`changes` triggers fire on `lines` (the edit's removed and added
/// lines). Baselines (first-seen, rebaselined) alert nobody, and neither do
/// the edits of a followed listing: its text changes with every new
/// statement, and `published`/`delisted` say what happened. (A feed's
/// edits are alerted: they are how an edit seen only in a feed is told.)
pub fn alerts_for(
    watch: &Watch,
    subscribers: &[Subscriber],
    kind: ChangeKind,
    summary: &DiffSummary,
    lines: Option<&ChangedLines<'_>>,
) -> Vec<NewAlert> {
    let Some(event) = Event::of(kind) else {
        return Vec::new();
    };
    let listing = matches!(
        &watch.follow,
        Some(FollowSpec {
            source: Source::Links(_),
            ..
        })
    );
    if listing && event == Event::Edited {
        return Vec::new();
    }
    watch
        .notify
        .iter()
        .filter_map(|name| subscribers.iter().find(|s| &s.name == name))
        .filter(|s| s.wants(event, summary.changed_ratio))
        .filter(|s| match (event, lines) {
            (Event::Edited, Some(lines)) => s.triggered_by(&lines.added, &lines.removed),
            _ => true,
        })
        .map(|s| NewAlert {
            subscriber: s.name.clone(),
            channel: channel_name(&s.channel).to_owned(),
        })
        .collect()
}

/// `email` or `webhook`.
pub fn channel_name(channel: &Channel) -> &'static str {
    match channel {
        Channel::Email(_) => "email",
        Channel::Webhook { .. } => "webhook",
    }
}

/// Most changed places an alert lists (the webhook's `changes`); the full
/// diff follows them.
pub const CHANGES_LISTED: usize = 20;

/// One side of a change, as an alert shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotData {
    /// The snapshot id in the history (`chancery show WATCH ID`).
    pub id: i64,
    /// SHA-256 of the normalized text.
    pub sha256: String,
    /// When a fetch saw this text: for the text after a change, the check
    /// that detected the change (a restore is the fetch that saw the page
    /// again, not when its text was first seen).
    pub fetched_at: Timestamp,
    /// When this text was first seen (snapshots are kept once per text).
    pub first_seen_at: Timestamp,
    pub text: String,
}

/// Everything an alert renders, read from the history at delivery time.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertData {
    /// Stable across retries: receivers deduplicate on it.
    pub id: String,
    /// `edited`, `removed`, `restored`, or `test`.
    pub event: String,
    pub watch_name: String,
    pub watch_url: String,
    pub detected_at: Timestamp,
    /// The text before the change (none for a test alert).
    pub previous: Option<SnapshotData>,
    /// The text after the change (none for a removal).
    pub current: Option<SnapshotData>,
    /// The HTTP status of the check that detected the change.
    pub status: Option<u16>,
    pub summary: DiffSummary,
    /// For `delisted`: the listing, the statement's title, and what its
    /// own page answered last.
    pub delisting: Option<Delisting>,
    /// The change's page in the web view (`[web] base_url`), if set.
    pub page_url: Option<String>,
}

/// A statement taken off a followed listing: where, which, and whether its
/// page is still there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delisting {
    /// The listing (index page or feed) it was taken off.
    pub listing_url: String,
    /// Its title as the listing showed it.
    pub title: Option<String>,
    /// The statement page's latest check: when, its HTTP status (none if
    /// the fetch failed) and its outcome.
    pub page_checked_at: Option<Timestamp>,
    pub page_status: Option<u16>,
    pub page_outcome: Option<crate::model::Outcome>,
}

impl Delisting {
    /// What the statement's own page did: `the page itself still answers
    /// HTTP 200 (checked …)`, `the page itself is gone (HTTP 404, checked
    /// …)`.
    pub fn page(&self) -> String {
        use crate::model::Outcome;
        let at = self
            .page_checked_at
            .map(|t| format!("checked {}", t.rfc3339()))
            .unwrap_or_default();
        match (self.page_outcome, self.page_status) {
            (None, _) => "the page itself has not been checked yet".to_owned(),
            (Some(Outcome::Removed), Some(status)) => {
                format!("the page itself is gone (HTTP {status}, {at})")
            }
            (Some(Outcome::Removed), None) => format!("the page itself is gone ({at})"),
            (Some(Outcome::Error), Some(status)) => {
                format!("the page itself could not be read (HTTP {status}, {at})")
            }
            (Some(Outcome::Error), None) => format!("the page itself could not be read ({at})"),
            (Some(_), Some(status)) => {
                format!("the page itself still answers HTTP {status} ({at})")
            }
            (Some(_), None) => format!("the page itself is still there ({at})"),
        }
    }
}

impl AlertData {
    /// A clearly marked test alert for `chancery notify test`.
    pub fn test(id: String, subscriber: &str) -> AlertData {
        let now = Timestamp::now();
        let previous =
            "This is a test alert from chancery.\nThe statement read like this before.".to_owned();
        let current = format!(
            "This is a test alert from chancery.\nThe statement reads like this now.\nSent to subscriber {subscriber} by `chancery notify test`."
        );
        let snapshot = |id: i64, text: String| SnapshotData {
            id,
            sha256: crate::hash::sha256_hex(text.as_bytes()),
            fetched_at: now,
            first_seen_at: now,
            text,
        };
        let summary = crate::diff::summarize(&previous, &current);
        AlertData {
            id,
            event: "test".to_owned(),
            watch_name: "chancery-test".to_owned(),
            watch_url: "https://example.invalid/chancery-test".to_owned(),
            detected_at: now,
            previous: Some(snapshot(0, previous)),
            current: Some(snapshot(0, current)),
            status: Some(200),
            summary,
            delisting: None,
            page_url: None,
        }
    }

    /// When an edit brings back a version the page showed before (a
    /// walk-back, or an edit re-applied after one): when that version was
    /// first seen. Snapshots are kept once per text and stamped with the
    /// check that first saw them, so a new text's snapshot is as old as
    /// the change and a returning one is older.
    pub fn returns_to(&self) -> Option<Timestamp> {
        let after = self.current.as_ref()?;
        (self.event == "edited" && after.first_seen_at < self.detected_at)
            .then_some(after.first_seen_at)
    }

    /// The changed places, word by word, in reading order (at most
    /// [`CHANGES_LISTED`]), and how many there are: empty unless there is
    /// a text on both sides (a removal is the whole text).
    pub fn changes(&self) -> (Vec<crate::diff::Change>, usize) {
        match (&self.previous, &self.current) {
            (Some(before), Some(after)) => {
                crate::diff::changes(&before.text, &after.text, CHANGES_LISTED)
            }
            _ => (Vec::new(), 0),
        }
    }

    /// The text before and after (empty when absent).
    pub fn texts(&self) -> (&str, &str) {
        (
            self.previous.as_ref().map_or("", |s| s.text.as_str()),
            self.current.as_ref().map_or("", |s| s.text.as_str()),
        )
    }

    /// Labels for the two sides of a diff, e.g. `mfa@12 (2026-11-28T12:00:00Z)`.
    pub fn labels(&self) -> (String, String) {
        let label = |s: &Option<SnapshotData>, absent: &str| match s {
            Some(s) => format!("{}@{} ({})", self.watch_name, s.id, s.fetched_at),
            None => format!("{}@{absent}", self.watch_name),
        };
        (
            label(&self.previous, "none"),
            label(&self.current, "removed"),
        )
    }

    /// The unified diff of the normalized texts, as webhooks and the
    /// plain-text mail part carry it.
    pub fn unified_diff(&self) -> String {
        let (old, new) = self.texts();
        let (old_label, new_label) = self.labels();
        crate::diff::render(
            old,
            new,
            crate::diff::Format::Unified,
            &crate::diff::RenderOptions {
                old_label,
                new_label,
                ..Default::default()
            },
        )
    }
}

/// Why a delivery failed, and whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    /// True when retrying cannot succeed (e.g. HTTP 410, SMTP 5xx): the
    /// alert is marked failed at once.
    pub permanent: bool,
    /// One sentence for the log and `chancery outbox`; never contains a secret.
    pub message: String,
}

impl DeliveryError {
    pub fn transient(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            permanent: false,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            permanent: true,
            message: message.into(),
        }
    }
}
