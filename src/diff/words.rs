//! Word segmentation and word-level (inline) diffs of changed lines.
//!
//! Lines are cut into words with ICU's segmenter, which uses dictionaries
//! for Chinese and Japanese: a sentence without spaces becomes words, not one
//! token per character (unicode-segmentation) or one per line. A changed
//! region's old and new lines are then paired by similarity, and each pair
//! is diffed word by word.

use std::ops::Range;
use std::sync::LazyLock;
use std::time::Instant;

use icu_segmenter::{WordSegmenter, WordSegmenterBorrowed, options::WordBreakInvariantOptions};
use similar::{Algorithm, DiffOp};

/// Built once: construction loads the dictionaries and models.
static SEGMENTER: LazyLock<WordSegmenterBorrowed<'static>> =
    LazyLock::new(|| WordSegmenter::new_auto(WordBreakInvariantOptions::default()));

/// Splits `text` into words and the runs between them (spaces, punctuation),
/// by Unicode rules with dictionaries for Chinese and Japanese.
///
/// Guarantees: the tokens concatenate to `text`, none is empty, and the empty
/// string has no tokens. Inline diffs work on these tokens, so an edit in
/// `外交部发言人就此事发表谈话。` marks `此事`, not the sentence.
pub fn words(text: &str) -> Vec<&str> {
    boundaries(text)
        .windows(2)
        .map(|w| &text[w[0]..w[1]])
        .collect()
}

/// Byte offsets of word boundaries, including 0 and `text.len()` (just `[0]`
/// for the empty string).
fn boundaries(text: &str) -> Vec<usize> {
    SEGMENTER.segment_str(text).collect()
}

/// Lines at least this similar (share of bytes kept, see [`Inline::ratio`])
/// are shown as one edited line; less similar ones as a deletion and an
/// insertion, because interleaving mostly unrelated words is unreadable.
const PAIR_MIN_RATIO: f64 = 0.4;

/// A candidate this similar is taken without looking further, which keeps
/// a page where every line was touched (a date format change) cheap.
const PAIR_SURE_RATIO: f64 = 0.8;

/// How many new lines ahead an old line looks for its edited counterpart.
/// Small, so pairing stays linear in the size of a changed region.
const PAIR_WINDOW: usize = 4;

/// One piece of a word-diffed line pair, as byte ranges into the old and new
/// line. `Same` ranges hold equal text; a `Changed` piece replaces its old
/// range by its new one, and either may be empty (pure deletion or insertion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Chunk {
    Same {
        old: Range<usize>,
        new: Range<usize>,
    },
    Changed {
        old: Range<usize>,
        new: Range<usize>,
    },
}

/// The word diff of one old line against one new line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Inline {
    pub(super) chunks: Vec<Chunk>,
}

impl Inline {
    /// Share of the two lines' bytes that is unchanged, 0.0 to 1.0. Bytes,
    /// not tokens, so a long kept word outweighs a changed comma.
    fn ratio(&self, old: &str, new: &str) -> f64 {
        let total = old.len() + new.len();
        if total == 0 {
            return 1.0;
        }
        let same: usize = self
            .chunks
            .iter()
            .map(|c| match c {
                Chunk::Same { old, .. } => old.len(),
                Chunk::Changed { .. } => 0,
            })
            .sum();
        (2 * same) as f64 / total as f64
    }
}

fn inline_diff_bounds(
    old: &str,
    old_bounds: &[usize],
    new: &str,
    new_bounds: &[usize],
    deadline: Instant,
) -> Inline {
    let old_tokens: Vec<&str> = old_bounds.windows(2).map(|w| &old[w[0]..w[1]]).collect();
    let new_tokens: Vec<&str> = new_bounds.windows(2).map(|w| &new[w[0]..w[1]]).collect();
    let ops = similar::capture_diff_slices_deadline(
        Algorithm::Myers,
        &old_tokens,
        &new_tokens,
        Some(deadline),
    );
    // Token index ranges become byte ranges: token i spans bounds[i]..bounds[i + 1].
    let bytes = |bounds: &[usize], r: Range<usize>| bounds[r.start]..bounds[r.end];
    let mut chunks: Vec<Chunk> = Vec::with_capacity(ops.len());
    for op in &ops {
        let old = bytes(old_bounds, op.old_range());
        let new = bytes(new_bounds, op.new_range());
        match op {
            DiffOp::Equal { .. } => chunks.push(Chunk::Same { old, new }),
            _ => match chunks.last_mut() {
                // Compact can leave a delete next to an insert; one change.
                Some(Chunk::Changed { old: o, new: n }) => {
                    o.end = old.end;
                    n.end = new.end;
                }
                _ => chunks.push(Chunk::Changed { old, new }),
            },
        }
    }
    let chunks = trim_wide_affixes(chunks, old, new);
    Inline {
        chunks: absorb_blank_gaps(chunks, old),
    }
}

/// Moves wide (CJK) characters common to both sides of a change out of it.
///
/// Dictionary segmentation is context-dependent: `就此事` splits as `就此|事`
/// but `就该事件` as `就|该|事件`, so a one-word edit can drag a neighbour
/// into the change. Chinese and Japanese words are short and unspaced, so a
/// shared leading or trailing character is shown as unchanged. Narrow
/// characters are left alone: `T[-uesday-]{+hursday+}` would be worse than
/// a whole English word.
fn trim_wide_affixes(chunks: Vec<Chunk>, old: &str, new: &str) -> Vec<Chunk> {
    let mut out: Vec<Chunk> = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let Chunk::Changed { old: o, new: n } = chunk else {
            push_merging(&mut out, chunk);
            continue;
        };
        let (os, ns) = (&old[o.clone()], &new[n.clone()]);
        let prefix: usize = os
            .chars()
            .zip(ns.chars())
            .take_while(|&(a, b)| a == b && is_wide(a))
            .map(|(a, _)| a.len_utf8())
            .sum();
        let suffix: usize = os[prefix..]
            .chars()
            .rev()
            .zip(ns[prefix..].chars().rev())
            .take_while(|&(a, b)| a == b && is_wide(a))
            .map(|(a, _)| a.len_utf8())
            .sum();
        let mid_old = o.start + prefix..o.end - suffix;
        let mid_new = n.start + prefix..n.end - suffix;
        if prefix > 0 {
            push_merging(
                &mut out,
                Chunk::Same {
                    old: o.start..mid_old.start,
                    new: n.start..mid_new.start,
                },
            );
        }
        if !mid_old.is_empty() || !mid_new.is_empty() {
            out.push(Chunk::Changed {
                old: mid_old.clone(),
                new: mid_new.clone(),
            });
        }
        if suffix > 0 {
            push_merging(
                &mut out,
                Chunk::Same {
                    old: mid_old.end..o.end,
                    new: mid_new.end..n.end,
                },
            );
        }
    }
    out
}

fn is_wide(ch: char) -> bool {
    unicode_width::UnicodeWidthChar::width(ch) == Some(2)
}

/// Pushes `chunk`, joining it to a preceding `Same` chunk it continues.
fn push_merging(out: &mut Vec<Chunk>, chunk: Chunk) {
    if let (Some(Chunk::Same { old: lo, new: ln }), Chunk::Same { old, new }) =
        (out.last_mut(), &chunk)
        && lo.end == old.start
        && ln.end == new.start
    {
        lo.end = old.end;
        ln.end = new.end;
        return;
    }
    out.push(chunk);
}

/// Merges `[-a-]{+b+} [-c-]{+d+}` into `[-a c-]{+b d+}`: a lone space between
/// two changes is noise, and the merged form reads as one phrase replaced.
fn absorb_blank_gaps(chunks: Vec<Chunk>, old: &str) -> Vec<Chunk> {
    let mut out: Vec<Chunk> = Vec::with_capacity(chunks.len());
    let mut iter = chunks.into_iter().peekable();
    while let Some(chunk) = iter.next() {
        let is_gap = match (&chunk, out.last(), iter.peek()) {
            (
                Chunk::Same { old: r, .. },
                Some(Chunk::Changed { .. }),
                Some(Chunk::Changed { .. }),
            ) => old[r.clone()].chars().all(char::is_whitespace),
            _ => false,
        };
        if is_gap {
            let next = iter.next();
            if let (
                Some(Chunk::Changed { old: o, new: n }),
                Some(Chunk::Changed { old: no, new: nn }),
            ) = (out.last_mut(), next)
            {
                o.end = no.end;
                n.end = nn.end;
            }
        } else {
            out.push(chunk);
        }
    }
    out
}

/// An old line (index into the old text) shown as an edit of a new line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pair {
    pub(super) old: usize,
    pub(super) new: usize,
    pub(super) inline: Inline,
}

/// Pairs the old lines `old_range` with the new lines `new_range` they were
/// edited into, in order, and word-diffs each pair.
///
/// Greedy: each old line takes the most similar of the next
/// [`PAIR_WINDOW`] unpaired new lines if it is similar enough (the first
/// one at least [`PAIR_SURE_RATIO`] similar, if any). Past
/// `deadline`, the remaining lines stay unpaired (shown whole).
pub(super) fn pair_lines(
    old_lines: &[&str],
    old_range: Range<usize>,
    new_lines: &[&str],
    new_range: Range<usize>,
    deadline: Instant,
) -> Vec<Pair> {
    let mut pairs = Vec::new();
    if old_range.is_empty() || new_range.is_empty() {
        return pairs;
    }
    let mut new_bounds: Vec<Option<Vec<usize>>> = vec![None; new_range.len()];
    let mut next_new = new_range.start;
    for old in old_range {
        if next_new >= new_range.end || Instant::now() > deadline {
            break;
        }
        let old_text = old_lines[old];
        let old_bounds = boundaries(old_text);
        let mut best: Option<(f64, usize, Inline)> = None;
        for new in next_new..new_range.end.min(next_new + PAIR_WINDOW) {
            let new_text = new_lines[new];
            let bounds =
                new_bounds[new - new_range.start].get_or_insert_with(|| boundaries(new_text));
            let inline = inline_diff_bounds(old_text, &old_bounds, new_text, bounds, deadline);
            let ratio = inline.ratio(old_text, new_text);
            if ratio >= PAIR_MIN_RATIO && best.as_ref().is_none_or(|(r, _, _)| ratio > *r) {
                best = Some((ratio, new, inline));
                if ratio >= PAIR_SURE_RATIO {
                    break;
                }
            }
        }
        if let Some((_, new, inline)) = best {
            pairs.push(Pair { old, new, inline });
            next_new = new + 1;
        }
    }
    pairs
}

/// One row of a changed region, in reading order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Row<'p> {
    Deleted(usize),
    Inserted(usize),
    Edited(&'p Pair),
}

/// Lays out a changed region: before each pair, the unpaired old lines, then
/// the unpaired new lines; after the last pair, the rest the same way.
pub(super) fn rows<'p>(old: Range<usize>, new: Range<usize>, pairs: &'p [Pair]) -> Vec<Row<'p>> {
    let mut rows = Vec::with_capacity(old.len() + new.len());
    let (mut o, mut n) = (old.start, new.start);
    for pair in pairs {
        rows.extend((o..pair.old).map(Row::Deleted));
        rows.extend((n..pair.new).map(Row::Inserted));
        rows.push(Row::Edited(pair));
        (o, n) = (pair.old + 1, pair.new + 1);
    }
    rows.extend((o..old.end).map(Row::Deleted));
    rows.extend((n..new.end).map(Row::Inserted));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Diffs two lines word by word.
    fn inline_diff(old: &str, new: &str, deadline: Instant) -> Inline {
        inline_diff_bounds(old, &boundaries(old), new, &boundaries(new), deadline)
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    #[test]
    fn words_splits_chinese_with_the_dictionary() {
        assert_eq!(
            words("中华人民共和国驻英国大使馆"),
            ["中华", "人民", "共和国", "驻", "英国", "大使", "馆"]
        );
    }

    #[test]
    fn words_splits_japanese_with_the_dictionary() {
        assert_eq!(
            words("外交部発表：日本国大使館からのお知らせ"),
            [
                "外交部",
                "発表",
                "：",
                "日本国",
                "大使館",
                "から",
                "の",
                "お知らせ"
            ]
        );
    }

    #[test]
    fn words_splits_english_at_spaces_and_punctuation() {
        assert_eq!(
            words("The Embassy's statement, issued today."),
            [
                "The",
                " ",
                "Embassy's",
                " ",
                "statement",
                ",",
                " ",
                "issued",
                " ",
                "today",
                "."
            ]
        );
    }

    #[test]
    fn words_concatenate_to_the_input() {
        for text in [
            "",
            " ",
            "外交部发言人就此事发表谈话。Press release: 2026-11-28 (UTC)",
            "Ελληνικά και русский текст — ทุกสองสัปดาห์ 👍🏽 done",
        ] {
            let tokens = words(text);
            assert_eq!(tokens.concat(), text);
            assert!(tokens.iter().all(|t| !t.is_empty()), "{tokens:?}");
        }
        assert!(words("").is_empty());
    }

    /// Renders an inline diff git-style for compact assertions.
    fn marked(old: &str, new: &str) -> String {
        let inline = inline_diff(old, new, later());
        let mut out = String::new();
        for chunk in &inline.chunks {
            match chunk {
                Chunk::Same { old: r, .. } => out.push_str(&old[r.clone()]),
                Chunk::Changed { old: o, new: n } => {
                    if !o.is_empty() {
                        out.push_str(&format!("[-{}-]", &old[o.clone()]));
                    }
                    if !n.is_empty() {
                        out.push_str(&format!("{{+{}+}}", &new[n.clone()]));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn chinese_edit_marks_only_the_changed_words() {
        assert_eq!(
            marked(
                "外交部发言人就此事发表谈话。",
                "外交部发言人就该事件发表书面谈话。"
            ),
            "外交部发言人就[-此事-]{+该事件+}发表{+书面+}谈话。"
        );
    }

    #[test]
    fn english_one_word_edit_marks_that_word() {
        assert_eq!(
            marked(
                "The ambassador met the foreign minister on Tuesday to discuss trade and security.",
                "The ambassador met the foreign minister on Wednesday to discuss trade and security."
            ),
            "The ambassador met the foreign minister on [-Tuesday-]{+Wednesday+} to discuss trade and security."
        );
    }

    #[test]
    fn a_space_between_two_changes_joins_them() {
        assert_eq!(
            marked("we strongly condemn this", "we firmly reject this"),
            "we [-strongly condemn-]{+firmly reject+} this"
        );
    }

    #[test]
    fn pairing_skips_an_inserted_line_to_find_the_edit() {
        let old = ["Statement on the visit.", "unrelated"];
        let new = [
            "A brand new opening paragraph here.",
            "Statement on the state visit.",
        ];
        let pairs = pair_lines(&old, 0..1, &new, 0..2, later());
        assert_eq!(pairs.len(), 1);
        assert_eq!((pairs[0].old, pairs[0].new), (0, 1));
        let rows = rows(0..1, 0..2, &pairs);
        assert_eq!(rows, [Row::Inserted(0), Row::Edited(&pairs[0])]);
    }

    #[test]
    fn dissimilar_lines_are_not_paired() {
        let old = ["Visa services are suspended."];
        let new = ["关于春节期间领事业务安排的通知"];
        assert!(pair_lines(&old, 0..1, &new, 0..1, later()).is_empty());
    }
}
