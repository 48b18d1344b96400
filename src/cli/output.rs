//! Helpers shared by the subcommands: loading the config and the store the
//! same way everywhere, colour choice, and small formatting functions.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context;

use crate::cli::UsageError;
use crate::config::{self, Config};
use crate::store::Store;

/// `println!` for a command's results: a failed write (a reader that
/// closed the pipe, `chancery history W | head -1`) is returned as an
/// error, never a panic; `main` ends quietly with status 0 on a closed pipe.
macro_rules! outln {
    () => {
        std::io::Write::write_all(&mut std::io::stdout().lock(), b"\n")
    };
    ($($arg:tt)*) => {
        std::io::Write::write_fmt(
            &mut std::io::stdout().lock(),
            format_args!("{}\n", format_args!($($arg)*)),
        )
    };
}

/// `print!` for a command's results; see [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {
        std::io::Write::write_fmt(&mut std::io::stdout().lock(), format_args!($($arg)*))
    };
}

pub(crate) use {out, outln};

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to emit ANSI colours on stdout.
    pub fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// Finds and loads the config, secrets included (commands that send).
pub fn load_config(explicit: Option<&Path>) -> anyhow::Result<Config> {
    let path = config::locate(explicit)?;
    Ok(config::load(&path)?)
}

/// Finds and loads the config without reading secrets: for commands that
/// only read the history, which must work without the daemon's environment.
pub fn load_config_readonly(explicit: Option<&Path>) -> anyhow::Result<Config> {
    let path = config::locate(explicit)?;
    Ok(config::load_with(&path, config::Secrets::Skip)?)
}

/// Opens the history for reading. A missing history is a clear error, not
/// an empty one silently created somewhere unexpected.
pub fn open_existing_store(config: &Config) -> anyhow::Result<Box<dyn Store + Send>> {
    let location = config.store_location();
    if !location.exists() {
        return Err(UsageError(format!(
            "no history at {location}: run `chancery check` first (state_dir comes from {})",
            config.path.display()
        ))
        .into());
    }
    match location.open() {
        // Too full to open normally: read the file as it stands.
        Err(full @ crate::store::StoreError::DiskFull { .. }) => {
            let crate::store::Location::Sqlite(path) = &location else {
                return Err(full).with_context(|| format!("cannot open history {location}"));
            };
            match crate::store::sqlite::SqliteStore::open_immutable(path) {
                Ok(store) => {
                    tracing::warn!(error = %full, "reading the history as last written to its file (without its write-ahead log)");
                    Ok(Box::new(store))
                }
                Err(_) => Err(full).with_context(|| format!("cannot open history {location}")),
            }
        }
        opened => opened.with_context(|| format!("cannot open history {location}")),
    }
}

/// Opens the history, creating it if needed: for commands that write.
pub fn open_store(config: &Config) -> anyhow::Result<Box<dyn Store + Send>> {
    let location = config.store_location();
    location
        .open()
        .with_context(|| format!("cannot open history {location}"))
}

/// Opens the history if there is one: for summaries that show an empty
/// history when nothing was checked yet.
pub fn open_store_if_exists(config: &Config) -> anyhow::Result<Option<Box<dyn Store + Send>>> {
    if config.store_location().exists() {
        open_existing_store(config).map(Some)
    } else {
        Ok(None)
    }
}

/// Resolves `name` to a watch in the config or in the history; a URL names
/// the (child) watch with that URL.
#[must_use = "the resolved name is the watch to use (a URL names a child)"]
pub fn known_watch(config: &Config, store: &dyn Store, name: &str) -> anyhow::Result<String> {
    if config.watch(name).is_some() || store.watch_state(name)?.is_some() {
        return Ok(name.to_owned());
    }
    // A follow watch's child may be named by its statement URL.
    if let Ok(url) = url::Url::parse(name) {
        let canonical = crate::follow::canon::canonicalize(&url);
        for candidate in [url.as_str(), canonical.as_str()] {
            if let Some(found) = store.watch_by_url(candidate)? {
                return Ok(found);
            }
        }
    }
    Err(UsageError(format!(
        "no watch named {name:?} in {} or in the history",
        config.path.display()
    ))
    .into())
}

/// Lines of `rows` with every column but the last padded to the widest
/// cell of its column (in terminal columns: CJK counts double), separated
/// by two spaces.
pub fn aligned(rows: &[Vec<String>]) -> Vec<String> {
    use unicode_width::UnicodeWidthStr;
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.width())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    line.extend(std::iter::repeat_n(' ', widths[i] - cell.width()));
                }
            }
            line.trim_end().to_owned()
        })
        .collect()
}

/// `1 response`, `3 responses`: a count and its noun.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `+3 -1 (2.5%)`.
pub fn diffstat(summary: &crate::diff::DiffSummary) -> String {
    format!(
        "+{} -{} ({:.1}%)",
        summary.lines_added,
        summary.lines_removed,
        summary.changed_ratio * 100.0
    )
}

/// Writes `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot render JSON")?;
    outln!("{text}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::aligned;

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(super::plural(0, "response", "responses"), "0 responses");
        assert_eq!(super::plural(1, "response", "responses"), "1 response");
        assert_eq!(super::plural(2, "check", "checks"), "2 checks");
    }

    #[test]
    fn columns_line_up_whatever_their_content() {
        let rows = vec![
            vec!["change 12".into(), "edited".into(), "\"a\" → \"b\"".into()],
            vec!["change 3".into(), "first-seen".into(), "\"外交部\"".into()],
            vec!["change 2".into(), "外交".into(), String::new()],
        ];
        assert_eq!(
            aligned(&rows),
            [
                "change 12  edited      \"a\" → \"b\"",
                "change 3   first-seen  \"外交部\"",
                "change 2   外交",
            ]
        );
    }
}
