//! `chancery list`: every watch with its last check and last change.

use std::path::Path;

use serde::Serialize;

use crate::cli::Exit;
use crate::cli::output::{load_config_readonly, print_json};
use crate::model::{Outcome, Timestamp};
use crate::store::{Presence, SqliteStore, Store, WatchSummary};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the list as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Row {
    name: String,
    url: String,
    /// False for watches that are in the history but no longer in the config.
    in_config: bool,
    presence: Presence,
    last_check_at: Option<Timestamp>,
    last_outcome: Option<Outcome>,
    last_change_at: Option<Timestamp>,
    n_changes: u64,
    n_checks: u64,
    /// Reported `failing`: every check has failed for `failing_after`.
    failing: bool,
    /// Start of the current run of failed checks, if the last one failed.
    failing_since: Option<Timestamp>,
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let config = load_config_readonly(config_path)?;
    let db = config.database_path();
    let summaries: Vec<WatchSummary> = if db.exists() {
        SqliteStore::open(&db)?.watches()?
    } else {
        Vec::new()
    };
    let mut rows: Vec<Row> = config
        .watches
        .iter()
        .map(|w| match summaries.iter().find(|s| s.name == w.name) {
            Some(s) => row(s, true),
            None => Row {
                name: w.name.clone(),
                url: w.url.to_string(),
                in_config: true,
                presence: Presence::New,
                last_check_at: None,
                last_outcome: None,
                last_change_at: None,
                n_changes: 0,
                n_checks: 0,
                failing: false,
                failing_since: None,
            },
        })
        .collect();
    rows.extend(
        summaries
            .iter()
            .filter(|s| config.watch(&s.name).is_none())
            .map(|s| row(s, false)),
    );
    if args.json {
        print_json(&rows)?;
        return Ok(Exit::Success);
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    println!(
        "{:width$}  {:<20}  {:<10}  {:<20}  {:>7}  URL",
        "NAME", "LAST CHECK", "OUTCOME", "LAST CHANGE", "CHANGES"
    );
    for r in &rows {
        let when = |t: Option<Timestamp>| t.map_or_else(|| "never".to_owned(), |t| t.rfc3339());
        let mut outcome = r.last_outcome.map_or("-", Outcome::as_str).to_owned();
        if r.presence == Presence::Removed {
            outcome = "removed".to_owned();
        }
        if r.failing {
            outcome = "FAILING".to_owned();
        }
        let url = if r.in_config {
            r.url.clone()
        } else {
            format!("{} (not in config)", r.url)
        };
        println!(
            "{:width$}  {:<20}  {:<10}  {:<20}  {:>7}  {}",
            r.name,
            when(r.last_check_at),
            outcome,
            when(r.last_change_at),
            r.n_changes,
            url
        );
    }
    Ok(Exit::Success)
}

fn row(s: &WatchSummary, in_config: bool) -> Row {
    Row {
        name: s.name.clone(),
        url: s.url.clone(),
        in_config,
        presence: s.presence,
        last_check_at: s.last_check_at,
        last_outcome: s.last_outcome,
        last_change_at: s.last_change_at,
        n_changes: s.n_changes,
        n_checks: s.n_checks,
        failing: s.failing_reported,
        failing_since: s.failing_since,
    }
}
