//! One check of one watch, through the whole pipeline:
//! fetch → normalize → hash → classify → diff → store.
//!
//! This is the core that `chancery check` (and the daemon) call; nothing
//! else runs the stages in sequence. A failed fetch is not an error of this
//! function: it becomes a check with outcome `error`, recorded like any
//! other. Only a storage failure is returned as `Err`, because then nothing
//! could be recorded.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::classify::{Observation, classify};
use crate::config::{Config, Subscriber, Watch};
use crate::diff::{self, DiffSummary};
use crate::fetch::robots::RobotsCache;
use crate::fetch::{FetchError, FetchOptions, Fetcher, Response, Validators};
use crate::hash::sha256_hex;
use crate::model::{Outcome, Timestamp};
use crate::normalize::{self, Input};
use crate::store::{
    ChangeId, CheckId, NewBody, NewChange, NewCheck, NewHeads, NewSnapshot, Presence, SnapshotId,
    Store, StoreError, WatchState,
};

/// A store shared by concurrent checks. Every call runs on tokio's blocking
/// pool, so SQLite's fsyncs never stall the network tasks.
#[derive(Clone)]
pub struct SharedStore(Arc<Mutex<Box<dyn Store + Send>>>);

impl SharedStore {
    /// Wraps a store for shared use.
    pub fn new(store: impl Store + Send + 'static) -> SharedStore {
        SharedStore(Arc::new(Mutex::new(Box::new(store))))
    }

    /// Runs `f` with exclusive access to the store, on the blocking pool.
    pub async fn run<R, F>(&self, f: F) -> R
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Store) -> R + Send + 'static,
    {
        let this = self.clone();
        match tokio::task::spawn_blocking(move || this.blocking(f)).await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Runs `f` with exclusive access to the store on this thread.
    pub fn blocking<R>(&self, f: impl FnOnce(&mut dyn Store) -> R) -> R {
        // A panic while holding the lock cannot leave a half-written check:
        // the open transaction rolls back when it is dropped.
        let mut guard = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(guard.as_mut())
    }
}

/// What one check concluded, for the CLI line, JSON and logs.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub watch: String,
    pub url: String,
    pub outcome: Outcome,
    pub started_at: Timestamp,
    #[serde(serialize_with = "serialize_millis")]
    pub duration: Duration,
    pub http_status: Option<u16>,
    /// Why the check failed, or why the page counts as removed.
    pub error: Option<String>,
    /// How the text changed, for first-seen, edited, removed and restored.
    pub summary: Option<DiffSummary>,
    /// How long the server asked us to wait (429/503 with `Retry-After`).
    #[serde(skip)]
    pub retry_after: Option<Duration>,
    pub check_id: CheckId,
    pub snapshot_id: Option<SnapshotId>,
    pub change_id: Option<ChangeId>,
}

impl CheckReport {
    /// One log line per outcome worth seeing: changes at info, failures at
    /// warn, unchanged at debug.
    pub fn log(&self) {
        let r = self;
        match r.outcome {
            Outcome::Error => tracing::warn!(
                watch = %r.watch,
                url = %r.url,
                status = r.http_status,
                error = r.error.as_deref().unwrap_or(""),
                "check failed"
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
            CheckError::Store { watch, .. } | CheckError::Skipped { watch, .. } => watch,
        }
    }
}

/// Everything a check needs besides the watch: the HTTP client, the store
/// and (with `respect_robots`) the robots.txt cache. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    pub fetcher: Fetcher,
    pub store: SharedStore,
    pub robots: Option<Arc<RobotsCache>>,
    /// Who gets alerts; a change queues theirs in its own transaction.
    pub subscribers: Arc<Vec<Subscriber>>,
}

impl Pipeline {
    /// A pipeline with the fetch settings, robots policy and subscribers of
    /// `config`.
    pub fn new(config: &Config, store: SharedStore) -> Result<Pipeline, FetchError> {
        let daemon = &config.daemon;
        Ok(Pipeline {
            fetcher: Fetcher::new(FetchOptions::from_config(daemon))?,
            store,
            robots: daemon
                .respect_robots
                .then(|| Arc::new(RobotsCache::new(&daemon.user_agent))),
            subscribers: Arc::new(config.subscribers.clone()),
        })
    }

    /// Checks one watch now and records the result.
    pub async fn check(&self, watch: &Watch) -> Result<CheckReport, CheckError> {
        let wrap = |source| CheckError::Store {
            watch: watch.name.clone(),
            source,
        };
        let (name, url) = (watch.name.clone(), watch.url.to_string());
        let mut state = self
            .store
            .run(move |s| s.ensure_watch(&name, &url))
            .await
            .map_err(wrap)?;
        let filters = watch.filters_sha256();
        let mut filters_changed = false;
        if state.presence == Presence::Present
            && state
                .filters_sha256
                .as_deref()
                .is_some_and(|old| old != filters)
        {
            let (w, st, fp) = (watch.clone(), state.clone(), filters.clone());
            match self
                .store
                .run(move |s| rebaseline(s, &w, &st, &fp))
                .await
                .map_err(wrap)?
            {
                Rebaseline::Done(report) => {
                    report.log();
                    let name = watch.name.clone();
                    if let Some(updated) = self
                        .store
                        .run(move |s| s.watch_state(&name))
                        .await
                        .map_err(wrap)?
                    {
                        state = updated;
                    }
                }
                Rebaseline::NotNeeded => {}
                Rebaseline::Impossible => filters_changed = true,
            }
        }
        // A removed page gets no validators: if it comes back unchanged, a
        // 304 would hide the restoration.
        let validators = match state.presence {
            Presence::Present => Validators {
                etag: state.etag.clone(),
                last_modified: state.last_modified.clone(),
            },
            Presence::New | Presence::Removed => Validators::default(),
        };
        let started_at = Timestamp::now();
        let allowed = match &self.robots {
            Some(robots) => robots.allows(&self.fetcher, &watch.url).await,
            None => true,
        };
        let fetched = if allowed {
            self.fetcher.fetch(&watch.url, &validators).await
        } else {
            Err(FetchError::DisallowedByRobots)
        };
        let watch_owned = watch.clone();
        let context = Context {
            filters_sha256: filters,
            filters_changed,
            subscribers: self.subscribers.clone(),
        };
        self.store
            .run(move |s| record(s, &watch_owned, &state, started_at, fetched, &context))
            .await
            .map_err(wrap)
    }
}

/// Longest `Retry-After` honoured; a server asking for more gets this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(6 * 3600);

/// `Retry-After` as seconds or an HTTP date, for 429 and 503 only.
fn retry_after(response: &Response, now: SystemTime) -> Option<Duration> {
    if !matches!(response.status, 429 | 503) {
        return None;
    }
    let value = response.retry_after.as_deref()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .unwrap_or(Duration::ZERO),
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// What the fetched body became after normalization.
struct Evaluated {
    observation: Kind,
    text: Option<String>,
    text_sha256: Option<String>,
    charset: Option<String>,
    error: Option<String>,
}

/// An owned [`Observation`], so the hash can live beside it.
#[derive(Clone, Copy)]
enum Kind {
    NotModified,
    Gone(u16),
    Empty,
    Text,
    Failed,
}

fn evaluate(
    watch: &Watch,
    response: &Result<Response, FetchError>,
    sent_validators: bool,
) -> Evaluated {
    let bare = |observation: Kind, error: Option<String>| Evaluated {
        observation,
        text: None,
        text_sha256: None,
        charset: None,
        error,
    };
    let failed = |error: String| bare(Kind::Failed, Some(error));
    let response = match response {
        Ok(r) => r,
        Err(e) => return failed(e.to_string()),
    };
    match response.status {
        304 if sent_validators => bare(Kind::NotModified, None),
        404 | 410 => bare(
            Kind::Gone(response.status),
            Some(format!("HTTP {}", response.status)),
        ),
        200..=299 => {
            let input = Input {
                body: &response.body,
                content_type: response.content_type.as_deref(),
                url: Some(&response.final_url),
            };
            match normalize::normalize(&input, &watch.filters) {
                Err(e) => failed(e.to_string()),
                Ok(n) if n.text.is_empty() => Evaluated {
                    observation: Kind::Empty,
                    text: None,
                    text_sha256: None,
                    charset: Some(n.encoding.to_owned()),
                    error: Some(if watch.select.is_empty() {
                        "the page has no text".to_owned()
                    } else {
                        "the statement text is gone: select matches nothing".to_owned()
                    }),
                },
                Ok(n) => Evaluated {
                    observation: Kind::Text,
                    text_sha256: Some(sha256_hex(n.text.as_bytes())),
                    text: Some(n.text),
                    charset: Some(n.encoding.to_owned()),
                    error: None,
                },
            }
        }
        status => failed(format!("HTTP {status}")),
    }
}

impl Evaluated {
    fn observation(&self) -> Observation<'_> {
        match self.observation {
            Kind::NotModified => Observation::NotModified,
            Kind::Gone(status) => Observation::Gone { status },
            Kind::Empty => Observation::Empty,
            Kind::Failed => Observation::Failed,
            Kind::Text => match &self.text_sha256 {
                Some(sha) => Observation::Text { text_sha256: sha },
                None => Observation::Failed,
            },
        }
    }
}

/// What a check knows about the watch's filters.
struct Context {
    /// The fingerprint of the filters in effect.
    filters_sha256: String,
    /// The filters changed and the baseline could not be normalized again
    /// (no stored raw body): this check's text becomes the new baseline
    /// instead of counting as an edit.
    filters_changed: bool,
    subscribers: Arc<Vec<Subscriber>>,
}

/// How a filter change was handled before the fetch.
enum Rebaseline {
    /// The last snapshot's raw body, normalized under the new filters, gave
    /// a new text, recorded as the baseline.
    Done(CheckReport),
    /// The new filters give the same text: nothing to record.
    NotNeeded,
    /// No raw body to normalize again.
    Impossible,
}

/// Normalizes the last snapshot's stored raw body under the watch's current
/// filters and records the result as the new baseline, so that changing a
/// filter never reports an edit the page did not make.
fn rebaseline(
    store: &mut dyn Store,
    watch: &Watch,
    state: &WatchState,
    filters_sha256: &str,
) -> Result<Rebaseline, StoreError> {
    let Some(last) = &state.last_snapshot else {
        return Ok(Rebaseline::Impossible);
    };
    let Some(snapshot) = store.snapshot(&watch.name, Some(last.id))? else {
        return Ok(Rebaseline::Impossible);
    };
    let Some(raw_sha256) = snapshot.meta.raw_sha256.clone() else {
        return Ok(Rebaseline::Impossible);
    };
    let Some(raw) = store.raw_body(&raw_sha256)? else {
        return Ok(Rebaseline::Impossible);
    };
    let url = snapshot
        .meta
        .final_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok());
    let input = Input {
        body: &raw,
        content_type: snapshot.meta.content_type.as_deref(),
        url: url.as_ref(),
    };
    let normalized = match normalize::normalize(&input, &watch.filters) {
        Ok(n) if !n.text.is_empty() => n,
        _ => return Ok(Rebaseline::Impossible),
    };
    let text_sha256 = sha256_hex(normalized.text.as_bytes());
    if text_sha256 == last.sha256 {
        return Ok(Rebaseline::NotNeeded);
    }
    let started_at = Timestamp::now();
    let summary = diff::summarize(&snapshot.text, &normalized.text);
    let check = NewCheck {
        watch_id: state.watch_id,
        started_at,
        duration: Duration::ZERO,
        outcome: Outcome::Rebaselined,
        http_status: None,
        final_url: snapshot.meta.final_url.clone(),
        error: None,
        bytes: 0,
        content_type: snapshot.meta.content_type.clone(),
        charset: Some(normalized.encoding.to_owned()),
        raw_sha256: Some(raw_sha256),
        text_sha256: Some(text_sha256.clone()),
        validators: None,
        body: None,
        snapshot: Some(NewSnapshot {
            sha256: &text_sha256,
            text: &normalized.text,
        }),
        change: Some(NewChange {
            kind: crate::model::ChangeKind::Rebaselined,
            from: Some(last.id),
            summary: summary.clone(),
        }),
        filters_sha256: Some(filters_sha256.to_owned()),
        alerts: Vec::new(),
        heads: None,
    };
    let recorded = store.record_check(&check)?;
    Ok(Rebaseline::Done(CheckReport {
        watch: watch.name.clone(),
        url: watch.url.to_string(),
        outcome: Outcome::Rebaselined,
        started_at,
        duration: Duration::ZERO,
        http_status: None,
        error: None,
        summary: Some(summary),
        retry_after: None,
        check_id: recorded.check_id,
        snapshot_id: recorded.snapshot_id,
        change_id: recorded.change_id,
    }))
}

/// The response's HTTP heads as the store keeps them.
fn heads_of(response: &Response) -> NewHeads {
    let exchange = &response.exchange;
    NewHeads {
        requested_at: exchange.requested_at,
        remote_ip: exchange.remote_ip.map(|ip| ip.to_string()),
        request_head: exchange.request_head(&response.final_url),
        response_head: exchange.response_head(response.status),
    }
}

/// Classifies the fetch and records it in one store transaction.
fn record(
    store: &mut dyn Store,
    watch: &Watch,
    state: &WatchState,
    started_at: Timestamp,
    fetched: Result<Response, FetchError>,
    context: &Context,
) -> Result<CheckReport, StoreError> {
    let sent_validators = state.presence == Presence::Present
        && (state.etag.is_some() || state.last_modified.is_some());
    let evaluated = evaluate(watch, &fetched, sent_validators);
    let last = state.last_snapshot.as_ref();
    let mut outcome = classify(
        state.presence,
        last.map(|s| s.sha256.as_str()),
        evaluated.observation(),
    );
    if context.filters_changed && outcome == Outcome::Edited {
        outcome = Outcome::Rebaselined;
    }

    let change = match outcome.change_kind() {
        None => None,
        Some(kind) => {
            let old_text = match last {
                Some(snap) if outcome != Outcome::FirstSeen => store
                    .snapshot(&watch.name, Some(snap.id))?
                    .map(|s| s.text)
                    .unwrap_or_default(),
                _ => String::new(),
            };
            let new_text = evaluated.text.as_deref().unwrap_or("");
            Some(NewChange {
                kind,
                from: if outcome == Outcome::FirstSeen {
                    None
                } else {
                    last.map(|s| s.id)
                },
                summary: diff::summarize(&old_text, new_text),
            })
        }
    };

    let response = fetched.as_ref().ok();
    let body = response.map(|r| r.body.as_slice());
    let raw_sha256 = body.filter(|b| !b.is_empty()).map(sha256_hex);
    let keeps_snapshot = matches!(
        outcome,
        Outcome::FirstSeen | Outcome::Edited | Outcome::Restored | Outcome::Rebaselined
    );
    let snapshot = match (&evaluated.text, &evaluated.text_sha256) {
        (Some(text), Some(sha256)) if keeps_snapshot => Some(NewSnapshot { sha256, text }),
        _ => None,
    };
    let new_body = match (body, &raw_sha256) {
        (Some(bytes), Some(sha256)) if snapshot.is_some() => Some(NewBody { sha256, bytes }),
        _ => None,
    };
    // Validators are replaced by every full response (a page that stopped
    // sending them must not keep old ones) and refreshed by a 304 that
    // carries new ones.
    let validators = response.and_then(|r| match r.status {
        200..=299 => Some((r.etag.clone(), r.last_modified.clone())),
        304 if r.etag.is_some() || r.last_modified.is_some() => Some((
            r.etag.clone().or_else(|| state.etag.clone()),
            r.last_modified
                .clone()
                .or_else(|| state.last_modified.clone()),
        )),
        _ => None,
    });
    let duration = response.map_or_else(
        || {
            let now = Timestamp::now().as_millis();
            Duration::from_millis(u64::try_from(now - started_at.as_millis()).unwrap_or(0))
        },
        |r| r.elapsed,
    );
    let summary = change.as_ref().map(|c| c.summary.clone());
    let alerts = change
        .as_ref()
        .map(|c| crate::notify::alerts_for(watch, &context.subscribers, c.kind, &c.summary))
        .unwrap_or_default();
    let new_check = NewCheck {
        watch_id: state.watch_id,
        started_at,
        duration,
        outcome,
        http_status: response.map(|r| r.status),
        final_url: response.map(|r| r.final_url.to_string()),
        error: evaluated.error.clone(),
        bytes: body.map_or(0, |b| b.len() as u64),
        content_type: response.and_then(|r| r.content_type.clone()),
        charset: evaluated.charset.clone(),
        raw_sha256: raw_sha256.clone(),
        text_sha256: evaluated.text_sha256.clone(),
        validators,
        body: new_body,
        snapshot,
        change,
        filters_sha256: Some(context.filters_sha256.clone()),
        alerts,
        heads: response.map(heads_of),
    };
    let recorded = store.record_check(&new_check)?;
    Ok(CheckReport {
        watch: watch.name.clone(),
        url: watch.url.to_string(),
        outcome,
        started_at,
        duration,
        http_status: new_check.http_status,
        error: evaluated.error,
        summary,
        retry_after: response.and_then(|r| retry_after(r, SystemTime::now())),
        check_id: recorded.check_id,
        snapshot_id: recorded.snapshot_id,
        change_id: recorded.change_id,
    })
}
