//! Turns a fetched body into the statement's text: decode the charset, parse
//! HTML, keep what a reader sees (one line per heading, paragraph, list item
//! or table row), apply the watch's `select`/`exclude`/`ignore` filters,
//! Unicode NFC, collapse whitespace.
//!
//! Pure and deterministic: the same bytes and filters always give the same
//! text, so its SHA-256 is a sound change signal. `chancery extract` and
//! every check call [`normalize`]; nothing else turns pages into text.

pub mod charset;
mod sniff;

use regex::Regex;
use scraper::Selector;

/// A watch's compiled filters. Built once when the config is loaded.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Keep only the parts matching any of these (all of the page if empty).
    pub select: Vec<Selector>,
    /// Drop the parts matching any of these.
    pub exclude: Vec<Selector>,
    /// Remove text matching any of these before hashing.
    pub ignore: Vec<Regex>,
}

/// A filter that does not compile; `index` is its position in its list.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// A CSS selector in `select` or `exclude` is invalid.
    #[error("invalid CSS selector {selector:?}: {message}")]
    Selector {
        index: usize,
        selector: String,
        message: String,
    },
    /// A regex in `ignore` is invalid.
    #[error("invalid regex {pattern:?}: {message}")]
    Regex {
        index: usize,
        pattern: String,
        message: String,
    },
}

/// Compiles one CSS selector, with the parser's message on error.
pub fn compile_selector(css: &str) -> Result<Selector, String> {
    Selector::parse(css).map_err(|e| e.to_string())
}

impl Filters {
    /// Compiles the three lists from their config strings.
    pub fn new(select: &[String], exclude: &[String], ignore: &[String]) -> Result<Filters, FilterError> {
        let selectors = |list: &[String]| -> Result<Vec<Selector>, FilterError> {
            list.iter()
                .enumerate()
                .map(|(index, css)| {
                    compile_selector(css).map_err(|message| FilterError::Selector {
                        index,
                        selector: css.clone(),
                        message,
                    })
                })
                .collect()
        };
        let ignore = ignore
            .iter()
            .enumerate()
            .map(|(index, pattern)| {
                Regex::new(pattern).map_err(|e| FilterError::Regex {
                    index,
                    pattern: pattern.clone(),
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filters {
            select: selectors(select)?,
            exclude: selectors(exclude)?,
            ignore,
        })
    }
}

/// A body to normalize, with what the response said about it.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The body exactly as received (after transfer decompression).
    pub body: &'a [u8],
    /// The `Content-Type` header, if any (charset and media type come from it).
    pub content_type: Option<&'a str>,
    /// The final URL; its top-level domain is a hint for charset detection.
    pub url: Option<&'a url::Url>,
}

/// The statement's text and how it was decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// Lines separated by `\n`, no trailing newline, NFC, trimmed.
    pub text: String,
    /// The WHATWG name of the encoding used to decode the body, e.g. `GBK`.
    pub encoding: &'static str,
    /// The document title (`<title>`), whitespace-collapsed, if any.
    pub title: Option<String>,
}

/// A body that cannot be turned into text.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    /// Images, archives and other binary media.
    #[error("unsupported content type {content_type:?}")]
    Unsupported { content_type: String },
}

/// Normalizes a body under a watch's filters.
pub fn normalize(input: &Input<'_>, filters: &Filters) -> Result<Normalized, NormalizeError> {
    let _ = (input, filters);
    todo!("normalize::normalize")
}
