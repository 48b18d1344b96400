//! `chancery status`: one screen for a person or a monitoring probe —
//! watches, failing watches, the latest check, the alert backlog, the disk
//! space left for the history. Exits 1 when a watch is failing or the disk
//! is nearly full, so `chancery status >/dev/null` can back a health check.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::cli::Exit;
use crate::cli::list::State;
use crate::cli::output::{
    aligned, load_config_readonly, open_store_if_exists, out, outln, print_json,
};
use crate::model::{ChildState, Outcome, Timestamp};
use crate::store::{AlertStatus, WatchSummary};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the summary as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Status {
    /// Watches in the config.
    watches: usize,
    /// Children of its follow watches (statements found on their listings)
    /// still checked, i.e. not retired.
    children: usize,
    /// How many watches and children are in each state now.
    states: BTreeMap<&'static str, usize>,
    /// Watches whose checks have all failed for their `failing_after`.
    failing: Vec<Failing>,
    /// Watches whose last check failed, not yet failing long enough.
    erroring: Vec<Failing>,
    /// The newest check of any watch.
    last_check_at: Option<Timestamp>,
    outbox: Outbox,
    /// Where the history is: the SQLite file, or the PostgreSQL URL
    /// (without a password).
    history: String,
    /// For a SQLite history; `null` for PostgreSQL, whose disk is the
    /// database server's to watch.
    disk: Option<Disk>,
    /// The daemons sharing a PostgreSQL store, newest heartbeat first
    /// (empty for SQLite).
    nodes: Vec<Node>,
    /// Whether every live node runs this build's version and the config
    /// fingerprint of the first live one (`true` with none).
    nodes_agree: bool,
}

/// A node as `status` shows it.
#[derive(Serialize)]
struct Node {
    #[serde(flatten)]
    row: crate::store::NodeRow,
    /// `live` (a heartbeat in the last 15 s), `stopped` (said so) or
    /// `silent` (no heartbeat for longer: dead, or cut off).
    state: &'static str,
}

/// A node with no heartbeat for this long is no longer counted live.
const SILENT_AFTER_MS: i64 = 15_000;

/// Space left where the history is written.
#[derive(Serialize)]
struct Disk {
    state_dir: std::path::PathBuf,
    /// Bytes free on its filesystem (`None` if unreadable).
    free_bytes: Option<u64>,
    /// Under 64 MiB: checks are about to go unrecorded.
    low: bool,
}

#[derive(Serialize)]
struct Failing {
    name: String,
    /// `failing`, `blocked` or `error`.
    state: &'static str,
    /// When its current run of failed checks began.
    since: Option<Timestamp>,
    last_error: Option<String>,
}

impl Failing {
    fn of(s: &WatchSummary) -> Failing {
        Failing {
            name: s.name.clone(),
            state: State::of(s).as_str_lower(),
            since: s.failing_since,
            last_error: s.last_error.clone(),
        }
    }
}

#[derive(Serialize)]
struct Outbox {
    pending: usize,
    /// Given up after `alert_max_age` (see `chancery outbox`).
    failed: usize,
    oldest_pending_at: Option<Timestamp>,
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let config = load_config_readonly(config_path)?;
    let (summaries, pending, failed, node_rows) = match open_store_if_exists(&config)? {
        Some(store) => (
            store.watches()?,
            store.alerts(Some(AlertStatus::Pending), None)?,
            store.alerts(Some(AlertStatus::Failed), None)?.len(),
            store.nodes()?,
        ),
        None => (Vec::new(), Vec::new(), 0, Vec::new()),
    };
    let now = Timestamp::now();
    let nodes: Vec<Node> = node_rows
        .into_iter()
        .map(|row| {
            let state = if row.stopped_at.is_some() {
                "stopped"
            } else if now.0 - row.heartbeat_at.0 <= SILENT_AFTER_MS {
                "live"
            } else {
                "silent"
            };
            Node { row, state }
        })
        .collect();
    let live: Vec<&Node> = nodes.iter().filter(|n| n.state == "live").collect();
    let nodes_agree = live.iter().all(|n| {
        n.row.version == env!("CARGO_PKG_VERSION")
            && n.row.config_sha256 == live[0].row.config_sha256
    });
    // The config's watches and the children of its follow watches; not
    // what is only left in the history, nor retired children.
    let watched: Vec<&WatchSummary> = summaries
        .iter()
        .filter(|s| match &s.parent {
            None => config.watch(&s.name).is_some(),
            Some(parent) => {
                config.watch(parent).is_some() && s.child_state != Some(ChildState::Retired)
            }
        })
        .collect();
    let mut states: BTreeMap<&'static str, usize> = BTreeMap::new();
    for w in &config.watches {
        let state = watched
            .iter()
            .find(|s| s.name == w.name)
            .map_or(State::New, |s| State::of(s));
        *states.entry(state.as_str_lower()).or_default() += 1;
    }
    for s in watched.iter().filter(|s| s.parent.is_some()) {
        *states.entry(State::of(s).as_str_lower()).or_default() += 1;
    }
    let status = Status {
        watches: config.watches.len(),
        children: watched.iter().filter(|s| s.parent.is_some()).count(),
        states,
        failing: watched
            .iter()
            .filter(|s| s.failing_reported)
            .map(|s| Failing::of(s))
            .collect(),
        erroring: watched
            .iter()
            .filter(|s| s.last_outcome == Some(Outcome::Error) && !s.failing_reported)
            .map(|s| Failing::of(s))
            .collect(),
        last_check_at: watched.iter().filter_map(|s| s.last_check_at).max(),
        outbox: Outbox {
            pending: pending.len(),
            failed,
            oldest_pending_at: pending.iter().map(|a| a.created_at).min(),
        },
        history: config.store_location().to_string(),
        disk: match config.store_location() {
            crate::store::Location::Sqlite(_) => {
                let free_bytes = crate::store::free_bytes(&config.daemon.state_dir);
                Some(Disk {
                    state_dir: config.daemon.state_dir.clone(),
                    free_bytes,
                    low: free_bytes.is_some_and(|b| b < crate::store::LOW_DISK_BYTES),
                })
            }
            crate::store::Location::Postgres { .. } => None,
        },
        nodes,
        nodes_agree,
    };
    if args.json {
        print_json(&status)?;
    } else {
        print(&status)?;
    }
    Ok(
        if status.failing.is_empty()
            && !status.disk.as_ref().is_some_and(|d| d.low)
            && status.nodes_agree
        {
            Exit::Success
        } else {
            Exit::SomeFailed
        },
    )
}

fn print(status: &Status) -> std::io::Result<()> {
    let ago = |t: Timestamp| {
        let secs = (Timestamp::now().as_millis() - t.as_millis()).max(0) / 1000;
        humantime::format_duration(std::time::Duration::from_secs(
            u64::try_from(secs).unwrap_or(0),
        ))
        .to_string()
    };
    let states: Vec<String> = status
        .states
        .iter()
        .map(|(state, n)| format!("{n} {state}"))
        .collect();
    outln!(
        "watches: {} in the config, {} follow children ({})",
        status.watches,
        status.children,
        states.join(", ")
    )?;
    let list = |rows: &[Failing]| -> std::io::Result<()> {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|f| {
                vec![
                    format!("  {}", f.name),
                    f.state.to_owned(),
                    f.since
                        .map_or_else(|| "-".to_owned(), |t| format!("since {}", t.rfc3339())),
                    f.last_error.as_deref().unwrap_or("").to_owned(),
                ]
            })
            .collect();
        for line in aligned(&table) {
            outln!("{line}")?;
        }
        Ok(())
    };
    outln!("failing: {}", status.failing.len())?;
    list(&status.failing)?;
    if !status.erroring.is_empty() {
        outln!(
            "last check failed (not failing yet): {}",
            status.erroring.len()
        )?;
        list(&status.erroring)?;
    }
    match status.last_check_at {
        Some(t) => outln!("last check: {t} ({} ago)", ago(t))?,
        None => outln!("last check: never")?,
    }
    let o = &status.outbox;
    out!("outbox: {} pending, {} failed", o.pending, o.failed)?;
    match o.oldest_pending_at {
        Some(t) => outln!(" (oldest pending since {t})")?,
        None => outln!()?,
    }
    let Some(d) = &status.disk else {
        outln!("history: {} (PostgreSQL)", status.history)?;
        return print_nodes(status, &ago);
    };
    let dir = d.state_dir.display();
    match d.free_bytes {
        Some(free) if d.low => outln!(
            "disk: LOW, {} free for {dir}: checks cannot be recorded once it is full",
            bytesize::ByteSize::b(free)
        ),
        Some(free) => outln!("disk: {} free for {dir}", bytesize::ByteSize::b(free)),
        None => outln!("disk: free space of {dir} unknown"),
    }
}

/// The nodes sharing the store, and whether they agree.
fn print_nodes(status: &Status, ago: &dyn Fn(Timestamp) -> String) -> std::io::Result<()> {
    if status.nodes.is_empty() {
        return outln!("nodes: none has reported yet");
    }
    let count = |state: &str| status.nodes.iter().filter(|n| n.state == state).count();
    outln!(
        "nodes: {} live, {} silent, {} stopped",
        count("live"),
        count("silent"),
        count("stopped")
    )?;
    let table: Vec<Vec<String>> = status
        .nodes
        .iter()
        .map(|n| {
            vec![
                format!("  {}", n.row.id),
                n.state.to_owned(),
                format!("v{}", n.row.version),
                format!(
                    "config {}",
                    &n.row.config_sha256[..12.min(n.row.config_sha256.len())]
                ),
                format!("{} watches", n.row.watches),
                format!("heartbeat {} ago", ago(n.row.heartbeat_at)),
            ]
        })
        .collect();
    for line in aligned(&table) {
        outln!("{line}")?;
    }
    if !status.nodes_agree {
        outln!(
            "WARNING: the live nodes disagree (config fingerprint or version, this is v{}): \
             reload or upgrade them so they run the same config",
            env!("CARGO_PKG_VERSION")
        )?;
    }
    Ok(())
}
