//! The watch list: one TOML file parsed once into a validated [`Config`].
//!
//! Everything later stages need is checked here (URLs, durations, sizes,
//! selectors, regexes, unique names), so no other module re-validates. Every
//! error names the file, the line and the key, because one edit should fix it.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use regex::Regex;

use crate::follow::{FollowSpec, Hosts};
use crate::normalize::{Content, Filters, compile_selector};

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
    pub watches: Vec<Watch>,
    /// The mail server, if any subscriber has `email`.
    pub smtp: Option<Smtp>,
    /// Who gets alerts, in file order; names are unique.
    pub subscribers: Vec<Subscriber>,
}

/// A secret (SMTP password, webhook key) read from the environment or a
/// file. Its `Debug` and `Display` never show the value, so it cannot leak
/// into logs or error messages by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Wraps a value (tests and `notify test`).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How to reach the SMTP server (`[smtp]`).
#[derive(Debug, Clone)]
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

    /// What a subscriber gets when it names no `events`: every event but
    /// `published` (a busy press room publishes daily; opt in to it).
    pub const DEFAULT: [Event; 7] = [
        Event::Edited,
        Event::Removed,
        Event::Restored,
        Event::Flapping,
        Event::Failing,
        Event::Recovered,
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
#[derive(Debug, Clone)]
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
    /// this window is flapping, not an edit.
    pub flap_window: Duration,
    /// What watches keep of a page unless they say otherwise.
    pub content: Content,
}

impl Daemon {
    /// The politeness limits the scheduler enforces.
    pub fn politeness(&self) -> crate::schedule::Politeness {
        crate::schedule::Politeness {
            concurrency: self.concurrency,
            per_host_concurrency: self.per_host_concurrency,
            per_host_delay: self.per_host_delay,
        }
    }
}

/// One page to monitor (`[[watch]]`).
#[derive(Debug, Clone)]
pub struct Watch {
    /// Unique, `[a-z0-9._-]+`: the key in the database and on the CLI.
    pub name: String,
    pub url: Url,
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Whether to read secrets (SMTP password, webhook keys) while loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// Read them; a missing variable or file is a config error. For
    /// commands that send alerts.
    Read,
    /// Leave them unread (as `None`). For commands that only read the
    /// history, so `history` works without the daemon's environment.
    Skip,
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
    parse_with(path, &text, state_directory_env().as_deref(), secrets)
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
    let invalid = |problems| ConfigError::Invalid {
        path: path.to_owned(),
        problems,
    };
    let raw = deserialize(text).map_err(|p| invalid(vec![p]))?;
    let mut problems = Vec::new();
    let config = validate(path, text, raw, state_directory, &mut problems, secrets);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(invalid(problems))
    }
}

fn deserialize(text: &str) -> Result<RawConfig, Problem> {
    let located = |span: Option<Range<usize>>, key: String, message: String| {
        let (line, column) = span.map_or((1, 1), |s| line_col(text, s.start));
        Problem {
            line,
            column,
            key,
            message,
        }
    };
    let de = toml::Deserializer::parse(text)
        .map_err(|e| located(e.span(), String::new(), e.message().trim().to_owned()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        let inner = e.into_inner();
        located(inner.span(), key, inner.message().trim().to_owned())
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    watch: Vec<RawWatch>,
    smtp: Option<Spanned<RawSmtp>>,
    #[serde(default)]
    subscriber: Vec<RawSubscriber>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    port: Option<u16>,
    tls: Option<SmtpTls>,
    username: Option<String>,
    password_env: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    from: Spanned<String>,
    #[serde(default, deserialize_with = "de_duration")]
    timeout: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscriber {
    name: Spanned<String>,
    #[serde(default)]
    email: Vec<Spanned<String>>,
    webhook: Option<Spanned<String>>,
    secret_env: Option<Spanned<String>>,
    secret_file: Option<Spanned<String>>,
    events: Option<Vec<Event>>,
    min_change: Option<Spanned<f64>>,
    #[serde(default, rename = "match")]
    patterns: Vec<Spanned<String>>,
    changes: Option<Changes>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    state_dir: Option<String>,
    user_agent: Option<String>,
    #[serde(default, deserialize_with = "de_duration")]
    timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_size")]
    max_body: Option<u64>,
    max_redirects: Option<Spanned<i64>>,
    #[serde(default, deserialize_with = "de_duration")]
    default_interval: Option<Duration>,
    concurrency: Option<Spanned<i64>>,
    per_host_concurrency: Option<Spanned<i64>>,
    #[serde(default, deserialize_with = "de_duration")]
    per_host_delay: Option<Duration>,
    respect_robots: Option<bool>,
    #[serde(default, deserialize_with = "de_duration")]
    alert_retry: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    alert_max_age: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    confirm_delay: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    failing_after: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    flap_window: Option<Duration>,
    content: Option<Content>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    name: Spanned<String>,
    url: Spanned<String>,
    #[serde(default, deserialize_with = "de_duration")]
    interval: Option<Duration>,
    #[serde(default)]
    select: Vec<Spanned<String>>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    #[serde(default)]
    ignore: Vec<Spanned<String>>,
    #[serde(default)]
    notify: Vec<Spanned<String>>,
    #[serde(default, deserialize_with = "de_duration")]
    confirm_delay: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    failing_after: Option<Duration>,
    follow: Option<Spanned<RawFollow>>,
    #[serde(default, deserialize_with = "de_duration")]
    child_interval: Option<Duration>,
    content: Option<Content>,
}

/// `follow = { links = "css", same_host = true, max = 200, pages = 1,
/// next = "css" }` or `follow = { feed = true }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFollow {
    links: Option<Spanned<String>>,
    feed: Option<bool>,
    same_host: Option<bool>,
    max: Option<Spanned<i64>>,
    pages: Option<Spanned<i64>>,
    next: Option<Spanned<String>>,
}

/// A humane duration: `90s`, `15m`, `1h 30m`, `2d`.
fn de_duration<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(de)?;
    humantime::parse_duration(s.trim()).map(Some).map_err(|e| {
        serde::de::Error::custom(format!(
            "{s:?} is not a duration ({e}); use e.g. \"30s\", \"15m\", \"2h\", \"1d\""
        ))
    })
}

/// A humane size: `10MiB`, `512KiB`, `2MB` (MB = 10^6, MiB = 2^20).
fn de_size<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
    let s = String::deserialize(de)?;
    s.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| Some(b.as_u64()))
        .map_err(|e| {
            serde::de::Error::custom(format!("{s:?} is not a size ({e}); use e.g. \"10MiB\""))
        })
}

const DEFAULT_USER_AGENT: &str = concat!(
    "chancery/",
    env!("CARGO_PKG_VERSION"),
    " (+https://example.invalid/chancery)"
);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
const DEFAULT_MAX_REDIRECTS: usize = 10;
const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);
const DEFAULT_CONCURRENCY: usize = 16;
const DEFAULT_PER_HOST_CONCURRENCY: usize = 2;
const DEFAULT_PER_HOST_DELAY: Duration = Duration::from_secs(1);
const DEFAULT_CONFIRM_DELAY: Duration = Duration::from_secs(60);
const DEFAULT_FAILING_AFTER: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_FLAP_WINDOW: Duration = Duration::from_secs(24 * 3600);

struct Validator<'a> {
    text: &'a str,
    problems: &'a mut Vec<Problem>,
    secrets: Secrets,
}

impl Validator<'_> {
    fn report<T>(&mut self, at: &Spanned<T>, key: String, message: impl fmt::Display) {
        let (line, column) = line_col(self.text, at.span().start);
        self.problems.push(Problem {
            line,
            column,
            key,
            message: message.to_string(),
        });
    }

    fn count(
        &mut self,
        value: &Option<Spanned<i64>>,
        key: &str,
        default: usize,
        min: i64,
    ) -> usize {
        match value {
            None => default,
            Some(v) => match usize::try_from(*v.get_ref()) {
                Ok(n) if *v.get_ref() >= min => n,
                _ => {
                    self.report(
                        v,
                        format!("daemon.{key}"),
                        format!("must be a whole number of at least {min}"),
                    );
                    default
                }
            },
        }
    }
}

fn validate(
    path: &Path,
    text: &str,
    raw: RawConfig,
    state_directory: Option<&Path>,
    problems: &mut Vec<Problem>,
    secrets: Secrets,
) -> Config {
    let mut v = Validator {
        text,
        problems,
        secrets,
    };
    let d = raw.daemon;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let state_dir = match d.state_dir {
        Some(dir) => base_dir.join(dir),
        None => state_directory.map_or_else(|| PathBuf::from("chancery-state"), Path::to_owned),
    };
    let daemon = Daemon {
        state_dir,
        user_agent: d
            .user_agent
            .unwrap_or_else(|| DEFAULT_USER_AGENT.to_owned()),
        timeout: d.timeout.unwrap_or(DEFAULT_TIMEOUT),
        max_body_bytes: d.max_body.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        max_redirects: v.count(&d.max_redirects, "max_redirects", DEFAULT_MAX_REDIRECTS, 0),
        default_interval: d.default_interval.unwrap_or(DEFAULT_INTERVAL),
        concurrency: v.count(&d.concurrency, "concurrency", DEFAULT_CONCURRENCY, 1),
        per_host_concurrency: v.count(
            &d.per_host_concurrency,
            "per_host_concurrency",
            DEFAULT_PER_HOST_CONCURRENCY,
            1,
        ),
        per_host_delay: d.per_host_delay.unwrap_or(DEFAULT_PER_HOST_DELAY),
        respect_robots: d.respect_robots.unwrap_or(false),
        alert_retry: d.alert_retry.unwrap_or(Duration::from_secs(30)),
        alert_max_age: d
            .alert_max_age
            .unwrap_or(Duration::from_secs(3 * 24 * 3600)),
        confirm_delay: d.confirm_delay.unwrap_or(DEFAULT_CONFIRM_DELAY),
        failing_after: d.failing_after.unwrap_or(DEFAULT_FAILING_AFTER),
        flap_window: d.flap_window.unwrap_or(DEFAULT_FLAP_WINDOW),
        content: d.content.unwrap_or_default(),
    };

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut watches = Vec::with_capacity(raw.watch.len());
    let notify_spans: Vec<Vec<Spanned<String>>> =
        raw.watch.iter().map(|w| w.notify.clone()).collect();
    // Watch lists repeat the same filters across hundreds of watches:
    // compile each distinct one once (compiled regexes share their program).
    let mut regex_cache: HashMap<String, Arc<Regex>> = HashMap::new();
    let mut selector_cache: HashMap<String, Arc<scraper::Selector>> = HashMap::new();
    for (i, w) in raw.watch.into_iter().enumerate() {
        let name = w.name.get_ref().clone();
        let key = |field: &str| format!("watch[{i}].{field}");
        if !valid_name(&name) {
            v.report(
                &w.name,
                key("name"),
                format!(
                    "{name:?} is not a valid name: use lowercase letters, digits, '.', '_' and '-'"
                ),
            );
        } else if let Some(first) = seen.insert(name.clone(), i) {
            v.report(
                &w.name,
                key("name"),
                format!("duplicate watch name {name:?} (first used by watch[{first}])"),
            );
        }
        let url = match Url::parse(w.url.get_ref()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            Ok(u) => {
                v.report(
                    &w.url,
                    key("url"),
                    format!(
                        "{:?} is not an http or https URL (scheme {:?})",
                        w.url.get_ref(),
                        u.scheme()
                    ),
                );
                None
            }
            Err(e) => {
                v.report(
                    &w.url,
                    key("url"),
                    format!("{:?} is not a valid URL: {e}", w.url.get_ref()),
                );
                None
            }
        };
        let strings =
            |list: &[Spanned<String>]| list.iter().map(|s| s.get_ref().clone()).collect::<Vec<_>>();
        let mut selectors = |field: &str, list: &[Spanned<String>]| {
            let mut compiled = Vec::with_capacity(list.len());
            for (j, css) in list.iter().enumerate() {
                let cached = selector_cache.get(css.get_ref()).cloned();
                match cached.map_or_else(|| compile_selector(css.get_ref()).map(Arc::new), Ok) {
                    Ok(sel) => {
                        selector_cache.insert(css.get_ref().clone(), sel.clone());
                        compiled.push(sel);
                    }
                    Err(e) => v.report(
                        css,
                        key(&format!("{field}[{j}]")),
                        format!("invalid CSS selector {:?}: {e}", css.get_ref()),
                    ),
                }
            }
            compiled
        };
        let select_compiled = selectors("select", &w.select);
        let exclude_compiled = selectors("exclude", &w.exclude);
        let mut ignore_compiled = Vec::with_capacity(w.ignore.len());
        for (j, pattern) in w.ignore.iter().enumerate() {
            let cached = regex_cache.get(pattern.get_ref()).cloned();
            match cached.map_or_else(|| Regex::new(pattern.get_ref()).map(Arc::new), Ok) {
                Ok(re) => {
                    regex_cache.insert(pattern.get_ref().clone(), re.clone());
                    ignore_compiled.push(re);
                }
                Err(e) => v.report(
                    pattern,
                    key(&format!("ignore[{j}]")),
                    format!("invalid regex {:?}: {e}", pattern.get_ref()),
                ),
            }
        }
        let filters = Filters {
            select: select_compiled,
            exclude: exclude_compiled,
            ignore: ignore_compiled,
            content: w.content.unwrap_or(daemon.content),
        };
        let (select, exclude, ignore) =
            (strings(&w.select), strings(&w.exclude), strings(&w.ignore));
        for n in &w.notify {
            if n.get_ref().trim().is_empty() {
                v.report(n, key("notify"), "subscriber names cannot be empty");
            }
        }
        let follow = w
            .follow
            .as_ref()
            .and_then(|f| validate_follow(&mut v, &key("follow"), f));
        let interval = w.interval.unwrap_or(daemon.default_interval);
        if let Some(url) = url {
            watches.push(Watch {
                name,
                url,
                interval,
                select,
                exclude,
                ignore,
                filters,
                notify: strings(&w.notify),
                confirm_delay: w.confirm_delay.unwrap_or(daemon.confirm_delay),
                failing_after: w.failing_after.unwrap_or(daemon.failing_after),
                follow,
                child_interval: w.child_interval.unwrap_or(interval * 4),
                parent: None,
            });
        }
    }
    let smtp = raw.smtp.map(|smtp| validate_smtp(&mut v, base_dir, smtp));
    let subscribers = validate_subscribers(&mut v, base_dir, raw.subscriber, smtp.is_some());
    for (i, spans) in notify_spans.iter().enumerate() {
        for (j, n) in spans.iter().enumerate() {
            if !n.get_ref().trim().is_empty() && !subscribers.iter().any(|s| &s.name == n.get_ref())
            {
                v.report(
                    n,
                    format!("watch[{i}].notify[{j}]"),
                    format!("no [[subscriber]] named {:?}", n.get_ref()),
                );
            }
        }
    }
    Config {
        path: path.to_owned(),
        daemon,
        watches,
        smtp,
        subscribers,
    }
}

/// Compiles `follow = { … }`; problems are reported at the key that has them.
fn validate_follow(
    v: &mut Validator<'_>,
    key: &str,
    raw: &Spanned<RawFollow>,
) -> Option<FollowSpec> {
    let f = raw.get_ref();
    let compile = |v: &mut Validator<'_>, css: &Spanned<String>, field: &str| match compile_selector(
        css.get_ref(),
    ) {
        Ok(sel) => Some(Arc::new(sel)),
        Err(e) => {
            v.report(
                css,
                format!("{key}.{field}"),
                format!("invalid CSS selector {:?}: {e}", css.get_ref()),
            );
            None
        }
    };
    let mut spec = match (&f.links, f.feed) {
        (Some(links), None | Some(false)) => FollowSpec::links(compile(v, links, "links")?),
        (None, Some(true)) => FollowSpec::feed(),
        (Some(links), Some(true)) => {
            v.report(
                links,
                format!("{key}.links"),
                "set links or feed = true, not both",
            );
            return None;
        }
        (None, _) => {
            v.report(
                raw,
                key.to_owned(),
                "needs links = \"CSS selector\" or feed = true",
            );
            return None;
        }
    };
    if let Some(same) = f.same_host {
        spec.hosts = if same { Hosts::Same } else { Hosts::Any };
    }
    if let Some(max) = &f.max {
        match usize::try_from(*max.get_ref()) {
            Ok(n) => spec.max = n,
            Err(_) => v.report(max, format!("{key}.max"), "must be a whole number ≥ 0"),
        }
    }
    if let Some(pages) = &f.pages {
        match usize::try_from(*pages.get_ref()) {
            Ok(n) if (1..=crate::follow::MAX_PAGES).contains(&n) => spec.pages = n,
            _ => v.report(
                pages,
                format!("{key}.pages"),
                format!("must be between 1 and {}", crate::follow::MAX_PAGES),
            ),
        }
    }
    if let Some(next) = &f.next {
        spec.next = Some(compile(v, next, "next")?);
    }
    Some(spec)
}

/// Reads a secret from `NAME_env` or `NAME_file`; errors name the key and
/// the variable or file, never the value.
fn secret(
    v: &mut Validator<'_>,
    base_dir: &Path,
    key: &str,
    env: Option<&Spanned<String>>,
    file: Option<&Spanned<String>>,
) -> Option<Secret> {
    match (env, file) {
        (Some(env), Some(_)) => {
            v.report(
                env,
                format!("{key}_env"),
                format!("set either {key}_env or {key}_file, not both"),
            );
            None
        }
        _ if v.secrets == Secrets::Skip => None,
        (Some(env), None) => match std::env::var(env.get_ref()) {
            Ok(value) if !value.is_empty() => Some(Secret(value)),
            _ => {
                v.report(
                    env,
                    format!("{key}_env"),
                    format!("environment variable {} is not set", env.get_ref()),
                );
                None
            }
        },
        (None, Some(file)) => {
            let path = base_dir.join(file.get_ref());
            match std::fs::read_to_string(&path) {
                Ok(value) => Some(Secret(value.trim_end_matches(['\r', '\n']).to_owned())),
                Err(e) => {
                    v.report(
                        file,
                        format!("{key}_file"),
                        format!("cannot read {}: {e}", path.display()),
                    );
                    None
                }
            }
        }
        (None, None) => None,
    }
}

fn validate_smtp(v: &mut Validator<'_>, base_dir: &Path, raw: Spanned<RawSmtp>) -> Smtp {
    let at = raw.span();
    let raw = raw.into_inner();
    let tls = raw.tls.unwrap_or(SmtpTls::Starttls);
    let password = secret(
        v,
        base_dir,
        "smtp.password",
        raw.password_env.as_ref(),
        raw.password_file.as_ref(),
    );
    if password.is_some() && raw.username.is_none() {
        let spanned = Spanned::new(at.clone(), ());
        v.report(
            &spanned,
            "smtp.username".to_owned(),
            "a password needs a username",
        );
    }
    if !raw.from.get_ref().contains('@') {
        v.report(
            &raw.from,
            "smtp.from".to_owned(),
            format!(
                "{:?} is not a mailbox like \"Chancery <alerts@example.org>\"",
                raw.from.get_ref()
            ),
        );
    }
    Smtp {
        host: raw.host,
        port: raw.port.unwrap_or(match tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        }),
        tls,
        username: raw.username,
        password,
        from: raw.from.into_inner(),
        timeout: raw.timeout.unwrap_or(Duration::from_secs(30)),
    }
}

fn validate_subscribers(
    v: &mut Validator<'_>,
    base_dir: &Path,
    raw: Vec<RawSubscriber>,
    have_smtp: bool,
) -> Vec<Subscriber> {
    let mut out: Vec<Subscriber> = Vec::with_capacity(raw.len());
    for (i, s) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("subscriber[{i}].{field}");
        let name = s.name.get_ref().clone();
        if !valid_name(&name) {
            v.report(
                &s.name,
                key("name"),
                format!(
                    "{name:?} is not a valid name: use lowercase letters, digits, '.', '_' and '-'"
                ),
            );
        } else if out.iter().any(|o| o.name == name) {
            v.report(
                &s.name,
                key("name"),
                format!("duplicate subscriber name {name:?}"),
            );
        }
        let channel = match (s.email.is_empty(), &s.webhook) {
            (false, Some(hook)) => {
                v.report(
                    hook,
                    key("webhook"),
                    "a subscriber has email or webhook, not both: define two subscribers",
                );
                None
            }
            (false, None) => {
                for (j, addr) in s.email.iter().enumerate() {
                    let a = addr.get_ref();
                    if a.parse::<lettre::Address>().is_err() {
                        v.report(
                            addr,
                            key(&format!("email[{j}]")),
                            format!("{a:?} is not an email address"),
                        );
                    }
                }
                if !have_smtp {
                    v.report(&s.name, key("email"), "email needs an [smtp] table");
                }
                Some(Channel::Email(
                    s.email.iter().map(|e| e.get_ref().clone()).collect(),
                ))
            }
            (true, Some(hook)) => match Url::parse(hook.get_ref()) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {
                    let secret = secret(
                        v,
                        base_dir,
                        &key("secret"),
                        s.secret_env.as_ref(),
                        s.secret_file.as_ref(),
                    );
                    Some(Channel::Webhook { url, secret })
                }
                _ => {
                    v.report(
                        hook,
                        key("webhook"),
                        format!("{:?} is not an http or https URL", hook.get_ref()),
                    );
                    None
                }
            },
            (true, None) => {
                v.report(&s.name, key("name"), "a subscriber needs email or webhook");
                None
            }
        };
        if s.webhook.is_none()
            && let Some(at) = s.secret_env.as_ref().or(s.secret_file.as_ref())
        {
            v.report(at, key("secret_env"), "a secret is only used with webhook");
        }
        let min_change = match &s.min_change {
            Some(m) if !(0.0..=1.0).contains(m.get_ref()) => {
                v.report(
                    m,
                    key("min_change"),
                    "must be between 0.0 and 1.0 (a share of the text)",
                );
                0.0
            }
            Some(m) => *m.get_ref(),
            None => 0.0,
        };
        let mut patterns = Vec::with_capacity(s.patterns.len());
        for (j, pattern) in s.patterns.iter().enumerate() {
            match Regex::new(pattern.get_ref()) {
                Ok(re) => patterns.push(Arc::new(re)),
                Err(e) => v.report(
                    pattern,
                    key(&format!("match[{j}]")),
                    format!("invalid regex {:?}: {e}", pattern.get_ref()),
                ),
            }
        }
        if let Some(channel) = channel {
            out.push(Subscriber {
                name,
                channel,
                events: s.events.unwrap_or_else(|| Event::DEFAULT.to_vec()),
                min_change,
                patterns,
                changes: s.changes.unwrap_or_default(),
            });
        }
    }
    out
}

/// `[a-z0-9._-]+`, not starting with a dot (names become CLI arguments).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
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
        let mut canonical = String::new();
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
    /// The watch named `name`.
    pub fn watch(&self, name: &str) -> Option<&Watch> {
        self.watches.iter().find(|w| w.name == name)
    }

    /// The database file inside the state dir.
    pub fn database_path(&self) -> PathBuf {
        self.daemon.state_dir.join("chancery.db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(Path::new("conf/test.toml"), text, None)
    }

    fn problems(text: &str) -> Vec<Problem> {
        match parse_str(text) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("config was accepted:\n{text}"),
        }
    }

    const GOOD: &str = r##"
[daemon]
state_dir = "state"
user_agent = "chancery-test"
timeout = "20s"
max_body = "2MiB"
default_interval = "1h"

[[watch]]
name = "uk-embassy.remarks_1"
url = "https://example.gov/eng/remarks/"
interval = "10m"
select = ["#content"]
exclude = [".share", "nav"]
ignore = ['Visits: \d+']
notify = ["desk"]

[[watch]]
name = "mfa"
url = "http://example.org/"

[[subscriber]]
name = "desk"
webhook = "https://hooks.example.org/chancery"
"##;

    #[test]
    fn full_config_parses_with_units() {
        let c = parse_str(GOOD).expect("valid");
        assert_eq!(c.daemon.state_dir, Path::new("conf/state"));
        assert_eq!(c.daemon.timeout, Duration::from_secs(20));
        assert_eq!(c.daemon.max_body_bytes, 2 * 1024 * 1024);
        assert_eq!(c.watches.len(), 2);
        let w = &c.watches[0];
        assert_eq!(w.interval, Duration::from_secs(600));
        assert_eq!(w.filters.select.len(), 1);
        assert_eq!(w.filters.exclude.len(), 2);
        assert_eq!(w.filters.ignore.len(), 1);
        assert_eq!(w.notify, vec!["desk".to_owned()]);
        assert_eq!(
            c.watches[1].interval,
            Duration::from_secs(3600),
            "default_interval applies"
        );
    }

    #[test]
    fn defaults_and_state_directory_env() {
        let c = parse(
            Path::new("x.toml"),
            "",
            Some(Path::new("/var/lib/chancery")),
        )
        .expect("empty is valid");
        assert_eq!(c.daemon.state_dir, Path::new("/var/lib/chancery"));
        assert_eq!(c.daemon.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(c.daemon.default_interval, DEFAULT_INTERVAL);
        let c = parse(Path::new("x.toml"), "", None).expect("empty is valid");
        assert_eq!(c.daemon.state_dir, Path::new("chancery-state"));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let p = problems(
            "[daemon]\ntimeout = \"5s\"\n\n[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\nintervall = \"5m\"\n",
        );
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, 7);
        assert!(p[0].key.starts_with("watch[0]"), "{:?}", p[0]);
        assert!(p[0].message.contains("intervall"), "{:?}", p[0]);
    }

    #[test]
    fn bad_duration_names_line_and_key() {
        let p =
            problems("[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\ninterval = \"5x\"\n");
        assert_eq!((p[0].line, p[0].key.as_str()), (4, "watch[0].interval"));
        assert!(
            p[0].message.contains("\"5x\" is not a duration"),
            "{:?}",
            p[0]
        );
    }

    #[test]
    fn bad_size_names_key() {
        let p = problems("[daemon]\nmax_body = \"lots\"\n");
        assert_eq!((p[0].line, p[0].key.as_str()), (2, "daemon.max_body"));
    }

    #[test]
    fn duplicate_names_bad_urls_regexes_selectors_all_reported() {
        let text = r#"
[[watch]]
name = "a"
url = "https://a.example/"

[[watch]]
name = "a"
url = "ftp://a.example/"

[[watch]]
name = "Bad Name"
url = "not a url"
ignore = ["ok", "(unclosed"]
select = ["div[["]
"#;
        let p = problems(text);
        let summary: Vec<(usize, &str)> = p.iter().map(|p| (p.line, p.key.as_str())).collect();
        assert!(summary.contains(&(7, "watch[1].name")), "{summary:?}");
        assert!(summary.contains(&(8, "watch[1].url")), "{summary:?}");
        assert!(summary.contains(&(11, "watch[2].name")), "{summary:?}");
        assert!(summary.contains(&(12, "watch[2].url")), "{summary:?}");
        assert!(summary.contains(&(14, "watch[2].select[0]")), "{summary:?}");
        let dup = p
            .iter()
            .find(|p| p.key == "watch[1].name")
            .expect("dup reported");
        assert!(dup.message.contains("duplicate"), "{dup:?}");
    }

    #[test]
    fn bad_regex_points_at_the_element() {
        let p = problems(
            "[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\nignore = [\n  \"ok\",\n  \"(unclosed\",\n]\n",
        );
        assert_eq!((p[0].line, p[0].key.as_str()), (6, "watch[0].ignore[1]"));
    }

    #[test]
    fn bad_exclude_selector_is_attributed_to_exclude() {
        let p = problems(
            "[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\nselect = [\"p\"]\nexclude = [\"nav\", \"::\"]\n",
        );
        assert_eq!((p[0].line, p[0].key.as_str()), (5, "watch[0].exclude[1]"));
    }

    #[test]
    fn syntax_error_has_a_line() {
        let p = problems("[daemon\n");
        assert_eq!(p[0].line, 1);
        let err =
            parse_str("[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\ninterval = \"5x\"\n")
                .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("conf/test.toml:4:"), "{msg}");
        assert!(msg.contains("watch[0].interval"), "{msg}");
    }

    #[test]
    fn notification_config_and_its_errors() {
        let text = r#"
[smtp]
host = "smtp.example.org"
tls = "starttls"
username = "alerts@example.org"
password_file = "no-such-password-file"
from = "Chancery <alerts@example.org>"

[[subscriber]]
name = "desk"
email = ["desk@example.org", "not-an-address"]
events = ["edited", "removed"]
min_change = 0.05

[[subscriber]]
name = "hook"
webhook = "https://hooks.example.org/chancery"
secret_env = "CHANCERY_TEST_SURELY_UNSET_VARIABLE"

[[watch]]
name = "a"
url = "https://a.example/"
notify = ["desk", "nobody"]
"#;
        let p = problems(text);
        let keys: Vec<(usize, &str)> = p.iter().map(|p| (p.line, p.key.as_str())).collect();
        assert!(keys.contains(&(6, "smtp.password_file")), "{p:?}");
        assert!(keys.contains(&(11, "subscriber[0].email[1]")), "{p:?}");
        assert!(keys.contains(&(18, "subscriber[1].secret_env")), "{p:?}");
        assert!(keys.contains(&(23, "watch[0].notify[1]")), "{p:?}");
        let unset = p
            .iter()
            .find(|p| p.key == "subscriber[1].secret_env")
            .expect("reported");
        assert!(
            unset
                .message
                .contains("CHANCERY_TEST_SURELY_UNSET_VARIABLE is not set"),
            "{unset:?}"
        );

        let p = problems("[[subscriber]]\nname = \"desk\"\nemail = [\"desk@example.org\"]\n");
        assert_eq!(
            (p[0].line, p[0].key.as_str()),
            (2, "subscriber[0].email"),
            "{p:?}"
        );
        assert!(p[0].message.contains("[smtp]"), "{p:?}");
    }

    #[test]
    fn secrets_come_from_files_and_never_print() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("smtp.pw"), "hunter2-secret\n").expect("write");
        let text = "[smtp]\nhost = \"h\"\nusername = \"u\"\npassword_file = \"smtp.pw\"\nfrom = \"a@b.example\"\n";
        let c = parse(&dir.path().join("c.toml"), text, None).expect("valid");
        let smtp = c.smtp.expect("smtp");
        assert_eq!(smtp.port, 587, "starttls by default");
        assert!(!format!("{smtp:?}").contains("hunter2"));
        let password = smtp.password.expect("password");
        assert_eq!(password.expose(), "hunter2-secret");
        assert_eq!(password.to_string(), "***");
    }

    #[test]
    fn subscriber_filters() {
        let c = parse_str(GOOD).expect("valid");
        let desk = &c.subscribers[0];
        assert!(desk.wants(Event::Edited, 0.0));
        let picky = Subscriber {
            events: vec![Event::Edited],
            min_change: 0.1,
            ..desk.clone()
        };
        assert!(!picky.wants(Event::Edited, 0.05));
        assert!(picky.wants(Event::Edited, 0.2));
        assert!(!picky.wants(Event::Removed, 1.0));
    }

    #[test]
    fn triggers_confirm_and_health_keys() {
        let text = r#"
[daemon]
confirm_delay = "0s"
failing_after = "6h"
flap_window = "2h"

[[watch]]
name = "a"
url = "https://a.example/"
notify = ["hook"]
confirm_delay = "2m"

[[watch]]
name = "b"
url = "https://b.example/"

[[subscriber]]
name = "hook"
webhook = "https://hooks.example.org/"
match = ["Taiwan", "台湾"]
changes = "additions"
"#;
        let c = parse_str(text).expect("valid");
        assert_eq!(c.daemon.content, Content::Auto, "auto by default");
        let c2 = parse_str(
            &text
                .replace("[daemon]\n", "[daemon]\ncontent = \"full\"\n")
                .replace(
                    "confirm_delay = \"2m\"",
                    "confirm_delay = \"2m\"\ncontent = \"auto\"",
                ),
        )
        .expect("valid");
        assert_eq!(c2.watches[0].filters.content, Content::Auto);
        assert_eq!(
            c2.watches[1].filters.content,
            Content::Full,
            "daemon default"
        );
        assert_ne!(
            c2.watches[0].filters_sha256(),
            c2.watches[1].filters_sha256(),
            "the content mode is part of the fingerprint"
        );
        assert_eq!(c.daemon.flap_window, Duration::from_secs(7200));
        assert_eq!(c.watches[0].confirm_delay, Duration::from_secs(120));
        assert_eq!(c.watches[1].confirm_delay, Duration::ZERO);
        assert_eq!(c.watches[1].failing_after, Duration::from_secs(6 * 3600));
        let hook = &c.subscribers[0];
        assert_eq!(
            hook.events,
            Event::DEFAULT,
            "default: every event but published"
        );
        assert_eq!(hook.changes, Changes::Additions);
        // Only added lines count, and one of them must match.
        assert!(hook.triggered_by(&["Remarks on 台湾 affairs"], &[]));
        assert!(!hook.triggered_by(&["Remarks on trade"], &["Taiwan"]));
        assert!(!hook.triggered_by(&[], &["Taiwan"]));
        let any = Subscriber {
            patterns: Vec::new(),
            changes: Changes::Any,
            ..hook.clone()
        };
        assert!(any.triggered_by(&[], &["anything"]));
        assert!(
            !any.triggered_by(&[], &[]),
            "no changed line, nothing to alert"
        );

        let p = problems(
            "[[subscriber]]\nname = \"h\"\nwebhook = \"https://h.example/\"\nmatch = [\"ok\", \"(\"]\nchanges = \"some\"\n",
        );
        assert_eq!(
            (p[0].line, p[0].key.as_str()),
            (5, "subscriber[0].changes"),
            "{p:?}"
        );
        let p = problems(
            "[[subscriber]]\nname = \"h\"\nwebhook = \"https://h.example/\"\nmatch = [\"ok\", \"(\"]\n",
        );
        assert_eq!(
            (p[0].line, p[0].key.as_str()),
            (4, "subscriber[0].match[1]"),
            "{p:?}"
        );
        let p = problems("[daemon]\nfailing_after = \"soon\"\n");
        assert_eq!(
            (p[0].line, p[0].key.as_str()),
            (2, "daemon.failing_after"),
            "{p:?}"
        );
    }

    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../config/chancery.example.toml");
        let c = parse(Path::new("config/chancery.example.toml"), text, None)
            .expect("example config must be valid");
        assert!(c.watches.len() >= 3);
    }
}
