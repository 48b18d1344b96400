//! Decides what a check means. [`decide`] is the one place an outcome is
//! chosen: it takes everything a check observed (the page's verdict, the
//! watch's presence and last text, a filter change, the host's not-found
//! page, the recent history, a first fetch being confirmed) and returns the
//! final [`Decision`], with the diff summary it implies.
//!
//! Pure: no IO and no clock (the caller passes `now`), so every rule is a
//! table test. The rules live in one file each: [`page`] (what a response
//! is: content, removed, blocked, failed), [`removal`] (text that is really
//! a takedown: the host's not-found page, a redirect elsewhere), [`flap`]
//! (versions alternating), [`confirm`] (when a second fetch is needed and
//! whether it agrees), [`health`] (a run of failures).
//!
//! Invariants: an error is never a change and never replaces the last good
//! snapshot; a removal is recorded once (a page that stays gone is
//! unchanged); a page seen for the first time must be there (a 404 on the
//! first check is an error, not a removal).

pub mod confirm;
pub mod flap;
pub mod health;
pub mod not_found;
pub mod page;
pub mod removal;

use std::time::Duration;

use url::Url;

use crate::diff::{self, DiffSummary};
use crate::model::{Outcome, Presence, SnapshotId, Timestamp};

/// What one fetch showed, reduced to what classification needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation<'a> {
    /// 304: the validators matched, the page is as it was.
    NotModified,
    /// 404 or 410, or a page judged a removal: the statement is gone.
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

/// The page a response with text came from, for the rules that look at
/// where it landed and what it says.
#[derive(Debug, Clone, Copy)]
pub struct Landing<'a> {
    pub status: u16,
    /// The URL the watch asked for.
    pub requested: &'a Url,
    /// The URL after redirects.
    pub final_url: &'a Url,
    /// The normalized text.
    pub text: &'a str,
}

/// The host's answer to a path that cannot exist, when it answers with 2xx.
#[derive(Debug, Clone, Copy)]
pub struct NotFoundPage<'a> {
    pub host: &'a str,
    /// Its normalized text, under the watch's filters.
    pub text: &'a str,
}

/// The watch's history a would-be change is judged against.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The last good snapshot's text ("" if none).
    pub last_text: String,
    /// The snapshot that already holds the new text, if any, and when that
    /// text was first seen.
    pub seen_before: Option<SnapshotId>,
    pub seen_before_at: Option<Timestamp>,
    /// Checks in a row, newest first and failures skipped, that saw the
    /// current text: it is settled once this reaches `flap_settle`.
    pub held: u32,
    /// The watch's latest changes, newest first.
    pub recent: Vec<flap::Step>,
}

/// Everything one check observed.
#[derive(Debug, Clone, Copy)]
pub struct Case<'a> {
    pub presence: Presence,
    /// The hash of the last good snapshot, if any.
    pub last_sha256: Option<&'a str>,
    pub observation: Observation<'a>,
    /// The rule the page verdict already applied (`blocked`, `not-found`,
    /// `timeout`, …), kept unless a rule here decides otherwise.
    pub reason: Option<&'static str>,
    /// The watch's filters changed and the baseline could not be normalized
    /// again: a different text is a new baseline, not an edit.
    pub filters_changed: bool,
    /// `content = "auto"` chose the statement's region again on this page.
    pub region_moved: bool,
    /// Where a response with text landed (none for failures and 304s).
    pub landing: Option<Landing<'a>>,
    /// Read when [`needs`] asks for it.
    pub history: Option<&'a History>,
    /// Probed when [`needs`] asks for it and the host answers with 2xx.
    pub not_found: Option<NotFoundPage<'a>>,
    /// The first fetch, when this one confirms it.
    pub confirming: Option<confirm::First<'a>>,
    pub now: Timestamp,
    /// `flap_window`.
    pub flap_window: Duration,
    /// `flap_settle`.
    pub flap_settle: u32,
}

/// The outcome of a check and what it implies.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub outcome: Outcome,
    /// The rule behind the outcome, stored with the check.
    pub reason: Option<&'static str>,
    /// A sentence that replaces the page verdict's error: why the text is a
    /// takedown, or why a change was not confirmed.
    pub detail: Option<String>,
    /// The response's text was judged not to be the statement (a soft 404,
    /// a redirect elsewhere): it is not kept or hashed as the page's text.
    pub text_rejected: bool,
    /// How the text changed, for every outcome that records a change.
    pub summary: Option<DiffSummary>,
    /// An edit's removed and added lines, for subscribers' triggers.
    pub lines: Option<Lines>,
    /// The response's validators may replace the stored ones. False when a
    /// change is held back unconfirmed: a 304 next time would hide it.
    pub keep_validators: bool,
    /// The response's text becomes the watch's current text (what `show`
    /// prints and the next check compares with): every outcome that keeps a
    /// snapshot, and an alternation kept quiet as flapping.
    pub current: bool,
}

/// An edit's changed lines, owned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lines {
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

/// What [`decide`] will need to look at, given the same observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The history ([`History`]): for anything that may become a change.
    pub history: bool,
    /// The host's not-found page: for new text that may be a soft 404.
    pub not_found_page: bool,
}

/// What the rules will need for this observation, so the caller reads the
/// history and probes the host only when a decision depends on it.
pub fn needs(
    presence: Presence,
    last_sha256: Option<&str>,
    observation: Observation<'_>,
    filters_changed: bool,
) -> Needs {
    let outcome = baseline_rule(
        by_presence(presence, last_sha256, observation),
        filters_changed,
    );
    Needs {
        history: matches!(
            outcome,
            Outcome::Edited | Outcome::Restored | Outcome::Removed | Outcome::Rebaselined
        ),
        not_found_page: matches!(outcome, Outcome::Edited | Outcome::Restored)
            && matches!(observation, Observation::Text { .. }),
    }
}

/// The final outcome of a check, with its reason, summary and changed lines.
pub fn decide(case: &Case<'_>) -> Decision {
    let mut outcome = baseline_rule(
        by_presence(case.presence, case.last_sha256, case.observation),
        case.filters_changed,
    );
    let mut reason = case.reason;
    let mut detail = None;
    let mut text_rejected = false;
    let last_text = case.history.map_or("", |h| h.last_text.as_str());

    // New text that is really a takedown.
    if let Some(landing) = case.landing
        && matches!(outcome, Outcome::Edited | Outcome::Restored)
    {
        let takedown = case
            .not_found
            .and_then(|page| removal::like_not_found(landing.text, last_text, page))
            .or_else(|| removal::error_page(landing.text, last_text))
            .map(|why| ("soft-404", why))
            .or_else(|| {
                (outcome == Outcome::Edited)
                    .then(|| removal::moved_away(&landing, last_text))
                    .flatten()
                    .map(|why| ("redirected", why))
            });
        if let Some((rule, why)) = takedown {
            let gone = Observation::Gone {
                status: landing.status,
            };
            outcome = by_presence(case.presence, case.last_sha256, gone);
            reason = Some(rule);
            detail = Some(why);
            text_rejected = true;
        }
    }

    // An edit back to a version the page showed before: flapping while the
    // versions alternate without settling, else a real change that says
    // which version it returns to.
    let mut quiet = false;
    if outcome == Outcome::Edited
        && let Some(history) = case.history
    {
        let settled = history.held >= case.flap_settle;
        match flap::judge(
            history.seen_before,
            &history.recent,
            case.now,
            case.flap_window,
            settled,
        ) {
            flap::Flap::No => {
                if let Some(at) = history.seen_before_at {
                    reason = Some("reverted");
                    detail = Some(format!("returns to the version first seen {at}"));
                }
            }
            flap::Flap::Start => outcome = Outcome::Flapping,
            flap::Flap::Quiet => {
                outcome = Outcome::Unchanged;
                reason = Some("flapping");
                quiet = true;
            }
        }
    }

    // The statement's region was chosen again (a redesign, a block that
    // outgrew it). Recorded on the check; and when the statement's own
    // text — its prose lines — is what it was, the new text is a new
    // baseline, not an edit: only short lines around it (a date, a label)
    // moved in or out with the region.
    if case.region_moved && reason.is_none() {
        match outcome {
            Outcome::Unchanged => reason = Some("region-moved"),
            Outcome::Edited => {
                reason = Some("region-moved");
                if let Some(landing) = case.landing
                    && prose_lines(last_text).eq(prose_lines(landing.text))
                {
                    outcome = Outcome::Rebaselined;
                }
            }
            _ => {}
        }
    }

    let new_text = case
        .landing
        .filter(|_| !text_rejected)
        .map_or("", |l| l.text);
    let (summary, lines) = summarize(outcome, last_text, new_text);
    let decision = Decision {
        outcome,
        reason,
        detail,
        text_rejected,
        summary,
        lines,
        keep_validators: true,
        current: outcome.keeps_snapshot() || quiet,
    };
    match &case.confirming {
        Some(first) => confirm::settle(first, decision, case.observation),
        None => decision,
    }
}

/// The summary (and an edit's changed lines) an outcome records.
fn summarize(
    outcome: Outcome,
    last_text: &str,
    new_text: &str,
) -> (Option<DiffSummary>, Option<Lines>) {
    match outcome {
        _ if outcome.change_kind().is_none() => (None, None),
        Outcome::FirstSeen => (Some(diff::summarize("", new_text)), None),
        Outcome::Removed => (Some(diff::summarize(last_text, "")), None),
        Outcome::Edited => {
            let (summary, changed) = diff::summarize_with_lines(last_text, new_text);
            let owned = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect();
            let lines = Lines {
                removed: owned(changed.removed),
                added: owned(changed.added),
            };
            (Some(summary), Some(lines))
        }
        _ => (Some(diff::summarize(last_text, new_text)), None),
    }
}

/// The lines of a text that are prose (at least [`PROSE_CHARS`] weighted
/// characters, a CJK character counting three): what a statement says, as
/// against its date, labels and headings of a few words.
fn prose_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|line| {
        let weight: usize = line
            .chars()
            .map(|c| if crate::normalize::is_cjk(c) { 3 } else { 1 })
            .sum();
        weight >= PROSE_CHARS
    })
}

/// See [`prose_lines`].
const PROSE_CHARS: usize = 40;

/// After a filter change that could not be rebaselined, a new text is the
/// new baseline, not an edit the page made.
fn baseline_rule(outcome: Outcome, filters_changed: bool) -> Outcome {
    if filters_changed && outcome == Outcome::Edited {
        Outcome::Rebaselined
    } else {
        outcome
    }
}

/// The outcome from the watch's presence and the observation alone.
fn by_presence(
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
mod tests;
