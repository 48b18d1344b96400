//! One check of one watch, through the whole pipeline:
//! fetch → normalize → hash → classify → diff → store.
//!
//! This is the core that `chancery check` (and the daemon) call; nothing
//! else runs the stages in sequence. A failed fetch is not an error of this
//! function: it becomes a check with outcome `error`, recorded like any
//! other. Only a storage failure is returned as `Err`, because then nothing
//! could be recorded.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::classify::flap::{self, Flap};
use crate::classify::health;
use crate::classify::page::{self, Page, Verdict};
use crate::classify::{Observation, classify};
use crate::config::{Config, Subscriber, Watch};
use crate::diff::{self, ChangedLines, DiffSummary};
use crate::fetch::robots::RobotsCache;
use crate::fetch::{FetchError, FetchOptions, Fetcher, Response, Validators};
use crate::follow::{self, FollowSpec};
use crate::hash::sha256_hex;
use crate::model::{ChangeKind, Outcome, Timestamp};
use crate::normalize::{self, Input};
use crate::store::{
    ChangeId, ChangeRow, CheckId, ChildRow, ChildState, ChildUpdate, FollowUpdate, Health, NewBody,
    NewChange, NewCheck, NewEvent, NewHeads, NewSnapshot, Presence, SnapshotId, Store, StoreError,
    WatchState,
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
    /// The rule behind the outcome, e.g. `blocked`, `soft-404`, `flapping`.
    pub reason: Option<String>,
    /// How the text changed, for first-seen, edited, removed and restored.
    pub summary: Option<DiffSummary>,
    /// A health event the check raised (`failing`, `recovered`).
    pub event: Option<ChangeKind>,
    /// For a follow watch whose listing was read: what it changed.
    pub listing: Option<ListingReport>,
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
        match r.event {
            Some(ChangeKind::Failing) => tracing::error!(
                watch = %r.watch,
                url = %r.url,
                error = r.error.as_deref().unwrap_or(""),
                "watch is failing"
            ),
            Some(kind) => tracing::info!(watch = %r.watch, event = %kind, "watch health"),
            None => {}
        }
        match r.outcome {
            Outcome::Error => tracing::warn!(
                watch = %r.watch,
                url = %r.url,
                status = r.http_status,
                reason = r.reason.as_deref().unwrap_or(""),
                error = r.error.as_deref().unwrap_or(""),
                "check failed"
            ),
            Outcome::Unchanged if r.reason.is_some() => tracing::info!(
                watch = %r.watch,
                status = r.http_status,
                reason = r.reason.as_deref().unwrap_or(""),
                detail = r.error.as_deref().unwrap_or(""),
                "unchanged"
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
    /// Each host's not-found page, probed at most once a day.
    pub not_found: Arc<NotFoundPages>,
    /// Re-fetch a removal or a large edit after the watch's
    /// `confirm_delay` before recording it (`check --no-confirm`: off).
    pub confirm: bool,
    /// `[daemon] flap_window`.
    pub flap_window: Duration,
    /// `[daemon] per_host_delay`: a check's own extra requests to its host
    /// (the confirming fetch, the not-found probe) wait at least this long.
    pub per_host_delay: Duration,
    /// Bounds the CPU-bound work (parsing, normalizing) running at once to
    /// the machine's cores: more only adds threads, each with its own
    /// allocator heap and a page's DOM in memory.
    pub cpu: Arc<tokio::sync::Semaphore>,
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
            not_found: Arc::new(NotFoundPages::default()),
            confirm: true,
            flap_window: daemon.flap_window,
            per_host_delay: daemon.per_host_delay,
            cpu: Arc::new(tokio::sync::Semaphore::new(cpu_slots())),
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
        let state = Arc::new(state);
        let mut decided = self
            .observe_and_decide(watch, &state, filters_changed)
            .await
            .map_err(wrap)?;
        if self.confirm && decided.needs_confirmation() {
            tracing::info!(
                watch = %watch.name,
                outcome = %decided.outcome,
                delay = %humantime::format_duration(watch.confirm_delay),
                "confirming with a second fetch"
            );
            tokio::time::sleep(watch.confirm_delay.max(self.per_host_delay)).await;
            let second = self
                .observe_and_decide(watch, &state, filters_changed)
                .await
                .map_err(wrap)?;
            decided = confirm(decided, second, watch.confirm_delay);
        }
        // A follow watch reads its listing (all covered pages) from the
        // response; a listing that could not be read whole changes nothing.
        let listing = match (&watch.follow, &decided.fetched) {
            (Some(spec), Ok(response))
                if (200..300).contains(&response.status) && decided.outcome != Outcome::Error =>
            {
                match self.read_listing(spec, response).await {
                    Ok(items) => Some(items),
                    Err(e) => {
                        tracing::warn!(watch = %watch.name, error = %e, "listing not read; children unchanged");
                        None
                    }
                }
            }
            _ => None,
        };
        let watch_owned = watch.clone();
        let context = Context {
            filters_sha256: filters,
            subscribers: self.subscribers.clone(),
            listing,
        };
        self.store
            .run(move |s| record(s, &watch_owned, &state, decided, &context))
            .await
            .map_err(wrap)
    }

    /// The statements on a follow watch's listing: the fetched index page,
    /// then up to `pages - 1` "next" pages, each fetched politely. Fails if
    /// any page cannot be fetched or read, so a partial listing never makes
    /// statements look taken down.
    async fn read_listing(
        &self,
        spec: &FollowSpec,
        first: &Response,
    ) -> Result<Vec<follow::Item>, String> {
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let (mut body, mut content_type, mut url) = (
            first.body.clone(),
            first.content_type.clone(),
            first.final_url.clone(),
        );
        seen.insert(url.clone());
        for n in 0..spec.pages.max(1) {
            let spec_owned = spec.clone();
            let (read, page_url) = self
                .cpu(move || {
                    let read = follow::read_index(
                        &follow::Page {
                            body: &body,
                            content_type: content_type.as_deref(),
                            url: &url,
                        },
                        &spec_owned,
                    );
                    (read, url)
                })
                .await;
            let read = read.map_err(|e| format!("{page_url}: {e}"))?;
            items.extend(read.items);
            let Some(next) = read
                .next
                .filter(|next| n + 1 < spec.pages && seen.insert(next.clone()))
            else {
                break;
            };
            tokio::time::sleep(self.per_host_delay).await;
            let page = self
                .fetcher
                .fetch(&next, &Validators::default())
                .await
                .map_err(|e| format!("listing page {next}: {e}"))?;
            if !(200..300).contains(&page.status) {
                return Err(format!("listing page {next}: HTTP {}", page.status));
            }
            (body, content_type, url) = (page.body, page.content_type, page.final_url);
        }
        // The same statement linked from two pages counts once, where it
        // first appears.
        let mut unique = HashSet::new();
        items.retain(|item| unique.insert(item.url.clone()));
        Ok(items)
    }

    /// One fetch, evaluated and judged against the watch's history.
    async fn observe_and_decide(
        &self,
        watch: &Watch,
        state: &Arc<WatchState>,
        filters_changed: bool,
    ) -> Result<Decided, StoreError> {
        // A removed page gets no validators: if it comes back unchanged, a
        // 304 would hide the restoration.
        let validators = match state.presence {
            Presence::Present => Validators {
                etag: state.etag.clone(),
                last_modified: state.last_modified.clone(),
            },
            Presence::New | Presence::Removed => Validators::default(),
        };
        let sent_validators = validators.etag.is_some() || validators.last_modified.is_some();
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
        // Normalizing is CPU work: off the async threads, and outside the
        // store's lock so checks normalize in parallel.
        let w = watch.clone();
        let (fetched, mut eval) = self
            .cpu(move || {
                let eval = evaluate(&w, &fetched, sent_validators);
                (fetched, eval)
            })
            .await;

        let last_sha = state.last_snapshot.as_ref().map(|s| s.sha256.clone());
        let mut outcome = classify(state.presence, last_sha.as_deref(), eval.observation());
        if filters_changed && outcome == Outcome::Edited {
            outcome = Outcome::Rebaselined;
        }
        // What the rules below compare with: the last good text, whether the
        // new text was seen before, and the recent changes.
        let history = if matches!(
            outcome,
            Outcome::Edited | Outcome::Restored | Outcome::Removed | Outcome::Rebaselined
        ) {
            let (st, sha) = (state.clone(), eval.text_sha256.clone());
            Some(
                self.store
                    .run(move |s| History::read(s, &st, sha.as_deref()))
                    .await?,
            )
        } else {
            None
        };
        let last_text = history.as_ref().map_or("", |h| h.last_text.as_str());

        if let (Some(text), Ok(response)) = (&eval.text, &fetched)
            && matches!(outcome, Outcome::Edited | Outcome::Restored)
        {
            if let Some(why) = self.soft_404(watch, response, text, last_text).await {
                eval.gone(response.status, "soft-404", why);
                outcome = classify(state.presence, last_sha.as_deref(), eval.observation());
            } else if outcome == Outcome::Edited
                && let Some(why) = moved_away(watch, response, last_text, text)
            {
                eval.gone(response.status, "redirected", why);
                outcome = Outcome::Removed;
            }
        }

        let mut reason = eval.reason.map(str::to_owned);
        if outcome == Outcome::Edited
            && let Some(history) = &history
        {
            match flap::judge(
                history.seen_before,
                &history.recent,
                Timestamp::now(),
                self.flap_window,
            ) {
                Flap::No => {}
                Flap::Start => outcome = Outcome::Flapping,
                Flap::Quiet => {
                    outcome = Outcome::Unchanged;
                    reason = Some("flapping".to_owned());
                }
            }
        }
        let new_text = eval.text.as_deref().unwrap_or("");
        let (summary, lines) = match outcome {
            _ if outcome.change_kind().is_none() => (None, None),
            Outcome::FirstSeen => (Some(diff::summarize("", new_text)), None),
            Outcome::Removed => (Some(diff::summarize(last_text, "")), None),
            // An edit's changed lines feed subscribers' triggers.
            Outcome::Edited => {
                let (summary, changed) = diff::summarize_with_lines(last_text, new_text);
                let owned = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect::<Vec<_>>();
                (
                    Some(summary),
                    Some((owned(changed.added), owned(changed.removed))),
                )
            }
            _ => (Some(diff::summarize(last_text, new_text)), None),
        };
        Ok(Decided {
            outcome,
            reason,
            started_at,
            fetched,
            eval,
            summary,
            lines,
            seen_before: history.and_then(|h| h.seen_before),
            keep_validators: true,
        })
    }

    /// `Some(why)` when `text` is the host's not-found page: the host answers
    /// a random path with 200 and a text like this one, while the last good
    /// text was not like it.
    async fn soft_404(
        &self,
        watch: &Watch,
        response: &Response,
        text: &str,
        last_text: &str,
    ) -> Option<String> {
        let probe = self
            .not_found
            .get(&self.fetcher, &response.final_url, self.per_host_delay)
            .await?;
        let w = watch.clone();
        let (text, last_text) = (text.to_owned(), last_text.to_owned());
        self.cpu(move || {
            let input = Input {
                body: &probe.body,
                content_type: probe.content_type.as_deref(),
                url: Some(&probe.url),
            };
            let not_found = normalize::normalize(&input, &w.filters).ok()?.text;
            let like = |a: &str| {
                !a.is_empty() && diff::summarize(a, &not_found).changed_ratio <= SOFT_404_SIMILARITY
            };
            (like(&text) && !like(&last_text)).then(|| {
                format!(
                    "the page matches {}'s answer to a path that does not exist",
                    probe.url.host_str().unwrap_or("the host")
                )
            })
        })
        .await
    }
}

/// Threads for blocking work (store calls, normalizing, DNS). Store calls
/// run one at a time and normalizing one per core, so more threads only
/// wait, and each thread that allocates keeps allocator caches of its own
/// (with tokio's default of 512 threads and mimalloc, hundreds of megabytes
/// of peak memory in the 10,000-watch cycle benchmark).
pub const BLOCKING_THREADS: usize = 8;

/// The async runtime checks run on (the daemon, `check`, `outbox retry`).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
}

/// How many CPU-bound jobs run at once: one per core.
fn cpu_slots() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

impl Pipeline {
    /// Runs CPU-bound `f` on the blocking pool, at most one job per core.
    async fn cpu<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        // The semaphore is never closed, so acquiring cannot fail.
        let _permit = self.cpu.acquire().await.expect("cpu semaphore open");
        match tokio::task::spawn_blocking(f).await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

/// A text this close to the host's not-found page (share of lines changed)
/// is that page.
const SOFT_404_SIMILARITY: f64 = 0.2;

/// A redirect elsewhere whose text shares almost nothing with the statement
/// is a takedown, not an edit.
const MOVED_AWAY_RATIO: f64 = 0.9;

/// `Some(why)` when the response came from another page (a redirect) and
/// its text is no longer the statement.
fn moved_away(watch: &Watch, response: &Response, last_text: &str, text: &str) -> Option<String> {
    let same_page = response.final_url.host_str() == watch.url.host_str()
        && response.final_url.path().trim_end_matches('/')
            == watch.url.path().trim_end_matches('/');
    if same_page || last_text.is_empty() {
        return None;
    }
    (diff::summarize(last_text, text).changed_ratio >= MOVED_AWAY_RATIO).then(|| {
        format!(
            "redirected to {}, whose text is not this statement",
            response.final_url
        )
    })
}

/// The watch's history that judging a would-be change needs.
struct History {
    /// The last good snapshot's text ("" if none).
    last_text: String,
    /// The snapshot that already holds the new text, if any.
    seen_before: Option<SnapshotId>,
    /// The watch's latest changes, newest first.
    recent: Vec<ChangeRow>,
}

impl History {
    fn read(
        store: &mut dyn Store,
        state: &WatchState,
        text_sha256: Option<&str>,
    ) -> Result<History, StoreError> {
        let last_text = match &state.last_snapshot {
            Some(last) => store
                .snapshot(&state.name, Some(last.id))?
                .map(|s| s.text)
                .unwrap_or_default(),
            None => String::new(),
        };
        let seen_before = match text_sha256 {
            Some(sha) => store.snapshot_id_of(state.watch_id, sha)?,
            None => None,
        };
        let recent = store.changes(&state.name, Some(4 * flap::RECENT_CHANGES))?;
        Ok(History {
            last_text,
            seen_before,
            recent,
        })
    }
}

/// One fetch with its evaluation and the outcome it leads to.
struct Decided {
    outcome: Outcome,
    reason: Option<String>,
    started_at: Timestamp,
    fetched: Result<Response, FetchError>,
    eval: Evaluated,
    summary: Option<DiffSummary>,
    /// An edit's added and removed lines, for subscribers' triggers.
    lines: Option<(Vec<String>, Vec<String>)>,
    /// For flapping: the earlier snapshot the page went back to.
    seen_before: Option<SnapshotId>,
    /// Whether the response's validators may replace the stored ones.
    keep_validators: bool,
}

/// An edit changing more than this share of the text is confirmed first.
const CONFIRM_EDIT_RATIO: f64 = 0.5;

impl Decided {
    /// A removal, or an edit of more than half the text: re-fetched once
    /// before it is recorded.
    fn needs_confirmation(&self) -> bool {
        match self.outcome {
            Outcome::Removed => true,
            Outcome::Edited => self
                .summary
                .as_ref()
                .is_some_and(|s| s.changed_ratio > CONFIRM_EDIT_RATIO),
            _ => false,
        }
    }
}

/// Combines a check's first and confirming fetch: the change is recorded
/// only if the second fetch agrees (same outcome, and for an edit the same
/// text); otherwise the second fetch is what the check saw, marked
/// `unconfirmed`, and a second fetch that itself needs confirming records
/// nothing new (the next check looks again).
fn confirm(first: Decided, mut second: Decided, delay: Duration) -> Decided {
    let agrees = second.outcome == first.outcome
        && (first.outcome != Outcome::Edited || second.eval.text_sha256 == first.eval.text_sha256);
    if agrees {
        return second;
    }
    let note = format!(
        "not confirmed: the first fetch said {}{}, a second fetch {} later said {}",
        first.outcome,
        first
            .eval
            .error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default(),
        humantime::format_duration(delay),
        second.outcome,
    );
    if second.needs_confirmation() {
        second.outcome = Outcome::Unchanged;
        second.summary = None;
        second.lines = None;
        second.keep_validators = false;
    }
    if second.outcome != Outcome::Error {
        second.reason = Some("unconfirmed".to_owned());
        second.eval.error = Some(note);
    }
    second
}

/// Each host's answer to a path that cannot exist: `Some` body when the
/// host answers it with 2xx (a site that serves "not found" pages with
/// 200), `None` when it answers properly. Probed at most once per host per
/// [`NOT_FOUND_TTL`], and only when a check sees a new text.
#[derive(Default)]
pub struct NotFoundPages {
    hosts: Mutex<HashMap<String, Probed>>,
}

/// When a host was probed, and its not-found page if it answers with 2xx.
type Probed = (Instant, Option<Arc<ProbeBody>>);

/// A host's not-found page as fetched.
pub struct ProbeBody {
    body: Vec<u8>,
    content_type: Option<String>,
    url: url::Url,
}

/// How long a host's probe result is trusted.
pub const NOT_FOUND_TTL: Duration = Duration::from_secs(24 * 3600);

impl NotFoundPages {
    async fn get(
        &self,
        fetcher: &Fetcher,
        page: &url::Url,
        politeness: Duration,
    ) -> Option<Arc<ProbeBody>> {
        let origin = page.origin().ascii_serialization();
        if let Some((at, cached)) = self.lock().get(&origin)
            && at.elapsed() < NOT_FOUND_TTL
        {
            return cached.clone();
        }
        let token = sha256_hex(format!("{origin} {:?}", SystemTime::now()).as_bytes());
        let probe_url = url::Url::parse(&format!(
            "{origin}/chancery-not-found-probe-{}",
            &token[..16]
        ))
        .ok()?;
        tokio::time::sleep(politeness).await;
        let probed = match fetcher.fetch(&probe_url, &Validators::default()).await {
            Ok(r) if (200..300).contains(&r.status) => Some(Arc::new(ProbeBody {
                body: r.body,
                content_type: r.content_type,
                url: r.final_url,
            })),
            Ok(_) => None,
            // A failed probe says nothing: try again next time.
            Err(_) => return None,
        };
        tracing::debug!(host = %origin, soft_404 = probed.is_some(), "probed the not-found page");
        self.lock().insert(origin, (Instant::now(), probed.clone()));
        probed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Probed>> {
        self.hosts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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

/// What the fetched body became after normalization and judging.
struct Evaluated {
    observation: Kind,
    text: Option<String>,
    text_sha256: Option<String>,
    charset: Option<String>,
    error: Option<String>,
    /// Why it failed or was judged removed (`blocked`, `soft-404`, …).
    reason: Option<&'static str>,
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

/// The reason stored for a fetch that produced no response.
fn fetch_reason(error: &FetchError) -> &'static str {
    match error {
        FetchError::Timeout { .. } => "timeout",
        FetchError::TooLarge { .. } => "too-large",
        FetchError::TooManyRedirects { .. } => "redirect-loop",
        FetchError::DisallowedByRobots => "robots",
        FetchError::Client(_)
        | FetchError::Connect(_)
        | FetchError::Request(_)
        | FetchError::Body(_) => "network",
    }
}

fn evaluate(
    watch: &Watch,
    response: &Result<Response, FetchError>,
    sent_validators: bool,
) -> Evaluated {
    let bare = |observation: Kind, error: Option<String>, reason| Evaluated {
        observation,
        text: None,
        text_sha256: None,
        charset: None,
        error,
        reason,
    };
    let response = match response {
        Ok(r) => r,
        Err(e) => return bare(Kind::Failed, Some(e.to_string()), Some(fetch_reason(e))),
    };
    if response.status == 304 && sent_validators {
        return bare(Kind::NotModified, None, None);
    }
    let input = Input {
        body: &response.body,
        content_type: response.content_type.as_deref(),
        url: Some(&response.final_url),
    };
    let success = (200..300).contains(&response.status);
    let normalized = match normalize::normalize(&input, &watch.filters) {
        Ok(n) => Some(n),
        Err(e) if success => {
            return bare(Kind::Failed, Some(e.to_string()), Some("content"));
        }
        // An error page that is not text still has a status to judge.
        Err(_) => None,
    };
    let (text, title) = normalized
        .as_ref()
        .map_or(("", None), |n| (n.text.as_str(), n.title.as_deref()));
    let verdict = page::judge(&Page {
        status: response.status,
        requested: &watch.url,
        final_url: &response.final_url,
        title,
        text,
    });
    let charset = normalized.as_ref().map(|n| n.encoding.to_owned());
    match verdict {
        Verdict::Blocked(why) => Evaluated {
            charset,
            ..bare(
                Kind::Failed,
                Some(format!("blocked: {why}")),
                Some("blocked"),
            )
        },
        Verdict::Failed(why) => Evaluated {
            charset,
            ..bare(Kind::Failed, Some(why), Some("http"))
        },
        Verdict::Removed(removal) => Evaluated {
            charset,
            ..bare(
                Kind::Gone(response.status),
                Some(removal.describe()),
                Some(removal.reason()),
            )
        },
        Verdict::Content => match normalized {
            Some(n) if n.text.is_empty() => Evaluated {
                charset,
                ..bare(
                    Kind::Empty,
                    Some(if watch.select.is_empty() {
                        "the page has no text".to_owned()
                    } else {
                        "the statement text is gone: select matches nothing".to_owned()
                    }),
                    Some("empty"),
                )
            },
            Some(n) => Evaluated {
                observation: Kind::Text,
                text_sha256: Some(sha256_hex(n.text.as_bytes())),
                text: Some(n.text),
                charset,
                error: None,
                reason: None,
            },
            None => bare(Kind::Failed, Some("no text".to_owned()), Some("content")),
        },
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

    /// Re-judges a page with text as gone (a soft 404 found by probing, or
    /// a redirect to another page).
    fn gone(&mut self, status: u16, reason: &'static str, why: String) {
        self.observation = Kind::Gone(status);
        self.text = None;
        self.text_sha256 = None;
        self.error = Some(why);
        self.reason = Some(reason);
    }
}

/// What recording a check needs besides the fetch.
struct Context {
    /// The fingerprint of the filters in effect.
    filters_sha256: String,
    subscribers: Arc<Vec<Subscriber>>,
    /// A follow watch's listing as read on this check.
    listing: Option<Vec<follow::Item>>,
}

/// How a filter change was handled before the fetch.
enum Rebaseline {
    /// The last snapshot's raw body, normalized under the new filters, gave
    /// a new text, recorded as the baseline.
    Done(Box<CheckReport>),
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
        reason: Some("filters-changed".to_owned()),
        health: Health {
            failing_since: state.failing_since,
            reported: state.failing_reported,
        },
        events: Vec::new(),
        follow: None,
        heads: None,
    };
    let recorded = store.record_check(&check)?;
    Ok(Rebaseline::Done(Box::new(CheckReport {
        watch: watch.name.clone(),
        url: watch.url.to_string(),
        outcome: Outcome::Rebaselined,
        started_at,
        duration: Duration::ZERO,
        http_status: None,
        error: None,
        reason: Some("filters-changed".to_owned()),
        summary: Some(summary),
        event: None,
        listing: None,
        retry_after: None,
        check_id: recorded.check_id,
        snapshot_id: recorded.snapshot_id,
        change_id: recorded.change_id,
    })))
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

/// Records a decided check, its change, health and alerts in one store
/// transaction.
fn record(
    store: &mut dyn Store,
    watch: &Watch,
    state: &WatchState,
    decided: Decided,
    context: &Context,
) -> Result<CheckReport, StoreError> {
    let Decided {
        outcome,
        reason,
        started_at,
        fetched,
        eval,
        summary,
        lines,
        seen_before,
        keep_validators,
    } = decided;
    let last = state.last_snapshot.as_ref();
    let change = match (outcome.change_kind(), &summary) {
        (Some(kind), Some(summary)) => Some(NewChange {
            kind,
            from: match outcome {
                Outcome::FirstSeen => None,
                _ => last.map(|s| s.id),
            },
            summary: summary.clone(),
        }),
        _ => None,
    };
    debug_assert!(outcome != Outcome::Flapping || seen_before.is_some());

    let response = fetched.as_ref().ok();
    let body = response.map(|r| r.body.as_slice());
    let raw_sha256 = body.filter(|b| !b.is_empty()).map(sha256_hex);
    let snapshot = match (&eval.text, &eval.text_sha256) {
        (Some(text), Some(sha256)) if outcome.keeps_snapshot() => {
            Some(NewSnapshot { sha256, text })
        }
        _ => None,
    };
    let new_body = match (body, &raw_sha256) {
        (Some(bytes), Some(sha256)) if snapshot.is_some() => Some(NewBody { sha256, bytes }),
        _ => None,
    };
    // Validators are replaced by every full response (a page that stopped
    // sending them must not keep old ones) and refreshed by a 304 that
    // carries new ones.
    let validators = response
        .filter(|_| keep_validators)
        .and_then(|r| match r.status {
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
    let changed_lines = lines.as_ref().map(|(added, removed)| ChangedLines {
        added: added.iter().map(String::as_str).collect(),
        removed: removed.iter().map(String::as_str).collect(),
    });
    // A listing's own text changes with every new statement: `published`
    // and `delisted` say what happened, so its edits are history only.
    // A feed's edits are alerted: they are how a feed-only edit is seen.
    let listing_parent = matches!(
        &watch.follow,
        Some(FollowSpec {
            source: follow::Source::Links(_),
            ..
        })
    );
    let alerts = change
        .as_ref()
        .filter(|c| !(listing_parent && c.kind == ChangeKind::Edited))
        .map(|c| {
            crate::notify::alerts_for(
                watch,
                &context.subscribers,
                c.kind,
                &c.summary,
                changed_lines.as_ref(),
            )
        })
        .unwrap_or_default();

    let before = Health {
        failing_since: state.failing_since,
        reported: state.failing_reported,
    };
    let (health, event_kind) = health::next(before, outcome, started_at, watch.failing_after);
    let mut events: Vec<NewEvent> = Vec::new();
    if outcome == Outcome::FirstSeen && state.announce {
        let empty = DiffSummary::none(None);
        events.push(NewEvent {
            kind: ChangeKind::Published,
            detail: summary.as_ref().and_then(|s| s.first_change.clone()),
            alerts: crate::notify::alerts_for(
                watch,
                &context.subscribers,
                ChangeKind::Published,
                &empty,
                None,
            ),
        });
    }
    let (follow_update, listing) = match &context.listing {
        Some(items) => {
            let (update, summary) = reconcile_listing(store, watch, items, &context.subscribers)?;
            (Some(update), Some(summary))
        }
        None => (None, None),
    };
    let event = event_kind.map(|kind| {
        let detail = match kind {
            ChangeKind::Failing => Some(format!(
                "failing since {}: {}",
                health.failing_since.unwrap_or(started_at),
                eval.error.as_deref().unwrap_or("check failed")
            )),
            _ => None,
        };
        let empty = DiffSummary::none(detail.clone());
        NewEvent {
            kind,
            alerts: crate::notify::alerts_for(watch, &context.subscribers, kind, &empty, None),
            detail,
        }
    });
    let new_check = NewCheck {
        watch_id: state.watch_id,
        started_at,
        duration,
        outcome,
        http_status: response.map(|r| r.status),
        final_url: response.map(|r| r.final_url.to_string()),
        error: eval.error.clone(),
        bytes: body.map_or(0, |b| b.len() as u64),
        content_type: response.and_then(|r| r.content_type.clone()),
        charset: eval.charset.clone(),
        raw_sha256: raw_sha256.clone(),
        text_sha256: eval.text_sha256.clone(),
        validators,
        body: new_body,
        snapshot,
        change,
        filters_sha256: Some(context.filters_sha256.clone()),
        alerts,
        reason: reason.clone(),
        health,
        events: events.into_iter().chain(event).collect(),
        follow: follow_update,
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
        error: eval.error,
        reason,
        summary,
        event: event_kind,
        listing,
        retry_after: response.and_then(|r| retry_after(r, SystemTime::now())),
        check_id: recorded.check_id,
        snapshot_id: recorded.snapshot_id,
        change_id: recorded.change_id,
    })
}

/// What one look at a follow watch's listing changed, for the CLI, JSON and
/// the engine (which schedules the active children).
#[derive(Debug, Clone, Serialize)]
pub struct ListingReport {
    /// New statements (child names).
    pub published: Vec<String>,
    /// Statements taken off the listing.
    pub delisted: Vec<String>,
    /// Children retired by `max` on this look.
    pub retired: Vec<String>,
    /// Every child to check from now on: name and URL.
    pub active: Vec<(String, url::Url)>,
}

/// Reconciles a read listing with the stored children: names new children
/// `<parent>/<slug>`, queues `delisted` alerts, and says which children are
/// active. Runs inside the parent check's store call.
fn reconcile_listing(
    store: &mut dyn Store,
    watch: &Watch,
    items: &[follow::Item],
    subscribers: &[Subscriber],
) -> Result<(FollowUpdate, ListingReport), StoreError> {
    let spec = watch
        .follow
        .as_ref()
        .expect("only follow watches read listings");
    let stored = store.children(&watch.name)?;
    let known: Vec<follow::Child> = stored
        .iter()
        .filter_map(|c| {
            Some(follow::Child {
                url: url::Url::parse(&c.url).ok()?,
                state: c.state,
                order: c.order,
            })
        })
        .collect();
    let observed: Vec<url::Url> = items.iter().map(|i| i.url.clone()).collect();
    let reconciled = follow::reconcile(&known, &observed, spec.max);
    let by_url: HashMap<&str, &ChildRow> = stored.iter().map(|c| (c.url.as_str(), c)).collect();
    let titles: HashMap<&url::Url, &str> =
        items.iter().map(|i| (&i.url, i.title.as_str())).collect();
    let contains = |list: &[url::Url], url: &url::Url| list.iter().any(|u| u == url);
    let mut taken: HashSet<String> = stored.iter().map(|c| c.name.clone()).collect();
    let mut update = FollowUpdate::default();
    let mut report = ListingReport {
        published: Vec::new(),
        delisted: Vec::new(),
        retired: Vec::new(),
        active: Vec::new(),
    };
    let empty = DiffSummary::none(None);
    for child in &reconciled.children {
        let old = by_url.get(child.url.as_str());
        let name = match old {
            Some(row) => row.name.clone(),
            None => {
                let reader: &dyn Store = &*store;
                let clash = |n: &str| -> bool {
                    taken.contains(n) || reader.watch_state(n).ok().flatten().is_some()
                };
                let name = follow::unique_child_name(&watch.name, &child.url, clash);
                taken.insert(name.clone());
                name
            }
        };
        let delisted = contains(&reconciled.delisted, &child.url);
        let child_watch = watch.child(name.clone(), child.url.clone());
        if contains(&reconciled.published, &child.url) {
            report.published.push(name.clone());
        }
        if delisted {
            report.delisted.push(name.clone());
        }
        if contains(&reconciled.retired, &child.url) {
            report.retired.push(name.clone());
        }
        if child.state != ChildState::Retired {
            report.active.push((name.clone(), child.url.clone()));
        }
        let unchanged = old.is_some_and(|row| row.state == child.state && row.order == child.order);
        if unchanged && !delisted {
            continue;
        }
        update.children.push(ChildUpdate {
            name,
            url: child.url.to_string(),
            state: child.state,
            order: child.order,
            title: titles.get(&child.url).map(|t| (*t).to_owned()),
            announce: contains(&reconciled.published, &child.url),
            delisted: delisted.then(|| {
                crate::notify::alerts_for(
                    &child_watch,
                    subscribers,
                    ChangeKind::Delisted,
                    &empty,
                    None,
                )
            }),
        });
    }
    Ok((update, report))
}
