//! The config file's shape as serde reads it: every table and key, with
//! spans kept where validation reports problems later. Unknown keys are
//! errors (`deny_unknown_fields`), so a typo never silently does nothing.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Changes, Event, Problem, SmtpTls};
use crate::normalize::Content;

/// How much TOML one piece holds (see [`super::pieces`]): a few thousand
/// watches, a few MB of parser state at a time.
pub(super) const PIECE_BYTES: usize = 256 * 1024;

/// Parses the text into the raw shape, finding every problem it can: all
/// syntax errors, and every key of a bad type or unknown name in every table
/// (each bad key is reported, then left out, and reading goes on). A watch
/// or subscriber that lacks a required key is reported and left out; the
/// others are still read, and [`RawConfig::watch_index`] keeps their
/// positions in the file.
///
/// A large file is read in pieces, each piece's tables read as soon as it
/// is parsed. Put back together they mean what the whole file means: only
/// arrays of tables (`[[watch]]`) may go on in a later piece; any other
/// key found in two pieces (a table extended by a dotted header further
/// down, say) sends the whole file through TOML's parser in one go.
pub(super) fn deserialize(
    text: &str,
    piece_bytes: usize,
    problems: &mut Vec<Problem>,
) -> Option<RawConfig> {
    let pieces = super::pieces::pieces(text, piece_bytes);
    let before = problems.len();
    match read_pieces(text, &pieces, problems) {
        Ok(raw) => raw,
        Err(Overlap) => {
            problems.truncate(before);
            read_pieces(text, &[super::pieces::Piece::whole(text)], problems).unwrap_or(None)
        }
    }
}

/// A key defined in two pieces where the whole file must judge it.
struct Overlap;

fn read_pieces(
    text: &str,
    pieces: &[super::pieces::Piece<'_>],
    problems: &mut Vec<Problem>,
) -> Result<Option<RawConfig>, Overlap> {
    let before = problems.len();
    let mut syntax = Vec::new();
    let mut reader = Reader { text, problems };
    let mut raw = RawConfig::default();
    // Each top-level key's first piece; the tables already counted in the
    // arrays, so `watch[i]` is the i-th `[[watch]]` of the whole file.
    let mut first_in: HashMap<String, usize> = HashMap::new();
    let (mut watches, mut subscribers) = (0, 0);
    for (p, piece) in pieces.iter().enumerate() {
        let offset = piece.range.start;
        let (document, errors) = DeTable::parse_recoverable(&text[piece.range.clone()]);
        for e in &errors {
            let span = e.span().map(|s| moved(s, offset));
            syntax.push(located(
                text,
                span,
                String::new(),
                e.message().trim().to_owned(),
            ));
        }
        if !syntax.is_empty() {
            // Only syntax errors are reported; later pieces are parsed for theirs.
            continue;
        }
        for (key, value) in document.into_inner() {
            let name = key.get_ref().as_ref();
            match first_in.get(name) {
                Some(&first)
                    if !(pieces[first].arrays.contains(&name) && piece.arrays.contains(&name)) =>
                {
                    return Err(Overlap);
                }
                Some(_) => {}
                None => {
                    first_in.insert(name.to_owned(), p);
                }
            }
            let key_span = moved(key.span(), offset);
            let value = shifted(value, offset);
            match name {
                "daemon" => {
                    if let Some(daemon) = reader.read("daemon", value) {
                        raw.daemon = daemon;
                    }
                }
                "smtp" => raw.smtp = reader.read("smtp", value),
                "watch" => reader.tables(
                    "watch",
                    value,
                    &mut watches,
                    &mut raw.watch,
                    &mut raw.watch_index,
                ),
                "retention" => raw.retention = reader.read("retention", value),
                "web" => raw.web = reader.read("web", value),
                "store" => raw.store = reader.read("store", value),
                "browser" => raw.browser = reader.read("browser", value),
                "subscriber" => reader.tables(
                    "subscriber",
                    value,
                    &mut subscribers,
                    &mut raw.subscriber,
                    &mut raw.subscriber_index,
                ),
                other => {
                    let message = unknown_key(
                        other,
                        &[
                            "daemon",
                            "smtp",
                            "watch",
                            "subscriber",
                            "retention",
                            "web",
                            "browser",
                            "store",
                        ],
                    );
                    reader.problem(Some(key_span), other.to_owned(), message);
                }
            }
        }
    }
    if syntax.is_empty() {
        Ok(Some(raw))
    } else {
        problems.truncate(before);
        problems.extend(syntax);
        Ok(None)
    }
}

/// `value` with its spans, and its keys', moved `by` bytes: a piece's
/// spans count from the piece's start, the problems' from the file's.
fn shifted<'i>(value: Spanned<DeValue<'i>>, by: usize) -> Spanned<DeValue<'i>> {
    if by == 0 {
        return value;
    }
    let span = value.span();
    let inner = match value.into_inner() {
        DeValue::Array(mut items) => {
            for item in items.iter_mut() {
                let taken = std::mem::replace(item, Spanned::new(0..0, DeValue::Boolean(false)));
                *item = shifted(taken, by);
            }
            DeValue::Array(items)
        }
        DeValue::Table(table) => DeValue::Table(
            table
                .into_iter()
                .map(|(k, v)| {
                    (
                        Spanned::new(moved(k.span(), by), k.into_inner()),
                        shifted(v, by),
                    )
                })
                .collect(),
        ),
        other => other,
    };
    Spanned::new(moved(span, by), inner)
}

/// `span` moved `by` bytes later in the text.
fn moved(span: Range<usize>, by: usize) -> Range<usize> {
    span.start + by..span.end + by
}

/// Reads tables into their raw shapes, collecting problems.
struct Reader<'t, 'p> {
    text: &'t str,
    problems: &'p mut Vec<Problem>,
}

/// The most bad keys one table reports before giving up on it.
const MAX_PROBLEMS_PER_TABLE: usize = 50;

impl Reader<'_, '_> {
    fn problem(&mut self, span: Option<Range<usize>>, key: String, message: String) {
        self.problems.push(located(self.text, span, key, message));
    }

    /// The items of an array of tables (`[[watch]]`), with their indices.
    fn array<'i>(
        &mut self,
        key: &str,
        value: Spanned<DeValue<'i>>,
    ) -> Vec<(usize, Spanned<DeValue<'i>>)> {
        let span = value.span();
        match value.into_inner() {
            DeValue::Array(items) => items.into_iter().enumerate().collect(),
            other => {
                let message = format!(
                    "must be an array of tables ([[{key}]]), not {}",
                    a(other.type_str())
                );
                self.problem(Some(span), key.to_owned(), message);
                Vec::new()
            }
        }
    }

    /// Reads the tables of an array of tables (`[[watch]]`) into `out`, and
    /// their positions in the whole file into `index`; `seen` counts the
    /// tables of this array that earlier pieces held.
    fn tables<T: for<'de> Deserialize<'de>>(
        &mut self,
        key: &str,
        value: Spanned<DeValue<'_>>,
        seen: &mut usize,
        out: &mut Vec<T>,
        index: &mut Vec<usize>,
    ) {
        let items = self.array(key, value);
        let base = *seen;
        *seen += items.len();
        for (i, item) in items {
            let i = base + i;
            if let Some(table) = self.read(&format!("{key}[{i}]"), item) {
                out.push(table);
                index.push(i);
            }
        }
    }

    /// Deserializes one table, reporting each bad key and reading on
    /// without it. `None` when the table itself cannot be read (a required
    /// key missing, or not a table).
    fn read<T: for<'de> Deserialize<'de>>(
        &mut self,
        prefix: &str,
        mut value: Spanned<DeValue<'_>>,
    ) -> Option<T> {
        // Keys of this table left out for a bad value: a required one then
        // reads as missing, which is the same mistake, said once.
        let mut dropped: Vec<String> = Vec::new();
        for _ in 0..MAX_PROBLEMS_PER_TABLE {
            let de = toml::de::ValueDeserializer::from(value.clone());
            let error = match serde_path_to_error::deserialize::<_, T>(de) {
                Ok(t) => return Some(t),
                Err(e) => e,
            };
            let path = user_path(error.path());
            let inner = error.into_inner();
            let message = plain(inner.message().trim());
            // An unknown key names itself in the message (and ends the
            // path): point at it, and read on without it.
            if let Some(unknown) = unknown_field(&message) {
                let table = match path.last() {
                    Some(last) if *last == unknown => &path[..path.len() - 1],
                    _ => &path[..],
                };
                let mut key = join(prefix, table);
                key = join(&key, std::slice::from_ref(&unknown));
                let (span, removed) = remove_key(&mut value, table, &unknown);
                let expected = expected_fields(&message);
                let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
                self.problem(span.or(inner.span()), key, unknown_key(&unknown, &expected));
                if !removed {
                    return None;
                }
                continue;
            }
            // Drop the nearest key on the path (a bad item in a list drops
            // the list, so later items keep their positions).
            let Some(cut) = path.iter().rposition(|s| !is_index(s)) else {
                // The table itself: a required key missing, or not a table.
                let span = Some(value.span());
                let message = match message
                    .strip_prefix("missing field `")
                    .and_then(|m| m.strip_suffix('`'))
                {
                    Some(field) if dropped.iter().any(|d| d == field) => return None,
                    Some(field) => format!("missing key {field:?}"),
                    None => message,
                };
                self.problem(span, prefix.to_owned(), message);
                return None;
            };
            let span = lookup(&mut value, &path).map(|v| v.span()).or(inner.span());
            if cut == 0 {
                dropped.push(path[0].clone());
            }
            let (key_span, removed) = remove_key(&mut value, &path[..cut], &path[cut]);
            self.problem(span.or(key_span), join(prefix, &path), message);
            if !removed {
                return None;
            }
        }
        None
    }
}

/// serde's message in the config's words: no Rust type names
/// (`expected struct RawFollow` → `expected a table`).
fn plain(message: &str) -> String {
    static RUST_TYPE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"expected (?:struct|enum) \w+").expect("a constant regex")
    });
    RUST_TYPE
        .replace_all(message, "expected a table")
        .replace("expected a sequence", "expected a list")
}

/// `an integer`, `a string`: a TOML type with its article.
fn a(type_str: &str) -> String {
    let article = if type_str.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {type_str}")
}

fn located(text: &str, span: Option<Range<usize>>, key: String, message: String) -> Problem {
    let (line, column) = span.map_or((1, 1), |s| line_col(text, s.start));
    Problem {
        line,
        column,
        key,
        message,
    }
}

/// The path serde reports, as the user wrote it: keys and `[index]`es,
/// without the wrappers that keep spans.
fn user_path(path: &serde_path_to_error::Path) -> Vec<String> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Map { key } if key.starts_with("$__serde_spanned") => None,
            Segment::Map { key } => Some(key.clone()),
            Segment::Seq { index } => Some(format!("[{index}]")),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect()
}

fn is_index(segment: &str) -> bool {
    segment.starts_with('[')
}

/// `watch[2]` + `[follow, links]` → `watch[2].follow.links`.
fn join(prefix: &str, path: &[String]) -> String {
    let mut out = prefix.to_owned();
    for segment in path {
        if !out.is_empty() && !is_index(segment) {
            out.push('.');
        }
        out.push_str(segment);
    }
    out
}

/// The value at `path` under `value`.
fn lookup<'a, 'i>(
    value: &'a mut Spanned<DeValue<'i>>,
    path: &[String],
) -> Option<&'a mut Spanned<DeValue<'i>>> {
    let mut here = value;
    for segment in path {
        here = match here.get_mut() {
            DeValue::Table(table) => table
                .iter_mut()
                .find(|(k, _)| k.get_ref().as_ref() == segment.as_str())
                .map(|(_, v)| v)?,
            DeValue::Array(items) => {
                let index: usize = segment.trim_matches(['[', ']']).parse().ok()?;
                items.get_mut(index)?
            }
            _ => return None,
        };
    }
    Some(here)
}

/// Removes `key` from the table at `path`: the key's span, and whether it
/// was there to remove.
fn remove_key(
    value: &mut Spanned<DeValue<'_>>,
    path: &[String],
    key: &str,
) -> (Option<Range<usize>>, bool) {
    let Some(here) = lookup(value, path) else {
        return (None, false);
    };
    let DeValue::Table(table) = here.get_mut() else {
        return (None, false);
    };
    let Some(found) = table.keys().find(|k| k.get_ref().as_ref() == key).cloned() else {
        return (None, false);
    };
    let span = found.span();
    table.remove(&found);
    (Some(span), true)
}

/// The key serde's `unknown field` message names.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_owned())
}

/// The keys serde's `unknown field` message lists as expected.
fn expected_fields(message: &str) -> Vec<String> {
    let Some((_, list)) = message.split_once("expected ") else {
        return Vec::new();
    };
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// `unknown key "selector" (did you mean "select"?)`.
fn unknown_key(key: &str, expected: &[&str]) -> String {
    match super::suggest::closest(key, expected) {
        Some(e) => format!("unknown key {key:?} (did you mean {e:?}?)"),
        None if expected.is_empty() => format!("unknown key {key:?}"),
        None => format!("unknown key {key:?}; known keys: {}", expected.join(", ")),
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) daemon: RawDaemon,
    #[serde(default)]
    pub(super) watch: Vec<RawWatch>,
    /// Each read watch's position among the file's `[[watch]]` tables
    /// (those that could not be read are left out of `watch`).
    #[serde(skip)]
    pub(super) watch_index: Vec<usize>,
    pub(super) smtp: Option<Spanned<RawSmtp>>,
    #[serde(default)]
    pub(super) subscriber: Vec<RawSubscriber>,
    /// Likewise for `[[subscriber]]`.
    #[serde(skip)]
    pub(super) subscriber_index: Vec<usize>,
    pub(super) retention: Option<RawRetention>,
    pub(super) web: Option<RawWeb>,
    pub(super) browser: Option<RawBrowser>,
    pub(super) store: Option<Spanned<RawStore>>,
}

/// `[store]`: a PostgreSQL database instead of the state dir's SQLite file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) url: Spanned<String>,
    #[serde(default, deserialize_with = "de_span")]
    pub(super) lease: Option<Duration>,
    pub(super) password_env: Option<Spanned<String>>,
    pub(super) password_file: Option<Spanned<String>>,
}

/// `[browser]`: the shared headless Chromium.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBrowser {
    pub(super) executable: Option<Spanned<String>>,
    pub(super) sandbox: Option<bool>,
    pub(super) max_tabs: Option<Spanned<i64>>,
    #[serde(default, deserialize_with = "de_timeout")]
    pub(super) timeout: Option<Duration>,
    pub(super) block: Option<Vec<crate::fetch::browser::Block>>,
    #[serde(default, deserialize_with = "de_browser_memory")]
    pub(super) memory_max: Option<u64>,
    #[serde(default, deserialize_with = "de_span")]
    pub(super) idle: Option<Duration>,
}

/// How a watch's page is read (`render`).
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawRender {
    Http,
    Browser,
}

/// `[web]`: the read-only web view (`chancery serve`, or the daemon).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWeb {
    pub(super) listen: Option<Spanned<String>>,
    pub(super) base_url: Option<Spanned<String>>,
    pub(super) token_file: Option<Spanned<String>>,
}

/// `[retention]`: what `chancery gc` may delete.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    /// Check rows older than this are deleted by `chancery gc`, except
    /// those a change or a snapshot refers to and each watch's latest.
    #[serde(default, deserialize_with = "de_span")]
    pub(super) checks: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmtp {
    pub(super) host: String,
    pub(super) port: Option<u16>,
    pub(super) tls: Option<SmtpTls>,
    pub(super) username: Option<String>,
    pub(super) password_env: Option<Spanned<String>>,
    pub(super) password_file: Option<Spanned<String>>,
    pub(super) from: Spanned<String>,
    #[serde(default, deserialize_with = "de_timeout")]
    pub(super) timeout: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSubscriber {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) email: Vec<Spanned<String>>,
    pub(super) webhook: Option<Spanned<String>>,
    pub(super) secret_env: Option<Spanned<String>>,
    pub(super) secret_file: Option<Spanned<String>>,
    pub(super) events: Option<Vec<Event>>,
    pub(super) min_change: Option<Spanned<f64>>,
    #[serde(default, rename = "match")]
    pub(super) patterns: Vec<Spanned<String>>,
    pub(super) changes: Option<Changes>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDaemon {
    pub(super) state_dir: Option<Spanned<String>>,
    pub(super) user_agent: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "de_timeout")]
    pub(super) timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_size")]
    pub(super) max_body: Option<u64>,
    #[serde(default, deserialize_with = "de_budget")]
    pub(super) memory_budget: Option<u64>,
    pub(super) max_redirects: Option<Spanned<i64>>,
    #[serde(default, deserialize_with = "de_interval")]
    pub(super) default_interval: Option<Duration>,
    pub(super) concurrency: Option<Spanned<i64>>,
    pub(super) per_host_concurrency: Option<Spanned<i64>>,
    #[serde(default, deserialize_with = "de_wait")]
    pub(super) per_host_delay: Option<Duration>,
    pub(super) respect_robots: Option<bool>,
    #[serde(default, deserialize_with = "de_span")]
    pub(super) alert_retry: Option<Duration>,
    #[serde(default, deserialize_with = "de_span")]
    pub(super) alert_max_age: Option<Duration>,
    #[serde(default, deserialize_with = "de_wait")]
    pub(super) confirm_delay: Option<Duration>,
    #[serde(default, deserialize_with = "de_span")]
    pub(super) failing_after: Option<Duration>,
    #[serde(default, deserialize_with = "de_span0")]
    pub(super) flap_window: Option<Duration>,
    #[serde(default, deserialize_with = "de_timeout")]
    pub(super) normalize_timeout: Option<Duration>,
    pub(super) flap_settle: Option<Spanned<i64>>,
    pub(super) content: Option<Content>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWatch {
    pub(super) name: Spanned<String>,
    pub(super) url: Spanned<String>,
    #[serde(default, deserialize_with = "de_interval")]
    pub(super) interval: Option<Duration>,
    #[serde(default)]
    pub(super) select: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) exclude: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) ignore: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) notify: Vec<Spanned<String>>,
    #[serde(default, deserialize_with = "de_wait")]
    pub(super) confirm_delay: Option<Duration>,
    #[serde(default, deserialize_with = "de_span")]
    pub(super) failing_after: Option<Duration>,
    pub(super) flap_settle: Option<Spanned<i64>>,
    pub(super) follow: Option<Spanned<RawFollow>>,
    #[serde(default, deserialize_with = "de_interval")]
    pub(super) child_interval: Option<Duration>,
    pub(super) content: Option<Content>,
    pub(super) render: Option<Spanned<RawRender>>,
    pub(super) wait_for: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "de_settle")]
    pub(super) settle: Option<Duration>,
}

/// `follow = { links = "css", same_host = true, max = 200, pages = 1,
/// next = "css" }` or `follow = { feed = true }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFollow {
    pub(super) links: Option<Spanned<String>>,
    pub(super) feed: Option<bool>,
    pub(super) same_host: Option<bool>,
    pub(super) max: Option<Spanned<i64>>,
    pub(super) pages: Option<Spanned<i64>>,
    pub(super) next: Option<Spanned<String>>,
}

/// A string, or an error saying which kind of `what` was expected (`e.g.`
/// an example) and what was found: `expected a duration in quotes, e.g.
/// "30s"; found integer 5`.
fn quoted<'de, D: serde::Deserializer<'de>>(
    de: D,
    what: &str,
    example: &str,
) -> Result<String, D::Error> {
    match toml::Value::deserialize(de)? {
        toml::Value::String(s) => Ok(s),
        other => Err(serde::de::Error::custom(format!(
            "expected a {what} in quotes, e.g. {example:?}; found {} {other}",
            other.type_str()
        ))),
    }
}

/// One day and one year, in seconds, for the ranges below.
const DAY: u64 = 86_400;
const YEAR: u64 = 365 * DAY;

/// A humane duration (`90s`, `15m`, `1h 30m`, `2d`) from `MIN` to `MAX`
/// seconds: a value outside is an error naming the range, so no setting
/// can overflow the arithmetic that uses it (an interval of 2^64 seconds).
fn de_duration_in<'de, D: serde::Deserializer<'de>, const MIN: u64, const MAX: u64>(
    de: D,
) -> Result<Option<Duration>, D::Error> {
    let s = quoted(de, "duration", "30s")?;
    let d = humantime::parse_duration(s.trim()).map_err(|_| {
        serde::de::Error::custom(format!(
            "{s:?} is not a duration; use e.g. \"30s\", \"15m\", \"2h\", \"1d\""
        ))
    })?;
    if d < Duration::from_secs(MIN) || d > Duration::from_secs(MAX) {
        return Err(serde::de::Error::custom(format!(
            "{s:?} is out of range: from {} to {}",
            seconds(MIN),
            seconds(MAX)
        )));
    }
    Ok(Some(d))
}

/// `30s`, `10m`, `1h`, `365d`: a range bound as a config would write it.
fn seconds(n: u64) -> String {
    match n {
        0 => "0s".to_owned(),
        n if n % DAY == 0 => format!("{}d", n / DAY),
        n if n % 3600 == 0 => format!("{}h", n / 3600),
        n if n % 60 == 0 => format!("{}m", n / 60),
        n => format!("{n}s"),
    }
}

/// How often a page is checked: 1 second to a year.
fn de_interval<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    de_duration_in::<D, 1, YEAR>(de)
}

/// A bound on one request or SMTP conversation: 1 second to 10 minutes.
fn de_timeout<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    de_duration_in::<D, 1, 600>(de)
}

/// A wait that may be zero: up to a day.
fn de_wait<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    de_duration_in::<D, 0, DAY>(de)
}

/// A span of history: 1 second to a year.
fn de_span<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    de_duration_in::<D, 1, YEAR>(de)
}

/// A span that may be zero (`flap_window = "0s"` turns flapping off): up
/// to a year.
fn de_span0<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    de_duration_in::<D, 0, YEAR>(de)
}

/// A pause for a rendered page's scripts: up to a minute.
fn de_settle<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    de_duration_in::<D, 0, 60>(de)
}

/// `[browser] memory_max`: from 64MiB to 64GiB.
fn de_browser_memory<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
    size_in(de, (64 << 20, "64MiB"), (64 << 30, "64GiB"), "1GiB")
}

/// A humane size (`10MiB`, `512KiB`, `2MB`; MB = 10^6, MiB = 2^20) from
/// 1 KiB to 1 GiB.
fn de_size<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
    size_in(de, (1 << 10, "1KiB"), (1 << 30, "1GiB"), "10MiB")
}

/// `memory_budget`: from 16MiB to 1TiB.
fn de_budget<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
    size_in(de, (16 << 20, "16MiB"), (1 << 40, "1TiB"), "256MiB")
}

/// A quoted size within `min..=max` (each with how the range error says it).
fn size_in<'de, D: serde::Deserializer<'de>>(
    de: D,
    (min, min_text): (u64, &str),
    (max, max_text): (u64, &str),
    example: &'static str,
) -> Result<Option<u64>, D::Error> {
    let s = quoted(de, "size", example)?;
    let n = s
        .trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| {
            serde::de::Error::custom(format!("{s:?} is not a size ({e}); use e.g. {example:?}"))
        })?;
    if !(min..=max).contains(&n) {
        return Err(serde::de::Error::custom(format!(
            "{s:?} is out of range: from {min_text} to {max_text}"
        )));
    }
    Ok(Some(n))
}

/// The keys of each table, as serde knows them: tests that must cover every
/// setting (reload applies all of them) compare their lists with these.
#[cfg(test)]
pub(crate) mod keys {
    use serde::de::{self, Deserializer, Visitor};

    /// The field names of `T`, a struct deserialized with `derive`.
    fn fields<T: for<'de> serde::Deserialize<'de>>() -> &'static [&'static str] {
        let mut found: &'static [&'static str] = &[];
        let _ = T::deserialize(Grab(&mut found));
        found
    }

    /// A deserializer that only records the fields a struct asks for.
    struct Grab<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Grab<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("fields recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    pub fn daemon() -> &'static [&'static str] {
        fields::<super::RawDaemon>()
    }
    pub fn watch() -> &'static [&'static str] {
        fields::<super::RawWatch>()
    }
    pub fn follow() -> &'static [&'static str] {
        fields::<super::RawFollow>()
    }
    pub fn subscriber() -> &'static [&'static str] {
        fields::<super::RawSubscriber>()
    }
    pub fn smtp() -> &'static [&'static str] {
        fields::<super::RawSmtp>()
    }
    pub fn web() -> &'static [&'static str] {
        fields::<super::RawWeb>()
    }
    pub fn browser() -> &'static [&'static str] {
        fields::<super::RawBrowser>()
    }
    pub fn store() -> &'static [&'static str] {
        fields::<super::RawStore>()
    }
    pub fn top() -> &'static [&'static str] {
        fields::<super::RawConfig>()
    }
}
