//! Turns a fetched body into the statement's text: decode the charset, parse
//! HTML, keep what a reader sees (one line per heading, paragraph, list item
//! or table row), apply the watch's `select`/`exclude`/`ignore` filters,
//! Unicode NFC, collapse whitespace.
//!
//! Pure and deterministic: the same bytes and filters always give the same
//! text, so its SHA-256 is a sound change signal. `chancery extract` and
//! every check call [`normalize`]; nothing else turns pages into text.

mod boilerplate;
pub mod charset;
pub(crate) mod depth;
mod dom;
mod extract;

pub use self::extract::is_cjk;
mod html;
mod pdf;
mod sniff;
mod text;

use std::sync::{Arc, LazyLock};

use icu_normalizer::ComposingNormalizerBorrowed;
use regex::Regex;
use scraper::Selector;

use self::html::Markup;
use self::sniff::Kind;
use self::text::Indent;

/// A watch's compiled filters. Built once when the config is loaded.
///
/// Shared behind `Arc`s: watch lists repeat the same filters across
/// thousands of watches, and a cloned `Regex` would carry its own match
/// cache (about 4 KB each, measured at 10,000 watches).
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Keep only the parts matching any of these (all of the page if empty).
    pub select: Vec<Arc<Selector>>,
    /// Drop the parts matching any of these.
    pub exclude: Vec<Arc<Selector>>,
    /// Remove text matching any of these before hashing.
    pub ignore: Vec<Arc<Regex>>,
    /// How much of an HTML page counts when `select` is empty.
    pub content: Content,
}

impl PartialEq for Filters {
    /// The same filters; regexes compare by their source text (a `Regex`
    /// has no equality of its own).
    fn eq(&self, other: &Filters) -> bool {
        self.select == other.select
            && self.exclude == other.exclude
            && same_regexes(&self.ignore, &other.ignore)
            && self.content == other.content
    }
}

/// Whether two lists of regexes have the same sources, in order.
pub fn same_regexes(a: &[Arc<Regex>], b: &[Arc<Regex>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.as_str() == y.as_str())
}

/// Which text of an HTML page is the statement, when no `select` says so.
///
/// `Auto` is the default because a page's menus, banners, share bars and
/// counters change far more often than its statement, and every such
/// change would otherwise be an alert. `Full` is the escape hatch for pages
/// where the scorer guesses wrong (see `docs/extraction.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Content {
    /// The main content: title and body, without navigation and chrome.
    #[default]
    Auto,
    /// All visible text.
    Full,
}

impl Content {
    /// The config spelling, for fingerprints and messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            Content::Auto => "auto",
            Content::Full => "full",
        }
    }
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

/// Compiles one CSS selector, with a one-line message on error.
pub fn compile_selector(css: &str) -> Result<Selector, String> {
    Selector::parse(css).map_err(|e| selector_message(&e))
}

/// scraper's message for most selector errors is "Unexpected error
/// occurred. Please report this to the developer" and a debug dump on a
/// second line; this says what is wrong, in words, on one line.
fn selector_message(error: &scraper::error::SelectorErrorKind) -> String {
    use scraper::error::SelectorErrorKind as Kind;
    match error {
        Kind::UnexpectedToken => "unexpected character or token".to_owned(),
        Kind::EndOfLine => "the selector ends too early".to_owned(),
        Kind::UnexpectedSelectorParseError(inner) => {
            // The variant's name in words, with its argument if any:
            // `UnsupportedPseudoClassOrElement("hovr")` → "unsupported
            // pseudo class or element \"hovr\"".
            let debug = format!("{inner:?}");
            let (name, argument) = match debug.split_once('(') {
                Some((name, rest)) => (name, Some(rest.trim_end_matches(')'))),
                None => (debug.as_str(), None),
            };
            let mut words = String::new();
            for (i, c) in name.chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    words.push(' ');
                }
                words.extend(c.to_lowercase());
            }
            let words = match words.as_str() {
                "dangling combinator" => {
                    "a combinator (>, +, ~ or a space) with nothing after it".to_owned()
                }
                "empty selector" => "empty selector".to_owned(),
                _ => words,
            };
            match argument {
                // Tokens print as `Ident("x")`; keep only what was written.
                Some(argument) => {
                    let shown = argument
                        .rsplit_once('(')
                        .map_or(argument, |(_, inner)| inner)
                        .trim_end_matches(')');
                    format!("{words} {shown}")
                }
                None => words,
            }
        }
        other => other.to_string().to_lowercase(),
    }
}

/// A regex's parse error on one line: the regex crate's message draws the
/// pattern and a caret on lines of their own; this keeps the error's words.
pub fn regex_message(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().next().unwrap_or("").trim())
        .to_owned()
}

impl Filters {
    /// Compiles the three lists from their config strings.
    pub fn new(
        select: &[String],
        exclude: &[String],
        ignore: &[String],
    ) -> Result<Filters, FilterError> {
        let selectors = |list: &[String]| -> Result<Vec<Arc<Selector>>, FilterError> {
            list.iter()
                .enumerate()
                .map(|(index, css)| {
                    compile_selector(css)
                        .map(Arc::new)
                        .map_err(|message| FilterError::Selector {
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
                Regex::new(pattern)
                    .map(Arc::new)
                    .map_err(|e| FilterError::Regex {
                        index,
                        pattern: pattern.clone(),
                        message: regex_message(&e),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filters {
            select: selectors(select)?,
            exclude: selectors(exclude)?,
            ignore,
            content: Content::default(),
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
    /// With `content = "auto"` on HTML: where the main content was found
    /// (an element path), to pass back as `sticky` next time.
    pub region: Option<String>,
    /// A sticky region was given and the content is elsewhere now: the
    /// region was chosen again.
    pub region_moved: bool,
}

/// A body that cannot be turned into text.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    /// Images, archives and other binary media.
    #[error("unsupported content type {content_type:?}")]
    Unsupported { content_type: String },
    /// A PDF with no text to read: encrypted, scanned, damaged or past a
    /// resource bound. Never an empty snapshot, which would read as the
    /// statement being deleted.
    #[error("no extractable text: {reason}")]
    NoText { reason: String },
    /// A body declared as text (`text/html`, JSON, …) that is not: an
    /// image, an archive, compressed data without `Content-Encoding`, or
    /// bytes no text has. Read as text it would be a garbage "edit".
    #[error("the body is binary ({what}), not the {declared} it was served as")]
    Binary { what: String, declared: String },
}

/// Bytes of memory that reading `body` is expected to take at its peak:
/// the body decoded to text and the text extracted, plus the parsed tree
/// when it is markup (nodes counted by their `<`). The check pipeline
/// reserves this much of `memory_budget` before reading the page.
///
/// Measured with `chancery extract` (peak RSS less an empty page's): a
/// 10.2 MB page of 200,000 links (800,000 `<`) takes 221 MB, this estimate
/// says 246 MB; a 7.2 MB page of 100,000 paragraphs (200,000 `<`) takes
/// 92 MB, this estimate says 80 MB. README, "Memory".
pub fn memory_estimate(body: &[u8], content_type: Option<&str>) -> u64 {
    const NODE_BYTES: u64 = 256;
    let len = body.len() as u64;
    match sniff::kind(body, content_type) {
        // The document's objects and decoded streams (bounded by the PDF
        // reader's own limits), then the text laid out.
        Kind::Pdf => len.saturating_mul(4),
        Kind::Unsupported => len,
        // A parsed JSON value takes several times its text.
        Kind::Json => len.saturating_mul(6),
        Kind::Text => len.saturating_mul(2),
        Kind::Html | Kind::Xml => {
            let tags = memchr::memchr_iter(b'<', body).count() as u64;
            len.saturating_mul(4)
                .saturating_add(tags.saturating_mul(NODE_BYTES))
        }
    }
}

/// Normalizes a body under a watch's filters.
///
/// HTML (and XML) keeps the lines a reader sees and honours `select` and
/// `exclude`; JSON is re-serialized with sorted keys so key order is not a
/// change; other text is cleaned line by line. Every kind then gets NFC,
/// the `ignore` regexes, and the whitespace rules again. `select` and
/// `exclude` mean nothing outside markup and are not applied there.
/// Errors only for bodies that are not text at all.
pub fn normalize(input: &Input<'_>, filters: &Filters) -> Result<Normalized, NormalizeError> {
    normalize_sticky(input, filters, None)
}

/// [`normalize`], preferring the main-content region `sticky` that an
/// earlier version of the page gave ([`Normalized::region`]): while that
/// region still exists and holds most of the text, `content = "auto"`
/// keeps it rather than choosing again, so the text's boundaries do not
/// move as the statement is edited.
pub fn normalize_sticky(
    input: &Input<'_>,
    filters: &Filters,
    sticky: Option<&str>,
) -> Result<Normalized, NormalizeError> {
    let kind = sniff::kind(input.body, input.content_type);
    if kind == Kind::Unsupported {
        let essence = sniff::essence(input.content_type);
        return Err(NormalizeError::Unsupported {
            content_type: if essence.is_empty() {
                "application/octet-stream".to_owned()
            } else {
                essence.to_ascii_lowercase()
            },
        });
    }
    if kind != Kind::Pdf
        && let Some(what) = sniff::binary_in_text(input.body)
    {
        let essence = sniff::essence(input.content_type);
        return Err(NormalizeError::Binary {
            what: what.to_owned(),
            declared: if essence.is_empty() {
                "text".to_owned()
            } else {
                essence.to_ascii_lowercase()
            },
        });
    }
    let tld = input
        .url
        .and_then(url::Url::host_str)
        .and_then(|host| host.trim_end_matches('.').rsplit('.').next());
    // A PDF's text comes out of its fonts as Unicode; its bytes are no charset.
    let body = if kind == Kind::Pdf {
        &[][..]
    } else {
        input.body
    };
    let decoded = charset::decode(body, input.content_type, tld);
    let (mut region, mut region_moved) = (None, false);

    let (text, title, indent) = match kind {
        Kind::Html | Kind::Xml => {
            let markup = if kind == Kind::Html {
                Markup::Html
            } else {
                Markup::Xml
            };
            let extracted = html::extract(&decoded.text, filters, markup, sticky);
            region = extracted.region;
            region_moved = extracted.region_moved;
            (extracted.text, extracted.title, Indent::Collapse)
        }
        Kind::Json => match canonical_json(&decoded.text) {
            Some(json) => (text::clean(&json, Indent::Keep), None, Indent::Keep),
            None => (
                text::clean(&decoded.text, Indent::Collapse),
                None,
                Indent::Collapse,
            ),
        },
        Kind::Pdf => {
            let extracted =
                pdf::extract(input.body).map_err(|reason| NormalizeError::NoText { reason })?;
            (
                text::clean(&extracted.text, Indent::Collapse),
                extracted.title,
                Indent::Collapse,
            )
        }
        Kind::Text | Kind::Unsupported => (
            text::clean(&decoded.text, Indent::Collapse),
            None,
            Indent::Collapse,
        ),
    };
    let text = nfc(text);
    // `ignore` first: the user's patterns see the page's own numbers.
    let text = if filters.ignore.is_empty() {
        text
    } else {
        let mut text = text;
        for regex in &filters.ignore {
            if let std::borrow::Cow::Owned(replaced) = regex.replace_all(&text, "") {
                text = replaced;
            }
        }
        text::clean(&text, indent)
    };
    let text = if kind == Kind::Json {
        text
    } else {
        mask_counters(text)
    };
    // Main content only: furniture lines inside or next to the statement
    // go too (after masking, so a counter line is recognized as one).
    let main_content =
        matches!(kind, Kind::Html) && filters.select.is_empty() && filters.content == Content::Auto;
    let text = if main_content {
        boilerplate::strip(text)
    } else {
        text
    };
    Ok(Normalized {
        text,
        encoding: if kind == Kind::Pdf {
            "UTF-8"
        } else {
            decoded.encoding.name()
        },
        title: title.map(nfc),
        region,
        region_moved,
    })
}

/// Bumped whenever the same bytes and filters may normalize to a different
/// text (a new rule, a fixed bug). It is part of every watch's filters
/// fingerprint, so after an upgrade each watch re-makes its baseline from
/// its stored raw body (`rebaselined`) instead of reporting an edit the page
/// did not make.
pub const NORMALIZER_VERSION: u32 = 3;

/// Visit, view and comment counters next to their label: a number that
/// changes on every visit is not a change of the statement.
static COUNTER: LazyLock<Regex> = LazyLock::new(|| {
    // ASCII word boundaries: a Unicode `\b` makes the regex engine leave
    // its DFA on Chinese text, which cost half of normalize's throughput.
    // A bare "visits 12" or "访问3国" is a sentence ("visits 12 countries"),
    // so verbs count only with a colon or parenthesis; noun forms ("number
    // of views", "浏览量", "阅读次数") count as they stand.
    Regex::new(
        r"(?ix)
        (?P<label>
            (?-u:\b)(?:number\s+of\s+|page\s*)(?:views?|visits?|hits|reads|visitors)\s*[:：]?\s*\(?\s*
          | (?-u:\b)(?:views?|visits?|hits|reads|comments?|visitors)\s*(?:[:：]\s*\(?|\()\s*
          | (?:浏览|阅读|点击|访问)(?:量|次数|数|人次)\s*[:：]?\s*[(（]?\s*
          | (?:浏览|阅读|点击|访问|评论)\s*(?:[:：]\s*[(（]?|[(（])\s*
        )
        \d[\d,.\u{202f}\u{a0}]*",
    )
    .expect("the counter pattern compiles")
});

/// Replaces the number of every labelled counter ("Number of views (4116)",
/// "浏览次数：1234") with `#`, keeping the label, so the line stays and
/// only the count stops mattering.
fn mask_counters(text: String) -> String {
    match COUNTER.replace_all(&text, "${label}#") {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(masked) => masked,
    }
}

/// NFC without a copy when the text already is (the common case).
fn nfc(text: String) -> String {
    match ComposingNormalizerBorrowed::new_nfc().normalize(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(normalized) => normalized,
    }
}

/// JSON pretty-printed with every object's keys sorted, or `None` if the
/// text is not JSON. serde_json's parser stops at 128 levels of nesting, so
/// nothing here recurses without bound.
fn canonical_json(text: &str) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    // Explicit, in case a dependency turns on `preserve_order`.
    value.sort_all_objects();
    serde_json::to_string_pretty(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Full-page text: these tests are about the walk's structure, not
    /// about which part of the page is the statement.
    fn html(body: &str) -> String {
        html_with(
            body,
            &Filters {
                content: Content::Full,
                ..Filters::default()
            },
        )
    }

    fn auto(body: &str) -> String {
        html_with(body, &Filters::default())
    }

    fn html_with(body: &str, filters: &Filters) -> String {
        let input = Input {
            body: body.as_bytes(),
            content_type: Some("text/html; charset=utf-8"),
            url: None,
        };
        normalize(&input, filters).expect("html is supported").text
    }

    fn filters(select: &[&str], exclude: &[&str], ignore: &[&str]) -> Filters {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut filters = Filters::new(&owned(select), &owned(exclude), &owned(ignore))
            .expect("test filters compile");
        filters.content = Content::Full;
        filters
    }

    #[test]
    fn counters_are_masked_not_their_labels_or_other_numbers() {
        let cases = [
            (
                "Number of views (4116)/Comments (0)",
                "Number of views (#)/Comments (#)",
            ),
            ("Views: 1,234", "Views: #"),
            ("Page views 98", "Page views #"),
            ("浏览次数：1234", "浏览次数：#"),
            ("阅读量 5678", "阅读量 #"),
            ("阅读：5678", "阅读：#"),
            ("【点击：（321）】", "【点击：（#）】"),
            (
                "The President visits 12 countries",
                "The President visits 12 countries",
            ),
            ("习近平访问3国", "习近平访问3国"),
            // Numbers that are the statement's, not a counter's.
            (
                "The minister made 3 visits in 2026.",
                "The minister made 3 visits in 2026.",
            ),
            (
                "1,200 views were expressed at the meeting.",
                "1,200 views were expressed at the meeting.",
            ),
            ("Article 14 of the treaty", "Article 14 of the treaty"),
        ];
        for (line, masked) in cases {
            assert_eq!(mask_counters(line.to_owned()), masked, "{line}");
        }
    }

    #[test]
    fn structure_one_line_per_block() {
        let body = "<html><head><title> Press  release </title></head><body>\
            <h1>Statement</h1><p>First <b>bold</b> paragraph.</p><p>Second<br>line</p>\
            <ul><li>one</li><li>two <a href=#>link</a></li></ul>\
            <table><tr><th>Date</th><th>Place</th></tr><tr><td>1 May</td><td></td><td>Bern</td></tr></table>\
            <div>tail<span>ing</span></div></body></html>";
        assert_eq!(
            html(body),
            "Statement\nFirst bold paragraph.\nSecond\nline\none\ntwo link\nDate | Place\n1 May | Bern\ntailing"
        );
    }

    #[test]
    fn pre_keeps_line_breaks() {
        assert_eq!(
            html("<p>a</p><pre>x  = 1\n  y = 2\n</pre><p>b</p>"),
            "a\nx = 1\ny = 2\nb"
        );
    }

    #[test]
    fn title_is_collapsed_and_optional() {
        let input = Input {
            body: b"<title>\n  Foreign\xC2\xA0Ministry \n</title><p>x",
            content_type: Some("text/html"),
            url: None,
        };
        let out = normalize(&input, &Filters::default()).expect("html");
        assert_eq!(out.title.as_deref(), Some("Foreign Ministry"));
        assert_eq!(out.text, "x");
        let input = Input {
            body: b"<title> </title><p>x",
            ..input
        };
        assert_eq!(
            normalize(&input, &Filters::default()).expect("html").title,
            None
        );
    }

    #[test]
    fn invisible_content_is_dropped() {
        let body = "<head><style>p{}</style><script>var a</script></head><body>\
            <p>kept</p><script>alert(1)</script><style>.x{}</style><noscript>enable js</noscript>\
            <template><p>tpl</p></template><svg><title>icon</title><text>svg</text></svg>\
            <p hidden>h1</p><p aria-hidden=\"TRUE\">h2</p><p style=\"color:red; DISPLAY : none !important\">h3</p>\
            <p style=\"visibility:hidden\">h4</p><input type=hidden value=secret><button>Menu</button>\
            <select><option>Albania</option></select><iframe>frame</iframe><p aria-hidden=false>shown</p>\
            <p style=\"display:block\">also</p><ruby>漢<rp>(</rp><rt>かん</rt><rp>)</rp></ruby></body>";
        assert_eq!(html(body), "kept\nshown\nalso\n漢");
    }

    #[test]
    fn select_keeps_matches_in_document_order() {
        let body = "<div class=nav>Home</div><p class=s>one</p><div id=main><p class=s>two</p>\
            <p>three</p></div><p class=s>four</p>";
        assert_eq!(
            html_with(body, &filters(&["#main", ".s"], &[], &[])),
            "one\ntwo\nthree\nfour"
        );
        assert_eq!(
            html_with(body, &filters(&[".s"], &[], &[])),
            "one\ntwo\nfour"
        );
        // Inline matches still get their own lines.
        let body = "<p><span class=a>x</span><span class=a>y</span></p>";
        assert_eq!(html_with(body, &filters(&[".a"], &[], &[])), "x\ny");
    }

    #[test]
    fn select_without_match_is_empty() {
        assert_eq!(
            html_with("<p>text</p>", &filters(&["#statement"], &[], &[])),
            ""
        );
    }

    #[test]
    fn exclude_drops_subtrees_also_inside_selection() {
        let body =
            "<nav>Menu</nav><article><h1>T</h1><div class=share>Share</div><p>Body</p></article>";
        assert_eq!(
            html_with(body, &filters(&[], &["nav", ".share"], &[])),
            "T\nBody"
        );
        assert_eq!(
            html_with(body, &filters(&["article"], &[".share"], &[])),
            "T\nBody"
        );
    }

    #[test]
    fn ignore_removes_a_counter() {
        let v1 = "<p>Statement text.</p><p>Visits: 4099</p><p>Posted 1 May   Visits: 12 today</p>";
        let v2 = "<p>Statement text.</p><p>Visits: 4116</p><p>Posted 1 May   Visits: 13 today</p>";
        let f = filters(&[], &[], &[r"Visits: \d+"]);
        assert_eq!(html_with(v1, &f), "Statement text.\nPosted 1 May today");
        assert_eq!(html_with(v1, &f), html_with(v2, &f));
        // Without `ignore` the labelled counters are masked, not removed.
        assert_eq!(
            html(v1),
            "Statement text.\nVisits: #\nPosted 1 May Visits: # today"
        );
        assert_eq!(html(v1), html(v2));
    }

    #[test]
    fn nfc() {
        assert_eq!(html("<p>Caf\u{0065}\u{0301}</p>"), "Caf\u{00E9}");
        assert_eq!(html("<p>Caf\u{00E9}</p>"), html("<p>Cafe\u{0301}</p>"));
    }

    #[test]
    fn whitespace_and_invisible_characters() {
        let body = "<p>\u{00A0} a\u{00A0}\u{00A0}b \t\n c\u{3000}\u{3000}d </p><p>\u{3000}</p>\
            <p>zero\u{200B}width\u{FEFF} soft\u{00AD}hyphen\u{2060}</p>";
        assert_eq!(html(body), "a b c d\nzerowidth softhyphen");
    }

    #[test]
    fn deterministic() {
        let body = include_str!("../../tests/fixtures/normalize/traf-nhk.or.jp.k100.html");
        let f = filters(&[], &["footer"], &["\\d{4}"]);
        let first = html_with(body, &f);
        assert!(!first.is_empty());
        for _ in 0..3 {
            assert_eq!(html_with(body, &f), first);
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let depth = 100_000;
        let body = format!("{}deep{}", "<div>".repeat(depth), "</div>".repeat(depth));
        // Run on a small stack so recursion anywhere would show.
        let text = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || html(&body))
            .expect("spawn test thread")
            .join()
            .expect("no stack overflow");
        assert_eq!(text, "deep");
    }

    /// A statement page with every kind of chrome `auto` must drop.
    fn chrome_page(menu: &str, counter: u32) -> String {
        format!(
            "<html><head><title>T</title></head><body>\
             <div id=cookie-banner>We use cookies. <a href=/ok>Accept</a></div>\
             <header><a href=/>Home</a> <a href=/news>News</a></header>\
             <nav><ul>{menu}</ul></nav>\
             <div class=container><aside><h3>Latest</h3><ul><li><a href=/1>Other story one</a></li>\
             <li><a href=/2>Other story two</a></li></ul></aside>\
             <div class=main-text><h1>Statement on the talks</h1><p class=date>29 November 2026</p>\
             <p>The delegations met in Geneva for three days of talks, and agreed on a framework \
             for the next round, which will open in January.</p>\
             <p>Both sides welcomed the progress made, and committed to report back to their \
             governments, in writing, before the end of the year.</p>\
             <ul><li>First, a ceasefire monitoring group will be set up.</li>\
             <li>Second, humanitarian corridors will stay open.</li></ul>\
             <table><tr><td>Delegation</td><td>Head</td></tr><tr><td>A</td><td>Minister X</td></tr></table>\
             <div class=share-bar><a href=/fb>Facebook</a> <a href=/tw>Twitter</a> <a href=/m>Mail</a></div>\
             <div class=related><h3>Related</h3><ul><li><a href=/r1>Earlier statement</a></li>\
             <li><a href=/r2>Press briefing</a></li></ul></div>\
             <div id=comments><p>Great news, thanks for sharing this with everyone!</p></div>\
             </div></div><footer>Visits: {counter} <a href=/imprint>Imprint</a></footer></body></html>"
        )
    }

    #[test]
    fn auto_keeps_title_body_lists_tables_and_drops_chrome() {
        let menu = "<li><a href=/a>About</a></li><li><a href=/b>Press</a></li>";
        assert_eq!(
            auto(&chrome_page(menu, 1)),
            "Statement on the talks\n29 November 2026\n\
             The delegations met in Geneva for three days of talks, and agreed on a framework for the next round, which will open in January.\n\
             Both sides welcomed the progress made, and committed to report back to their governments, in writing, before the end of the year.\n\
             First, a ceasefire monitoring group will be set up.\n\
             Second, humanitarian corridors will stay open.\n\
             Delegation | Head\nA | Minister X"
        );
        // The same page in full keeps the chrome.
        let full = html(&chrome_page(menu, 1));
        for chrome in [
            "We use cookies.",
            "About",
            "Other story one",
            "Facebook",
            "Earlier statement",
            "Visits: #",
        ] {
            assert!(full.contains(chrome), "full lost {chrome:?}");
        }
    }

    #[test]
    fn auto_is_stable_across_chrome_changes() {
        let a = auto(&chrome_page("<li><a href=/a>About</a></li>", 4099));
        let b = auto(&chrome_page(
            "<li><a href=/a>About us</a></li><li><a href=/n>New section</a></li>",
            4116,
        ));
        assert_eq!(a, b);
    }

    #[test]
    fn auto_table_layout_chinese_statement() {
        let menu: String = (1..=20)
            .map(|i| format!("<tr><td><a href=/m{i}>栏目{i}</a></td></tr>"))
            .collect();
        let body = format!(
            "<html><body><table><tr><td><table>{menu}</table></td><td>\
             <table><tr><td>外交部发言人就有关问题答记者问</td></tr>\
             <tr><td>2026年11月29日</td></tr>\
             <tr><td>问：据报道，有关国家近日宣布了新的措施。中方对此有何评论？<br>\
             答：我们注意到有关报道。中方一贯主张通过对话协商，和平解决争端，\
             希望有关各方保持冷静克制，多做有利于地区和平稳定的事。\
             中方愿同各方一道，继续为推动问题的政治解决发挥建设性作用。</td></tr>\
             <tr><td><a href=/s>推荐给朋友</a> <a href=/p>打印本页</a> <a href=/c>关闭窗口</a></td></tr></table>\
             </td></tr></table></body></html>"
        );
        let text = auto(&body);
        assert!(!text.contains("栏目"), "{text}");
        assert!(!text.contains("推荐给朋友"), "{text}");
        assert!(
            text.contains("中方一贯主张通过对话协商，和平解决争端，希望有关各方保持冷静克制"),
            "{text}"
        );
        assert!(
            text.starts_with("外交部发言人就有关问题答记者问\n2026年11月29日\n"),
            "{text}"
        );
    }

    #[test]
    fn auto_falls_back_to_full_without_main_content() {
        // Too little prose to tell content from chrome.
        let tiny = "<nav><a href=/>Home</a></nav><p>Closed today.</p>";
        assert_eq!(auto(tiny), html(tiny));
        // A listing: nothing but links.
        let listing: String = (1..=30)
            .map(|i| format!("<li><a href=/n{i}>News item number {i} of the ministry</a></li>"))
            .collect();
        let listing = format!("<ul>{listing}</ul>");
        assert_eq!(auto(&listing), html(&listing));
        // Plain text has no markup to score.
        let input = Input {
            body: b"one\ntwo",
            content_type: Some("text/plain"),
            url: None,
        };
        assert_eq!(
            normalize(&input, &Filters::default()).expect("text").text,
            "one\ntwo"
        );
    }

    const PROSE: &str = "<p>The delegations met in Geneva for three days of talks, and agreed on a \
        framework for the next round, which will open in January.</p><p>Both sides welcomed the \
        progress made, and committed to report back to their governments, in writing, before the \
        end of the year.</p><p>A joint working group, chaired in turn by each side, will meet \
        every month, and publish its findings, with a summary, on both ministries' websites.</p>";

    #[test]
    fn auto_retries_when_class_words_hide_everything() {
        // A layout class naming a sidebar wraps the whole article (as on
        // aclu.org): the first pass finds nothing, the retry trusts names.
        let body = format!(
            "<nav><a href=/>Home</a></nav><div class=\"panel-two-col-sidebar-right\">\
             <div class=body>{PROSE}</div></div>"
        );
        let text = auto(&body);
        assert!(text.starts_with("The delegations met"), "{text}");
        assert!(!text.contains("Home"), "{text}");
    }

    #[test]
    fn auto_drops_figure_captions_and_credits() {
        let body = format!(
            "<div class=article><figure><img src=a.jpg><figcaption>The minister arrives</figcaption></figure>\
             {PROSE}<p class=image-credit>© Photo agency | Jane Doe</p></div>"
        );
        let text = auto(&body);
        assert!(
            !text.contains("minister arrives") && !text.contains("Jane Doe"),
            "{text}"
        );
        assert!(text.contains("Both sides welcomed"), "{text}");
    }

    #[test]
    fn auto_keeps_a_lead_split_off_into_a_header_block() {
        // umweltbundesamt.de: headline and lead paragraph in one block, the
        // date and body in a sibling block beside a sidebar.
        let body = format!(
            "<nav><a href=/>Home</a></nav><article><div class=wrap><h2>Gas is not green</h2>\
             <div class=lead><strong><p>The draft would stop the taxonomy from being a tool.</p></strong></div>\
             <div class=row><div class=col><div class=meta>25.01.2022</div><div class=text>{PROSE}</div></div>\
             <aside><a href=/x>Links</a></aside></div></div></article>"
        );
        let text = auto(&body);
        assert!(
            text.starts_with("Gas is not green\nThe draft would stop the taxonomy from being a tool.\n25.01.2022\nThe delegations"),
            "{text}"
        );
    }

    #[test]
    fn auto_real_statement_ignores_menu_banner_teasers_and_counter() {
        // The BMZ press statement (tests/fixtures/README.md) with the
        // changes EDGI's false positives are made of.
        let page = include_str!("../../tests/fixtures/bmz-wfp-statement.html");
        let edit = |page: &str, old: &str, new: &str| {
            assert_eq!(page.matches(old).count(), 1, "{old:?} must occur once");
            page.replacen(old, new, 1)
        };
        let mut changed = edit(
            page,
            "<nav class=\"main-nav\" aria-label=\"Haupt-Navigation\">",
            "<nav class=\"main-nav\" aria-label=\"Haupt-Navigation\"><a href=/neu>Neue Rubrik</a>",
        );
        changed = edit(
            &changed,
            "<main class=\"l-content\">",
            "<div class=\"cookie-banner\">Diese Website verwendet Cookies. <a href=/ok>OK</a></div>\
             <main class=\"l-content\">",
        );
        changed = edit(
            &changed,
            "Sonderinitiative EINEWELT ohne Hunger </span>",
            "Neue Sonderinitiative </span>",
        );
        changed = edit(&changed, "</body>", "<footer>Besuche: 4116</footer></body>");
        let before = auto(page);
        assert!(before.contains("Die Bundesregierung war 2021 mit 1,2 Milliarden Euro"));
        assert_eq!(auto(&changed), before);
        assert_ne!(html(&changed), html(page), "full sees every change");
        // A real edit of the statement is still one.
        let edited = edit(page, "mit 1,2 Milliarden Euro", "mit 1,4 Milliarden Euro");
        assert_ne!(auto(&edited), before);
    }

    #[test]
    fn select_overrides_auto() {
        let page = chrome_page("<li><a href=/a>About</a></li>", 7);
        let mut f = filters(&["footer"], &[], &[]);
        f.content = Content::Auto;
        assert_eq!(html_with(&page, &f), "Visits: # Imprint");
    }

    #[test]
    fn auto_exclude_still_applies() {
        let page = chrome_page("<li><a href=/a>About</a></li>", 7);
        let mut f = filters(&[], &["table", ".date"], &[]);
        f.content = Content::Auto;
        let text = html_with(&page, &f);
        assert!(
            !text.contains("Minister X") && !text.contains("29 November"),
            "{text}"
        );
        assert!(text.contains("The delegations met"), "{text}");
    }

    #[test]
    fn auto_deep_nesting_does_not_overflow_the_stack() {
        let depth = 100_000;
        let para = "<p>Words of the statement, with commas, and more, words.</p>".repeat(10);
        let body = format!("{}{para}{}", "<div>".repeat(depth), "</div>".repeat(depth));
        let text = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || auto(&body))
            .expect("spawn test thread")
            .join()
            .expect("no stack overflow");
        assert!(text.starts_with("Words of the statement"), "{text}");
    }

    #[test]
    fn json_key_order_is_irrelevant() {
        let json = |body: &str| {
            let input = Input {
                body: body.as_bytes(),
                content_type: Some("application/json"),
                url: None,
            };
            normalize(&input, &Filters::default())
                .expect("json is supported")
                .text
        };
        let a = json(r#"{"b": 1, "a": {"y": [1, 2], "x": "caf\u0065\u0301"}}"#);
        let b = json(r#"{"a":{"x":"café","y":[1,2]},"b":1}"#);
        assert_eq!(a, b);
        assert_eq!(
            a,
            "{\n  \"a\": {\n    \"x\": \"café\",\n    \"y\": [\n      1,\n      2\n    ]\n  },\n  \"b\": 1\n}"
        );
        // Not JSON after all: cleaned as text.
        assert_eq!(json("{ not  json"), "{ not json");
    }

    #[test]
    fn json_is_sniffed_without_content_type() {
        let input = Input {
            body: br#" {"z": 0, "a": 1}"#,
            content_type: None,
            url: None,
        };
        assert_eq!(
            normalize(&input, &Filters::default()).expect("json").text,
            "{\n  \"a\": 1,\n  \"z\": 0\n}"
        );
    }

    #[test]
    fn plain_text() {
        let input = Input {
            body: "  Statement\u{00A0}\u{00A0}one \r\n\r\n\ttwo  lines\u{200B}\n\n".as_bytes(),
            content_type: Some("text/plain"),
            url: None,
        };
        let f = filters(&["p"], &["p"], &["one"]);
        let out = normalize(&input, &f).expect("text is supported");
        assert_eq!(out.text, "Statement\ntwo lines");
        assert_eq!((out.encoding, out.title), ("UTF-8", None));
    }

    #[test]
    fn xml_elements_get_their_own_lines() {
        let input = Input {
            body: b"<?xml version=\"1.0\"?><rss><channel><item><title>A</title>\
                <description><![CDATA[<p>Body <b>text</b></p>]]></description></item></channel></rss>",
            content_type: Some("application/rss+xml"),
            url: None,
        };
        assert_eq!(
            normalize(&input, &Filters::default()).expect("xml").text,
            "A\nBody\ntext"
        );
    }

    #[test]
    fn unsupported_media() {
        for (body, content_type) in [
            (&b"\x89PNG\r\n\x1A\n\0\0"[..], Some("image/png")),
            (b"\0\x01\x02binary", Some("application/octet-stream")),
        ] {
            let input = Input {
                body,
                content_type,
                url: None,
            };
            let err = normalize(&input, &Filters::default()).expect_err("binary is unsupported");
            let NormalizeError::Unsupported {
                content_type: reported,
            } = &err
            else {
                panic!("{err}");
            };
            assert_eq!(reported, content_type.unwrap_or("application/octet-stream"));
        }
    }

    #[test]
    fn xinhua_gb2312_meta_at_byte_1180() {
        let url = url::Url::parse(
            "https://web.archive.org/web/20120611024252/http://www.he.xinhuanet.com/",
        )
        .ok();
        let input = Input {
            body: include_bytes!(
                "../../tests/fixtures/normalize/traf-archive.org.he.xinhuanet.com.25340717.html"
            ),
            content_type: Some("text/html"),
            url: url.as_ref(),
        };
        let out = normalize(&input, &Filters::default()).expect("html");
        assert_eq!(out.encoding, "GBK");
        // Snippets from the trafilatura expectation (`with`).
        for snippet in [
            "一个约定，信守15年，感人至深；一段真情，延续15年",
            "秦皇岛、承德、张家口等10个设区市演出(此前已在保定市演出多场)，引起强烈反响。",
        ] {
            assert!(out.text.contains(snippet), "missing {snippet:?}");
        }
        assert_eq!(
            out.title.as_deref(),
            Some("话剧《约定无期限》河北各市巡演结束")
        );
    }

    #[test]
    fn corpus_pages_decode_and_title() {
        let cases: [(&[u8], &str, &str); 5] = [
            (
                include_bytes!("../../tests/fixtures/normalize/jsoup-baidu-cn-home-2010.html"),
                "GBK",
                "把百度设为主页",
            ),
            (
                include_bytes!("../../tests/fixtures/normalize/moz-qq.html"),
                "UTF-8",
                "DeepMind新电脑已可利用记忆自学",
            ),
            (
                include_bytes!("../../tests/fixtures/normalize/traf-nhk.or.jp.k100.html"),
                "UTF-8",
                "子どもへの虐待をなくすための法律ができて、親が子どもを教育するために、",
            ),
            (
                include_bytes!(
                    "../../tests/fixtures/normalize/edgi-noaa-radar-status-unknown-charset.html"
                ),
                "UTF-8",
                "Radar",
            ),
            (
                include_bytes!(
                    "../../tests/fixtures/normalize/traf-rp.pl-unijne-fundusze-sejm.html"
                ),
                "windows-1250",
                "Ciężar dyskusji przeniesie",
            ),
        ];
        for (body, encoding, snippet) in cases {
            let input = Input {
                body,
                content_type: Some("text/html"),
                url: None,
            };
            let out = normalize(&input, &Filters::default()).expect("html");
            assert_eq!(out.encoding, encoding);
            assert!(
                out.text.contains(snippet),
                "{encoding}: missing {snippet:?}"
            );
            assert!(
                !out.text.contains('\u{FFFD}'),
                "{encoding}: replacement characters"
            );
        }
    }

    /// Two blocks that could be the content: the statement, and a "latest
    /// news" block that grows between versions until it would win a fresh
    /// choice.
    fn two_candidates(teasers: usize, statement: &str) -> String {
        let teaser = "<p>Minister visits the northern provinces, meets local officials, and opens a new school, a clinic and a bridge.</p>";
        format!(
            "<html><head><title>Statement</title></head><body>\
             <div id=\"statement\"><h1>Statement on the talks</h1>{statement}</div>\
             <div id=\"latest\"><h2>Latest news</h2>{}</div></body></html>",
            teaser.repeat(teasers)
        )
    }

    /// Found by the `sticky` fuzz target (fuzz/regressions/sticky/): a
    /// short block around a `class="footer"` is chosen only when class
    /// words are trusted; read back under the other pass, the same region
    /// dropped the footer's words, so an unchanged page read as edited.
    #[test]
    fn the_remembered_region_reads_an_unchanged_page_the_same() {
        for body in [
            &b"<li>x<div class=\"footer\">The embassy said today that the talks we</div>"[..],
            "<li>x<div class=\"footer\">大使馆今天表示会谈将继续进行下去。</div>".as_bytes(),
            &b"li<li>\x80<div class=\"footer\">\xe7\x89\x9c\xe4\xb8\x8d\x8e\x8a\xe5\x9b\xb8\xe5\x85\xe6\x96\xb0<"[..],
        ] {
            let input = Input {
                body,
                content_type: Some("text/html"),
                url: None,
            };
            let first = normalize(&input, &Filters::default()).expect("normalizes");
            let again = normalize_sticky(&input, &Filters::default(), first.region.as_deref())
                .expect("normalizes");
            assert_eq!(again.text, first.text, "region {:?}", first.region);
            assert_eq!(again.region, first.region);
            assert!(!again.region_moved);
        }
    }

    #[test]
    fn a_sticky_region_holds_while_it_exists_and_is_not_outgrown() {
        let statement = "<p>The ministry welcomes the talks held in Geneva this week, and thanks the hosts, the mediators and both delegations.</p>\
            <p>Both sides agreed to meet again in the spring, in Oslo, with the same mediators.</p>";
        let html =
            |teasers: usize, statement: &str| two_candidates(teasers, statement).into_bytes();
        let normalized = |body: &[u8], sticky: Option<&str>| {
            let input = Input {
                body,
                content_type: Some("text/html"),
                url: None,
            };
            normalize_sticky(&input, &Filters::default(), sticky).expect("normalizes")
        };
        let first = normalized(&html(1, statement), None);
        assert!(first.text.contains("Geneva"), "{}", first.text);
        assert!(!first.text.contains("northern provinces"), "{}", first.text);
        let region = first.region.clone().expect("a region");
        assert!(region.contains("#statement"), "{region}");
        assert!(!first.region_moved);

        // The news block grows: a fresh choice takes it, the sticky one not.
        let grown = html(3, statement);
        let fresh = normalized(&grown, None);
        assert!(fresh.text.contains("northern provinces"), "{}", fresh.text);
        let sticky = normalized(&grown, Some(&region));
        assert_eq!(sticky.text, first.text);
        assert!(!sticky.region_moved);

        // Outgrown many times over: chosen again, and said so.
        let outgrown = normalized(&html(12, statement), Some(&region));
        assert!(outgrown.region_moved);
        assert!(outgrown.text.contains("northern provinces"));

        // The region gone (a redesign): chosen again.
        let redesigned = two_candidates(1, statement).replace("id=\"statement\"", "id=\"article\"");
        let moved = normalized(redesigned.as_bytes(), Some(&region));
        assert!(moved.region_moved);
        assert!(moved.text.contains("Geneva"));
    }
}

#[cfg(test)]
mod properties {
    use super::{Filters, Input, normalize};
    use proptest::prelude::*;

    /// Tag soup: tags open and close in any order, unclosed, with text,
    /// entities and scripts between, as broken pages are.
    fn soup() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "<div>",
            "</div>",
            "<p>",
            "</p>",
            "<li>",
            "<ul>",
            "</ul>",
            "<table><tr><td>",
            "</td>",
            "<h1>",
            "</h1>",
            "<nav>",
            "</nav>",
            "<article>",
            "</article>",
            "<script>var x = '<p>';</script>",
            "<!-- note -->",
            "<math>",
            "<rb>",
            "<br>",
            "Statement",
            " on the visit",
            "外交部发言人",
            "。",
            "&amp;",
            "&nbsp;",
            "\n",
            "  ",
        ]);
        prop::collection::vec(piece, 0..60).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// The same bytes give the same text, every time: the hash of the
        /// text is the change signal, so normalizing must be a function.
        /// And whatever the soup, the text has no blank or padded lines.
        #[test]
        fn normalizing_is_deterministic_and_tidy(body in soup()) {
            let input = Input { body: body.as_bytes(), content_type: Some("text/html"), url: None };
            let filters = Filters::default();
            let first = normalize(&input, &filters).map(|n| n.text).map_err(|e| e.to_string());
            let second = normalize(&input, &filters).map(|n| n.text).map_err(|e| e.to_string());
            prop_assert_eq!(&first, &second);
            if let Ok(text) = first {
                for line in text.lines() {
                    prop_assert!(!line.trim().is_empty(), "blank line in {:?}", text);
                    prop_assert_eq!(line, line.trim(), "padded line in {:?}", text);
                }
            }
        }
    }
}
