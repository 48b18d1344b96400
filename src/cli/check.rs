//! `chancery check [WATCH…]`: check now, concurrently, one line per watch.

use std::path::Path;

use anyhow::Context;
use futures_util::StreamExt;

use crate::check::{CheckReport, SharedStore, check_watch};
use crate::cli::output::{diffstat, load_config, print_json};
use crate::cli::{Exit, UsageError};
use crate::fetch::{FetchOptions, Fetcher};
use crate::model::Outcome;
use crate::store::SqliteStore;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Watches to check (default: all in the config)
    #[arg(value_name = "WATCH")]
    watches: Vec<String>,
    /// Print the results as a JSON array
    #[arg(long)]
    json: bool,
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let config = load_config(config_path)?;
    let mut selected = Vec::new();
    for name in &args.watches {
        match config.watch(name) {
            Some(w) => selected.push(w.clone()),
            None => return Err(UsageError(format!("no watch named {name:?} in {}", config.path.display())).into()),
        }
    }
    if args.watches.is_empty() {
        selected = config.watches.clone();
    }
    let store = SqliteStore::open_in(&config.daemon.state_dir)
        .with_context(|| format!("cannot open the history in {}", config.daemon.state_dir.display()))?;
    let store = SharedStore::new(store);
    let fetcher = Fetcher::new(FetchOptions::from_config(&config.daemon))?;
    let concurrency = config.daemon.concurrency;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let json = args.json;
    let results: Vec<CheckReport> = runtime.block_on(async {
        let mut stream = futures_util::stream::iter(selected.iter())
            .map(|watch| check_watch(&fetcher, &store, watch))
            .buffer_unordered(concurrency);
        let mut reports = Vec::new();
        while let Some(result) = stream.next().await {
            let report = result?;
            log_report(&report);
            if !json {
                println!("{}", line(&report));
            }
            reports.push(report);
        }
        anyhow::Ok(reports)
    })?;
    if json {
        print_json(&results)?;
    }
    if results.iter().any(|r| r.outcome == Outcome::Error) {
        Ok(Exit::SomeFailed)
    } else {
        Ok(Exit::Success)
    }
}

/// `name outcome details`: the first two words are stable for scripts.
fn line(report: &CheckReport) -> String {
    let mut out = format!("{} {}", report.watch, report.outcome);
    match report.outcome {
        Outcome::Edited | Outcome::Restored | Outcome::Removed => {
            if let Some(summary) = &report.summary {
                out.push(' ');
                out.push_str(&diffstat(summary));
                if let Some(first) = &summary.first_change {
                    out.push_str(&format!(" {first:?}"));
                }
            }
        }
        Outcome::FirstSeen => {
            if let Some(summary) = &report.summary {
                out.push_str(&format!(" {} lines", summary.lines_added));
            }
        }
        Outcome::Unchanged | Outcome::Error => {}
    }
    if let Some(status) = report.http_status {
        out.push_str(&format!(" [HTTP {status}]"));
    }
    if report.outcome == Outcome::Error {
        if let Some(error) = &report.error {
            out.push_str(&format!(": {error}"));
        }
    }
    out
}

fn log_report(r: &CheckReport) {
    match r.outcome {
        Outcome::Error => tracing::warn!(watch = %r.watch, url = %r.url, error = r.error.as_deref().unwrap_or(""), "check failed"),
        Outcome::Unchanged => tracing::debug!(watch = %r.watch, "unchanged"),
        outcome => tracing::info!(watch = %r.watch, %outcome, "change recorded"),
    }
}
