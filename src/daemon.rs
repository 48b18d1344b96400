//! `chancery run`: the long-running service.
//!
//! One loop over [`Event`]s: a check finished, the schedule has something
//! due, SIGHUP (reload), SIGTERM/SIGINT (shutdown), a watchdog tick.
//! Everything that starts or stops work is in that one `match`.
//!
//! Guarantees: a second daemon on the same state dir refuses to start (lock
//! file); an invalid config on reload is rejected and the running one kept;
//! on shutdown no new check starts and running ones get `shutdown_grace` to
//! finish, and since each check is one store transaction nothing is ever
//! half-written.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::check::{self, CheckError, Pipeline};
use crate::config::{self, Config, Watch};
use crate::engine::{Engine, Finished};
use crate::model::Timestamp;
use crate::notify::outbox::{self, Notifier};
use crate::schedule::{Politeness, Timing};
use crate::store::{SharedStore, WatchSummary};

/// How long running checks may take to finish after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Longest the delivery worker sleeps between passes when nothing is due.
const DELIVERY_IDLE: Duration = Duration::from_secs(5);

/// The exclusive lock of a state dir, held for the daemon's lifetime. Once
/// the daemon listens for signals the file holds its pid, so `chancery
/// watch add|remove` can ask it to reload.
#[derive(Debug)]
pub struct StateLock {
    file: File,
    path: PathBuf,
}

/// Who holds a state dir's lock, as seen by another process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockHolder {
    /// The lock is free: no daemon runs on this state dir.
    Free,
    /// A daemon holds the lock; `pid` is `None` while it is still starting
    /// (it writes its pid once it handles SIGHUP).
    Daemon { pid: Option<u32> },
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(
        "another chancery daemon is already running on state dir {state_dir} (lock {lock} is held)"
    )]
    AlreadyRunning { state_dir: PathBuf, lock: PathBuf },
    #[error("cannot lock {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StateLock {
    /// Takes `state_dir/chancery.lock`, creating the directory if needed.
    /// The lock is released by the OS when the process ends, however it ends.
    pub fn acquire(state_dir: &Path) -> Result<StateLock, DaemonError> {
        let path = state_dir.join("chancery.lock");
        let lock_err = |source| DaemonError::Lock {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(state_dir).map_err(lock_err)?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(lock_err)?;
        match file.try_lock() {
            Ok(()) => {
                // A pid left by an earlier daemon must never be signalled.
                file.set_len(0).map_err(lock_err)?;
                Ok(StateLock { file, path })
            }
            Err(std::fs::TryLockError::WouldBlock) => Err(DaemonError::AlreadyRunning {
                state_dir: state_dir.to_owned(),
                lock: path,
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(lock_err(e)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes this process's pid into the lock file. Call it only once
    /// SIGHUP is handled: whoever reads the pid may send one at once.
    pub fn record_pid(&mut self) -> std::io::Result<()> {
        use std::io::{Seek, Write};
        self.file.set_len(0)?;
        self.file.rewind()?;
        writeln!(self.file, "{}", std::process::id())?;
        self.file.flush()
    }

    /// Whether a daemon holds `state_dir`'s lock, and its pid if it wrote
    /// it. Creates nothing: a missing lock file means no daemon. The lock is
    /// probed with a shared lock released at once, never written.
    pub fn holder(state_dir: &Path) -> Result<LockHolder, DaemonError> {
        let path = state_dir.join("chancery.lock");
        let lock_err = |source| DaemonError::Lock {
            path: path.clone(),
            source,
        };
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockHolder::Free),
            Err(e) => return Err(lock_err(e)),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(LockHolder::Free),
            Err(std::fs::TryLockError::WouldBlock) => {
                let text = std::fs::read_to_string(&path).map_err(lock_err)?;
                let pid = text.trim().parse::<u32>().ok().filter(|&pid| pid > 1);
                Ok(LockHolder::Daemon { pid })
            }
            Err(std::fs::TryLockError::Error(e)) => Err(lock_err(e)),
        }
    }
}

/// What woke the loop.
enum Event {
    Finished(Box<Finished>),
    /// Something in the schedule may be due.
    Wake,
    Reload,
    Shutdown(&'static str),
    Watchdog,
}

struct Signals {
    hup: Signal,
    term: Signal,
    int: Signal,
}

/// Runs the daemon until SIGTERM/SIGINT. `config` was loaded from
/// `config_path`, which SIGHUP re-reads.
pub async fn run(config_path: PathBuf, config: Config) -> anyhow::Result<()> {
    let state_dir = config.daemon.state_dir.clone();
    let mut lock = StateLock::acquire(&state_dir)?;
    let location = config.store_location();
    let store = location
        .open()
        .with_context(|| format!("cannot open history {location}"))?;
    let store = SharedStore::new(store);
    let mut pipeline = Pipeline::new(&config, store.clone())?;
    let node = crate::runtime::node_id();
    // Nodes sharing a store claim each check first, so one checks it.
    if let Some(shared) = &config.store {
        let claims = crate::check::Claims {
            node: node.clone(),
            lease: shared.lease_for(&config.daemon),
            checks: true,
        };
        tracing::info!(
            node = %claims.node,
            lease = %humantime::format_duration(claims.lease),
            store = %location,
            "checks are claimed in the shared store"
        );
        pipeline = pipeline.with_claims(claims);
    }
    let notifier = Notifier::new(&config, store.clone())?;
    let (notifier_tx, notifier_rx) = tokio::sync::watch::channel(notifier);
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let wake_delivery = Arc::new(tokio::sync::Notify::new());
    let delivery = tokio::spawn(outbox::run(
        notifier_rx,
        wake_delivery.clone(),
        shutdown_rx.clone(),
        DELIVERY_IDLE,
    ));
    let mut engine = Engine::new(pipeline, config.daemon.politeness(), Timing::default());
    let summaries = load_summaries(&store).await?;
    for watch in &config.watches {
        let (due, failures) = plan(&engine, watch, summaries.get(&watch.name));
        engine.upsert(watch.clone(), due, failures);
    }
    schedule_children(&mut engine, &store, &config, &summaries).await?;
    // `[web] listen`: the read-only view, served by this process too.
    if let Some(web) = config.web.as_ref()
        && let Some(listen) = web.listen
    {
        let auth = crate::web::auth_for(listen, web.token_file.as_deref())?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen} ([web] listen)"))?;
        tracing::info!(
            url = %format!("http://{}/", listener.local_addr()?),
            auth = if auth.is_some() { "token" } else { "none" },
            "serving the web view (read-only)"
        );
        let view = config.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::web::serve(view, listener, auth).await {
                tracing::error!(error = %format!("{e:#}"), "the web view stopped");
            }
        });
    }
    let mut signals = Signals {
        hup: signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?,
        term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
        int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
    };
    if let Err(e) = lock.record_pid() {
        tracing::warn!(lock = %lock.path().display(), error = %e, "cannot write the pid; `chancery watch` cannot ask for a reload");
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %config_path.display(),
        state_dir = %state_dir.display(),
        lock = %lock.path().display(),
        watches = config.watches.len(),
        "chancery started"
    );
    // Nodes sharing a store say who they are and what they run.
    let (config_now, heartbeat) = match &config.store {
        Some(_) => {
            let (tx, rx) =
                tokio::sync::watch::channel((config.fingerprint(), config.watches.len()));
            let task = tokio::spawn(heartbeats(store.clone(), node, rx, shutdown_rx.clone()));
            (Some(tx), Some(task))
        }
        None => (None, None),
    };
    let mut daemon = Daemon {
        config_path,
        config,
        store,
        engine,
        notifier: notifier_tx,
        wake_delivery,
        last: None,
        n_checks: 0,
        config_now,
    };
    notify(&[sd_notify::NotifyState::Ready]);
    daemon.status();

    // systemd's watchdog wants a ping at least every WatchdogSec; ping at half.
    let mut watchdog = sd_notify::watchdog_enabled().map(|every| tokio::time::interval(every / 2));

    loop {
        daemon.engine.start_ready();
        let event = next_event(&mut daemon.engine, &mut signals, watchdog.as_mut()).await;
        match event {
            Event::Finished(finished) => {
                if let Some(parent) = daemon.finished(*finished) {
                    daemon.adopt_children(&parent).await;
                }
            }
            Event::Wake => {}
            Event::Reload => daemon.reload().await,
            Event::Watchdog => notify(&[sd_notify::NotifyState::Watchdog]),
            Event::Shutdown(signal) => {
                tracing::info!(
                    signal,
                    in_flight = daemon.engine.in_flight(),
                    "shutting down"
                );
                notify(&[sd_notify::NotifyState::Stopping]);
                let _ = shutdown_tx.send(true);
                let abandoned = daemon.engine.drain(SHUTDOWN_GRACE).await;
                // An alert being sent gets the same grace; if it is cut off
                // it stays pending and is sent again after the restart.
                if tokio::time::timeout(SHUTDOWN_GRACE, delivery)
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        "alert delivery still running after the grace period; pending alerts are sent after the restart"
                    );
                }
                if abandoned > 0 {
                    tracing::warn!(
                        abandoned,
                        "checks still running after the grace period were abandoned (nothing half-written)"
                    );
                }
                daemon.engine.pipeline().shutdown().await;
                if let Some(task) = heartbeat {
                    // Its last word: stopped cleanly.
                    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
                }
                tracing::info!("stopped");
                return Ok(());
            }
        }
    }
}

async fn next_event(
    engine: &mut Engine,
    signals: &mut Signals,
    watchdog: Option<&mut tokio::time::Interval>,
) -> Event {
    let wake = engine.next_wakeup();
    tokio::select! {
        biased;
        _ = signals.term.recv() => Event::Shutdown("SIGTERM"),
        _ = signals.int.recv() => Event::Shutdown("SIGINT"),
        _ = signals.hup.recv() => Event::Reload,
        _ = tick(watchdog) => Event::Watchdog,
        Some(finished) = engine.join_next() => Event::Finished(Box::new(finished)),
        _ = sleep_until(wake) => Event::Wake,
    }
}

async fn tick(interval: Option<&mut tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

async fn load_summaries(store: &SharedStore) -> anyhow::Result<HashMap<String, WatchSummary>> {
    let summaries = store
        .run(|s| s.watches())
        .await
        .context("cannot read the watch list from the history")?;
    Ok(summaries.into_iter().map(|s| (s.name.clone(), s)).collect())
}

/// Schedules the stored active children of every follow watch in `config`
/// (their parents must be scheduled already).
async fn schedule_children(
    engine: &mut Engine,
    store: &SharedStore,
    config: &Config,
    summaries: &HashMap<String, WatchSummary>,
) -> anyhow::Result<()> {
    for watch in config.watches.iter().filter(|w| w.follow.is_some()) {
        let name = watch.name.clone();
        let children = store
            .run(move |s| s.children(&name))
            .await
            .context("cannot read a follow watch's children from the history")?;
        let active: Vec<(String, url::Url)> = children.iter().filter_map(|c| c.active()).collect();
        let plans: HashMap<String, (Instant, u32)> = active
            .iter()
            .map(|(n, u)| {
                let child = watch.child(n.clone(), u.clone());
                (n.clone(), plan(engine, &child, summaries.get(n)))
            })
            .collect();
        engine.set_children(&watch.name, &active, |child| {
            plans
                .get(&child.name)
                .copied()
                .unwrap_or((Instant::now(), 0))
        });
    }
    Ok(())
}

/// When a watch is first due, from its history: see `Schedule::first_due`.
fn plan(engine: &Engine, watch: &Watch, summary: Option<&WatchSummary>) -> (Instant, u32) {
    let now = Instant::now();
    let since_last = summary.and_then(|s| s.last_check_at).map(|at| {
        let ago = Timestamp::now().as_millis().saturating_sub(at.as_millis());
        Duration::from_millis(u64::try_from(ago).unwrap_or(0))
    });
    let failures = summary.map_or(0, |s| s.failures);
    let due = engine
        .schedule()
        .first_due(&watch.name, watch.interval, since_last, failures, now);
    (due, failures)
}

fn notify(states: &[sd_notify::NotifyState<'_>]) {
    // Without NOTIFY_SOCKET this is a no-op; a failure to reach systemd is
    // worth a warning, not a crash.
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

struct Daemon {
    config_path: PathBuf,
    config: Config,
    store: SharedStore,
    engine: Engine,
    /// The delivery worker's notifier, replaced on reload.
    notifier: tokio::sync::watch::Sender<Notifier>,
    /// Wakes the delivery worker after a check recorded a change.
    wake_delivery: Arc<tokio::sync::Notify>,
    /// The latest finished check, for the status line.
    last: Option<(String, String, Timestamp)>,
    n_checks: u64,
    /// With a shared store: the fingerprint and size of the config in
    /// effect, for the heartbeat.
    config_now: Option<tokio::sync::watch::Sender<(String, usize)>>,
}

impl Daemon {
    /// Logs and counts a finished check and schedules the children its
    /// listing named. Returns a follow watch whose check another node had
    /// (its children are to be read from the store).
    fn finished(&mut self, finished: Finished) -> Option<String> {
        let mut adopt = None;
        match finished.result {
            Ok(report) => {
                report.log();
                if let Some(listing) = &report.listing {
                    if !listing.published.is_empty() || !listing.delisted.is_empty() {
                        tracing::info!(
                            watch = %report.watch,
                            published = listing.published.len(),
                            delisted = listing.delisted.len(),
                            children = listing.active.len(),
                            "listing changed"
                        );
                    }
                    self.engine
                        .set_children(&report.watch, &listing.active, |_| (Instant::now(), 0));
                }
                if report.change_id.is_some() {
                    self.wake_delivery.notify_one();
                }
                self.n_checks += 1;
                self.last = Some((
                    report.watch.clone(),
                    report.outcome.to_string(),
                    report.started_at,
                ));
            }
            Err(e @ CheckError::Store { .. }) => {
                tracing::error!(watch = %finished.watch, error = %e, "check could not be recorded");
            }
            Err(e @ CheckError::Skipped { .. }) => tracing::warn!(watch = %finished.watch, "{e}"),
            Err(e @ CheckError::Elsewhere { .. }) => {
                tracing::debug!(watch = %finished.watch, "{e}");
                let parent = self.engine.watches().get(&finished.watch);
                if parent.is_some_and(|w| w.follow.is_some()) {
                    adopt = Some(finished.watch);
                }
            }
        }
        self.status();
        adopt
    }

    /// Another node checks `parent`'s listing: the children it found are
    /// read from the store and checked here too (each check claimed like
    /// any other), so the nodes share them rather than leave them to the
    /// node that found them.
    async fn adopt_children(&mut self, parent: &str) {
        let name = parent.to_owned();
        match self.store.run(move |s| s.children(&name)).await {
            Ok(children) => {
                let active: Vec<(String, url::Url)> =
                    children.iter().filter_map(|c| c.active()).collect();
                let added = self
                    .engine
                    .set_children(parent, &active, |_| (Instant::now(), 0));
                if added > 0 {
                    tracing::info!(watch = %parent, children = added, "took up the children another node found on the listing");
                }
            }
            Err(e) => {
                tracing::warn!(watch = %parent, error = %e, "cannot read the children another node found on the listing");
            }
        }
    }

    fn status(&self) {
        let mut text = format!(
            "{} watches, {} checking, {} checks since start",
            self.engine.watches().len(),
            self.engine.in_flight(),
            self.n_checks
        );
        if let Some((watch, outcome, at)) = &self.last {
            text.push_str(&format!("; last: {watch} {outcome} at {at}"));
        }
        notify(&[sd_notify::NotifyState::Status(&text)]);
    }

    /// Reads and builds everything a reload needs, applying nothing, so an
    /// invalid config leaves the running one untouched. Every part is built
    /// from the new config by the function start-up uses ([`Applied::of`]
    /// lists them), so no setting can be left off a reload.
    fn prepare_reload(&self) -> anyhow::Result<(Config, Pipeline, Notifier)> {
        let new = config::load(&self.config_path)?;
        let pipeline = self.engine.pipeline().reconfigured(&new)?;
        let notifier = Notifier::new(&new, self.store.clone())?;
        Ok((new, pipeline, notifier))
    }

    /// Re-reads the config. An invalid one is logged and ignored.
    async fn reload(&mut self) {
        let (new, pipeline, notifier) = match self.prepare_reload() {
            Ok(prepared) => prepared,
            Err(e) => {
                tracing::error!(
                    config = %self.config_path.display(),
                    error = %format!("{e:#}"),
                    "reload rejected; the running config stays in effect"
                );
                return;
            }
        };
        if new.daemon.state_dir != self.config.daemon.state_dir {
            tracing::warn!(
                running = %self.config.daemon.state_dir.display(),
                configured = %new.daemon.state_dir.display(),
                "state_dir changes take effect after a restart"
            );
        }
        if new.store != self.config.store {
            tracing::warn!("[store] changes take effect after a restart");
        }
        if new.web.as_ref().map(|w| (w.listen, &w.token_file))
            != self.config.web.as_ref().map(|w| (w.listen, &w.token_file))
        {
            tracing::warn!("[web] listen and token_file changes take effect after a restart");
        }
        self.engine.set_pipeline(pipeline);
        let _ = self.notifier.send(notifier);
        self.engine
            .set_limits(new.daemon.politeness(), Timing::default());

        let summaries = match load_summaries(&self.store).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "reload: cannot read the history; schedules computed without it");
                HashMap::new()
            }
        };
        let (mut added, mut changed, mut removed) = (0, 0, 0);
        // Children copy their parent's settings: they are scheduled afresh
        // below from the history (so without a burst of checks).
        let children: Vec<String> = self
            .engine
            .watches()
            .values()
            .filter(|w| w.parent.is_some())
            .map(|w| w.name.clone())
            .collect();
        for name in children {
            self.engine.remove(&name);
        }
        let old_names: Vec<String> = self.engine.watches().keys().cloned().collect();
        for name in old_names {
            if new.watch(&name).is_none() {
                self.engine.remove(&name);
                removed += 1;
            }
        }
        for watch in &new.watches {
            let same = self
                .engine
                .watches()
                .get(&watch.name)
                .is_some_and(|old| **old == **watch);
            if same {
                continue;
            }
            if self.engine.watches().contains_key(&watch.name) {
                changed += 1;
            } else {
                added += 1;
            }
            let (due, failures) = plan(&self.engine, watch, summaries.get(&watch.name));
            self.engine.upsert(watch.clone(), due, failures);
        }
        if let Err(e) = schedule_children(&mut self.engine, &self.store, &new, &summaries).await {
            tracing::error!(error = %format!("{e:#}"), "reload: cannot schedule follow watches' children");
        }
        tracing::info!(
            added,
            changed,
            removed,
            watches = new.watches.len(),
            "config reloaded"
        );
        if let Some(config_now) = &self.config_now {
            let _ = config_now.send((new.fingerprint(), new.watches.len()));
        }
        self.config = new;
        self.status();
    }
}

/// How often a node sharing a store writes its heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Writes this node's heartbeat every [`HEARTBEAT`] until shutdown, then
/// once more saying it stopped. A failed write is logged and retried at
/// the next beat: the node keeps checking meanwhile.
async fn heartbeats(
    store: SharedStore,
    id: String,
    config: tokio::sync::watch::Receiver<(String, usize)>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let (started_at, host) = (Timestamp::now(), crate::runtime::host_name());
    let beat = |stopped: bool| {
        let (config_sha256, watches) = config.borrow().clone();
        let now = Timestamp::now();
        crate::store::NodeRow {
            id: id.clone(),
            host: host.clone(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            config_sha256,
            watches: watches as u64,
            started_at,
            heartbeat_at: now,
            stopped_at: stopped.then_some(now),
        }
    };
    let mut every = tokio::time::interval(HEARTBEAT);
    loop {
        let stopping = tokio::select! {
            _ = every.tick() => false,
            _ = shutdown.changed() => true,
        };
        let node = beat(stopping);
        if let Err(e) = store.run(move |s| s.heartbeat(&node)).await {
            tracing::warn!(error = %e, "cannot write this node's heartbeat");
        }
        if stopping {
            return;
        }
    }
}

/// Everything the daemon takes from its config, as it applies it: at
/// start-up and on every reload, each part is built by the function named
/// here. A setting that changes none of these takes effect only after a
/// restart (`state_dir`, which the reload warns about).
#[derive(Debug, PartialEq)]
pub struct Applied {
    /// The check pipeline's settings ([`Pipeline::new`], [`Pipeline::reconfigured`]).
    pub pipeline: check::Settings,
    /// The delivery worker's settings ([`Notifier::new`]).
    pub notifier: outbox::Settings,
    /// The scheduler's limits.
    pub politeness: Politeness,
    /// The shared browser's settings (the renderer in [`Pipeline::new`],
    /// [`Pipeline::reconfigured`]).
    pub browser: crate::fetch::browser::BrowserOptions,
    /// Each watch, compared whole: an unequal one is rescheduled.
    pub watches: Vec<Arc<Watch>>,
}

impl Applied {
    /// What the daemon applies of `config`.
    pub fn of(config: &Config) -> Applied {
        Applied {
            pipeline: check::Settings::of(config),
            notifier: outbox::Settings::of(config),
            politeness: config.daemon.politeness(),
            browser: config.browser_options(),
            watches: config.watches.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
