//! One check of one watch, through the whole pipeline:
//! fetch → normalize → hash → judge → diff → record.
//!
//! [`Pipeline::check`] is the only code that runs the stages in sequence;
//! the daemon and `chancery check` both call it (through the engine). It
//! reads top to bottom like the pipeline, and each step that is more than a
//! call lives in a file of its own:
//!
//! - [`evaluate`]: a fetched response normalized, hashed and judged (pure);
//! - [`rebaseline`]: a filter change normalizes the stored baseline again;
//! - [`confirm`]: a removal or a large edit is fetched a second time;
//! - [`probe`]: each host's not-found page, for soft 404s;
//! - [`listing`]: a follow watch's listing pages and their reconciliation;
//! - [`record`]: the one builder of the stored check and the report.
//!
//! Every rule that turns what was observed into an outcome is in
//! [`crate::classify`]; this module gathers the evidence those rules ask
//! for and records their decision. A failed fetch is not an error here: it
//! becomes a check with outcome `error`, recorded like any other. Only a
//! storage failure is returned as `Err`, because then nothing could be
//! recorded.

mod confirm;
pub mod evaluate;
mod listing;
pub mod probe;
mod rebaseline;
mod record;
mod report;

use std::sync::Arc;
use std::time::Duration;

use crate::classify::{self, Case, Decision, History, Landing};
use crate::config::{Config, Subscriber, Watch};
use crate::fetch::browser::{Render, Renderer};
use crate::fetch::robots::RobotsCache;
use crate::fetch::{FetchError, FetchOptions, Fetcher, Response, Validators};
use crate::model::{Outcome, Presence, Timestamp};
use crate::runtime::CpuPool;
use crate::store::{Claim, HostTurn, SharedStore, Store, StoreError, WatchState};

use self::evaluate::{Evaluated, evaluate};
use self::probe::NotFoundPages;
use self::record::Record;

pub use self::confirm::Waiting;
pub use self::report::{CheckError, CheckReport, ListingReport};

/// What a pipeline takes from the config. Start-up and reload both build
/// it with [`Settings::of`], so a setting cannot be forgotten by either.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub fetch: FetchOptions,
    /// `respect_robots`.
    pub respect_robots: bool,
    /// `flap_window`.
    pub flap_window: Duration,
    /// `normalize_timeout`.
    pub normalize_timeout: Duration,
    /// `memory_budget`.
    pub memory_budget: u64,
    /// Who gets alerts; a change queues theirs in its own transaction.
    pub subscribers: Vec<Subscriber>,
    /// `per_host_concurrency`: with nodes sharing a store, the limit for
    /// all of them together.
    pub per_host_concurrency: usize,
}

impl Settings {
    /// The pipeline settings of `config`.
    pub fn of(config: &Config) -> Settings {
        Settings {
            fetch: config.daemon.fetch_options(),
            respect_robots: config.daemon.respect_robots,
            flap_window: config.daemon.flap_window,
            normalize_timeout: config.daemon.normalize_timeout,
            memory_budget: config.daemon.memory_budget,
            subscribers: config.subscribers.clone(),
            per_host_concurrency: config.daemon.per_host_concurrency,
        }
    }
}

/// Everything a check needs besides the watch: the HTTP client, the store,
/// the robots.txt cache, the not-found pages probed so far and the CPU
/// pool. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    settings: Arc<Settings>,
    fetcher: Fetcher,
    /// The browser for `render = "browser"` watches (started on first use).
    renderer: Renderer,
    store: SharedStore,
    robots: Option<Arc<RobotsCache>>,
    not_found: Arc<NotFoundPages>,
    cpu: CpuPool,
    /// Re-fetch a removal or a large edit after the watch's
    /// `confirm_delay` before recording it.
    confirm: bool,
    /// Where confirmation waits are shown, if anywhere.
    waiting: Option<Arc<confirm::Waiting>>,
    /// Nodes sharing one store: claim each check first (the daemon on
    /// PostgreSQL). `None`: check whatever is asked.
    claims: Option<Arc<Claims>>,
    /// Watch states read in one go before a one-shot run, each used by
    /// its watch's first check instead of a read of its own.
    known: Option<Arc<KnownStates>>,
}

/// Watch states read ahead ([`Pipeline::with_known_states`]), each taken
/// once: a check retried after a stale record reads the store again.
struct KnownStates(std::sync::Mutex<std::collections::HashMap<String, WatchState>>);

impl KnownStates {
    /// The state read ahead for the watch `name` at `url`, if any (a
    /// watch moved to another URL is registered again by the store).
    fn take(&self, name: &str, url: &str) -> Option<WatchState> {
        let mut states = self.0.lock().unwrap_or_else(|p| p.into_inner());
        states.remove(name).filter(|state| state.url == url)
    }
}

/// Who this node is and how long its claims last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub node: String,
    pub lease: Duration,
    /// Claim each watch's check (the daemon: one node checks it per
    /// interval). `false`: check what is asked (`chancery check`), but
    /// still take turns at hosts with the nodes.
    pub checks: bool,
}

/// The fetch result kept for the record of a check whose normalizing was
/// cut off (the job still holds the response): its status and final URL,
/// without the body.
fn too_complex(
    fetched: &Result<Response, FetchError>,
    limit: Duration,
) -> Result<Response, FetchError> {
    let error = FetchError::TooComplex { after: limit };
    let headers = match fetched {
        Ok(response) => Some((response.status, &response.final_url)),
        Err(e) => e.status().zip(e.final_url()),
    };
    Err(match headers {
        Some((status, url)) => error.after_headers(status, url),
        None => error,
    })
}

/// One fetch with its evaluation and the decision it led to.
pub(crate) struct Seen {
    pub started_at: Timestamp,
    pub fetched: Result<Response, FetchError>,
    pub eval: Evaluated,
    pub decision: Decision,
}

impl Pipeline {
    /// A pipeline with the settings of `config`.
    pub fn new(config: &Config, store: SharedStore) -> Result<Pipeline, FetchError> {
        let settings = Settings::of(config);
        Ok(Pipeline {
            fetcher: Fetcher::new(settings.fetch.clone())?,
            renderer: Renderer::new(config.browser_options()),
            robots: robots_cache(&settings),
            cpu: CpuPool::new(settings.memory_budget),
            settings: Arc::new(settings),
            store,
            not_found: Arc::new(NotFoundPages::default()),
            confirm: true,
            waiting: None,
            claims: None,
            known: None,
        })
    }

    /// The same pipeline under a reloaded `config`: every setting is taken
    /// from it; the connection pool, host gate and robots cache are kept
    /// when the fetch settings did not change.
    pub fn reconfigured(&self, config: &Config) -> Result<Pipeline, FetchError> {
        let settings = Settings::of(config);
        let same_fetch = settings.fetch == self.settings.fetch;
        let same_robots = settings.respect_robots == self.settings.respect_robots;
        // A new budget is a new pool: reads in flight finish under the old.
        let cpu = if settings.memory_budget == self.settings.memory_budget {
            self.cpu.clone()
        } else {
            CpuPool::new(settings.memory_budget)
        };
        // New browser settings are a new browser: pages in flight finish
        // in the old one, which closes when they have.
        let browser = config.browser_options();
        let renderer = if &browser == self.renderer.options() {
            self.renderer.clone()
        } else {
            Renderer::new(browser)
        };
        Ok(Pipeline {
            renderer,
            fetcher: if same_fetch {
                self.fetcher.clone()
            } else {
                Fetcher::new(settings.fetch.clone())?
            },
            robots: if same_fetch && same_robots {
                self.robots.clone()
            } else {
                robots_cache(&settings)
            },
            settings: Arc::new(settings),
            store: self.store.clone(),
            not_found: self.not_found.clone(),
            cpu,
            confirm: self.confirm,
            waiting: self.waiting.clone(),
            claims: self.claims.clone(),
            known: self.known.clone(),
        })
    }

    /// Records removals and large edits at once, without the confirming
    /// second fetch (`check --no-confirm`).
    pub fn without_confirmation(mut self) -> Pipeline {
        self.confirm = false;
        self
    }

    /// Claims each check in the store before fetching, as `claims.node`:
    /// a watch another node is checking, or checked less than half an
    /// interval ago, is not fetched ([`CheckError::Elsewhere`]).
    pub fn with_claims(mut self, claims: Claims) -> Pipeline {
        self.claims = Some(Arc::new(claims));
        self
    }

    /// Starts each watch's first check from `states` (read in one go by
    /// [`crate::store::Store::watch_states`]) rather than from a read of its
    /// own: `chancery check` over every watch saves a trip to the store
    /// per watch. Not with claims on checks, which read the state anyway.
    /// A state that moved on meanwhile (another process recorded the
    /// watch) is refused by the store when the check is recorded, and the
    /// check is made again from the store's state.
    pub fn with_known_states(mut self, states: Vec<WatchState>) -> Pipeline {
        let states = states.into_iter().map(|s| (s.name.clone(), s)).collect();
        self.known = Some(Arc::new(KnownStates(std::sync::Mutex::new(states))));
        self
    }

    /// Lists confirmation waits in `waiting` while they last.
    pub fn with_waiting(mut self, waiting: Arc<confirm::Waiting>) -> Pipeline {
        self.waiting = Some(waiting);
        self
    }

    /// The settings in effect.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Checks one watch now and records the result.
    ///
    /// Another process may record the same watch while this check is
    /// judged (the daemon beside `chancery check`, both seeing one edit):
    /// the store then refuses this record as stale, and the watch is
    /// checked again, once, against what the other recorded, so one edit
    /// is one change and one alert.
    pub async fn check(&self, watch: &Watch) -> Result<CheckReport, CheckError> {
        match self.check_once(watch).await {
            Err(CheckError::Store {
                source: StoreError::Stale { .. },
                ..
            }) => {
                tracing::info!(watch = %watch.name, "recorded by another process meanwhile; checking again");
                self.check_once(watch).await
            }
            other => other,
        }
    }

    async fn check_once(&self, watch: &Watch) -> Result<CheckReport, CheckError> {
        let wrap = |source| CheckError::Store {
            watch: watch.name.clone(),
            source,
        };
        // The watch's state before this check (read ahead in a one-shot
        // run, else read now and registered if new), and, with nodes
        // sharing the store, this node's claim on the check.
        let (name, url) = (watch.name.clone(), watch.url.to_string());
        let (claims, interval) = (self.claims.clone(), watch.interval);
        let host = crate::fetch::gate::host_key(&watch.url);
        let known = self
            .known
            .as_ref()
            .filter(|_| claims.as_ref().is_none_or(|c| !c.checks))
            .and_then(|known| known.take(&name, &url));
        let (state, claim) = match known {
            Some(state) => (state, Claim::Granted),
            None => self
                .store
                .run(move |s| {
                    let state = s.ensure_watch(&name, &url)?;
                    let claim = match claims.filter(|c| c.checks) {
                        Some(claims) => {
                            let now = Timestamp::now();
                            s.claim_check(
                                state.watch_id,
                                &host,
                                &claims.node,
                                now,
                                interval,
                                now.plus(claims.lease),
                            )?
                        }
                        None => Claim::Granted,
                    };
                    Ok((state, claim))
                })
                .await
                .map_err(wrap)?,
        };
        if let Claim::Elsewhere { next_due } = claim {
            return Err(CheckError::Elsewhere {
                watch: watch.name.clone(),
                next_due,
            });
        }
        // Changed filters: the stored baseline is normalized again first.
        let (state, filters_changed) = self.rebaseline(watch, state).await.map_err(wrap)?;
        let state = Arc::new(state);
        // Fetch, normalize, judge.
        let mut seen = self
            .observe(watch, &state, filters_changed, None)
            .await
            .map_err(wrap)?;
        // A removal or a large edit counts only if a second fetch agrees.
        if self.confirm && classify::confirm::needed(&seen.decision) {
            seen = self
                .confirm(watch, &state, filters_changed, seen)
                .await
                .map_err(wrap)?;
        }
        // A follow watch reads its listing from the same response.
        let items = self.read_listing(watch, &seen).await;
        // One transaction: the check, its change, alerts and listing
        // (committed with the checks that finish meanwhile).
        let (watch, settings) = (watch.clone(), self.settings.clone());
        self.store
            .write(move |s| {
                let subscribers = &settings.subscribers;
                let listing = match items {
                    Some(items) => Some(listing::reconcile(s, &watch, &items, subscribers)?),
                    None => None,
                };
                let record = Record::of_check(&watch, &state, seen, subscribers, listing);
                let recorded = s.record_check(&record.new_check())?;
                Ok(record.report(recorded))
            })
            .await
            .map_err(wrap)
    }

    /// One fetch of `watch`, evaluated and decided against its history.
    /// `confirming`: the first fetch, when this one is its confirmation.
    async fn observe(
        &self,
        watch: &Watch,
        state: &Arc<WatchState>,
        filters_changed: bool,
        confirming: Option<classify::confirm::First<'_>>,
    ) -> Result<Seen, StoreError> {
        // A removed page gets no validators: if it comes back unchanged, a
        // 304 would hide the restoration. Nor does a rendered page: its
        // text comes from requests its scripts make, which a 304 for the
        // page itself says nothing about.
        let validators = match state.presence {
            _ if watch.render.is_browser() => Validators::default(),
            Presence::Present => Validators {
                etag: state.etag.clone(),
                last_modified: state.last_modified.clone(),
            },
            Presence::New | Presence::Removed => Validators::default(),
        };
        let sent_validators = !validators.is_empty();
        let started_at = Timestamp::now();
        let fetched = self.fetch(watch, &validators).await;
        let (fetched, eval) = self.evaluated(watch, state, fetched, sent_validators).await;

        // The evidence the rules ask for: history, the host's not-found page.
        let last_sha256 = state.last_snapshot.as_ref().map(|s| s.sha256.as_str());
        let needs = classify::needs(
            state.presence,
            last_sha256,
            eval.observation(),
            filters_changed,
        );
        let history = if needs.history {
            Some(
                self.history(state, eval.text_sha256.clone(), watch.flap_settle)
                    .await?,
            )
        } else {
            None
        };
        let not_found = match (&fetched, needs.not_found_page) {
            (Ok(response), true) => self.not_found_page(watch, response).await,
            _ => None,
        };
        let landing = match (&fetched, &eval.text) {
            (Ok(response), Some(text)) => Some(Landing {
                status: response.status,
                requested: &watch.url,
                final_url: &response.final_url,
                text,
            }),
            _ => None,
        };
        let decision = classify::decide(&Case {
            presence: state.presence,
            last_sha256,
            observation: eval.observation(),
            reason: eval.reason,
            filters_changed,
            region_moved: eval.region_moved,
            landing,
            history: history.as_ref(),
            not_found: not_found
                .as_ref()
                .map(|(host, text)| classify::NotFoundPage { host, text }),
            confirming,
            now: Timestamp::now(),
            flap_window: self.settings.flap_window,
            flap_settle: watch.flap_settle,
        });
        Ok(Seen {
            started_at,
            fetched,
            eval,
            decision,
        })
    }

    /// The fetch normalized and judged (`check::evaluate`). Reading a body
    /// is CPU work: off the async threads, within the CPU pool's bounds,
    /// and outside the store's lock so checks normalize in parallel. A
    /// pathological page (tag soup built to make the parser slow) is cut
    /// off after `normalize_timeout`: the check fails `too-complex` and the
    /// daemon moves on; the thread finishes the work unheard. With nothing
    /// to read (a 304 to our validators, a failed fetch) it is judged
    /// here: a trip to the blocking pool would cost more than the judging,
    /// and a 304 pass is all such checks.
    async fn evaluated(
        &self,
        watch: &Watch,
        state: &WatchState,
        fetched: Result<Response, FetchError>,
        sent_validators: bool,
    ) -> (Result<Response, FetchError>, Evaluated) {
        if !evaluate::has_body_to_read(&fetched, sent_validators) {
            let eval = evaluate(watch, &fetched, sent_validators, state.region.as_deref());
            return (fetched, eval);
        }
        let (w, sticky) = (watch.clone(), state.region.clone());
        let shared = Arc::new(fetched);
        let job = {
            let shared = shared.clone();
            let cost = shared.as_ref().as_ref().map_or(0, |r| {
                crate::normalize::memory_estimate(&r.body, r.content_type.as_deref())
            });
            self.cpu.run(cost, move || {
                evaluate(&w, &shared, sent_validators, sticky.as_deref())
            })
        };
        let limit = self.settings.normalize_timeout;
        let evaluated = tokio::time::timeout(limit, job).await;
        let fetched = Arc::try_unwrap(shared).unwrap_or_else(|shared| too_complex(&shared, limit));
        let eval = match evaluated {
            Ok(Ok(eval)) => eval,
            Ok(Err(over)) => {
                tracing::warn!(watch = %watch.name, error = %over, "page too large to read within memory_budget");
                evaluate::Evaluated::over_budget(over)
            }
            Err(_) => {
                tracing::warn!(watch = %watch.name, limit = ?limit, "page too complex to normalize in time");
                evaluate::Evaluated::too_complex(limit)
            }
        };
        (fetched, eval)
    }

    /// Fetches the watch's URL (or renders it in the browser), unless
    /// robots.txt (when respected) says no.
    async fn fetch(&self, watch: &Watch, validators: &Validators) -> Result<Response, FetchError> {
        if let Some(robots) = &self.robots
            && !robots.allows(&self.fetcher, &watch.url).await
        {
            return Err(FetchError::DisallowedByRobots);
        }
        // Nodes sharing a store take turns at a host, so its limits hold
        // for all of them together.
        let turn = self.take_turn(&watch.url).await;
        let fetched = self.fetch_now(watch, validators).await;
        let not_before = fetched
            .as_ref()
            .ok()
            .and_then(|r| evaluate::retry_after(r, std::time::SystemTime::now()));
        self.hand_back(turn, &watch.url, not_before).await;
        fetched
    }

    /// Hands a turn back; after a `Retry-After` of `pause`, the host's
    /// next request from any node waits that long.
    async fn hand_back(
        &self,
        turn: Option<(String, u32)>,
        url: &url::Url,
        pause: Option<Duration>,
    ) {
        let (Some((host, slot)), Some(claims)) = (turn, &self.claims) else {
            return;
        };
        let not_before = pause.map(|pause| Timestamp::now().plus(pause));
        let node = claims.node.clone();
        let released = self
            .store
            .run(move |s| s.release_host(&host, slot, &node, not_before))
            .await;
        if let Err(e) = released {
            // Its lease frees the slot in time.
            tracing::warn!(url = %url, error = %e, "cannot hand the host's turn back");
        }
    }

    /// Waits for this node's turn at `url`'s host among the nodes sharing
    /// the store: its host and slot (`None` without nodes). A store that
    /// cannot be asked is logged and the fetch goes ahead under this
    /// node's own limits.
    async fn take_turn(&self, url: &url::Url) -> Option<(String, u32)> {
        let claims = self.claims.as_ref()?;
        let host = crate::fetch::gate::host_key(url);
        let slots = u32::try_from(self.settings.per_host_concurrency).unwrap_or(u32::MAX);
        let delay = self.settings.fetch.per_host_delay;
        loop {
            let (h, node, lease) = (host.clone(), claims.node.clone(), claims.lease);
            let asked = self
                .store
                .run(move |s| {
                    let now = Timestamp::now();
                    s.claim_host(&h, &node, now, slots, delay, now.plus(lease))
                })
                .await;
            match asked {
                Ok(HostTurn::Go { slot }) => return Some((host, slot)),
                // Beyond twice any slot's lease, so only a pause (a
                // Retry-After another node was given after this check was
                // claimed), never a busy slot, whatever the nodes' clocks.
                Ok(HostTurn::Wait { until })
                    if until > Timestamp::now().plus(claims.lease.saturating_mul(2)) =>
                {
                    // The daemon's next claims of this host are refused
                    // until then; this one fetch goes ahead under this
                    // node's own limits rather than hold its slot so long.
                    tracing::warn!(host = %host, until = %until, "the host's next turn is too far off to wait for; fetching under this node's limits");
                    return None;
                }
                Ok(HostTurn::Wait { until }) => {
                    // Asked again when the turn may come, at least every
                    // second (a slot handed back early frees sooner).
                    let wait = Timestamp::now()
                        .until(until)
                        .clamp(Duration::from_millis(10), Duration::from_secs(1));
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    tracing::warn!(host = %host, error = %e, "cannot take a turn at the host in the shared store; fetching under this node's limits");
                    return None;
                }
            }
        }
    }

    async fn fetch_now(
        &self,
        watch: &Watch,
        validators: &Validators,
    ) -> Result<Response, FetchError> {
        match &watch.render {
            Render::Http => self.fetcher.fetch(&watch.url, validators).await,
            Render::Browser(wait) => {
                self.renderer
                    .render(self.fetcher.gate(), &watch.url, wait)
                    .await
            }
        }
    }

    /// Closes the browser, if one runs (the daemon or `check` ending).
    pub async fn shutdown(&self) {
        self.renderer.shutdown().await;
    }

    /// The watch's history that judging a would-be change needs.
    async fn history(
        &self,
        state: &Arc<WatchState>,
        text_sha256: Option<String>,
        flap_settle: u32,
    ) -> Result<History, StoreError> {
        let state = state.clone();
        self.store
            .run(move |s| read_history(s, &state, text_sha256.as_deref(), flap_settle))
            .await
    }
}

/// The robots.txt cache, when the settings respect robots.txt.
fn robots_cache(settings: &Settings) -> Option<Arc<RobotsCache>> {
    settings
        .respect_robots
        .then(|| Arc::new(RobotsCache::new(&settings.fetch.user_agent)))
}

fn read_history(
    store: &mut dyn Store,
    state: &WatchState,
    text_sha256: Option<&str>,
    flap_settle: u32,
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
    let seen_before_at = match seen_before {
        Some(id) => store
            .snapshot(&state.name, Some(id))?
            .map(|s| s.meta.fetched_at),
        None => None,
    };
    let held = match &state.last_snapshot {
        Some(last) => held(store, &state.name, &last.sha256, flap_settle)?,
        None => 0,
    };
    let recent = store
        .changes(&state.name, Some(4 * classify::flap::RECENT_CHANGES))?
        .into_iter()
        .map(|c| classify::flap::Step {
            kind: c.kind,
            from: c.from,
            to: c.to,
            detected_at: c.detected_at,
        })
        .collect();
    Ok(History {
        last_text,
        seen_before,
        seen_before_at,
        held,
        recent,
    })
}

/// How many of the watch's latest checks, newest first, saw `current_sha256`
/// (a 304 counts as seeing it; failed checks are skipped, they saw nothing),
/// counting up to `enough`.
fn held(
    store: &mut dyn Store,
    watch: &str,
    current_sha256: &str,
    enough: u32,
) -> Result<u32, StoreError> {
    // Failures in between are skipped, so read more than `enough` rows.
    let rows = store.checks(watch, Some(enough as usize * 4 + 8))?;
    let mut held = 0;
    for row in rows.iter().filter(|c| c.outcome != Outcome::Error) {
        let saw_it = match row.text_sha256.as_deref() {
            Some(sha) => sha == current_sha256,
            None => row.outcome == Outcome::Unchanged,
        };
        if !saw_it || held >= enough {
            break;
        }
        held += 1;
    }
    Ok(held)
}
