//! `chancery show WATCH [SNAPSHOT]`: a snapshot's text, or its raw body.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::cli::output::{known_watch, load_config_readonly, open_existing_store, print_json};
use crate::cli::{Exit, UsageError};
use crate::model::SnapshotId;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The watch's name
    watch: String,
    /// Snapshot id, as listed by `history` (default: the latest)
    snapshot: Option<SnapshotId>,
    /// Write the raw body the snapshot was made from, byte for byte
    #[arg(long, conflicts_with = "json")]
    raw: bool,
    /// Print the snapshot as JSON: id, times, hashes and text
    #[arg(long)]
    json: bool,
}

/// What `show --json` prints.
#[derive(serde::Serialize)]
struct Shown<'a> {
    watch: &'a str,
    snapshot: SnapshotId,
    /// When the text was first seen.
    fetched_at: crate::model::Timestamp,
    sha256: &'a str,
    raw_sha256: Option<&'a str>,
    text: &'a str,
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let config = load_config_readonly(config_path)?;
    let store = open_existing_store(&config)?;
    let store = &*store;
    let mut args = args;
    args.watch = known_watch(&config, store, &args.watch)?;
    if store.watch_state(&args.watch)?.is_none() {
        anyhow::bail!(
            "watch {:?} has not been checked yet: no snapshot to show",
            args.watch
        );
    }
    let snapshot = store.snapshot(&args.watch, args.snapshot)?.ok_or_else(|| {
        UsageError(match args.snapshot {
            Some(id) => format!("watch {:?} has no snapshot {id}", args.watch),
            None => format!("watch {:?} has no snapshot yet", args.watch),
        })
    })?;
    if args.json {
        print_json(&Shown {
            watch: &args.watch,
            snapshot: snapshot.meta.id,
            fetched_at: snapshot.meta.fetched_at,
            sha256: &snapshot.meta.sha256,
            raw_sha256: snapshot.meta.raw_sha256.as_deref(),
            text: &snapshot.text,
        })?;
        return Ok(Exit::Success);
    }
    let mut stdout = std::io::stdout().lock();
    if args.raw {
        let sha = snapshot.meta.raw_sha256.as_deref().ok_or_else(|| {
            anyhow::anyhow!("snapshot {} has no stored raw body", snapshot.meta.id)
        })?;
        let body = store.raw_body(sha)?.ok_or_else(|| {
            anyhow::anyhow!("raw body {sha} of snapshot {} is missing", snapshot.meta.id)
        })?;
        stdout.write_all(&body).context("cannot write to stdout")?;
    } else {
        writeln!(stdout, "{}", snapshot.text).context("cannot write to stdout")?;
    }
    stdout.flush().context("cannot write to stdout")?;
    Ok(Exit::Success)
}
