//! `chancery history WATCH`: changes and snapshots, newest first.

use std::path::Path;

use serde::Serialize;

use crate::cli::Exit;
use crate::cli::output::{
    aligned, diffstat, known_watch, load_config_readonly, open_existing_store, outln, print_json,
};
use crate::store::{ChangeRow, CheckRow, SnapshotRow};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The watch's name
    watch: String,
    /// Show at most this many changes and snapshots
    #[arg(long, short = 'n', value_name = "N")]
    limit: Option<usize>,
    /// Also list this many recent check attempts (every fetch, with status and error)
    #[arg(long, value_name = "N")]
    checks: Option<usize>,
    /// Print the history as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct History {
    watch: String,
    changes: Vec<ChangeRow>,
    snapshots: Vec<SnapshotRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<Vec<CheckRow>>,
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let config = load_config_readonly(config_path)?;
    let store = open_existing_store(&config)?;
    let store = &*store;
    let mut args = args;
    args.watch = known_watch(&config, store, &args.watch)?;
    // In the config but never checked: an empty history.
    let checked = store.watch_state(&args.watch)?.is_some();
    let history = if !checked {
        History {
            changes: Vec::new(),
            snapshots: Vec::new(),
            checks: args.checks.map(|_| Vec::new()),
            watch: args.watch,
        }
    } else {
        History {
            changes: store.changes(&args.watch, args.limit)?,
            snapshots: store.snapshots(&args.watch, args.limit)?,
            checks: args
                .checks
                .map(|n| store.checks(&args.watch, Some(n)))
                .transpose()?,
            watch: args.watch,
        }
    };
    if args.json {
        print_json(&history)?;
        return Ok(Exit::Success);
    }
    outln!("{}", history.watch)?;
    outln!("changes:")?;
    if history.changes.is_empty() {
        outln!("  (none)")?;
    }
    let rows: Vec<Vec<String>> = history
        .changes
        .iter()
        .map(|c| {
            vec![
                format!("  change {}", c.id),
                c.detected_at.to_string(),
                c.kind.to_string(),
                format!("{} -> {}", snap(c.from), snap(c.to)),
                diffstat(&c.summary),
                c.http_status
                    .map(|s| format!("[HTTP {s}]"))
                    .unwrap_or_default(),
                c.summary
                    .first_change
                    .as_deref()
                    .map(crate::diff::one_line)
                    .unwrap_or_default(),
            ]
        })
        .collect();
    for line in aligned(&rows) {
        outln!("{line}")?;
    }
    outln!("snapshots:")?;
    if history.snapshots.is_empty() {
        outln!("  (none)")?;
    }
    let rows: Vec<Vec<String>> = history
        .snapshots
        .iter()
        .map(|s| {
            vec![
                format!("  snapshot {}", s.id),
                s.fetched_at.to_string(),
                format!("text sha256 {}", s.sha256),
                format!("{} bytes", s.text_bytes),
                format!("raw sha256 {}", s.raw_sha256.as_deref().unwrap_or("-")),
            ]
        })
        .collect();
    for line in aligned(&rows) {
        outln!("{line}")?;
    }
    if let Some(checks) = &history.checks {
        let watch_url = store.watch_state(&history.watch)?.map(|w| w.url);
        outln!("checks:")?;
        let rows: Vec<Vec<String>> = checks
            .iter()
            .map(|c| {
                // Where a redirect ended, when it did not end at the watch's URL.
                let landed = c
                    .final_url
                    .as_deref()
                    .filter(|u| Some(*u) != watch_url.as_deref())
                    .map(|u| format!(" -> {u}"))
                    .unwrap_or_default();
                let reason = c
                    .reason
                    .as_deref()
                    .map(|r| format!("({r}) "))
                    .unwrap_or_default();
                vec![
                    format!("  check {}", c.id),
                    c.started_at.to_string(),
                    c.outcome.to_string(),
                    c.http_status
                        .map_or_else(|| "-".to_owned(), |s| s.to_string()),
                    format!("{} ms", c.duration_ms),
                    format!("{} bytes", c.bytes),
                    format!("{reason}{}{landed}", c.error.as_deref().unwrap_or("")),
                ]
            })
            .collect();
        for line in aligned(&rows) {
            outln!("{line}")?;
        }
    }
    Ok(Exit::Success)
}

fn snap(id: Option<i64>) -> String {
    id.map_or_else(|| "-".to_owned(), |id| format!("#{id}"))
}
