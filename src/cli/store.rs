//! `chancery store copy --from A --to B`: the whole history moved between
//! a SQLite file and a PostgreSQL database, either way (see
//! [`crate::store::copy`]).

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context;

use crate::cli::output::{outln, print_json};
use crate::cli::{Exit, UsageError};
use crate::config::Secret;
use crate::store::Location;
use crate::store::copy::{self, Progress};

/// `chancery store …`
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Copy a whole history between SQLite and PostgreSQL, verified and resumable
    Copy(CopyArgs),
}

#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// Where the history is: a SQLite file (or the state dir holding
    /// chancery.db), or a postgres:// URL (password from $PGPASSWORD)
    #[arg(long, value_name = "PATH|URL")]
    from: String,
    /// Where to copy it: an empty store, or one an interrupted copy of the
    /// same history left, which is then completed
    #[arg(long, value_name = "PATH|URL")]
    to: String,
    /// Print what was copied as JSON
    #[arg(long)]
    json: bool,
}

/// What `store copy --json` prints.
#[derive(serde::Serialize)]
struct Copied {
    from: String,
    to: String,
    rows_written: u64,
    rows_already_there: u64,
    blobs_verified: u64,
}

pub fn run(_config: Option<&Path>, command: Command) -> anyhow::Result<Exit> {
    let Command::Copy(args) = command;
    let from = location(&args.from, "--from")?;
    let to = location(&args.to, "--to")?;
    if from == to {
        return Err(UsageError("--from and --to name the same store".to_owned()).into());
    }
    if let Location::Sqlite(path) = &from
        && !path.exists()
    {
        return Err(UsageError(format!("no history at {from}")).into());
    }
    let source = from
        .open_tables()
        .with_context(|| format!("cannot open history {from}"))?;
    let mut destination = to
        .open_tables()
        .with_context(|| format!("cannot open history {to}"))?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(format!("{from} → {to}"));
        bar
    });
    let copied = copy::copy(
        source.as_ref(),
        destination.as_mut(),
        |Progress { rows, total }| {
            if let Some(bar) = &bar {
                bar.set_length(total);
                bar.set_position(rows);
            }
        },
        None,
    )
    .with_context(|| {
        format!("copying {from} to {to} stopped; run the same command again to resume")
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if args.json {
        print_json(&Copied {
            from: from.to_string(),
            to: to.to_string(),
            rows_written: copied.written,
            rows_already_there: copied.already,
            blobs_verified: copied.blobs_verified,
        })?;
    } else {
        outln!(
            "copied {from} to {to}: {} rows written{}, {} blobs verified, row counts equal",
            copied.written,
            if copied.already > 0 {
                format!(" ({} already there from an earlier copy)", copied.already)
            } else {
                String::new()
            },
            copied.blobs_verified
        )?;
    }
    Ok(Exit::Success)
}

/// A `--from`/`--to` argument. A password never comes on the command line
/// (`ps` shows it to every user): PostgreSQL's own `$PGPASSWORD` gives it.
fn location(arg: &str, flag: &str) -> anyhow::Result<Location> {
    let password = std::env::var("PGPASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .map(Secret::new);
    let location = Location::parse(arg, password);
    if let Location::Postgres { url, .. } = &location
        && url::Url::parse(url).is_ok_and(|u| u.password().is_some())
    {
        return Err(UsageError(format!(
            "{flag}: a password on the command line is visible to every user of this machine; set PGPASSWORD instead"
        ))
        .into());
    }
    Ok(location)
}
