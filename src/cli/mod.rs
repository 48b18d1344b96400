//! The command line: argument definitions and one module per subcommand.
//!
//! Every subcommand calls the library's stages; none re-implements one. The
//! binary's `main` only parses, sets up logging and maps [`Exit`] / errors
//! to exit codes: 0 success, 1 a check failed (or a runtime failure), 2 a
//! usage or config error.

mod backup;
mod check;
mod completions;
mod config_check;
mod diff;
mod export;
mod extract;
mod gc;
mod history;
mod list;
mod man;
mod notify;
mod outbox;
mod output;
mod run;
mod serve;
mod show;
mod status;
mod store;
mod watch;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use output::ColorChoice;

/// chancery: watch official statement pages and keep the proof of every edit.
#[derive(Debug, Parser)]
#[command(name = "chancery", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// Config file [default: $CHANCERY_CONFIG, else ./chancery.toml, else /etc/chancery/chancery.toml]
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "CHANCERY_CONFIG",
        hide_env = true
    )]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands. The daemon (`run`) and the one-shot commands call the
/// same core.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: check every watch on its schedule until stopped
    Run,
    /// Check watches now (all, or the named ones) and record the results
    Check(check::Args),
    /// List watches: each one's state now, last check and last change
    List(list::Args),
    /// Summarize health: watches in trouble by name, last check, alert backlog (exit 1 if failing)
    Status(status::Args),
    /// Show the changes and snapshots of a watch, newest first
    History(history::Args),
    /// Show how a watch's text changed (default: its latest change)
    Diff(diff::Args),
    /// Print the normalized text of a snapshot (default: the latest)
    Show(show::Args),
    /// Write a watch's stored responses as a WARC 1.1 file (evidence export)
    Export(export::Args),
    /// Serve a read-only web view of the history (loopback by default)
    Serve(serve::Args),
    /// Copy the whole history to a file while the daemon runs, checked
    Backup(backup::Args),
    /// Delete check rows older than [retention] checks (evidence is kept)
    Gc(gc::Args),
    /// Move a whole history between SQLite and PostgreSQL: `store copy --from A --to B`
    #[command(subcommand)]
    Store(store::Command),
    /// Validate the config
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the normalized text of a saved page or a live URL, to try filters
    Extract(extract::Args),
    /// List queued alerts (pending and failed); `outbox retry [ID]` sends again
    Outbox(outbox::Args),
    /// Send a test alert
    #[command(subcommand)]
    Notify(notify::Command),
    /// Add a watch to the config file, or remove one; a running daemon reloads
    #[command(subcommand)]
    Watch(watch::Command),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions(completions::Args),
    /// Print the man page (roff), or write one page per command with --out
    Man(man::Args),
}

impl Command {
    /// The log level when `RUST_LOG` is unset: one-shot commands print
    /// their results on stdout and only warnings (`check`: errors) on
    /// stderr.
    pub fn default_log_level(&self) -> &'static str {
        match self {
            Command::Run | Command::Serve(_) => "info",
            // Each check's result line already says what failed.
            Command::Check(_) => "error",
            _ => "warn",
        }
    }
}

/// `chancery config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config and print one line per watch
    Check(config_check::Args),
}

/// How a command that did its job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked.
    Success,
    /// The command ran, but at least one check failed.
    SomeFailed,
}

/// A mistake in how chancery was called (exit status 2), as opposed to a
/// failure while doing the work (exit status 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Run => run::run(config),
        Command::Check(args) => check::run(config, args),
        Command::List(args) => list::run(config, args),
        Command::Status(args) => status::run(config, args),
        Command::History(args) => history::run(config, args),
        Command::Diff(args) => diff::run(config, args),
        Command::Show(args) => show::run(config, args),
        Command::Serve(args) => serve::run(config, args),
        Command::Export(args) => export::run(config, args),
        Command::Backup(args) => backup::run(config, args),
        Command::Gc(args) => gc::run(config, args),
        Command::Store(command) => store::run(config, command),
        Command::Config(ConfigCommand::Check(args)) => config_check::run(config, args),
        Command::Extract(args) => extract::run(config, args),
        Command::Outbox(args) => outbox::run(config, args),
        Command::Notify(command) => notify::run(config, command),
        Command::Watch(command) => watch::run(config, command),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}

/// Whether the error is stdout's reader going away (a closed pipe).
pub fn closed_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Exit status for an error returned by [`run`].
pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    let usage = err
        .chain()
        .any(|cause| cause.is::<UsageError>() || cause.is::<crate::config::ConfigError>());
    if usage { 2 } else { 1 }
}
