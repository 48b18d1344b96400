//! `chancery backup FILE`: a consistent copy of the history, taken while the
//! daemon runs (SQLite's online backup), checked before it is kept.

use std::path::{Path, PathBuf};

use crate::cli::output::{load_config_readonly, open_existing_store, outln, print_json};
use crate::cli::{Exit, UsageError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to write (must not exist yet)
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Print what was written as JSON
    #[arg(long)]
    json: bool,
}

/// What `backup --json` prints.
#[derive(serde::Serialize)]
struct BackedUp {
    from: String,
    file: String,
    bytes: u64,
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let config = load_config_readonly(config_path)?;
    if args.file.exists() {
        return Err(UsageError(format!(
            "{} exists already; a backup never overwrites a file",
            args.file.display()
        ))
        .into());
    }
    let store = open_existing_store(&config)?;
    let bytes = store.backup(&args.file)?;
    let from = config.store_location().to_string();
    if args.json {
        print_json(&BackedUp {
            from,
            file: args.file.display().to_string(),
            bytes,
        })?;
    } else {
        outln!(
            "backed up {from} to {} ({bytes} bytes, integrity checked)",
            args.file.display()
        )?;
    }
    Ok(Exit::Success)
}
