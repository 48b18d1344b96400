//! `chancery status`: one screen for a person or a monitoring probe —
//! watches, failing watches, the latest check, the alert backlog. Exits 1
//! when a watch is failing, so `chancery status >/dev/null` can back a
//! health check.

use std::path::Path;

use serde::Serialize;

use crate::cli::Exit;
use crate::cli::output::{load_config_readonly, open_store_if_exists, out, outln, print_json};
use crate::model::Timestamp;
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
    /// Watches whose checks have all failed for their `failing_after`.
    failing: Vec<Failing>,
    /// Watches whose last check failed, not yet failing long enough.
    erroring: usize,
    /// The newest check of any watch.
    last_check_at: Option<Timestamp>,
    outbox: Outbox,
}

#[derive(Serialize)]
struct Failing {
    name: String,
    since: Option<Timestamp>,
    last_error: Option<String>,
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
    let (summaries, pending, failed) = match open_store_if_exists(&config)? {
        Some(store) => (
            store.watches()?,
            store.alerts(Some(AlertStatus::Pending), None)?,
            store.alerts(Some(AlertStatus::Failed), None)?.len(),
        ),
        None => (Vec::new(), Vec::new(), 0),
    };
    let configured: Vec<&WatchSummary> = summaries
        .iter()
        .filter(|s| config.watch(&s.name).is_some())
        .collect();
    let status = Status {
        watches: config.watches.len(),
        failing: configured
            .iter()
            .filter(|s| s.failing_reported)
            .map(|s| Failing {
                name: s.name.clone(),
                since: s.failing_since,
                last_error: s.last_error.clone(),
            })
            .collect(),
        erroring: configured
            .iter()
            .filter(|s| s.failing_since.is_some() && !s.failing_reported)
            .count(),
        last_check_at: configured.iter().filter_map(|s| s.last_check_at).max(),
        outbox: Outbox {
            pending: pending.len(),
            failed,
            oldest_pending_at: pending.iter().map(|a| a.created_at).min(),
        },
    };
    if args.json {
        print_json(&status)?;
    } else {
        print(&status)?;
    }
    Ok(if status.failing.is_empty() {
        Exit::Success
    } else {
        Exit::SomeFailed
    })
}

fn print(status: &Status) -> std::io::Result<()> {
    let ago = |t: Timestamp| {
        let secs = (Timestamp::now().as_millis() - t.as_millis()).max(0) / 1000;
        humantime::format_duration(std::time::Duration::from_secs(
            u64::try_from(secs).unwrap_or(0),
        ))
        .to_string()
    };
    outln!("watches: {}", status.watches)?;
    outln!("failing: {}", status.failing.len())?;
    for f in &status.failing {
        outln!(
            "  {}  since {}  {}",
            f.name,
            f.since.map_or_else(|| "-".to_owned(), |t| t.rfc3339()),
            f.last_error.as_deref().unwrap_or("")
        )?;
    }
    if status.erroring > 0 {
        outln!("last check failed (not failing yet): {}", status.erroring)?;
    }
    match status.last_check_at {
        Some(t) => outln!("last check: {t} ({} ago)", ago(t))?,
        None => outln!("last check: never")?,
    }
    let o = &status.outbox;
    out!("outbox: {} pending, {} failed", o.pending, o.failed)?;
    match o.oldest_pending_at {
        Some(t) => outln!(" (oldest pending since {t})"),
        None => outln!(),
    }
}
