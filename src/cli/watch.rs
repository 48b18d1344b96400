//! `chancery watch add|remove`: edit the watch list in the config file that
//! every other command reads, then ask a running daemon to reload.
//!
//! Guarantees: the rest of the file is kept byte for byte (see
//! [`crate::config::edit`]); the whole new text passes the same parser as
//! `config check` before anything is written, and the edit is checked to
//! change nothing the daemon applies but the one watch; the file is
//! replaced atomically (temp file in the same directory, fsync, rename)
//! with its permissions. A daemon is signalled only if it holds the state
//! dir's lock, by the pid it wrote there.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use url::Url;

use crate::cli::output::outln;
use crate::cli::{Exit, UsageError};
use crate::config::edit::{self, NewWatch};
use crate::config::{self, Config, Secrets, Watch};
use crate::daemon::{Applied, LockHolder, StateLock};
use crate::normalize::{Input, normalize};

/// `chancery watch …`
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Append a [[watch]] table to the config file; a running daemon reloads
    Add(AddArgs),
    /// Remove a watch's [[watch]] table (its history is kept); a running daemon reloads
    Remove(RemoveArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The page to watch
    #[arg(value_name = "URL")]
    url: Url,
    /// The watch's name [default: the URL's host and last path segment]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Keep only the parts matching this CSS selector (repeatable)
    #[arg(long, value_name = "CSS")]
    select: Vec<String>,
    /// How often to check, e.g. 30m [default: the daemon's default_interval]
    #[arg(long, value_name = "DURATION")]
    interval: Option<String>,
    /// How to read the page: http (one request) or browser (headless
    /// Chromium, for a page whose statement a script puts in place)
    #[arg(long, value_name = "MODE", default_value = "http", value_parser = super::extract::parse_render)]
    render: super::extract::RenderMode,
    /// With --render browser: read the page once an element matches this CSS selector
    #[arg(long, value_name = "CSS")]
    wait_for: Option<String>,
    /// Write nothing: print the table that would be added and the text the
    /// watch would see now (one fetch)
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The watch to remove
    #[arg(value_name = "NAME")]
    name: String,
}

/// How long to wait for a daemon that holds the lock but has not written
/// its pid yet (it writes it once SIGHUP is handled, right after start-up).
const PID_WAIT: Duration = Duration::from_secs(5);

pub fn run(config_path: Option<&Path>, command: Command) -> anyhow::Result<Exit> {
    let path = config::locate(config_path)?;
    let text = std::fs::read_to_string(&path).map_err(|source| config::ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    // Secrets are not read: the shell editing the file rarely has the
    // daemon's environment, and secrets are not what is being edited.
    let current = config::parse_in_place(&path, &text, Secrets::Skip)?;
    match command {
        Command::Add(args) => add(&path, &text, &current, args),
        Command::Remove(args) => remove(&path, &text, &current, &args.name),
    }
}

fn add(path: &Path, text: &str, current: &Config, args: AddArgs) -> anyhow::Result<Exit> {
    // Watches the history knows, by name, with their URLs: a name whose
    // history is of another page is not free (the new page would inherit
    // it); the same page's is (adding it back resumes its history).
    let history: std::collections::HashMap<String, String> =
        match crate::cli::output::open_store_if_exists(current)? {
            Some(store) => store
                .watches()?
                .into_iter()
                .map(|w| (w.name, w.url))
                .collect(),
            None => Default::default(),
        };
    let other_page = |n: &str| history.get(n).is_some_and(|url| url != args.url.as_str());
    let name = match args.name {
        Some(name) => {
            if other_page(&name) {
                tracing::warn!(
                    watch = %name,
                    was = %history[&name],
                    "the history already holds this name for another URL; it continues under the new one"
                );
            }
            name
        }
        None => edit::name_for(&args.url, |n| current.watch(n).is_some() || other_page(n)),
    };
    let table = edit::render_watch(&NewWatch {
        name: &name,
        url: args.url.as_str(),
        select: &args.select,
        interval: args.interval.as_deref(),
        browser: args.render == super::extract::RenderMode::Browser,
        wait_for: args.wait_for.as_deref(),
    });
    let new_text = edit::append_watch(text, &table);
    let unchanged = || format!("watch {name:?} not added, {} unchanged", path.display());
    let new = config::parse_in_place(path, &new_text, Secrets::Skip).with_context(unchanged)?;
    let added = new
        .watches
        .last()
        .filter(|w| w.name == name)
        .with_context(|| format!("{}: the added table is not the last watch", unchanged()))?;
    let mut expected = current.watches.clone();
    expected.push(added.clone());
    only_watches_changed(current, &new, expected).with_context(unchanged)?;

    if args.dry_run {
        return dry_run(path, &table, &new, added);
    }
    write_atomic(path, text, &new_text)?;
    report(
        &format!("added watch {name} ({}) to {}", added.url, path.display()),
        &current.daemon.state_dir,
    )
}

fn remove(path: &Path, text: &str, current: &Config, name: &str) -> anyhow::Result<Exit> {
    if current.watch(name).is_none() {
        return Err(UsageError(unknown_watch(current, name)).into());
    }
    let unchanged = || format!("watch {name:?} not removed, {} unchanged", path.display());
    let new_text =
        edit::remove_watch(text, name).map_err(|e| UsageError(format!("{}: {e}", unchanged())))?;
    let new = config::parse_in_place(path, &new_text, Secrets::Skip).with_context(unchanged)?;
    let expected = current
        .watches
        .iter()
        .filter(|w| w.name != name)
        .cloned()
        .collect();
    only_watches_changed(current, &new, expected).with_context(unchanged)?;

    write_atomic(path, text, &new_text)?;
    report(
        &format!(
            "removed watch {name} from {}; its history is kept",
            path.display()
        ),
        &current.daemon.state_dir,
    )
}

/// Fails unless `after` applies exactly what `before` does, with
/// `watches` as its watch list: a safety net under the text edit.
fn only_watches_changed(
    before: &Config,
    after: &Config,
    watches: Vec<Arc<Watch>>,
) -> anyhow::Result<()> {
    let mut expected = Applied::of(before);
    expected.watches = watches;
    let same = Applied::of(after) == expected
        && after.daemon.state_dir == before.daemon.state_dir
        && after.subscribers == before.subscribers;
    if !same {
        anyhow::bail!("the edit would change more than one watch (a bug in chancery)");
    }
    Ok(())
}

/// `watch add --dry-run`: the table, then the text a check would keep of
/// the page now, through the fetch and normalize code of `extract`.
fn dry_run(path: &Path, table: &str, new: &Config, watch: &Watch) -> anyhow::Result<Exit> {
    outln!("would add to {}:\n", path.display())?;
    outln!("{}", table.trim_end())?;
    outln!()?;
    let (body, content_type, url) = super::extract::fetch_with(new, &watch.url, &watch.render)?;
    let input = Input {
        body: &body,
        content_type: content_type.as_deref(),
        url: url.as_ref(),
    };
    let normalized = normalize(&input, &watch.filters)
        .with_context(|| format!("cannot extract text from {}", watch.url))?;
    outln!("text of {} as the watch would see it now:\n", watch.url)?;
    outln!("{}", normalized.text)?;
    Ok(Exit::Success)
}

/// `no watch named "x" in PATH; did you mean "y"? (watches: …)`.
fn unknown_watch(config: &Config, name: &str) -> String {
    let mut message = format!("no watch named {name:?} in {}", config.path.display());
    let names: Vec<&str> = config.watches.iter().map(|w| w.name.as_str()).collect();
    if names.is_empty() {
        message.push_str(" (it has no watches)");
        return message;
    }
    if let Some(n) = crate::config::suggest::closest(name, &names) {
        message.push_str(&format!("; did you mean {n:?}?"));
    }
    const SHOWN: usize = 10;
    let mut listed = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        listed.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    message.push_str(&format!(" (watches: {listed})"));
    message
}

/// Replaces `path` by `new_text` atomically: a temp file beside the real
/// one (a symlinked config is followed, the link kept), same permissions
/// and, where allowed, owner; fsync; rename; fsync of the directory. Fails
/// without writing if the file no longer holds `old_text`.
fn write_atomic(path: &Path, old_text: &str, new_text: &str) -> anyhow::Result<()> {
    let target = std::fs::canonicalize(path)
        .with_context(|| format!("cannot resolve {}", path.display()))?;
    let dir = target
        .parent()
        .with_context(|| format!("{} has no directory", target.display()))?;
    let file_name = target
        .file_name()
        .with_context(|| format!("{} has no file name", target.display()))?;
    let tmp: PathBuf = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> anyhow::Result<()> {
        let meta = std::fs::metadata(&target)?;
        let mut file = std::fs::File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(new_text.as_bytes())?;
        file.set_permissions(meta.permissions())?;
        // Root editing a file owned by the service's group keeps it so; a
        // user who may not give files away keeps their own ownership.
        let _ = std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()));
        file.sync_all()?;
        if std::fs::read_to_string(&target)? != old_text {
            anyhow::bail!("it changed while being edited; try again");
        }
        std::fs::rename(&tmp, &target)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", target.display()))
}

/// What became of the daemon after an edit.
enum Reload {
    NoDaemon,
    Signalled(u32),
}

/// Prints `done` with what the daemon does about it. The file is written
/// already, so a daemon that cannot be signalled is reported after it.
fn report(done: &str, state_dir: &Path) -> anyhow::Result<Exit> {
    match ask_daemon_to_reload(state_dir) {
        Ok(Reload::NoDaemon) => {
            outln!("{done}; no daemon running; it will read the change at start")?;
            Ok(Exit::Success)
        }
        Ok(Reload::Signalled(pid)) => {
            outln!("{done}; daemon (pid {pid}) reloading")?;
            Ok(Exit::Success)
        }
        Err(e) => {
            outln!("{done}")?;
            Err(e.context(
                "the running daemon was not told to reload; run `systemctl reload chancery` or `kill -HUP` its pid",
            ))
        }
    }
}

/// Sends SIGHUP to the daemon holding `state_dir`'s lock, if one does.
fn ask_daemon_to_reload(state_dir: &Path) -> anyhow::Result<Reload> {
    let deadline = Instant::now() + PID_WAIT;
    loop {
        match StateLock::holder(state_dir)? {
            LockHolder::Free => return Ok(Reload::NoDaemon),
            LockHolder::Daemon { pid: Some(pid) } => {
                let target = i32::try_from(pid)
                    .ok()
                    .and_then(rustix::process::Pid::from_raw)
                    .with_context(|| format!("bad pid {pid} in the lock file"))?;
                rustix::process::kill_process(target, rustix::process::Signal::HUP)
                    .with_context(|| format!("cannot send SIGHUP to pid {pid}"))?;
                return Ok(Reload::Signalled(pid));
            }
            LockHolder::Daemon { pid: None } if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            LockHolder::Daemon { pid: None } => anyhow::bail!(
                "a daemon holds the lock in {} but wrote no pid within {PID_WAIT:?}",
                state_dir.display()
            ),
        }
    }
}
