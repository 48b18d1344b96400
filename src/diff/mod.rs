//! Compares two normalized texts: a summary for the history (lines added and
//! removed, changed ratio, first changed line) and renderings for people
//! (unified, word-level, side-by-side, JSON, HTML).
//!
//! Pure: no IO. The only clock read is the deadline that bounds the diff
//! algorithms on huge or pathological inputs; when it fires the diff is still
//! correct, only less minimal (whole lines instead of words, bigger hunks).
//! Word-level highlighting segments text by Unicode rules with dictionaries
//! for Chinese and Japanese, so an edit inside a sentence without spaces marks
//! the changed words, not the whole line.
//!
//! Inputs are normalized texts: lines separated by `\n`, no trailing newline.
//! The empty string has no lines, so "no newline at end of file" never arises
//! and is never printed.
//!
//! Codemap: `mod.rs` holds the line diff, hunks and the summary; `words`
//! segments lines and pairs changed lines for inline marks; `text` renders
//! unified and word output; `side` renders side by side; `json` the JSON;
//! `html` the word output as an HTML fragment for alert emails.

mod excerpt;
mod html;
mod json;
mod side;
mod text;
pub mod web;
mod words;

use std::ops::Range;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use similar::{Algorithm, DiffOp};

pub use excerpt::{Change, SIDE_MAX_CHARS, changes};
pub use html::{change as change_html, escape as escape_html};
pub use words::words;

/// How two snapshots differ, in numbers a person can scan in a listing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffSummary {
    /// Lines present in the new text only.
    pub lines_added: u32,
    /// Lines present in the old text only.
    pub lines_removed: u32,
    /// Share of the text that changed, 0.0 (same) to 1.0 (all different).
    ///
    /// Defined over lines as `1 - 2 * unchanged / (old_lines + new_lines)`,
    /// where `unchanged` is the number of lines the line diff kept. Two empty
    /// texts give 0.0.
    pub changed_ratio: f64,
    /// The first change in a few words (see [`Change::headline`]):
    /// `"Tuesday" → "Wednesday"`, `added "…"` or `removed "…"`. For a text
    /// that appeared or went whole, its first non-blank line, in quotes.
    /// Ready to print: page text in it is always quoted.
    ///
    /// At most [`FIRST_CHANGE_MAX_CHARS`] characters for a line, ending in
    /// `…` when cut, so it fits an email subject. (Changes recorded by
    /// earlier versions hold the first changed line.)
    pub first_change: Option<String>,
}

impl DiffSummary {
    /// No lines changed: what events that are not text changes (health,
    /// listing) carry, with an optional one-line `detail`.
    pub fn none(detail: Option<String>) -> DiffSummary {
        DiffSummary {
            lines_added: 0,
            lines_removed: 0,
            changed_ratio: 0.0,
            first_change: detail,
        }
    }
}

/// Longest line in a `first_change`, in characters including the `…`.
pub const FIRST_CHANGE_MAX_CHARS: usize = 80;

/// The output formats of `chancery diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `diff -u` style, lines prefixed with `-`/`+`, with `@@` hunk headers.
    Unified,
    /// Lines in context with changed words marked inline.
    Word,
    /// Old text on the left, new on the right.
    SideBySide,
    /// Machine-readable hunks and summary.
    Json,
    /// The word format as an HTML fragment with inline styles (for email).
    Html,
}

/// Options that shape a rendering.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// ANSI colours (only when writing to a terminal).
    pub color: bool,
    /// Unchanged lines shown around each change.
    pub context_lines: usize,
    /// Total width in columns for side-by-side.
    ///
    /// Widths below [`MIN_SIDE_BY_SIDE_WIDTH`] are raised to it, because a
    /// column must hold at least one wide (CJK) character.
    pub width: usize,
    /// Label of the old side, e.g. `uk-embassy@12 (2026-11-28T12:00:00Z)`.
    pub old_label: String,
    /// Label of the new side.
    pub new_label: String,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            color: false,
            context_lines: 3,
            width: 120,
            old_label: "old".to_owned(),
            new_label: "new".to_owned(),
        }
    }
}

/// Narrowest side-by-side rendering: two columns of two cells plus ` | `.
pub const MIN_SIDE_BY_SIDE_WIDTH: usize = 7;

/// Bound on the line diff. Far above the 20 ms a 200 KB page takes, so it
/// only fires on pathological inputs.
const LINE_DIFF_TIMEOUT: Duration = Duration::from_millis(1000);

/// Bound on word-level refinement for one rendering. Past it, remaining
/// changed lines are shown whole.
const INLINE_TIMEOUT: Duration = Duration::from_millis(1000);

/// `text` with control characters (CR, LF, tabs, …) turned into spaces, so
/// page text printed in a subject, header or listing line stays one line.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The first non-blank line of `text`, cut for a subject, in quotes: how a
/// headline names a statement when there is no change to name.
pub fn title(text: &str) -> Option<String> {
    excerpt::title_of(&split_lines(text))
}

/// Summarises the line diff from `old` to `new`.
pub fn summarize(old: &str, new: &str) -> DiffSummary {
    LineDiff::new(old, new).summary()
}

/// The lines of a change: those only in `old` (removed) and only in `new`
/// (added), in order. What a subscriber's `match` trigger looks at.
pub struct ChangedLines<'a> {
    pub removed: Vec<&'a str>,
    pub added: Vec<&'a str>,
}

/// [`summarize`], and the removed and added lines, from one line diff.
pub fn summarize_with_lines<'a>(old: &'a str, new: &'a str) -> (DiffSummary, ChangedLines<'a>) {
    let diff = LineDiff::new(old, new);
    let mut out = ChangedLines {
        removed: Vec::new(),
        added: Vec::new(),
    };
    for op in &diff.ops {
        if matches!(op, DiffOp::Equal { .. }) {
            continue;
        }
        out.removed.extend_from_slice(&diff.old[op.old_range()]);
        out.added.extend_from_slice(&diff.new[op.new_range()]);
    }
    (diff.summary(), out)
}

/// Renders the diff from `old` to `new` in `format`.
///
/// Text formats end with a newline and are empty when the texts are equal;
/// JSON is always a complete document (with no hunks when equal). Colour is
/// only used when `opts.color`, and never in JSON or HTML (HTML is always
/// styled, and its page text always escaped).
pub fn render(old: &str, new: &str, format: Format, opts: &RenderOptions) -> String {
    let diff = LineDiff::new(old, new);
    match format {
        Format::Unified => text::unified(&diff, opts),
        Format::Word => text::word(&diff, opts),
        Format::SideBySide => side::render(&diff, opts),
        Format::Json => json::render(&diff, opts),
        Format::Html => html::render(&diff, opts),
    }
}

/// The line diff every output is built from.
struct LineDiff<'a> {
    old: Vec<&'a str>,
    new: Vec<&'a str>,
    ops: Vec<DiffOp>,
}

fn split_lines(text: &str) -> Vec<&str> {
    if text.is_empty() {
        Vec::new()
    } else {
        text.split('\n').collect()
    }
}

impl<'a> LineDiff<'a> {
    fn new(old: &'a str, new: &'a str) -> Self {
        let old = split_lines(old);
        let new = split_lines(new);
        let deadline = Instant::now() + LINE_DIFF_TIMEOUT;
        // Histogram anchors on rare lines, like git's, which keeps repeated
        // short lines ("Share", dates) from pairing up across sections.
        let ops =
            similar::capture_diff_slices_deadline(Algorithm::Histogram, &old, &new, Some(deadline));
        LineDiff { old, new, ops }
    }

    fn is_identical(&self) -> bool {
        self.ops.iter().all(|op| matches!(op, DiffOp::Equal { .. }))
    }

    fn summary(&self) -> DiffSummary {
        let mut added = 0usize;
        let mut removed = 0usize;
        let mut unchanged = 0usize;
        for op in &self.ops {
            match *op {
                DiffOp::Equal { len, .. } => unchanged += len,
                _ => {
                    let (old, new) = (op.old_range(), op.new_range());
                    removed += old.len();
                    added += new.len();
                }
            }
        }
        let total = self.old.len() + self.new.len();
        let changed_ratio = if total == 0 {
            0.0
        } else {
            1.0 - (2 * unchanged) as f64 / total as f64
        };
        DiffSummary {
            lines_added: saturating_u32(added),
            lines_removed: saturating_u32(removed),
            changed_ratio,
            first_change: excerpt::first_headline(self),
        }
    }

    /// Groups the ops into hunks with `context` unchanged lines around changes.
    fn hunks(&self, context: usize) -> Vec<Hunk> {
        if self.is_identical() {
            return Vec::new();
        }
        similar::group_diff_ops(self.ops.clone(), context)
            .into_iter()
            .filter_map(|group| {
                let first = group.first()?;
                let last = group.last()?;
                let old = first.old_range().start..last.old_range().end;
                let new = first.new_range().start..last.new_range().end;
                let blocks = group
                    .iter()
                    .map(|op| match *op {
                        DiffOp::Equal { .. } => Block::Same {
                            old: op.old_range(),
                        },
                        _ => Block::Change {
                            old: op.old_range(),
                            new: op.new_range(),
                        },
                    })
                    .collect();
                Some(Hunk { old, new, blocks })
            })
            .collect()
    }
}

fn first_nonblank<'a>(lines: &[&'a str]) -> Option<&'a str> {
    lines.iter().map(|l| l.trim()).find(|l| !l.is_empty())
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Cuts `line` to [`FIRST_CHANGE_MAX_CHARS`] characters, marking a cut with `…`.
fn shorten(line: &str) -> String {
    shorten_to(line, FIRST_CHANGE_MAX_CHARS)
}

/// Cuts `text` to `max` characters, the `…` marking a cut included.
fn shorten_to(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some(_) => {
            let end = text
                .char_indices()
                .nth(max - 1)
                .map_or(text.len(), |(i, _)| i);
            format!("{}…", text[..end].trim_end())
        }
    }
}

/// A run of lines shown together, with line indices (0-based) into both texts.
struct Hunk {
    old: Range<usize>,
    new: Range<usize>,
    blocks: Vec<Block>,
}

impl Hunk {
    /// The `@@ -a,b +c,d @@` header, numbered as GNU `diff -u` does: 1-based,
    /// `,1` omitted, and an empty side names the line before it.
    fn header(&self) -> String {
        format!(
            "@@ -{} +{} @@",
            header_range(&self.old),
            header_range(&self.new)
        )
    }
}

/// Start line as printed in a hunk header for a 0-based `range`.
fn header_start(range: &Range<usize>) -> usize {
    if range.is_empty() {
        range.start
    } else {
        range.start + 1
    }
}

fn header_range(range: &Range<usize>) -> String {
    let start = header_start(range);
    match range.len() {
        1 => start.to_string(),
        len => format!("{start},{len}"),
    }
}

/// Unchanged lines, or a region where old lines were replaced by new ones
/// (either side may be empty).
enum Block {
    Same {
        old: Range<usize>,
    },
    Change {
        old: Range<usize>,
        new: Range<usize>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(old: &str, new: &str) -> (u32, u32, f64, Option<String>) {
        let s = summarize(old, new);
        (
            s.lines_added,
            s.lines_removed,
            s.changed_ratio,
            s.first_change,
        )
    }

    #[test]
    fn summary_of_an_added_line() {
        assert_eq!(
            summary("a\nb\nc", "a\nb\n  new line \nc"),
            (1, 0, 1.0 - 6.0 / 7.0, Some("added \"new line\"".to_owned()))
        );
    }

    #[test]
    fn summary_of_a_removed_line() {
        assert_eq!(
            summary("a\ngone\nc\nd", "a\nc\nd"),
            (0, 1, 1.0 - 6.0 / 7.0, Some("removed \"gone\"".to_owned()))
        );
    }

    #[test]
    fn summary_of_a_replaced_line_names_both_sides() {
        assert_eq!(
            summary("a\nold\nc", "a\nnew\nc"),
            (1, 1, 1.0 - 4.0 / 6.0, Some("\"old\" → \"new\"".to_owned()))
        );
    }

    #[test]
    fn summary_skips_blank_inserted_lines() {
        assert_eq!(
            summary("a\nold", "a\n \nnew"),
            (2, 1, 1.0 - 2.0 / 5.0, Some("\"old\" → \"new\"".to_owned()))
        );
    }

    #[test]
    fn summary_of_identical_texts() {
        assert_eq!(summary("a\nb", "a\nb"), (0, 0, 0.0, None));
        assert_eq!(summary("", ""), (0, 0, 0.0, None));
    }

    #[test]
    fn summary_of_empty_versus_text() {
        assert_eq!(
            summary("", "first\nsecond"),
            (2, 0, 1.0, Some("\"first\"".to_owned()))
        );
        assert_eq!(
            summary("first\nsecond", ""),
            (0, 2, 1.0, Some("\"first\"".to_owned()))
        );
    }

    #[test]
    fn first_change_cuts_a_long_cjk_line_at_80_chars() {
        let line = "中华人民共和国驻英国大使馆发言人就英方近期涉华错误言论答记者问。".repeat(4);
        assert!(line.chars().count() > 80);
        let first = summarize("", &line).first_change.expect("a line was added");
        assert_eq!(first.chars().count(), 80 + 2, "80 and the quotes");
        let expected: String = line.chars().take(79).chain(['…']).collect();
        assert_eq!(first, format!("\"{expected}\""));
    }

    #[test]
    fn first_change_keeps_a_line_of_exactly_80_chars() {
        let line = "x".repeat(80);
        assert_eq!(
            summarize("", &line).first_change,
            Some(format!("\"{line}\""))
        );
    }

    #[test]
    fn hunk_headers_follow_gnu_diff() {
        let hunk = |old, new| Hunk {
            old,
            new,
            blocks: Vec::new(),
        };
        assert_eq!(hunk(0..3, 0..4).header(), "@@ -1,3 +1,4 @@");
        assert_eq!(hunk(4..5, 4..5).header(), "@@ -5 +5 @@");
        assert_eq!(hunk(0..0, 0..2).header(), "@@ -0,0 +1,2 @@");
        assert_eq!(hunk(3..3, 3..4).header(), "@@ -3,0 +4 @@");
    }

    #[test]
    fn colour_off_never_emits_escapes() {
        let opts = RenderOptions::default();
        let (old, new) = (
            "a\nb\n外交部发言人就此事发表谈话。",
            "a\nB\n外交部发言人就该事件发表书面谈话。",
        );
        for format in [
            Format::Unified,
            Format::Word,
            Format::SideBySide,
            Format::Json,
        ] {
            let out = render(old, new, format, &opts);
            assert!(!out.is_empty(), "{format:?} rendered nothing");
            assert!(!out.contains('\x1b'), "{format:?}: {out}");
        }
    }

    #[test]
    fn colour_on_emits_escapes_except_in_json() {
        let opts = RenderOptions {
            color: true,
            ..RenderOptions::default()
        };
        for format in [Format::Unified, Format::Word, Format::SideBySide] {
            let out = render("a\nb", "a\nc", format, &opts);
            assert!(out.contains("\x1b["), "{format:?}: {out}");
        }
        assert!(!render("a\nb", "a\nc", Format::Json, &opts).contains('\x1b'));
    }
}
