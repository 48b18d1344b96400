//! `chancery config check`: validate and summarise the config.

use std::path::Path;

use serde::Serialize;

use crate::cli::Exit;
use crate::cli::output::{outln, print_json};
use crate::config::{self, ConfigError, Problem};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the result as JSON: the watches, or every problem (with file,
    /// line, column, key and message)
    #[arg(long)]
    json: bool,
}

/// What `config check --json` prints.
#[derive(Serialize)]
struct Checked<'a> {
    file: String,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_dir: Option<String>,
    watches: Vec<WatchLine<'a>>,
    problems: &'a [Problem],
}

#[derive(Serialize)]
struct WatchLine<'a> {
    name: &'a str,
    url: String,
    interval_secs: u64,
    select: &'a [String],
    exclude: &'a [String],
    ignore: &'a [String],
    notify: &'a [String],
    follow: bool,
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let path = config::locate(config_path)?;
    let config = match config::load(&path) {
        Ok(config) => config,
        Err(ConfigError::Invalid { path, problems }) if args.json => {
            print_json(&Checked {
                file: path.display().to_string(),
                valid: false,
                state_dir: None,
                watches: Vec::new(),
                problems: &problems,
            })?;
            return Err(ConfigError::Invalid { path, problems }.into());
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        print_json(&Checked {
            file: config.path.display().to_string(),
            valid: true,
            state_dir: Some(config.daemon.state_dir.display().to_string()),
            watches: config
                .watches
                .iter()
                .map(|w| WatchLine {
                    name: &w.name,
                    url: w.url.to_string(),
                    interval_secs: w.interval.as_secs(),
                    select: &w.select,
                    exclude: &w.exclude,
                    ignore: &w.ignore,
                    notify: &w.notify,
                    follow: w.follow.is_some(),
                })
                .collect(),
            problems: &[],
        })?;
        return Ok(Exit::Success);
    }
    outln!(
        "{}: ok, {} watches, state in {}",
        config.path.display(),
        config.watches.len(),
        config.daemon.state_dir.display()
    )?;
    for w in &config.watches {
        let mut parts = vec![format!("every {}", humantime::format_duration(w.interval))];
        for (label, list) in [
            ("select", &w.select),
            ("exclude", &w.exclude),
            ("ignore", &w.ignore),
            ("notify", &w.notify),
        ] {
            if !list.is_empty() {
                parts.push(format!("{label} {}", list.join(", ")));
            }
        }
        outln!("{}  {}  {}", w.name, w.url, parts.join("; "))?;
    }
    Ok(Exit::Success)
}
