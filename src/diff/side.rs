//! Side-by-side rendering: old text left, new text right, a marker between.
//!
//! Widths are display columns (CJK characters take two), and long lines
//! wrap inside their column, so no text is lost and no row is wider than
//! the requested width. Chars are never split; a wide char that does not
//! fit at the end of a row moves to the next one.

use std::fmt::Write as _;
use std::time::Instant;

use anstyle::Style;
use unicode_width::UnicodeWidthChar;

use super::text::{DELETED, HEADER, INSERTED};
use super::words::{self, Chunk, Row};
use super::{Block, INLINE_TIMEOUT, LineDiff, MIN_SIDE_BY_SIDE_WIDTH, RenderOptions};

/// Line between hunks, standing for the unchanged lines left out.
const HUNK_SEPARATOR: &str = "···";

/// A piece of text in a cell, with the style it gets when colour is on.
type Span<'a> = (Option<Style>, &'a str);

/// One rendered row of the table: left cell, marker, right cell.
struct TableRow<'a> {
    left: Vec<Span<'a>>,
    marker: char,
    right: Vec<Span<'a>>,
}

/// Old left, new right, only hunks with context; empty when the texts are equal.
pub(super) fn render(diff: &LineDiff<'_>, opts: &RenderOptions) -> String {
    let hunks = diff.hunks(opts.context_lines);
    let mut out = String::new();
    if hunks.is_empty() {
        return out;
    }
    let width = opts.width.max(MIN_SIDE_BY_SIDE_WIDTH);
    let column = (width - 3) / 2;
    let deadline = Instant::now() + INLINE_TIMEOUT;
    let header = TableRow {
        left: vec![(Some(HEADER), &opts.old_label)],
        marker: ' ',
        right: vec![(Some(HEADER), &opts.new_label)],
    };
    write_row(&mut out, &header, column, opts.color, Overflow::Truncate);
    for (n, hunk) in hunks.iter().enumerate() {
        if n > 0 {
            out.push_str(HUNK_SEPARATOR);
            out.push('\n');
        }
        for block in &hunk.blocks {
            match block {
                Block::Same { old } => {
                    for text in &diff.old[old.clone()] {
                        let row = TableRow {
                            left: vec![(None, text)],
                            marker: ' ',
                            right: vec![(None, text)],
                        };
                        write_row(&mut out, &row, column, opts.color, Overflow::Wrap);
                    }
                }
                Block::Change { old, new } => {
                    let pairs =
                        words::pair_lines(&diff.old, old.clone(), &diff.new, new.clone(), deadline);
                    let rows = words::rows(old.clone(), new.clone(), &pairs);
                    for row in table_rows(diff, &rows) {
                        write_row(&mut out, &row, column, opts.color, Overflow::Wrap);
                    }
                }
            }
        }
    }
    out
}

/// Turns a changed region's rows into table rows. Unpaired deletions and
/// insertions that meet are set side by side as changed (`|`), as `sdiff`
/// does; only the surplus gets `<` or `>`.
fn table_rows<'a>(diff: &LineDiff<'a>, rows: &[Row<'_>]) -> Vec<TableRow<'a>> {
    let mut table = Vec::with_capacity(rows.len());
    let mut i = 0;
    while i < rows.len() {
        match rows[i] {
            Row::Edited(pair) => {
                let (o, n) = (diff.old[pair.old], diff.new[pair.new]);
                let mut left = Vec::new();
                let mut right = Vec::new();
                for chunk in &pair.inline.chunks {
                    match chunk {
                        Chunk::Same { old, new } => {
                            left.push((None, &o[old.clone()]));
                            right.push((None, &n[new.clone()]));
                        }
                        Chunk::Changed { old, new } => {
                            left.push((Some(DELETED), &o[old.clone()]));
                            right.push((Some(INSERTED), &n[new.clone()]));
                        }
                    }
                }
                table.push(TableRow {
                    left,
                    marker: '|',
                    right,
                });
                i += 1;
            }
            _ => {
                let deleted: Vec<usize> = rows[i..]
                    .iter()
                    .map_while(|r| match r {
                        Row::Deleted(k) => Some(*k),
                        _ => None,
                    })
                    .collect();
                i += deleted.len();
                let inserted: Vec<usize> = rows[i..]
                    .iter()
                    .map_while(|r| match r {
                        Row::Inserted(k) => Some(*k),
                        _ => None,
                    })
                    .collect();
                i += inserted.len();
                for k in 0..deleted.len().max(inserted.len()) {
                    let left = deleted.get(k).map(|&d| (Some(DELETED), diff.old[d]));
                    let right = inserted.get(k).map(|&d| (Some(INSERTED), diff.new[d]));
                    let marker = match (left, right) {
                        (Some(_), Some(_)) => '|',
                        (Some(_), None) => '<',
                        _ => '>',
                    };
                    table.push(TableRow {
                        left: left.into_iter().collect(),
                        marker,
                        right: right.into_iter().collect(),
                    });
                }
            }
        }
    }
    table
}

/// What to do with a cell wider than its column.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    /// Continue on further rows.
    Wrap,
    /// Cut, ending the cell with `…`.
    Truncate,
}

/// Lays `spans` out in rows at most `column` display columns wide. Returns
/// each row's text (with escapes when `color`) and its display width.
fn layout(
    spans: &[Span<'_>],
    column: usize,
    color: bool,
    overflow: Overflow,
) -> Vec<(String, usize)> {
    let mut rows = Vec::new();
    let mut cur = String::new();
    let mut cur_width = 0;
    let total: usize = spans.iter().map(|(_, t)| str_width(t)).sum();
    let limit = match overflow {
        Overflow::Truncate if total > column => column - 1,
        _ => column,
    };
    'spans: for &(style, text) in spans {
        let style = style.filter(|_| color && !text.is_empty());
        if let Some(s) = style {
            let _ = write!(cur, "{}", s.render());
        }
        // Whole words move to the next row (Unicode word boundaries, with
        // dictionaries for Chinese and Japanese); only a word wider than
        // the column is cut.
        for token in words::words(text) {
            let width = str_width(token);
            if overflow == Overflow::Wrap && cur_width + width > limit && cur_width > 0 {
                if token.chars().all(char::is_whitespace) {
                    // A space at the end of a row is dropped.
                    new_row(&mut rows, &mut cur, &mut cur_width, style);
                    continue;
                }
                if width <= limit {
                    new_row(&mut rows, &mut cur, &mut cur_width, style);
                }
            }
            for ch in token.chars() {
                let w = char_width(ch);
                if cur_width + w > limit {
                    if overflow == Overflow::Truncate {
                        if let Some(s) = style {
                            let _ = write!(cur, "{}", s.render_reset());
                        }
                        cur.push('…');
                        cur_width += 1;
                        break 'spans;
                    }
                    new_row(&mut rows, &mut cur, &mut cur_width, style);
                }
                cur.push(ch);
                cur_width += w;
            }
        }
        if let Some(s) = style {
            let _ = write!(cur, "{}", s.render_reset());
        }
    }
    rows.push((cur, cur_width));
    rows
}

/// Ends the current row (closing and reopening `style` around the break).
fn new_row(
    rows: &mut Vec<(String, usize)>,
    cur: &mut String,
    cur_width: &mut usize,
    style: Option<Style>,
) {
    if let Some(s) = style {
        let _ = write!(cur, "{}", s.render_reset());
    }
    rows.push((std::mem::take(cur), *cur_width));
    *cur_width = 0;
    if let Some(s) = style {
        let _ = write!(cur, "{}", s.render());
    }
}

/// Display columns of `ch`; control characters count as zero.
fn char_width(ch: char) -> usize {
    ch.width().unwrap_or(0)
}

fn str_width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

fn write_row(out: &mut String, row: &TableRow<'_>, column: usize, color: bool, overflow: Overflow) {
    let left = layout(&row.left, column, color, overflow);
    let right = layout(&row.right, column, color, overflow);
    for k in 0..left.len().max(right.len()) {
        let (l, lw) = left.get(k).map_or(("", 0), |(s, w)| (s.as_str(), *w));
        // A row broken after a space would end in it.
        let r = right
            .get(k)
            .map_or("", |(s, _)| s.as_str().trim_end_matches(' '));
        out.push_str(l);
        out.extend(std::iter::repeat_n(' ', column - lw));
        out.push(' ');
        out.push(row.marker);
        if !r.is_empty() {
            out.push(' ');
            out.push_str(r);
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Format, render};
    use super::*;

    fn opts(width: usize) -> RenderOptions {
        RenderOptions {
            width,
            context_lines: 1,
            ..RenderOptions::default()
        }
    }

    #[test]
    fn side_by_side_is_exact_for_a_small_case() {
        let out = render(
            "a\nb\nc\nd\ne\nf\ng\nh",
            "a\nB\nc\nd\ne\nf\nh\ni",
            Format::SideBySide,
            &opts(23),
        );
        // Columns are (23 - 3) / 2 = 10 wide.
        assert_eq!(
            out,
            "old          new\n\
             a            a\n\
             b          | B\n\
             c            c\n\
             ···\n\
             f            f\n\
             g          <\n\
             h            h\n\
             \x20          > i\n"
        );
    }

    /// The right cell of an output row: what follows the left column and ` m `.
    fn right_cell(line: &str, column: usize) -> &str {
        let mut width = 0;
        for (i, ch) in line.char_indices() {
            if width == column + 3 {
                return &line[i..];
            }
            width += char_width(ch);
        }
        ""
    }

    #[test]
    fn side_by_side_with_cjk_never_exceeds_the_width() {
        let old = "中华人民共和国驻英国大使馆发言人就英方近期涉华错误言论答记者问\nshort";
        let new = "中华人民共和国驻英国大使馆发言人就英方近日涉华错误言论答记者问，全文如下\nshort\n新增：外交部发言人就此事发表书面谈话。";
        for width in [0, 7, 8, 9, 20, 21, 40, 80] {
            let out = render(old, new, Format::SideBySide, &opts(width));
            for line in out.lines() {
                let w = str_width(line);
                assert!(w <= width.max(7), "width {width}: {line:?} is {w} wide");
            }
            // Wrapping loses nothing: the right cells spell out the new text.
            let column = (width.max(7) - 3) / 2;
            let right: String = out.lines().skip(1).map(|l| right_cell(l, column)).collect();
            assert_eq!(right, new.replace('\n', ""), "width {width}");
        }
    }

    #[test]
    fn rows_break_between_words_not_inside_them() {
        let rows = layout(
            &[(None, "The ambassador met the foreign minister")],
            16,
            false,
            Overflow::Wrap,
        );
        let texts: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["The ambassador ", "met the foreign ", "minister"]);
        // A word wider than the column is cut, as it must be.
        let rows = layout(&[(None, "Counterterrorism")], 7, false, Overflow::Wrap);
        let texts: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["Counter", "terrori", "sm"]);
        // Chinese breaks between dictionary words.
        let rows = layout(
            &[(None, "外交部发言人就此事发表谈话")],
            10,
            false,
            Overflow::Wrap,
        );
        let texts: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["外交部发言", "人就此事", "发表谈话"]);
    }

    #[test]
    fn wide_chars_move_to_the_next_row_instead_of_splitting() {
        let rows = layout(&[(None, "a中文")], 4, false, Overflow::Wrap);
        assert_eq!(rows, [("a".to_owned(), 1), ("中文".to_owned(), 4)]);
        let rows = layout(&[(None, "中文字典")], 3, false, Overflow::Wrap);
        assert!(rows.iter().all(|(_, w)| *w <= 3), "{rows:?}");
        let rows = layout(&[(None, "a中文字")], 5, false, Overflow::Truncate);
        assert_eq!(rows, [("a中…".to_owned(), 4)]);
    }

    #[test]
    fn long_labels_are_truncated_in_the_header() {
        let o = RenderOptions {
            old_label: "uk-embassy@12 (2026-11-28T12:00:00Z)".to_owned(),
            ..opts(23)
        };
        let out = render("a", "b", Format::SideBySide, &o);
        assert_eq!(out.lines().next(), Some("uk-embass…   new"));
    }
}
