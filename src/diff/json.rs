//! JSON rendering for scripts and the webhook: the summary and every hunk,
//! with word-level pieces on edited lines. Never coloured.
//!
//! Shape: `{"old", "new", "summary", "hunks": [{"old_start", "old_lines",
//! "new_start", "new_lines", "lines": [{"op", "text", "words"?}]}]}`. Hunk
//! numbers are those of the unified header (1-based; an empty side names the
//! line before it). Lines come in unified order: within a change, all
//! deletions, then all insertions. An edited line carries `words`, whose
//! texts concatenate to the line's text: `equal` and `delete` pieces on the
//! deleted line, `equal` and `insert` pieces on the inserted one.

use std::time::Instant;

use serde::Serialize;

use super::words::{self, Chunk, Pair};
use super::{Block, DiffSummary, INLINE_TIMEOUT, LineDiff, RenderOptions, header_start};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Op {
    Equal,
    Delete,
    Insert,
}

#[derive(Serialize)]
struct Document<'a> {
    old: &'a str,
    new: &'a str,
    summary: DiffSummary,
    hunks: Vec<Hunk<'a>>,
}

#[derive(Serialize)]
struct Hunk<'a> {
    old_start: usize,
    old_lines: usize,
    new_start: usize,
    new_lines: usize,
    lines: Vec<Line<'a>>,
}

#[derive(Serialize)]
struct Line<'a> {
    op: Op,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    words: Option<Vec<Word<'a>>>,
}

#[derive(Serialize)]
struct Word<'a> {
    op: Op,
    text: &'a str,
}

/// Pretty JSON ending in a newline; a complete document even when equal.
pub(super) fn render(diff: &LineDiff<'_>, opts: &RenderOptions) -> String {
    let deadline = Instant::now() + INLINE_TIMEOUT;
    let hunks = diff
        .hunks(opts.context_lines)
        .iter()
        .map(|hunk| {
            let mut lines = Vec::new();
            for block in &hunk.blocks {
                match block {
                    Block::Same { old } => {
                        lines.extend(diff.old[old.clone()].iter().map(|text| Line {
                            op: Op::Equal,
                            text,
                            words: None,
                        }));
                    }
                    Block::Change { old, new } => {
                        let pairs = words::pair_lines(
                            &diff.old,
                            old.clone(),
                            &diff.new,
                            new.clone(),
                            deadline,
                        );
                        let find = |side: fn(&Pair) -> usize, k: usize| {
                            pairs.iter().find(|p| side(p) == k)
                        };
                        lines.extend(old.clone().map(|i| Line {
                            op: Op::Delete,
                            text: diff.old[i],
                            words:
                                find(|p| p.old, i).map(|p| side_words(p, diff.old[i], Op::Delete)),
                        }));
                        lines.extend(new.clone().map(|j| Line {
                            op: Op::Insert,
                            text: diff.new[j],
                            words:
                                find(|p| p.new, j).map(|p| side_words(p, diff.new[j], Op::Insert)),
                        }));
                    }
                }
            }
            Hunk {
                old_start: header_start(&hunk.old),
                old_lines: hunk.old.len(),
                new_start: header_start(&hunk.new),
                new_lines: hunk.new.len(),
                lines,
            }
        })
        .collect();
    let document = Document {
        old: &opts.old_label,
        new: &opts.new_label,
        summary: diff.summary(),
        hunks,
    };
    let mut out = serde_json::to_string_pretty(&document)
        .expect("plain structs with string keys and finite floats always serialize");
    out.push('\n');
    out
}

/// The pieces of one side of an edited line: equal text and the side's own
/// changes (`op`), skipping the other side's.
///
/// Equal pieces that meet once the other side's changes are left out are
/// joined, so pieces alternate between `equal` and `op`.
fn side_words<'a>(pair: &Pair, line: &'a str, op: Op) -> Vec<Word<'a>> {
    let mut out: Vec<(Op, std::ops::Range<usize>)> = Vec::new();
    for chunk in &pair.inline.chunks {
        let (range, op) = match (chunk, op) {
            (Chunk::Same { old, .. }, Op::Delete) => (old.clone(), Op::Equal),
            (Chunk::Same { new, .. }, _) => (new.clone(), Op::Equal),
            (Chunk::Changed { old, .. }, Op::Delete) => (old.clone(), op),
            (Chunk::Changed { new, .. }, _) => (new.clone(), op),
        };
        if range.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last_op, last)) if *last_op == op && last.end == range.start => {
                last.end = range.end;
            }
            _ => out.push((op, range)),
        }
    }
    out.into_iter()
        .map(|(op, range)| Word {
            op,
            text: &line[range],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::RenderOptions;
    use super::super::{Format, render};
    use serde_json::{Value, json};

    fn parse(old: &str, new: &str) -> Value {
        let opts = RenderOptions {
            context_lines: 1,
            color: true,
            old_label: "mfa@1".to_owned(),
            new_label: "mfa@2".to_owned(),
            ..RenderOptions::default()
        };
        let out = render(old, new, Format::Json, &opts);
        assert!(out.ends_with("}\n"), "{out}");
        serde_json::from_str(&out).expect("render emits valid JSON")
    }

    #[test]
    fn json_has_summary_hunks_and_words() {
        let value = parse(
            "标题\n外交部发言人就此事发表谈话。\n结束\n删除的段落",
            "标题\n外交部发言人就该事件发表书面谈话。\n结束",
        );
        assert_eq!(
            value,
            json!({
                "old": "mfa@1",
                "new": "mfa@2",
                "summary": {
                    "lines_added": 1,
                    "lines_removed": 2,
                    "changed_ratio": 1.0 - 4.0 / 7.0,
                    "first_change": "\"此事\" → \"该事件\"",
                },
                "hunks": [{
                    "old_start": 1, "old_lines": 4, "new_start": 1, "new_lines": 3,
                    "lines": [
                        {"op": "equal", "text": "标题"},
                        {"op": "delete", "text": "外交部发言人就此事发表谈话。", "words": [
                            {"op": "equal", "text": "外交部发言人就"},
                            {"op": "delete", "text": "此事"},
                            {"op": "equal", "text": "发表谈话。"},
                        ]},
                        {"op": "insert", "text": "外交部发言人就该事件发表书面谈话。", "words": [
                            {"op": "equal", "text": "外交部发言人就"},
                            {"op": "insert", "text": "该事件"},
                            {"op": "equal", "text": "发表"},
                            {"op": "insert", "text": "书面"},
                            {"op": "equal", "text": "谈话。"},
                        ]},
                        {"op": "equal", "text": "结束"},
                        {"op": "delete", "text": "删除的段落"},
                    ],
                }],
            })
        );
    }

    #[test]
    fn json_of_identical_texts_has_no_hunks() {
        let value = parse("a\nb", "a\nb");
        assert_eq!(value["hunks"], json!([]));
        assert_eq!(value["summary"]["changed_ratio"], json!(0.0));
    }
}
