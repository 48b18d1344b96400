//! `chancery export WATCH [--since DATE] --warc FILE`: the stored responses
//! of a watch as a WARC 1.1 file, the evidence to hand to someone else.
//!
//! The file is written beside its destination under a temporary name and
//! renamed when complete, so a failed export never leaves a partial WARC
//! that looks like a real one.

use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::Context;

use crate::cli::Exit;
use crate::cli::output::{
    known_watch, load_config_readonly, open_existing_store, outln, plural, print_json,
};
use crate::export::{self, ExportSource};
use crate::model::Timestamp;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The watch's name
    watch: String,
    /// Only checks from this day (YYYY-MM-DD, UTC) or time (e.g. 2026-11-28T09:30:00Z) on
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    since: Option<Timestamp>,
    /// Write a WARC 1.1 file (one gzip member per record) here
    #[arg(long, value_name = "FILE")]
    warc: PathBuf,
    /// Print what was written as JSON
    #[arg(long)]
    json: bool,
}

/// What `export --json` prints.
#[derive(serde::Serialize)]
struct Exported<'a> {
    watch: &'a str,
    file: String,
    responses: u64,
    records: u64,
    bytes: u64,
    /// Checks with a response but no stored body, left out.
    skipped_checks: u64,
}

/// A day means its first millisecond, UTC.
fn parse_since(text: &str) -> Result<Timestamp, String> {
    let is_day = text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
    let parsed = if is_day {
        humantime::parse_rfc3339(&format!("{text}T00:00:00Z"))
    } else {
        humantime::parse_rfc3339_weak(text)
    };
    let at = parsed.map_err(|e| {
        format!("{text:?} is not a date (YYYY-MM-DD) or UTC time (YYYY-MM-DDTHH:MM:SSZ): {e}")
    })?;
    let millis = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("{text:?} is before 1970"))?
        .as_millis();
    Ok(Timestamp(i64::try_from(millis).unwrap_or(i64::MAX)))
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let config = load_config_readonly(config_path)?;
    let store = open_existing_store(&config)?;
    let store = &*store;
    let mut args = args;
    args.watch = known_watch(&config, store, &args.watch)?;
    let url = match config.watch(&args.watch) {
        Some(watch) => watch.url.to_string(),
        None => store
            .watch_state(&args.watch)?
            .map(|state| state.url)
            .unwrap_or_default(),
    };
    let filename = args
        .warc
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("--warc {} names no file", args.warc.display()))?;
    let source = ExportSource {
        watch: &args.watch,
        url: &url,
        since: args.since,
        filename: &filename,
        now: Timestamp::now(),
    };

    let partial = Partial::create(&args.warc)?;
    let (summary, out) = export::write_warc(store, &source, BufWriter::new(partial.file()?))
        .with_context(|| format!("cannot export {:?} to {}", args.watch, args.warc.display()))?;
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all().map(|()| f))
        .with_context(|| format!("cannot write {}", partial.path.display()))?;
    drop(file);
    partial.commit(&args.warc)?;
    if args.json {
        print_json(&Exported {
            watch: &args.watch,
            file: args.warc.display().to_string(),
            responses: summary.responses,
            records: summary.records,
            bytes: summary.bytes,
            skipped_checks: summary.skipped,
        })?;
        return Ok(Exit::Success);
    }
    let skipped = if summary.skipped > 0 {
        format!(
            "; {} without a stored body left out",
            plural(summary.skipped, "check", "checks")
        )
    } else {
        String::new()
    };
    outln!(
        "exported {} of {} to {}: {}, {}{skipped}",
        plural(summary.responses, "response", "responses"),
        args.watch,
        args.warc.display(),
        plural(summary.records, "record", "records"),
        plural(summary.bytes, "byte", "bytes")
    )?;
    Ok(Exit::Success)
}

/// The temporary file an export is written to; removed unless committed.
struct Partial {
    path: PathBuf,
    committed: bool,
}

impl Partial {
    /// `.FILE.partial-PID` in the destination's directory, so the final
    /// rename stays on one filesystem and is atomic.
    fn create(dest: &Path) -> anyhow::Result<Partial> {
        let name = dest
            .file_name()
            .with_context(|| format!("--warc {} names no file", dest.display()))?;
        let mut partial_name = std::ffi::OsString::from(".");
        partial_name.push(name);
        partial_name.push(format!(".partial-{}", std::process::id()));
        let path = dest.with_file_name(partial_name);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Partial {
            path,
            committed: false,
        })
    }

    fn file(&self) -> anyhow::Result<File> {
        OpenOptions::new()
            .write(true)
            .open(&self.path)
            .with_context(|| format!("cannot open {}", self.path.display()))
    }

    fn commit(mut self, dest: &Path) -> anyhow::Result<()> {
        std::fs::rename(&self.path, dest).with_context(|| {
            format!(
                "cannot rename {} to {}",
                self.path.display(),
                dest.display()
            )
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the error that got us here is the one to report.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_day_or_a_utc_time() {
        assert_eq!(
            parse_since("2026-11-28").expect("day"),
            Timestamp(1_795_824_000_000)
        );
        assert_eq!(
            parse_since("2026-11-28T09:30:00Z").expect("time"),
            Timestamp(1_795_824_000_000 + (9 * 60 + 30) * 60_000)
        );
        let err = parse_since("yesterday").expect_err("not a date");
        assert!(err.contains("\"yesterday\""), "{err}");
    }
}
