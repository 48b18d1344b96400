//! The config file's shape as serde reads it: every table and key, with
//! spans kept where validation reports problems later. Unknown keys are
//! errors (`deny_unknown_fields`), so a typo never silently does nothing.

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Changes, Event, Problem, SmtpTls};
use crate::normalize::Content;

/// Parses the text into the raw shape; the first syntax or type problem,
/// located.
pub(super) fn deserialize(text: &str) -> Result<RawConfig, Problem> {
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
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) daemon: RawDaemon,
    #[serde(default)]
    pub(super) watch: Vec<RawWatch>,
    pub(super) smtp: Option<Spanned<RawSmtp>>,
    #[serde(default)]
    pub(super) subscriber: Vec<RawSubscriber>,
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
    #[serde(default, deserialize_with = "de_duration")]
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
    pub(super) state_dir: Option<String>,
    pub(super) user_agent: Option<String>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_size")]
    pub(super) max_body: Option<u64>,
    pub(super) max_redirects: Option<Spanned<i64>>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) default_interval: Option<Duration>,
    pub(super) concurrency: Option<Spanned<i64>>,
    pub(super) per_host_concurrency: Option<Spanned<i64>>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) per_host_delay: Option<Duration>,
    pub(super) respect_robots: Option<bool>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) alert_retry: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) alert_max_age: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) confirm_delay: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) failing_after: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) flap_window: Option<Duration>,
    pub(super) flap_settle: Option<Spanned<i64>>,
    pub(super) content: Option<Content>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWatch {
    pub(super) name: Spanned<String>,
    pub(super) url: Spanned<String>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) interval: Option<Duration>,
    #[serde(default)]
    pub(super) select: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) exclude: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) ignore: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) notify: Vec<Spanned<String>>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) confirm_delay: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) failing_after: Option<Duration>,
    pub(super) flap_settle: Option<Spanned<i64>>,
    pub(super) follow: Option<Spanned<RawFollow>>,
    #[serde(default, deserialize_with = "de_duration")]
    pub(super) child_interval: Option<Duration>,
    pub(super) content: Option<Content>,
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
    pub fn top() -> &'static [&'static str] {
        fields::<super::RawConfig>()
    }
}
