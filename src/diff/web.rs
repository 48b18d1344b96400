//! The web view's renderings: the word format and a side-by-side table,
//! marked with classes (`diff-hunk`, `<del>`, `<ins>`) rather than the
//! inline styles of the mail fragment, because the view's
//! Content-Security-Policy forbids inline styles. The same line pairing and
//! word diff as every other format (CJK by dictionary words); all page
//! text is escaped.

use std::fmt::Write as _;
use std::time::Instant;

use super::html::escape;
use super::words::{self, Chunk, Row};
use super::{Block, INLINE_TIMEOUT, LineDiff};

/// Which side of an edited line to show: the old with its deletions, or
/// the new with its insertions (`Both`: the word format, one line).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Old,
    New,
    Both,
}

fn marked(out: &mut String, tag: &str, text: &str) {
    let _ = write!(out, "<{tag}>{}</{tag}>", escape(text));
}

/// One edited line, marked for `side`.
fn edited(out: &mut String, o: &str, n: &str, pair: &words::Pair, side: Side) {
    for chunk in &pair.inline.chunks {
        match chunk {
            Chunk::Same { old, .. } => out.push_str(&escape(&o[old.clone()])),
            Chunk::Changed { old, new } => {
                if side != Side::New && !old.is_empty() {
                    marked(out, "del", &o[old.clone()]);
                }
                if side != Side::Old && !new.is_empty() {
                    marked(out, "ins", &n[new.clone()]);
                }
            }
        }
    }
}

/// The word format: changed places in `context` lines of context, inside
/// one `<pre class="diff">`; empty when the texts are equal.
pub fn words(old: &str, new: &str, context: usize) -> String {
    let diff = LineDiff::new(old, new);
    let hunks = diff.hunks(context);
    let mut out = String::new();
    if hunks.is_empty() {
        return out;
    }
    let deadline = Instant::now() + INLINE_TIMEOUT;
    out.push_str("<pre class=\"diff\">");
    for hunk in &hunks {
        let _ = writeln!(
            out,
            "<span class=\"diff-hunk\">{}</span>",
            escape(&hunk.header())
        );
        for block in &hunk.blocks {
            match block {
                Block::Same { old } => {
                    for text in &diff.old[old.clone()] {
                        out.push_str(&escape(text));
                        out.push('\n');
                    }
                }
                Block::Change { old, new } => {
                    let pairs =
                        words::pair_lines(&diff.old, old.clone(), &diff.new, new.clone(), deadline);
                    for row in words::rows(old.clone(), new.clone(), &pairs) {
                        match row {
                            Row::Deleted(i) => marked(&mut out, "del", diff.old[i]),
                            Row::Inserted(j) => marked(&mut out, "ins", diff.new[j]),
                            Row::Edited(pair) => edited(
                                &mut out,
                                diff.old[pair.old],
                                diff.new[pair.new],
                                pair,
                                Side::Both,
                            ),
                        }
                        out.push('\n');
                    }
                }
            }
        }
    }
    out.push_str("</pre>\n");
    out
}

/// Old text on the left, new on the right, one table row per line, with
/// the lines' numbers; changed words marked on each side. Empty when the
/// texts are equal.
pub fn side_by_side(old: &str, new: &str, context: usize) -> String {
    let diff = LineDiff::new(old, new);
    let hunks = diff.hunks(context);
    let mut out = String::new();
    if hunks.is_empty() {
        return out;
    }
    let deadline = Instant::now() + INLINE_TIMEOUT;
    out.push_str("<table class=\"side\"><thead><tr><th></th><th>before</th><th></th><th>after</th></tr></thead>\n");
    let cell = |out: &mut String, n: Option<usize>, body: Option<String>, class: &str| {
        match n {
            Some(n) => {
                let _ = write!(out, "<td class=\"n\">{}</td>", n + 1);
            }
            None => out.push_str("<td class=\"n\"></td>"),
        }
        let _ = write!(
            out,
            "<td class=\"{class}\">{}</td>",
            body.unwrap_or_default()
        );
    };
    for hunk in &hunks {
        let _ = writeln!(
            out,
            "<tbody><tr class=\"diff-hunk\"><td colspan=\"4\">{}</td></tr>",
            escape(&hunk.header())
        );
        for block in &hunk.blocks {
            match block {
                Block::Same { old } => {
                    for i in old.clone() {
                        out.push_str("<tr>");
                        cell(&mut out, Some(i), Some(escape(diff.old[i])), "same");
                        cell(
                            &mut out,
                            new_line_of(&diff, i),
                            Some(escape(diff.old[i])),
                            "same",
                        );
                        out.push_str("</tr>\n");
                    }
                }
                Block::Change { old, new } => {
                    let pairs =
                        words::pair_lines(&diff.old, old.clone(), &diff.new, new.clone(), deadline);
                    for row in words::rows(old.clone(), new.clone(), &pairs) {
                        out.push_str("<tr>");
                        match row {
                            Row::Deleted(i) => {
                                let mut body = String::new();
                                marked(&mut body, "del", diff.old[i]);
                                cell(&mut out, Some(i), Some(body), "old");
                                cell(&mut out, None, None, "none");
                            }
                            Row::Inserted(j) => {
                                cell(&mut out, None, None, "none");
                                let mut body = String::new();
                                marked(&mut body, "ins", diff.new[j]);
                                cell(&mut out, Some(j), Some(body), "new");
                            }
                            Row::Edited(pair) => {
                                let (o, n) = (diff.old[pair.old], diff.new[pair.new]);
                                let mut left = String::new();
                                edited(&mut left, o, n, pair, Side::Old);
                                let mut right = String::new();
                                edited(&mut right, o, n, pair, Side::New);
                                cell(&mut out, Some(pair.old), Some(left), "old");
                                cell(&mut out, Some(pair.new), Some(right), "new");
                            }
                        }
                        out.push_str("</tr>\n");
                    }
                }
            }
        }
        out.push_str("</tbody>\n");
    }
    out.push_str("</table>\n");
    out
}

/// The line of the new text that the unchanged old line `old_line` is
/// (the equal op holding it says where it went).
fn new_line_of(diff: &LineDiff<'_>, old_line: usize) -> Option<usize> {
    diff.ops.iter().find_map(|op| match *op {
        similar::DiffOp::Equal {
            old_index,
            new_index,
            len,
        } if (old_index..old_index + len).contains(&old_line) => {
            Some(new_index + (old_line - old_index))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_mark_the_changed_word_and_escape_page_text() {
        let old = "Statement\nThe minister met <b>them</b> on Tuesday.\nEnd";
        let new = "Statement\nThe minister met <b>them</b> on Wednesday.\nEnd";
        assert_eq!(
            words(old, new, 1),
            "<pre class=\"diff\"><span class=\"diff-hunk\">@@ -1,3 +1,3 @@</span>\n\
             Statement\n\
             The minister met &lt;b&gt;them&lt;/b&gt; on <del>Tuesday</del><ins>Wednesday</ins>.\n\
             End\n</pre>\n"
        );
        assert_eq!(words(old, old, 1), "");
    }

    #[test]
    fn side_by_side_puts_deletions_left_insertions_right_with_line_numbers() {
        let old = "标题\n外交部发言人就此事发表谈话。\n结束";
        let new = "标题\n外交部发言人就该事件发表谈话。\n结束\n补充";
        let html = side_by_side(old, new, 1);
        assert!(
            html.contains(
                "<tr><td class=\"n\">2</td><td class=\"old\">外交部发言人就<del>此事</del>发表谈话。</td>\
                 <td class=\"n\">2</td><td class=\"new\">外交部发言人就<ins>该事件</ins>发表谈话。</td></tr>"
            ),
            "{html}"
        );
        assert!(
            html.contains(
                "<tr><td class=\"n\"></td><td class=\"none\"></td><td class=\"n\">4</td><td class=\"new\"><ins>补充</ins></td></tr>"
            ),
            "{html}"
        );
        assert!(
            html.contains("<tr><td class=\"n\">3</td><td class=\"same\">结束</td><td class=\"n\">3</td><td class=\"same\">结束</td></tr>"),
            "{html}"
        );
    }

    #[test]
    fn unchanged_lines_after_removed_ones_carry_both_numbers() {
        let old = "a\nb\nc\nd\ne\nf";
        let new = "a\nd\ne\nf\ng";
        let html = side_by_side(old, new, 1);
        assert!(
            html.contains("<tr><td class=\"n\">4</td><td class=\"same\">d</td><td class=\"n\">2</td><td class=\"same\">d</td></tr>"),
            "{html}"
        );
        assert!(
            html.contains("<tr><td class=\"n\">6</td><td class=\"same\">f</td><td class=\"n\">4</td><td class=\"same\">f</td></tr>"),
            "{html}"
        );
    }
}
