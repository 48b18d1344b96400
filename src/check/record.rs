//! Recording: one [`Record`] holds everything a check produced, owned, and
//! is the single source of both the row the store writes ([`NewCheck`]) and
//! the [`CheckReport`] the caller prints, so the two can never disagree.
//! A fetched check and a filter-change rebaseline are both built here.

use std::time::{Duration, SystemTime};

use super::Seen;
use super::evaluate::retry_after;
use super::report::{CheckReport, ListingReport};
use crate::classify::health;
use crate::config::{Subscriber, Watch};
use crate::diff::{ChangedLines, DiffSummary};
use crate::fetch::Response;
use crate::hash::sha256_hex;
use crate::model::{ChangeKind, Health, Outcome, Timestamp, WatchId};
use crate::notify::alerts_for;
use crate::store::{
    Basis, FollowUpdate, NewAlert, NewBody, NewChange, NewCheck, NewEvent, NewHeads, NewSnapshot,
    RecordedCheck, WatchState,
};

/// Everything one check produced, ready to be written in one transaction.
pub(super) struct Record {
    pub watch: String,
    pub url: String,
    pub watch_id: WatchId,
    pub started_at: Timestamp,
    pub duration: Duration,
    pub outcome: Outcome,
    pub reason: Option<String>,
    /// Why it failed, or why the page counts as removed.
    pub error: Option<String>,
    pub http_status: Option<u16>,
    pub final_url: Option<String>,
    pub content_type: Option<String>,
    pub charset: Option<String>,
    /// Body bytes received (after decompression).
    pub bytes: u64,
    pub raw_sha256: Option<String>,
    /// The raw body, kept only with a new snapshot.
    pub body: Option<Vec<u8>>,
    pub text_sha256: Option<String>,
    /// The text to keep as a snapshot (outcomes that keep one).
    pub snapshot: Option<String>,
    /// The text becomes the watch's current text.
    pub current: bool,
    /// The main-content region to remember (see `NewCheck::region`).
    pub region: Option<Option<String>>,
    pub validators: Option<(Option<String>, Option<String>)>,
    pub change: Option<NewChange>,
    pub summary: Option<DiffSummary>,
    pub alerts: Vec<NewAlert>,
    pub filters_sha256: String,
    pub health: Health,
    /// The health event raised, for the report.
    pub event: Option<ChangeKind>,
    pub events: Vec<NewEvent>,
    pub follow: Option<FollowUpdate>,
    pub listing: Option<ListingReport>,
    pub heads: Option<NewHeads>,
    pub retry_after: Option<Duration>,
    /// The watch's state this check was judged against.
    pub basis: Basis,
}

impl Record {
    /// The record of a fetched, decided check of `watch`. `listing` is the
    /// reconciled listing of a follow watch, when it was read.
    pub fn of_check(
        watch: &Watch,
        state: &WatchState,
        seen: Seen,
        subscribers: &[Subscriber],
        listing: Option<(FollowUpdate, ListingReport)>,
    ) -> Record {
        let Seen {
            started_at,
            fetched,
            eval,
            decision,
        } = seen;
        let outcome = decision.outcome;
        // A fetch cut off after its headers (too large, timed out mid-body)
        // still had a status and a final URL: record them.
        let cut_off = fetched
            .as_ref()
            .err()
            .and_then(|e| Some((e.status()?, e.final_url()?.to_string())));
        let response = fetched.ok();
        // A page that was read (whatever it was judged) says where its
        // content is; a failure or a 304 leaves the stored region.
        let region = eval.text.is_some().then(|| eval.region.clone());
        let (text, text_sha256) = if decision.text_rejected {
            (None, None)
        } else {
            (eval.text, eval.text_sha256)
        };
        let change = match (outcome.change_kind(), &decision.summary) {
            (Some(kind), Some(summary)) => Some(NewChange {
                kind,
                from: match outcome {
                    Outcome::FirstSeen => None,
                    _ => state.last_snapshot.as_ref().map(|s| s.id),
                },
                summary: summary.clone(),
            }),
            _ => None,
        };
        let changed_lines = decision.lines.as_ref().map(|lines| ChangedLines {
            added: lines.added.iter().map(String::as_str).collect(),
            removed: lines.removed.iter().map(String::as_str).collect(),
        });
        let alerts = change.as_ref().map_or_else(Vec::new, |c| {
            alerts_for(
                watch,
                subscribers,
                c.kind,
                &c.summary,
                changed_lines.as_ref(),
            )
        });
        let error = decision.detail.or(eval.error);
        let before = Health {
            failing_since: state.failing_since,
            reported: state.failing_reported,
        };
        let (health, event) = health::next(before, outcome, started_at, watch.failing_after);

        let mut events = Vec::new();
        if outcome == Outcome::FirstSeen && state.announce {
            events.push(event_of(
                watch,
                subscribers,
                ChangeKind::Published,
                decision
                    .summary
                    .as_ref()
                    .and_then(|s| s.first_change.clone()),
            ));
        }
        if let Some(kind) = event {
            let detail = (kind == ChangeKind::Failing).then(|| {
                format!(
                    "failing since {}: {}",
                    health.failing_since.unwrap_or(started_at),
                    error.as_deref().unwrap_or("check failed")
                )
            });
            events.push(event_of(watch, subscribers, kind, detail));
        }
        let (follow, listing) = listing.unzip();

        let snapshot = text.filter(|_| outcome.keeps_snapshot());
        let duration = response.as_ref().map_or_else(
            || {
                let now = Timestamp::now().as_millis();
                Duration::from_millis(u64::try_from(now - started_at.as_millis()).unwrap_or(0))
            },
            |r| r.elapsed,
        );
        let validators = response
            .as_ref()
            .filter(|_| decision.keep_validators)
            .and_then(|r| validators_after(r, state));
        let retry_after = response
            .as_ref()
            .and_then(|r| retry_after(r, SystemTime::now()));
        let heads = response.as_ref().map(heads_of);
        let (http_status, final_url, content_type) = match &response {
            Some(r) => (
                Some(r.status),
                Some(r.final_url.to_string()),
                r.content_type.clone(),
            ),
            None => match cut_off {
                Some((status, url)) => (Some(status), Some(url), None),
                None => (None, None, None),
            },
        };
        let raw = response.map(|r| r.body).unwrap_or_default();
        let raw_sha256 = (!raw.is_empty()).then(|| sha256_hex(&raw));
        Record {
            watch: watch.name.clone(),
            url: watch.url.to_string(),
            watch_id: state.watch_id,
            started_at,
            duration,
            outcome,
            reason: decision.reason.map(str::to_owned),
            error,
            http_status,
            final_url,
            content_type,
            charset: eval.charset,
            bytes: raw.len() as u64,
            body: (snapshot.is_some() && raw_sha256.is_some()).then_some(raw),
            raw_sha256,
            text_sha256,
            snapshot,
            current: decision.current,
            region,
            validators,
            change,
            summary: decision.summary,
            alerts,
            filters_sha256: watch.filters_sha256(),
            health,
            event,
            events,
            follow,
            listing,
            heads,
            retry_after,
            basis: Basis::of(state),
        }
    }

    /// The row the store writes.
    pub fn new_check(&self) -> NewCheck<'_> {
        let snapshot = match (&self.snapshot, &self.text_sha256) {
            (Some(text), Some(sha256)) => Some(NewSnapshot { sha256, text }),
            _ => None,
        };
        let body = match (&self.body, &self.raw_sha256) {
            (Some(bytes), Some(sha256)) => Some(NewBody { sha256, bytes }),
            _ => None,
        };
        NewCheck {
            watch_id: self.watch_id,
            started_at: self.started_at,
            duration: self.duration,
            outcome: self.outcome,
            http_status: self.http_status,
            final_url: self.final_url.clone(),
            error: self.error.clone(),
            bytes: self.bytes,
            content_type: self.content_type.clone(),
            charset: self.charset.clone(),
            raw_sha256: self.raw_sha256.clone(),
            text_sha256: self.text_sha256.clone(),
            validators: self.validators.clone(),
            body,
            snapshot,
            current: self.current,
            region: self.region.clone(),
            change: self.change.clone(),
            filters_sha256: Some(self.filters_sha256.clone()),
            alerts: self.alerts.clone(),
            reason: self.reason.clone(),
            health: self.health,
            events: self.events.clone(),
            follow: self.follow.clone(),
            heads: self.heads.clone(),
            basis: Some(self.basis),
        }
    }

    /// The report of the recorded check.
    pub fn report(self, recorded: RecordedCheck) -> CheckReport {
        CheckReport {
            watch: self.watch,
            url: self.url,
            outcome: self.outcome,
            started_at: self.started_at,
            duration: self.duration,
            http_status: self.http_status,
            error: self.error,
            reason: self.reason,
            summary: self.summary,
            event: self.event,
            listing: self.listing,
            retry_after: self.retry_after,
            check_id: recorded.check_id,
            snapshot_id: recorded.snapshot_id,
            change_id: recorded.change_id,
        }
    }
}

/// An event beside the check's outcome (health, `published`), with the
/// alerts it queues.
fn event_of(
    watch: &Watch,
    subscribers: &[Subscriber],
    kind: ChangeKind,
    detail: Option<String>,
) -> NewEvent {
    let summary = DiffSummary::none(detail.clone());
    NewEvent {
        kind,
        alerts: alerts_for(watch, subscribers, kind, &summary, None),
        detail,
    }
}

/// The validators to remember after `response`. Every full response
/// replaces them (a page that stopped sending them must not keep old
/// ones); a 304 that carries new ones refreshes them.
fn validators_after(
    response: &Response,
    state: &WatchState,
) -> Option<(Option<String>, Option<String>)> {
    match response.status {
        200..=299 => Some((response.etag.clone(), response.last_modified.clone())),
        304 if response.etag.is_some() || response.last_modified.is_some() => Some((
            response.etag.clone().or_else(|| state.etag.clone()),
            response
                .last_modified
                .clone()
                .or_else(|| state.last_modified.clone()),
        )),
        _ => None,
    }
}

/// The response's HTTP heads as the store keeps them.
fn heads_of(response: &Response) -> NewHeads {
    let exchange = &response.exchange;
    NewHeads {
        requested_at: exchange.requested_at,
        remote_ip: exchange.remote_ip.map(|ip| ip.to_string()),
        request_head: exchange.request_head(&response.final_url),
        response_head: exchange.response_head(response.status),
        rendered_by: exchange.rendered_by.clone(),
    }
}
