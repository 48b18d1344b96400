//! Table tests of [`decide`]: each row is one situation a check can be in.

use std::time::Duration;

use url::Url;

use super::*;
use crate::model::ChangeKind;

const A: &str = "aaaa";
const B: &str = "bbbb";
const HOUR: i64 = 3_600_000;
const NOW: Timestamp = Timestamp(1_000 * HOUR);

const STATEMENT: &str = "Statement on the talks\nThe ministry welcomes the talks.\nBoth sides met.";
const EDITED: &str = "Statement on the talks\nThe ministry regrets the talks.\nBoth sides met.";
const NOT_FOUND: &str = "Home | News\nSorry, the page does not exist.\nCopyright";

fn url(s: &str) -> &'static Url {
    Box::leak(Box::new(Url::parse(s).expect("test url")))
}

fn page() -> &'static Url {
    url("https://mfa.example/news/1.html")
}

/// A case with nothing but presence, last hash and observation.
fn case(
    presence: Presence,
    last: Option<&'static str>,
    observation: Observation<'static>,
) -> Case<'static> {
    Case {
        presence,
        last_sha256: last,
        observation,
        reason: None,
        filters_changed: false,
        region_moved: false,
        landing: None,
        history: None,
        not_found: None,
        confirming: None,
        now: NOW,
        flap_window: Duration::from_secs(24 * 3600),
        flap_settle: 2,
    }
}

fn text(sha: &'static str) -> Observation<'static> {
    Observation::Text { text_sha256: sha }
}

fn landing(final_url: &'static Url, text: &'static str) -> Option<Landing<'static>> {
    Some(Landing {
        status: 200,
        requested: page(),
        final_url,
        text,
    })
}

fn history(
    last_text: &str,
    seen_before: Option<SnapshotId>,
    recent: Vec<flap::Step>,
) -> &'static History {
    Box::leak(Box::new(History {
        last_text: last_text.to_owned(),
        seen_before,
        seen_before_at: seen_before.map(|_| Timestamp(998 * HOUR)),
        held: 1,
        recent,
    }))
}

#[test]
fn presence_and_observation_alone() {
    use Outcome::*;
    use Presence::{New, Present, Removed as Gone};
    let rows: &[(
        Presence,
        Option<&'static str>,
        Observation<'static>,
        Outcome,
    )] = &[
        // A first check needs text.
        (New, None, text(A), FirstSeen),
        (New, None, Observation::Gone { status: 404 }, Error),
        (New, None, Observation::Empty, Error),
        (New, None, Observation::Failed, Error),
        // A present page.
        (Present, Some(A), text(A), Unchanged),
        (Present, Some(A), text(B), Edited),
        (Present, Some(A), Observation::NotModified, Unchanged),
        (Present, Some(A), Observation::Gone { status: 410 }, Removed),
        (Present, Some(A), Observation::Empty, Removed),
        (Present, Some(A), Observation::Failed, Error),
        // A removed page stays removed until text comes back.
        (Gone, Some(A), Observation::Gone { status: 404 }, Unchanged),
        (Gone, Some(A), Observation::Empty, Unchanged),
        (Gone, Some(A), text(A), Restored),
        (Gone, Some(A), text(B), Restored),
        (Gone, Some(A), Observation::Failed, Error),
    ];
    for &(presence, last, observation, expected) in rows {
        let d = decide(&case(presence, last, observation));
        assert_eq!(d.outcome, expected, "{presence:?} {last:?} {observation:?}");
        assert_eq!(d.outcome.change_kind().is_some(), d.summary.is_some());
    }
}

#[test]
fn a_filter_change_makes_a_new_text_a_baseline() {
    let mut c = case(Presence::Present, Some(A), text(B));
    c.filters_changed = true;
    assert_eq!(decide(&c).outcome, Outcome::Rebaselined);
    // An unchanged text stays unchanged; a removal stays a removal.
    c.observation = text(A);
    assert_eq!(decide(&c).outcome, Outcome::Unchanged);
    c.observation = Observation::Gone { status: 404 };
    assert_eq!(decide(&c).outcome, Outcome::Removed);
}

#[test]
fn needs_follow_the_outcome() {
    let n = needs(Presence::Present, Some(A), text(B), false);
    assert_eq!((n.history, n.not_found_page), (true, true));
    let n = needs(Presence::Present, Some(A), text(A), false);
    assert_eq!((n.history, n.not_found_page), (false, false));
    let n = needs(
        Presence::Present,
        Some(A),
        Observation::Gone { status: 404 },
        false,
    );
    assert_eq!((n.history, n.not_found_page), (true, false));
    let n = needs(Presence::Present, Some(A), text(B), true);
    assert_eq!((n.history, n.not_found_page), (true, false));
    let n = needs(Presence::Removed, Some(A), text(B), false);
    assert_eq!((n.history, n.not_found_page), (true, true));
    let n = needs(Presence::New, None, text(A), false);
    assert_eq!((n.history, n.not_found_page), (false, false));
}

#[test]
fn an_edit_summarizes_its_lines() {
    let mut c = case(Presence::Present, Some(A), text(B));
    c.landing = landing(page(), EDITED);
    c.history = Some(history(STATEMENT, None, Vec::new()));
    let d = decide(&c);
    assert_eq!(d.outcome, Outcome::Edited);
    let summary = d.summary.expect("summary");
    assert_eq!((summary.lines_added, summary.lines_removed), (1, 1));
    let lines = d.lines.expect("lines");
    assert_eq!(lines.added, ["The ministry regrets the talks."]);
    assert_eq!(lines.removed, ["The ministry welcomes the talks."]);
}

#[test]
fn the_hosts_not_found_page_is_a_removal_or_still_gone() {
    let not_found = NotFoundPage {
        host: "mfa.example",
        text: NOT_FOUND,
    };
    for (presence, expected) in [
        (Presence::Present, Outcome::Removed),
        (Presence::Removed, Outcome::Unchanged),
    ] {
        let mut c = case(presence, Some(A), text(B));
        c.landing = landing(page(), NOT_FOUND);
        c.history = Some(history(STATEMENT, None, Vec::new()));
        c.not_found = Some(not_found);
        let d = decide(&c);
        assert_eq!(d.outcome, expected, "{presence:?}");
        assert_eq!(d.reason, Some("soft-404"));
        assert!(d.text_rejected);
        assert!(
            d.detail
                .as_deref()
                .is_some_and(|w| w.contains("mfa.example"))
        );
    }
}

#[test]
fn a_redirect_to_unrelated_text_is_a_removal() {
    let mut c = case(Presence::Present, Some(A), text(B));
    c.landing = landing(url("https://mfa.example/topics/"), "Topics\nTrade\nClimate");
    c.history = Some(history(STATEMENT, None, Vec::new()));
    let d = decide(&c);
    assert_eq!(
        (d.outcome, d.reason),
        (Outcome::Removed, Some("redirected"))
    );
    // The same redirect keeping the statement's text is judged by the text.
    c.landing = landing(url("https://mfa.example/topics/"), EDITED);
    assert_eq!(decide(&c).outcome, Outcome::Edited);
}

#[test]
fn a_return_to_a_recent_version_flaps_once_then_is_quiet() {
    let step = |kind, from, to, hour| flap::Step {
        kind,
        from,
        to,
        detected_at: Timestamp(hour * HOUR),
    };
    let mut c = case(Presence::Present, Some(B), text(A));
    c.landing = landing(page(), STATEMENT);
    c.history = Some(history(
        EDITED,
        Some(1),
        vec![
            step(ChangeKind::Edited, Some(1), Some(2), 999),
            step(ChangeKind::FirstSeen, None, Some(1), 998),
        ],
    ));
    assert_eq!(decide(&c).outcome, Outcome::Flapping);
    c.history = Some(history(
        EDITED,
        Some(1),
        vec![step(ChangeKind::Flapping, Some(2), Some(1), 999)],
    ));
    let d = decide(&c);
    assert_eq!(
        (d.outcome, d.reason),
        (Outcome::Unchanged, Some("flapping"))
    );
    assert!(d.summary.is_none());
    // Kept quiet, but the watch's text follows the page.
    assert!(d.current);
}

#[test]
fn leaving_a_settled_version_is_an_edit_that_says_where_it_returns() {
    let step = |kind, from, to, hour| flap::Step {
        kind,
        from,
        to,
        detected_at: Timestamp(hour * HOUR),
    };
    // A, B, then A again: B held for two checks.
    let mut settled = History {
        last_text: EDITED.to_owned(),
        seen_before: Some(1),
        seen_before_at: Some(Timestamp(998 * HOUR)),
        held: 2,
        recent: vec![
            step(ChangeKind::Edited, Some(1), Some(2), 999),
            step(ChangeKind::FirstSeen, None, Some(1), 998),
        ],
    };
    let mut c = case(Presence::Present, Some(B), text(A));
    c.landing = landing(page(), STATEMENT);
    c.history = Some(Box::leak(Box::new(settled.clone())));
    let d = decide(&c);
    assert_eq!((d.outcome, d.reason), (Outcome::Edited, Some("reverted")));
    let note = d.detail.expect("note");
    assert!(note.contains(&Timestamp(998 * HOUR).to_string()), "{note}");
    assert!(d.current);
    // A higher flap_settle: the same walk-back is still alternation.
    c.flap_settle = 3;
    assert_eq!(decide(&c).outcome, Outcome::Flapping);
    // After flapping was reported, a version that settles ends the quiet.
    c.flap_settle = 2;
    settled
        .recent
        .insert(0, step(ChangeKind::Flapping, Some(2), Some(1), 1000));
    c.history = Some(Box::leak(Box::new(settled)));
    assert_eq!(decide(&c).outcome, Outcome::Edited);
}

#[test]
fn confirmation_keeps_a_change_only_when_both_fetches_agree() {
    let first = |outcome, text_sha256| confirm::First {
        outcome,
        text_sha256,
        error: Some("HTTP 404"),
        delay: Duration::from_secs(60),
    };
    // A removal seen twice stands.
    let mut c = case(
        Presence::Present,
        Some(A),
        Observation::Gone { status: 404 },
    );
    c.reason = Some("not-found");
    c.history = Some(history(STATEMENT, None, Vec::new()));
    c.confirming = Some(first(Outcome::Removed, None));
    let d = decide(&c);
    assert_eq!((d.outcome, d.reason), (Outcome::Removed, Some("not-found")));

    // A removal not seen again: the second fetch is what the check saw.
    let mut c = case(Presence::Present, Some(A), text(A));
    c.confirming = Some(first(Outcome::Removed, None));
    let d = decide(&c);
    assert_eq!(
        (d.outcome, d.reason),
        (Outcome::Unchanged, Some("unconfirmed"))
    );
    let note = d.detail.expect("note");
    assert!(
        note.contains("first fetch said removed (HTTP 404)"),
        "{note}"
    );
    assert!(note.contains("1m later said unchanged"), "{note}");
    assert!(d.keep_validators);

    // A large edit to another text than the first fetch saw: held back,
    // validators not kept, nothing recorded as a change.
    let mut c = case(Presence::Present, Some(A), text(B));
    c.landing = landing(page(), "Entirely\nnew");
    c.history = Some(history(STATEMENT, None, Vec::new()));
    c.confirming = Some(first(Outcome::Edited, Some("cccc")));
    let d = decide(&c);
    assert_eq!(
        (d.outcome, d.reason),
        (Outcome::Unchanged, Some("unconfirmed"))
    );
    assert!(d.summary.is_none() && d.lines.is_none());
    assert!(!d.keep_validators);

    // The same large edit twice stands.
    c.confirming = Some(first(Outcome::Edited, Some(B)));
    assert_eq!(decide(&c).outcome, Outcome::Edited);

    // A second fetch that fails is an error, not "unconfirmed".
    let mut c = case(Presence::Present, Some(A), Observation::Failed);
    c.reason = Some("timeout");
    c.confirming = Some(first(Outcome::Removed, None));
    let d = decide(&c);
    assert_eq!((d.outcome, d.reason), (Outcome::Error, Some("timeout")));
}

#[test]
fn confirmation_is_needed_for_removals_and_large_edits() {
    let mut c = case(Presence::Present, Some(A), text(B));
    c.landing = landing(page(), EDITED);
    c.history = Some(history(STATEMENT, None, Vec::new()));
    assert!(!confirm::needed(&decide(&c)), "one line of three");
    c.landing = landing(page(), "Entirely\nnew\ntext");
    assert!(confirm::needed(&decide(&c)));
    let c = case(Presence::Present, Some(A), Observation::Empty);
    assert!(confirm::needed(&decide(&c)));
    let c = case(Presence::New, None, text(A));
    assert!(!confirm::needed(&decide(&c)));
}

#[test]
fn a_region_chosen_again_rebaselines_when_the_statements_prose_is_unchanged() {
    let last = "Statement on the talks\n2026/11/29\nThe ministry welcomes the talks held in Geneva this week.\nBoth sides agreed to meet again in the spring.";
    // A redesign moved the date out of the region; the prose is the same.
    let mut c = case(Presence::Present, Some(A), text(B));
    c.region_moved = true;
    c.landing = landing(
        page(),
        "Statement on the talks\nThe ministry welcomes the talks held in Geneva this week.\nBoth sides agreed to meet again in the spring.",
    );
    c.history = Some(history(last, None, Vec::new()));
    let d = decide(&c);
    assert_eq!(
        (d.outcome, d.reason),
        (Outcome::Rebaselined, Some("region-moved"))
    );
    // A real edit of the prose with the move is an edit, and says so.
    c.landing = landing(
        page(),
        "Statement on the talks\nThe ministry regrets the talks held in Geneva this week.\nBoth sides agreed to meet again in the spring.",
    );
    let d = decide(&c);
    assert_eq!(
        (d.outcome, d.reason),
        (Outcome::Edited, Some("region-moved"))
    );
    // Unchanged text, moved region: recorded on the check.
    let mut c = case(Presence::Present, Some(A), text(A));
    c.region_moved = true;
    assert_eq!(decide(&c).reason, Some("region-moved"));
}
