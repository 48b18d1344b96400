//! `chancery check [WATCH…]`: check now, with the daemon's politeness, and
//! print one line per watch as each finishes.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;

use crate::check::{CheckError, CheckReport, Pipeline, Waiting};
use crate::cli::output::{diffstat, load_config, open_store, outln, plural, print_json};
use crate::cli::{Exit, UsageError};
use crate::config::Watch;
use crate::engine::Engine;
use crate::model::Outcome;
use crate::notify::outbox::Notifier;
use crate::store::{AlertStatus, SharedStore, Store, WatchState};

/// Longest host pause (`Retry-After`) a one-shot run waits out; beyond it
/// the host's remaining watches are reported as not checked.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Longest a one-shot run spends delivering the alerts it queued.
const DELIVERY_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Watches to check (default: all in the config)
    #[arg(value_name = "WATCH")]
    watches: Vec<String>,
    /// Print the results as a JSON array
    #[arg(long)]
    json: bool,
    /// Record removals and large edits without the confirming second fetch
    /// (`confirm_delay`)
    #[arg(long)]
    no_confirm: bool,
    /// No progress line on the terminal (there is none when stderr is not
    /// a terminal)
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let config = load_config(config_path)?;
    let mut store = open_store(&config)?;
    let mut selected = Vec::new();
    for name in &args.watches {
        match config.watch(name) {
            Some(w) => selected.push(w.clone()),
            None => match child_of_config(&config, store.as_ref(), name)? {
                Some(child) => selected.push(Arc::new(child)),
                None => {
                    return Err(UsageError(format!(
                        "no watch named {name:?} in {} (or among its follow watches' children)",
                        config.path.display()
                    ))
                    .into());
                }
            },
        }
    }
    if args.watches.is_empty() {
        selected = config.watches.clone();
    }
    // A follow watch's known children are checked with it; children its
    // listing adds on this run are checked too (see `Engine::run_once`).
    let parents: Vec<_> = selected
        .iter()
        .filter(|w| w.follow.is_some())
        .cloned()
        .collect();
    for parent in &parents {
        for (name, url) in store
            .children(&parent.name)?
            .iter()
            .filter_map(|c| c.active())
        {
            selected.push(Arc::new(parent.child(name, url)));
        }
    }
    // Checking everything (the run from cron): every state in one read,
    // not one per check. A few named watches are read one by one, rather
    // than the whole history's states for them.
    let known = if args.watches.is_empty() {
        let mut known = store.watch_states()?;
        // After the states read: a moved watch's new state comes later and
        // replaces its old one in `with_known_states`.
        known.extend(register_new(store.as_mut(), &selected, &known));
        known
    } else {
        Vec::new()
    };
    let store = SharedStore::new(store);
    let mut pipeline = Pipeline::new(&config, store.clone())?.with_known_states(known);
    // Beside daemons sharing the store: their hosts' limits hold for this
    // run too (it checks what it is asked, claimed or not).
    if let Some(shared) = &config.store {
        pipeline = pipeline.with_claims(crate::check::Claims {
            node: crate::runtime::node_id(),
            lease: shared.lease_for(&config.daemon),
            checks: false,
        });
    }
    if args.no_confirm {
        pipeline = pipeline.without_confirmation();
    }
    let progress =
        (!args.quiet && std::io::stderr().is_terminal()).then(|| Progress::start(selected.len()));
    if let Some(p) = &progress {
        pipeline = pipeline.with_waiting(p.waiting.clone());
    }

    let runtime = crate::runtime::runtime().context("cannot start the async runtime")?;
    let json = args.json;
    let mut reports: Vec<CheckReport> = Vec::new();
    let mut failed = false;
    let mut fatal: Option<CheckError> = None;
    // A closed stdout does not stop the run: every check is still made and
    // recorded; the first write error is returned at the end.
    let mut closed: Option<std::io::Error> = None;
    let browser = pipeline.clone();
    runtime.block_on(Engine::run_once(
        pipeline,
        config.daemon.politeness(),
        selected,
        MAX_WAIT,
        |result, _watch| match result {
            Ok(report) => {
                report.log();
                failed |= report.outcome == Outcome::Error;
                if !json && closed.is_none() {
                    closed = Progress::print(progress.as_ref(), &line(&report)).err();
                }
                if let Some(p) = &progress {
                    p.done();
                }
                reports.push(report);
            }
            // Elsewhere only with claims, which the daemon alone makes.
            Err(e @ (CheckError::Skipped { .. } | CheckError::Elsewhere { .. })) => {
                failed |= matches!(e, CheckError::Skipped { .. });
                tracing::warn!(watch = e.watch(), "{e}");
                if !json && closed.is_none() {
                    closed =
                        Progress::print(progress.as_ref(), &format!("{} error: {e}", e.watch()))
                            .err();
                }
                if let Some(p) = &progress {
                    p.done();
                }
            }
            Err(e @ CheckError::Store { .. }) => {
                tracing::error!(watch = e.watch(), "{e}");
                fatal.get_or_insert(e);
            }
        },
    ));
    runtime.block_on(browser.shutdown());
    if let Some(p) = progress {
        p.finish();
    }
    if let Some(e) = closed {
        return Err(e.into());
    }
    if let Some(e) = fatal {
        return Err(e.into());
    }
    // A running daemon delivers what this run queued (its delivery loop
    // looks every few seconds); without one, deliver what is due now,
    // within a bound: what is left waits for the next run. Either way each
    // alert is claimed before it is attempted, so none goes out twice.
    let daemon = crate::daemon::StateLock::holder(&config.daemon.state_dir).ok();
    if let Some(crate::daemon::LockHolder::Daemon { pid }) = daemon
        && !config.subscribers.is_empty()
    {
        let pending = store
            .blocking(|s| s.alerts(Some(AlertStatus::Pending), None))?
            .len();
        if pending > 0 {
            let pid = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            eprintln!(
                "alerts: {pending} pending, left to the running daemon{pid} to deliver (see `chancery outbox`)"
            );
        }
    } else if !config.subscribers.is_empty() {
        let notifier = Notifier::new(&config, store.clone())?;
        let pass = runtime.block_on(notifier.deliver_within(DELIVERY_WAIT))?;
        let pending = store
            .blocking(|s| s.alerts(Some(AlertStatus::Pending), None))?
            .len();
        if pass.attempted() > 0 || pending > 0 {
            eprintln!(
                "alerts: {} delivered, {} failed, {} pending (see `chancery outbox`)",
                pass.delivered, pass.failed, pending
            );
        }
    }
    if json {
        print_json(&reports)?;
    }
    // A page cut off by `normalize_timeout` may still be parsed on a
    // blocking thread; its result is not wanted, so do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    Ok(if failed {
        Exit::SomeFailed
    } else {
        Exit::Success
    })
}

/// A progress line on a terminal's stderr while checks run: how many are
/// done, and which watch waits to confirm what, for how long. Result lines
/// are printed above it.
struct Progress {
    bar: indicatif::ProgressBar,
    waiting: Arc<Waiting>,
    done: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    ticker: std::thread::JoinHandle<()>,
}

impl Progress {
    fn start(total: usize) -> Progress {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        let waiting = Arc::new(Waiting::default());
        let done = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (bar, waiting, done, stop) =
                (bar.clone(), waiting.clone(), done.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    bar.set_message(progress_message(
                        done.load(Ordering::Relaxed),
                        total,
                        &waiting.now(),
                    ));
                    bar.tick();
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        Progress {
            bar,
            waiting,
            done,
            stop,
            ticker,
        }
    }

    /// Prints a result line on stdout, above the progress line if any.
    fn print(progress: Option<&Progress>, line: &str) -> std::io::Result<()> {
        match progress {
            Some(p) => p.bar.suspend(|| outln!("{line}")),
            None => outln!("{line}"),
        }
    }

    fn done(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.ticker.join();
        self.bar.finish_and_clear();
    }
}

/// `checking: 2 of 5 done; waiting 58s to confirm mfa removed`.
fn progress_message(done: usize, total: usize, waiting: &[(String, Outcome, Duration)]) -> String {
    let mut message = format!("checking: {done} of {total} done");
    if let Some((name, outcome, left)) = waiting.first() {
        message.push_str(&format!(
            "; waiting {}s to confirm {name} {outcome} with a second fetch",
            left.as_secs_f64().ceil()
        ));
        if waiting.len() > 1 {
            message.push_str(&format!(" (and {} more)", waiting.len() - 1));
        }
    }
    message
}

/// The child named `name` of one of the config's follow watches, as a
/// watch, if there is one in the history.
fn child_of_config(
    config: &crate::config::Config,
    store: &dyn Store,
    name: &str,
) -> anyhow::Result<Option<crate::config::Watch>> {
    let Some((parent, _)) = name.split_once('/') else {
        return Ok(None);
    };
    let Some(parent) = config.watch(parent).filter(|p| p.follow.is_some()) else {
        return Ok(None);
    };
    Ok(store
        .children(&parent.name)?
        .into_iter()
        .find(|c| c.name == name)
        .and_then(|c| Some(parent.child(c.name, url::Url::parse(&c.url).ok()?))))
}

/// `name outcome details`: the first two words are stable for scripts.
fn line(report: &CheckReport) -> String {
    let mut out = format!("{} {}", report.watch, report.outcome);
    match report.outcome {
        Outcome::Edited
        | Outcome::Restored
        | Outcome::Removed
        | Outcome::Rebaselined
        | Outcome::Flapping => {
            if let Some(summary) = &report.summary {
                out.push(' ');
                if report.outcome == Outcome::Restored
                    && summary.lines_added == 0
                    && summary.lines_removed == 0
                {
                    out.push_str("with the text it had before");
                } else {
                    out.push_str(&diffstat(summary));
                }
                if let Some(first) = &summary.first_change {
                    out.push(' ');
                    out.push_str(&crate::diff::one_line(first));
                }
            }
        }
        Outcome::FirstSeen => {
            if let Some(summary) = &report.summary {
                out.push(' ');
                out.push_str(&plural(u64::from(summary.lines_added), "line", "lines"));
            }
        }
        Outcome::Unchanged | Outcome::Error => {}
    }
    if let Some(status) = report.http_status {
        out.push_str(&format!(" [HTTP {status}]"));
    }
    if let Some(reason) = &report.reason {
        out.push_str(&format!(" ({reason})"));
    }
    let explained = matches!(report.outcome, Outcome::Error | Outcome::Removed)
        || matches!(report.reason.as_deref(), Some("unconfirmed" | "reverted"));
    // An error that only repeats the status (`HTTP 404`) is left out.
    let repeats_status =
        |e: &str| Some(e) == report.http_status.map(|s| format!("HTTP {s}")).as_deref();
    if explained
        && let Some(error) = &report.error
        && !repeats_status(error)
    {
        out.push_str(&format!(": {error}"));
    }
    if let Some(event) = report.event {
        out.push_str(&format!("; watch {event}"));
    }
    if let Some(listing) = &report.listing {
        out.push_str(&format!(
            "; listing: {} children, {} published, {} delisted",
            listing.active.len(),
            listing.published.len(),
            listing.delisted.len()
        ));
        if !listing.retired.is_empty() {
            out.push_str(&format!(", {} retired", listing.retired.len()));
        }
    }
    out
}

/// Registers, in one transaction, the watches of `selected` that `known`
/// does not hold at their URL (a first run over a new watch list), and
/// returns their states: one commit instead of one per new watch. A watch
/// the store refuses here is left to its check, which registers it again
/// and reports what is wrong.
fn register_new(
    store: &mut dyn Store,
    selected: &[Arc<Watch>],
    known: &[WatchState],
) -> Vec<WatchState> {
    let at: std::collections::HashMap<&str, &str> = known
        .iter()
        .map(|s| (s.name.as_str(), s.url.as_str()))
        .collect();
    let new: Vec<(&str, String)> = selected
        .iter()
        .map(|w| (w.name.as_str(), w.url.to_string()))
        .filter(|(name, url)| at.get(name) != Some(&url.as_str()))
        .collect();
    let mut states = Vec::with_capacity(new.len());
    if new.is_empty() {
        return states;
    }
    let outcome = store.in_one_transaction(new.len(), &mut |i, s| {
        let (name, url) = &new[i];
        match s.ensure_watch(name, url) {
            Ok(state) => {
                states.push(state);
                true
            }
            Err(e) => {
                tracing::debug!(watch = %name, error = %e, "not registered ahead; its check will");
                false
            }
        }
    });
    match outcome {
        Ok(()) => states,
        Err(e) => {
            tracing::debug!(error = %e, "new watches not registered ahead; each check will");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[test]
    fn new_watches_are_registered_ahead_and_known_ones_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open_in(dir.path()).unwrap();
        let same = store.ensure_watch("same", "https://a.example/1").unwrap();
        store
            .ensure_watch("moved", "https://a.example/old")
            .unwrap();
        let config = crate::config::parse(
            Path::new("t.toml"),
            r#"
[[watch]]
name = "same"
url = "https://a.example/1"
[[watch]]
name = "moved"
url = "https://a.example/new"
[[watch]]
name = "new"
url = "https://b.example/2"
"#,
            Some(dir.path()),
        )
        .unwrap();
        let known = store.watch_states().unwrap();

        let mut added = register_new(&mut store, &config.watches, &known);

        added.sort_by(|a, b| a.name.cmp(&b.name));
        let urls: Vec<(&str, &str)> = added
            .iter()
            .map(|s| (s.name.as_str(), s.url.as_str()))
            .collect();
        assert_eq!(
            urls,
            [
                ("moved", "https://a.example/new"),
                ("new", "https://b.example/2")
            ]
        );
        // What each check would have read from the store by itself.
        for state in &added {
            assert_eq!(
                Some(state),
                store.watch_state(&state.name).unwrap().as_ref()
            );
        }
        assert_eq!(Some(same), store.watch_state("same").unwrap());
        let known = store.watch_states().unwrap();
        assert!(register_new(&mut store, &config.watches, &known).is_empty());
    }
}
