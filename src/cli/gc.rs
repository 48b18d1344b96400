//! `chancery gc [--dry-run]`: delete routine check rows older than
//! `[retention] checks`, and the raw bodies only they referred to, then
//! reclaim the space. Snapshots, texts, changes and alerts — the evidence —
//! are never deleted.

use std::path::Path;

use crate::cli::output::{load_config_readonly, open_existing_store, outln, plural, print_json};
use crate::cli::{Exit, UsageError};
use crate::model::Timestamp;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Count what would be deleted, delete nothing
    #[arg(long)]
    dry_run: bool,
    /// Print the counts as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let config = load_config_readonly(config_path)?;
    let Some(keep) = config.retention.checks else {
        return Err(UsageError(format!(
            "nothing to collect: {} sets no [retention] checks = \"…\" (everything is kept)",
            config.path.display()
        ))
        .into());
    };
    let mut store = open_existing_store(&config)?;
    let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    let before = Timestamp(Timestamp::now().as_millis().saturating_sub(keep_ms));
    let summary = store.gc(before, args.dry_run)?;
    if args.json {
        print_json(&summary)?;
        return Ok(Exit::Success);
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    outln!(
        "{verb} {} older than {} and {} only they referred to; snapshots, changes and alerts kept",
        plural(summary.checks, "check row", "check rows"),
        humantime::format_duration(keep),
        plural(summary.bodies, "raw body", "raw bodies"),
    )?;
    if !args.dry_run {
        outln!(
            "database: {} bytes before, {} after",
            summary.bytes_before,
            summary.bytes_after
        )?;
    }
    Ok(Exit::Success)
}
