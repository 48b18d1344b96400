//! The watch list: one TOML file parsed once into a validated [`Config`].
//!
//! Everything later stages need is checked here (URLs, durations, sizes,
//! selectors, regexes, unique names), so no other module re-validates. Every
//! error names the file, the line and the key, because one edit should fix it.
//!
//! Three rooms: [`raw`] is the TOML's shape (what serde reads, spans kept,
//! a large file a piece at a time: [`pieces`]),
//! [`validate`] turns it into the types below and the stages' own settings
//! (filters, follow specs, fetch options, politeness), and [`secret`] reads
//! secrets from the environment or a file without ever showing them. The
//! types here are what the rest of the program sees.

pub mod edit;
mod pieces;
mod raw;
mod secret;
pub mod suggest;
mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use regex::Regex;

use crate::fetch::FetchOptions;
use crate::fetch::browser::{BrowserOptions, BrowserSettings, Render};
use crate::follow::FollowSpec;
use crate::normalize::{Content, Filters};

pub use secret::{Secret, Secrets};

#[cfg(test)]
pub(crate) use raw::keys;

/// Where the config is looked for when neither `--config` nor
/// `$CHANCERY_CONFIG` names one, in order.
pub const DEFAULT_PATHS: [&str; 2] = ["chancery.toml", "/etc/chancery/chancery.toml"];

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from (errors and summaries name it).
    pub path: PathBuf,
    pub daemon: Daemon,
    /// Watches in file order; names are unique.
    pub watches: Vec<Arc<Watch>>,
    /// The mail server, if any subscriber has `email`.
    pub smtp: Option<Smtp>,
    /// What `chancery gc` may delete (`[retention]`); nothing by default.
    pub retention: Retention,
    /// The web view (`[web]`), if configured.
    pub web: Option<Web>,
    /// The browser `render = "browser"` watches share (`[browser]`).
    pub browser: BrowserSettings,
    /// Who gets alerts, in file order; names are unique.
    pub subscribers: Vec<Subscriber>,
    /// `[store]`: a PostgreSQL database; `None` keeps the history in
    /// `state_dir/chancery.db`.
    pub store: Option<StoreSettings>,
}

/// Where a shared history lives (`[store]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// `postgres://user@host[:port]/database[?sslmode=…]`, no password.
    pub url: String,
    pub password: Option<Secret>,
    /// How long a node's claim on a watch's check lasts (`[store] lease`):
    /// a node that dies mid-check holds the watch this long at most.
    /// `None`: long enough for any check ([`StoreSettings::lease_for`]).
    pub lease: Option<Duration>,
}

impl StoreSettings {
    /// The lease a node takes on each check: the configured one, else
    /// enough for two fetches, the confirmation wait between them and
    /// normalizing, plus a minute.
    pub fn lease_for(&self, daemon: &Daemon) -> Duration {
        self.lease.unwrap_or_else(|| {
            daemon.timeout * 2
                + daemon.confirm_delay
                + daemon.normalize_timeout
                + Duration::from_secs(60)
        })
    }
}

impl Config {
    /// How the shared browser runs. Start-up and reload both build the
    /// renderer from this.
    pub fn browser_options(&self) -> BrowserOptions {
        BrowserOptions {
            settings: self.browser.clone(),
            user_agent: self.daemon.user_agent.clone(),
            max_body_bytes: self.daemon.max_body_bytes,
        }
    }
}

/// The read-only web view (`[web]`): where it listens, the address people
/// reach it at (for links in alerts and feeds), and its token.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Web {
    /// Where `chancery serve` listens (and the daemon, which serves the
    /// view itself when `[web]` sets `listen`).
    pub listen: Option<std::net::SocketAddr>,
    /// The view's public address, e.g. `https://chancery.example.org/`:
    /// alerts link to their change page there, and feeds use it.
    pub base_url: Option<url::Url>,
    /// A file holding the token (e.g. a systemd credential); else
    /// `$CHANCERY_WEB_TOKEN`.
    pub token_file: Option<PathBuf>,
}

impl Web {
    /// The page of change `id` of `watch`, when a base URL is set.
    pub fn change_url(&self, watch: &str, id: i64) -> Option<String> {
        Some(change_url(self.base_url.as_ref()?, watch, id))
    }
}

/// The page of change `id` of `watch` in the web view at `base`.
pub fn change_url(base: &url::Url, watch: &str, id: i64) -> String {
    let base = base.as_str().trim_end_matches('/');
    format!("{base}{}/changes/{id}", crate::web::watch_path(watch))
}

/// How to reach the SMTP server (`[smtp]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The `From:` mailbox, e.g. `Chancery <alerts@example.org>`.
    pub from: String,
    /// Bound on one delivery, connection to last reply.
    pub timeout: Duration,
}

/// Transport security for SMTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (only for a relay on the same host).
    None,
    /// Plain connection upgraded with STARTTLS (port 587); refused if the
    /// server does not offer it.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// The events a subscriber can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    Edited,
    Removed,
    Restored,
    /// The page alternates between versions (load-balanced builds).
    Flapping,
    /// Checks have failed continuously for `failing_after`.
    Failing,
    /// The first good check after `failing`.
    Recovered,
    /// A new statement on a follow watch's listing (opt in).
    Published,
    /// A statement's link was taken off its listing.
    Delisted,
}

impl Event {
    /// The event a recorded change raises, if it raises one.
    pub fn of(kind: crate::model::ChangeKind) -> Option<Event> {
        match kind {
            crate::model::ChangeKind::Edited => Some(Event::Edited),
            crate::model::ChangeKind::Removed => Some(Event::Removed),
            crate::model::ChangeKind::Restored => Some(Event::Restored),
            crate::model::ChangeKind::Flapping => Some(Event::Flapping),
            crate::model::ChangeKind::Failing => Some(Event::Failing),
            crate::model::ChangeKind::Recovered => Some(Event::Recovered),
            crate::model::ChangeKind::Published => Some(Event::Published),
            crate::model::ChangeKind::Delisted => Some(Event::Delisted),
            crate::model::ChangeKind::FirstSeen | crate::model::ChangeKind::Rebaselined => None,
        }
    }

    /// The stable name used in subjects, headers and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Edited => "edited",
            Event::Removed => "removed",
            Event::Restored => "restored",
            Event::Flapping => "flapping",
            Event::Failing => "failing",
            Event::Recovered => "recovered",
            Event::Published => "published",
            Event::Delisted => "delisted",
        }
    }

    /// What a subscriber gets when it names no `events`: every event. A
    /// subscriber of a followed press room wants its new statements
    /// (`published`); one who does not lists the events it wants.
    pub const DEFAULT: [Event; 8] = [
        Event::Edited,
        Event::Removed,
        Event::Restored,
        Event::Flapping,
        Event::Failing,
        Event::Recovered,
        Event::Published,
        Event::Delisted,
    ];
}

/// Which side of an edit a subscriber's `changes` trigger looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Changes {
    /// Any added or removed line.
    #[default]
    Any,
    /// Only added lines (new text in the statement).
    Additions,
    /// Only removed lines (text taken out of the statement).
    Removals,
}

/// Where a subscriber's alerts go.
#[derive(Debug, Clone, PartialEq)]
pub enum Channel {
    /// Mail to these addresses through `[smtp]`.
    Email(Vec<String>),
    /// A signed JSON `POST` to this URL.
    Webhook { url: Url, secret: Option<Secret> },
}

/// Someone who gets alerts (`[[subscriber]]`).
#[derive(Debug, Clone)]
pub struct Subscriber {
    /// Unique; watches name it in `notify`.
    pub name: String,
    pub channel: Channel,
    /// The events wanted (default: all of them).
    pub events: Vec<Event>,
    /// Edits whose changed ratio is below this are not alerted.
    pub min_change: f64,
    /// `match`: alert an edit only when a changed line (on the side that
    /// `changes` names) matches one of these. Empty: every edit.
    pub patterns: Vec<Arc<Regex>>,
    /// `changes`: which changed lines count for an edit.
    pub changes: Changes,
}

impl PartialEq for Subscriber {
    /// Equal settings; patterns compare by their source text.
    fn eq(&self, other: &Subscriber) -> bool {
        self.name == other.name
            && self.channel == other.channel
            && self.events == other.events
            && self.min_change == other.min_change
            && crate::normalize::same_regexes(&self.patterns, &other.patterns)
            && self.changes == other.changes
    }
}

impl Subscriber {
    /// Whether a change of `event` with `changed_ratio` is for this subscriber.
    pub fn wants(&self, event: Event, changed_ratio: f64) -> bool {
        self.events.contains(&event) && (event != Event::Edited || changed_ratio >= self.min_change)
    }

    /// Whether an edit with these added and removed lines passes the
    /// subscriber's `changes` and `match` triggers. Other events are not
    /// filtered by content: a removal or a failing watch always matters.
    pub fn triggered_by(&self, added: &[&str], removed: &[&str]) -> bool {
        let lines: Vec<&str> = match self.changes {
            Changes::Any => added.iter().chain(removed).copied().collect(),
            Changes::Additions => added.to_vec(),
            Changes::Removals => removed.to_vec(),
        };
        if lines.is_empty() {
            return false;
        }
        self.patterns.is_empty()
            || lines
                .iter()
                .any(|line| self.patterns.iter().any(|re| re.is_match(line)))
    }
}

/// Settings shared by every watch (`[daemon]`).
#[derive(Debug, Clone)]
pub struct Daemon {
    /// Where the database lives. Relative paths are resolved against the
    /// config file's directory.
    pub state_dir: PathBuf,
    pub user_agent: String,
    /// Bound on a whole request, connection to last byte.
    pub timeout: Duration,
    /// Bodies beyond this many bytes (after decompression) fail the check.
    pub max_body_bytes: u64,
    /// Bytes that the pages being read (decoded text and parsed trees) may
    /// take together; a page waits until its share is free.
    pub memory_budget: u64,
    /// Redirects followed before a check fails.
    pub max_redirects: usize,
    pub default_interval: Duration,
    /// Checks in flight at once.
    pub concurrency: usize,
    /// Checks in flight at once against one host.
    pub per_host_concurrency: usize,
    /// Minimum gap between the starts of two requests to one host.
    pub per_host_delay: Duration,
    /// Fetch robots.txt per host and skip disallowed URLs.
    pub respect_robots: bool,
    /// Wait before the first retry of a failed alert (doubled each time, at
    /// most an hour).
    pub alert_retry: Duration,
    /// A failing alert is retried for this long, then marked failed.
    pub alert_max_age: Duration,
    /// Default wait before re-fetching to confirm a removal or a large edit.
    pub confirm_delay: Duration,
    /// Default length of a run of failed checks that raises `failing`.
    pub failing_after: Duration,
    /// A new text equal to one of the watch's recent snapshots seen within
    /// this window, while the current text has not settled, is flapping.
    pub flap_window: Duration,
    /// Bound on turning one page into text (parsing, extraction): a page
    /// that takes longer fails its check with reason `too-complex`.
    pub normalize_timeout: Duration,
    /// Default for watches: checks in a row a version must hold to be the
    /// page's current version (moving away from it is then an edit).
    pub flap_settle: u32,
    /// What watches keep of a page unless they say otherwise.
    pub content: Content,
}

impl Daemon {
    /// How every request is made. Start-up and reload both build the fetch
    /// stage from this, so a setting added here is never left off either.
    pub fn fetch_options(&self) -> FetchOptions {
        FetchOptions {
            user_agent: self.user_agent.clone(),
            timeout: self.timeout,
            max_body_bytes: self.max_body_bytes,
            max_redirects: self.max_redirects,
            per_host_delay: self.per_host_delay,
        }
    }

    /// The politeness limits the scheduler enforces.
    pub fn politeness(&self) -> crate::schedule::Politeness {
        crate::schedule::Politeness {
            concurrency: self.concurrency,
            per_host_concurrency: self.per_host_concurrency,
            per_host_delay: self.per_host_delay,
        }
    }
}

/// One page to monitor (`[[watch]]`). Two watches are equal when every
/// setting is: a reload reschedules a watch that is not equal to the one
/// running.
#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    /// Unique, `[a-z0-9._-]+`: the key in the database and on the CLI.
    pub name: String,
    pub url: Url,
    /// Read with one HTTP request, or rendered in the browser.
    pub render: Render,
    pub interval: Duration,
    /// The filters as written, for display.
    pub select: Vec<String>,
    pub exclude: Vec<String>,
    pub ignore: Vec<String>,
    /// The same filters, compiled.
    pub filters: Filters,
    /// Subscriber names to alert.
    pub notify: Vec<String>,
    /// Wait before re-fetching to confirm a removal or a large edit
    /// (`0s`: at once).
    pub confirm_delay: Duration,
    /// A run of failed checks this long raises `failing`.
    pub failing_after: Duration,
    /// Checks in a row a version must hold to be settled: moving away from
    /// a settled version is an edit, never flapping.
    pub flap_settle: u32,
    /// `follow = { … }`: this watch is an index page or feed whose
    /// statements are watched as children.
    pub follow: Option<FollowSpec>,
    /// How often children are checked (default: `interval` × 4).
    pub child_interval: Duration,
    /// For a child: the follow watch it belongs to. Children are not in the
    /// config; the engine makes them from the store.
    pub parent: Option<String>,
}

/// One problem in a config file, located.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    /// The key path, e.g. `watch[2].interval`, or `watch "mfa".interval`.
    pub key: String,
    pub message: String,
}

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No file was given and none of the default locations exists.
    #[error("no config file: pass --config PATH or set CHANCERY_CONFIG (looked for {})", DEFAULT_PATHS.join(", "))]
    NotFound,
    #[error("cannot read config {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Syntax, type or validation problems, each with line and key.
    #[error("{}", render_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| {
            let key = if p.key.is_empty() {
                String::new()
            } else {
                format!(" {}:", p.key)
            };
            format!(
                "{}:{}:{}:{} {}",
                path.display(),
                p.line,
                p.column,
                key,
                p.message
            )
        })
        .collect();
    lines.join("\n")
}

/// Picks the config file: the explicit path (from `--config` or
/// `$CHANCERY_CONFIG`), else the first default location that exists.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    DEFAULT_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or(ConfigError::NotFound)
}

/// Reads and validates a config file, secrets included.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, Secrets::Read)
}

/// Reads and validates a config file; `secrets` says whether to read them.
pub fn load_with(path: &Path, secrets: Secrets) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    // An empty file is a mistake (a wrong path, a truncated copy), not a
    // config of defaults: it would start a daemon watching nothing, with
    // its state in the working directory.
    let sets_something = text
        .lines()
        .map(str::trim)
        .any(|l| !l.is_empty() && !l.starts_with('#'));
    if !sets_something {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            problems: vec![Problem {
                line: 1,
                column: 1,
                key: String::new(),
                message:
                    "the file sets nothing: add [[watch]] tables (see config/chancery.example.toml)"
                        .to_owned(),
            }],
        });
    }
    parse_with(path, &text, state_directory_env().as_deref(), secrets)
}

/// Parses `text` as if it were the contents of `path`, exactly as
/// [`load_with`] would: for a proposed edit, checked before it is written.
pub fn parse_in_place(path: &Path, text: &str, secrets: Secrets) -> Result<Config, ConfigError> {
    parse_with(path, text, state_directory_env().as_deref(), secrets)
}

/// `$STATE_DIRECTORY` as systemd sets it (the first of a colon-separated list).
fn state_directory_env() -> Option<PathBuf> {
    let value = std::env::var_os("STATE_DIRECTORY")?;
    let first = value.to_string_lossy().split(':').next()?.to_owned();
    (!first.is_empty()).then(|| PathBuf::from(first))
}

/// Parses config text. `path` is used for messages and to resolve a relative
/// `state_dir`; `state_directory` is the default state dir from the
/// environment.
pub fn parse(
    path: &Path,
    text: &str,
    state_directory: Option<&Path>,
) -> Result<Config, ConfigError> {
    parse_with(path, text, state_directory, Secrets::Read)
}

/// [`parse`], choosing whether to read secrets.
pub fn parse_with(
    path: &Path,
    text: &str,
    state_directory: Option<&Path>,
    secrets: Secrets,
) -> Result<Config, ConfigError> {
    parse_in(path, text, state_directory, secrets, raw::PIECE_BYTES)
}

/// [`parse_with`], reading the TOML in pieces of about `piece_bytes`.
fn parse_in(
    path: &Path,
    text: &str,
    state_directory: Option<&Path>,
    secrets: Secrets,
    piece_bytes: usize,
) -> Result<Config, ConfigError> {
    let invalid = |problems| ConfigError::Invalid {
        path: path.to_owned(),
        problems,
    };
    let mut problems = Vec::new();
    let Some(raw) = raw::deserialize(text, piece_bytes, &mut problems) else {
        return Err(invalid(problems));
    };
    let config = validate::validate(path, text, raw, state_directory, &mut problems, secrets);
    problems.sort_by_key(|p| (p.line, p.column));
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(invalid(problems))
    }
}

/// `[retention]`: snapshots, changes and alerts are the evidence and are
/// always kept; only the bulk of routine check rows may go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// Check rows older than this may be deleted by `chancery gc`.
    pub checks: Option<std::time::Duration>,
}

impl Watch {
    /// The child watch of this follow watch for one statement: named
    /// `name`, checked every `child_interval`, with the parent's filters and
    /// subscribers.
    pub fn child(&self, name: String, url: Url) -> Watch {
        Watch {
            name,
            url,
            interval: self.child_interval,
            follow: None,
            parent: Some(self.name.clone()),
            ..self.clone()
        }
    }

    /// A fingerprint of the filters (`select`, `exclude`, `ignore`): when it
    /// differs from the one stored with the last snapshot, the filters
    /// changed and the baseline must be normalized again.
    pub fn filters_sha256(&self) -> String {
        self.fingerprint(self.render.is_browser())
    }

    /// Whether `stored` is this watch's fingerprint under the other
    /// `render` mode: the mode alone changed, so the stored raw body is of
    /// the other kind (a script shell, or a rendered DOM) and cannot be
    /// normalized again into a baseline.
    pub fn render_switched_from(&self, stored: &str) -> bool {
        self.fingerprint(!self.render.is_browser()) == stored
    }

    fn fingerprint(&self, browser: bool) -> String {
        let mut canonical = String::new();
        // A rendered page's text is not the response's: switching `render`
        // is a new baseline, never an edit. (Absent for `http`, so the
        // fingerprints of existing watches stay as they were.)
        if browser {
            canonical.push_str("render\u{1f}browser\u{1e}");
        }
        // The normalizer's version: an upgrade that changes texts rebaselines
        // every watch from its stored raw body. Version 1 (no `content`
        // key yet) is the empty prefix, as fingerprints were written then.
        let version = crate::normalize::NORMALIZER_VERSION;
        if version > 1 {
            canonical.push_str(&format!("normalizer\u{1f}{version}\u{1e}"));
        }
        canonical.push_str("content\u{1f}");
        canonical.push_str(self.filters.content.as_str());
        canonical.push('\u{1e}');
        for (label, list) in [
            ("select", &self.select),
            ("exclude", &self.exclude),
            ("ignore", &self.ignore),
        ] {
            canonical.push_str(label);
            for item in list.iter() {
                canonical.push('\u{1f}');
                canonical.push_str(item);
            }
            canonical.push('\u{1e}');
        }
        crate::hash::sha256_hex(canonical.as_bytes())
    }
}

impl Config {
    /// A fingerprint of what the config asks to watch and whom to tell:
    /// each watch's name, URL, interval, filters and subscribers, and the
    /// subscribers' names, in file order. Nodes sharing a store compare
    /// theirs (`chancery status`); comments and layout do not count.
    pub fn fingerprint(&self) -> String {
        let mut canonical = String::new();
        for w in &self.watches {
            canonical.push_str(&format!(
                "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1e}",
                w.name,
                w.url,
                w.interval.as_millis(),
                w.filters_sha256(),
                w.notify.join(",")
            ));
        }
        for s in &self.subscribers {
            canonical.push_str(&s.name);
            canonical.push('\u{1e}');
        }
        crate::hash::sha256_hex(canonical.as_bytes())
    }

    /// The watch named `name`.
    pub fn watch(&self, name: &str) -> Option<&Arc<Watch>> {
        self.watches.iter().find(|w| w.name == name)
    }

    /// Where the history is kept: the `[store]` database, or
    /// `chancery.db` in the state dir.
    pub fn store_location(&self) -> crate::store::Location {
        match &self.store {
            Some(store) => crate::store::Location::Postgres {
                url: store.url.clone(),
                password: store.password.clone(),
            },
            None => crate::store::Location::in_state_dir(&self.daemon.state_dir),
        }
    }
}

#[cfg(test)]
mod tests;
