//! Where a change is, in a few words: the excerpts alerts, the `check` line
//! and the history lead with.
//!
//! A statement paragraph is often one line of a thousand characters; the
//! first changed *line* says nothing about where it changed. Each change is
//! cut down to the words that changed (paired lines are word-diffed exactly
//! as `diff --format word` does, so Chinese and Japanese are cut by
//! dictionary words), with a little unchanged text of the same line around
//! it to find it by.

use std::time::Instant;

use super::words::{self, Chunk, Row};
use super::{Block, INLINE_TIMEOUT, LineDiff, shorten_to as shorten};

/// Longest `before` / `after` of a [`Change`], in characters (with the `…`).
pub const SIDE_MAX_CHARS: usize = 500;

/// Unchanged text kept on each side of a change in its `context`, in
/// characters (whole words: a word that would cross the limit is left out).
const CONTEXT_CHARS: usize = 40;

/// A replacement whose sides are both narrower than this (in terminal
/// columns, so a CJK character counts two) takes a neighbouring word into
/// its headline.
const TINY_SIDE_WIDTH: usize = 4;

/// Lines of a changed block looked at when only its first changes are
/// wanted (the summary's headline).
const FIRST_LINES: usize = 16;

/// Longest side of a change in a [`Change::headline`], in characters.
const HEADLINE_SIDE_CHARS: usize = 36;

/// Longest side of a whole-line change inside `context`, in characters.
const CONTEXT_SIDE_CHARS: usize = 120;

/// One changed place: a run of words within a line, or whole lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The text taken out (empty for an insertion), at most
    /// [`SIDE_MAX_CHARS`] characters. Whole lines are joined with `\n`.
    pub before: String,
    /// The text put in (empty for a deletion), likewise.
    pub after: String,
    /// Unchanged text just before the change on its line: whole words, up
    /// to 40 characters, starting with `…` where cut (empty for whole lines).
    pub lead: String,
    /// Unchanged text just after it, likewise (ending with `…` where cut).
    pub tail: String,
    /// 1-based line of the change in the old text (for an insertion: the
    /// line it was inserted before; one past the end at the end).
    pub old_line: usize,
    /// 1-based line of the change in the new text (for a deletion: the line
    /// that now stands where it was).
    pub new_line: usize,
}

impl Change {
    /// The change where it stands: `lead`, the change marked
    /// `[-before-]{+after+}` (whole lines cut to 120 characters a side),
    /// `tail`.
    pub fn context(&self) -> String {
        if self.lead.is_empty() && self.tail.is_empty() {
            return marked(
                &shorten(&self.before.replace('\n', " "), CONTEXT_SIDE_CHARS),
                &shorten(&self.after.replace('\n', " "), CONTEXT_SIDE_CHARS),
            );
        }
        format!(
            "{}{}{}",
            self.lead,
            marked(&self.before, &self.after),
            self.tail
        )
    }

    /// One short phrase for a subject or a listing line:
    /// `"Tuesday" → "Wednesday"`, `added "…"` or `removed "…"`, each side
    /// at most 36 characters, cut at a word. A replacement of a few
    /// characters (`28` → `29`) takes its neighbouring word along, so it
    /// says something on its own: `"November 28" → "November 29"`.
    pub fn headline(&self) -> String {
        let side = |text: &str| format!("\"{}\"", shorten_words(text, HEADLINE_SIDE_CHARS));
        match (self.before.is_empty(), self.after.is_empty()) {
            (true, _) => format!("added {}", side(&self.after)),
            (false, true) => format!("removed {}", side(&self.before)),
            (false, false) => {
                // Display width: a two-character Chinese word is a word.
                let tiny = |t: &str| unicode_width::UnicodeWidthStr::width(t) < TINY_SIDE_WIDTH;
                let (before, after) = match self.neighbour() {
                    Some((word, true)) if tiny(&self.before) && tiny(&self.after) => (
                        format!("{word}{}", self.before),
                        format!("{word}{}", self.after),
                    ),
                    Some((word, false)) if tiny(&self.before) && tiny(&self.after) => (
                        format!("{}{word}", self.before),
                        format!("{}{word}", self.after),
                    ),
                    _ => (self.before.clone(), self.after.clone()),
                };
                format!("{} → {}", side(&before), side(&after))
            }
        }
    }

    /// The word next to the change on its line, with the space between:
    /// the one before it (true) if there is one, else the one after.
    fn neighbour(&self) -> Option<(String, bool)> {
        let is_word = |t: &&str| t.chars().any(char::is_alphanumeric);
        let lead = self.lead.trim_start_matches('…');
        let tokens = words::words(lead);
        if let Some(i) = tokens.iter().rposition(is_word) {
            return Some((tokens[i..].concat(), true));
        }
        let tail = self.tail.trim_end_matches('…');
        let tokens = words::words(tail);
        let i = tokens.iter().position(is_word)?;
        Some((tokens[..=i].concat(), false))
    }
}

/// The changes from `old` to `new`, in reading order: at most `limit` of
/// them, and how many there are in all.
pub fn changes(old: &str, new: &str, limit: usize) -> (Vec<Change>, usize) {
    changes_of(&LineDiff::new(old, new), limit, true)
}

/// [`changes`] of a line diff. Without `count_all`, stops as soon as it has
/// `limit` changes (the total is then not known): the summary a check
/// records needs only the first, and a large rewrite has many blocks to
/// pair word by word.
fn changes_of(diff: &LineDiff<'_>, limit: usize, count_all: bool) -> (Vec<Change>, usize) {
    let mut out = Vec::new();
    let mut total = 0;
    let deadline = Instant::now() + INLINE_TIMEOUT;
    for hunk in diff.hunks(0) {
        for block in &hunk.blocks {
            if !count_all && out.len() >= limit {
                return (out, total);
            }
            let Block::Change { old, new } = block else {
                continue;
            };
            // Only the first changes are wanted: the start of a large block
            // holds them, and pairing all of it would cost the whole block.
            let (old, new) = if count_all {
                (old.clone(), new.clone())
            } else {
                let cut = |r: &std::ops::Range<usize>| r.start..r.end.min(r.start + FIRST_LINES);
                (cut(old), cut(new))
            };
            let (old, new) = (&old, &new);
            let pairs = words::pair_lines(&diff.old, old.clone(), &diff.new, new.clone(), deadline);
            let mut lines = WholeLines::default();
            for row in words::rows(old.clone(), new.clone(), &pairs) {
                match row {
                    Row::Deleted(i) => lines.delete(i, diff.old[i], old, new),
                    Row::Inserted(j) => lines.insert(j, diff.new[j], old, new),
                    Row::Edited(pair) => {
                        lines.flush(&mut out, &mut total, limit);
                        let (o, n) = (diff.old[pair.old], diff.new[pair.new]);
                        for (k, chunk) in pair.inline.chunks.iter().enumerate() {
                            let Chunk::Changed { old: ro, new: rn } = chunk else {
                                continue;
                            };
                            let (raw_old, raw_new) = (&o[ro.clone()], &n[rn.clone()]);
                            let (before, after) = (raw_old.trim(), raw_new.trim());
                            if before.is_empty() && after.is_empty() {
                                continue;
                            }
                            total += 1;
                            if out.len() < limit {
                                let mut lead = context_before(n, &pair.inline.chunks[..k]);
                                let mut tail = context_after(n, &pair.inline.chunks[k + 1..]);
                                // Spaces trimmed off the change stay
                                // between it and its context.
                                let starts_blank = |s: &str| s.starts_with(char::is_whitespace);
                                let ends_blank = |s: &str| s.ends_with(char::is_whitespace);
                                if (starts_blank(raw_old) || starts_blank(raw_new))
                                    && !lead.is_empty()
                                    && !ends_blank(&lead)
                                {
                                    lead.push(' ');
                                }
                                if (ends_blank(raw_old) || ends_blank(raw_new))
                                    && !tail.is_empty()
                                    && !starts_blank(&tail)
                                {
                                    tail.insert(0, ' ');
                                }
                                out.push(Change {
                                    before: shorten(before, SIDE_MAX_CHARS),
                                    after: shorten(after, SIDE_MAX_CHARS),
                                    lead,
                                    tail,
                                    old_line: pair.old + 1,
                                    new_line: pair.new + 1,
                                });
                            }
                        }
                    }
                }
            }
            lines.flush(&mut out, &mut total, limit);
        }
    }
    (out, total)
}

/// The headline of the first change, or for a text that appeared or went
/// whole, its first non-blank line in quotes (what the page is): the
/// summary's `first_change`.
pub(super) fn first_headline(diff: &LineDiff<'_>) -> Option<String> {
    let blank = |lines: &[&str]| lines.iter().all(|l| l.trim().is_empty());
    if blank(&diff.old) || blank(&diff.new) {
        let lines = if blank(&diff.new) {
            &diff.old
        } else {
            &diff.new
        };
        return title_of(lines);
    }
    let (changes, _) = changes_of(diff, 1, false);
    changes.first().map(Change::headline)
}

/// What a text is, for a headline: its first non-blank line, cut to
/// [`super::FIRST_CHANGE_MAX_CHARS`], in quotes.
pub(super) fn title_of(lines: &[&str]) -> Option<String> {
    super::first_nonblank(lines).map(|l| format!("\"{}\"", super::shorten(l)))
}

/// Consecutive whole deleted and inserted lines, gathered into one change.
#[derive(Default)]
struct WholeLines<'a> {
    before: Vec<&'a str>,
    after: Vec<&'a str>,
    old_line: usize,
    new_line: usize,
}

impl<'a> WholeLines<'a> {
    fn start(&mut self, old_line: usize, new_line: usize) {
        if self.before.is_empty() && self.after.is_empty() {
            self.old_line = old_line;
            self.new_line = new_line;
        }
    }

    fn delete(
        &mut self,
        i: usize,
        text: &'a str,
        old: &std::ops::Range<usize>,
        new: &std::ops::Range<usize>,
    ) {
        // Where the deletion stands in the new text: as far into the
        // block's new lines as it is into its old ones.
        let into = (i - old.start).min(new.len());
        self.start(i + 1, new.start + into + 1);
        if !text.trim().is_empty() {
            self.before.push(text.trim());
        }
    }

    fn insert(
        &mut self,
        j: usize,
        text: &'a str,
        old: &std::ops::Range<usize>,
        new: &std::ops::Range<usize>,
    ) {
        let into = (j - new.start).min(old.len());
        self.start(old.start + into + 1, j + 1);
        if !text.trim().is_empty() {
            self.after.push(text.trim());
        }
    }

    fn flush(&mut self, out: &mut Vec<Change>, total: &mut usize, limit: usize) {
        if self.before.is_empty() && self.after.is_empty() {
            return;
        }
        let before = self.before.join("\n");
        let after = self.after.join("\n");
        *total += 1;
        if out.len() < limit {
            out.push(Change {
                before: shorten(&before, SIDE_MAX_CHARS),
                after: shorten(&after, SIDE_MAX_CHARS),
                lead: String::new(),
                tail: String::new(),
                old_line: self.old_line,
                new_line: self.new_line,
            });
        }
        self.before.clear();
        self.after.clear();
    }
}

/// `[-before-]{+after+}`, each part only when not empty.
fn marked(before: &str, after: &str) -> String {
    let mut out = String::new();
    if !before.is_empty() {
        out.push_str("[-");
        out.push_str(before);
        out.push_str("-]");
    }
    if !after.is_empty() {
        out.push_str("{+");
        out.push_str(after);
        out.push_str("+}");
    }
    out
}

/// The new line's text just before a change: whole words, at most
/// [`CONTEXT_CHARS`] characters, `…` when the line goes on further left.
fn context_before(new: &str, chunks_before: &[Chunk]) -> String {
    let end = chunks_before.last().map_or(0, |c| match c {
        Chunk::Same { new, .. } | Chunk::Changed { new, .. } => new.end,
    });
    let text = &new[..end];
    let tokens = words::words(text);
    let mut kept = 0;
    let mut start = text.len();
    for token in tokens.iter().rev() {
        let n = token.chars().count();
        if kept + n > CONTEXT_CHARS {
            break;
        }
        kept += n;
        start -= token.len();
    }
    if text[..start].trim().is_empty() {
        return text.trim_start().to_owned();
    }
    // Cut: start at a word, not at the punctuation that ended the sentence
    // before. (A space between the context and the change stays, so the
    // marks read as part of the sentence.)
    let lead = text[start..].trim_start_matches(|c: char| !c.is_alphanumeric());
    format!("…{lead}")
}

/// The new line's text just after a change, likewise.
fn context_after(new: &str, chunks_after: &[Chunk]) -> String {
    let start = chunks_after.first().map_or(new.len(), |c| match c {
        Chunk::Same { new, .. } | Chunk::Changed { new, .. } => new.start,
    });
    let text = &new[start..];
    let mut kept = 0;
    let mut end = 0;
    for token in words::words(text) {
        let n = token.chars().count();
        if kept + n > CONTEXT_CHARS {
            break;
        }
        kept += n;
        end += token.len();
    }
    let tail = text[..end].trim_end();
    let ellipsis = if text[end..].trim().is_empty() {
        ""
    } else {
        "…"
    };
    format!("{tail}{ellipsis}")
}

/// Cuts `text` (on one line) to about `max` characters at a word boundary
/// (any character boundary between wide CJK characters), with `…`.
fn shorten_words(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max {
        return text;
    }
    let mut kept = 0;
    let mut end = 0;
    for token in words::words(&text) {
        let n = token.chars().count();
        if kept + n > max - 1 {
            break;
        }
        kept += n;
        end += token.len();
    }
    if end == 0 {
        // One word longer than the limit: cut inside it.
        return shorten(&text, max);
    }
    format!("{}…", text[..end].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(old: &str, new: &str) -> Vec<Change> {
        let (changes, total) = changes(old, new, usize::MAX);
        assert_eq!(changes.len(), total);
        changes
    }

    /// A statement paragraph of about 1,100 characters, as on the seed page.
    fn paragraph(day: &str) -> String {
        let opening = "The Embassy notes with concern the remarks made by the spokesperson \
                       of the Ministry at the regular press conference held in the capital, \
                       which do not reflect the facts and which misrepresent the position of \
                       our government on the questions raised by journalists. "
            .repeat(2);
        format!(
            "{opening}The ambassador met the foreign minister on {day} to discuss trade and \
             security. {}",
            "We call on all parties to exercise restraint and to resolve their differences \
             through dialogue and consultation in accordance with international law. "
                .repeat(3)
        )
    }

    #[test]
    fn an_edit_in_a_long_paragraph_is_cut_to_the_changed_word() {
        let changes = all(&paragraph("Tuesday"), &paragraph("Wednesday"));
        assert_eq!(changes.len(), 1);
        let change = &changes[0];
        assert_eq!(
            (change.before.as_str(), change.after.as_str()),
            ("Tuesday", "Wednesday")
        );
        assert_eq!(
            change.context(),
            "…ambassador met the foreign minister on [-Tuesday-]{+Wednesday+} to discuss trade and security. We call…"
        );
        assert_eq!((change.old_line, change.new_line), (1, 1));
        assert_eq!(change.headline(), "\"Tuesday\" → \"Wednesday\"");
    }

    #[test]
    fn chinese_changes_are_cut_by_dictionary_words() {
        let changes = all(
            "外交部发言人就此事发表谈话。",
            "外交部发言人就该事件发表书面谈话。",
        );
        let pairs: Vec<(&str, &str)> = changes
            .iter()
            .map(|c| (c.before.as_str(), c.after.as_str()))
            .collect();
        assert_eq!(pairs, [("此事", "该事件"), ("", "书面")]);
        assert_eq!(
            changes[0].context(),
            "外交部发言人就[-此事-]{+该事件+}发表书面谈话。"
        );
        assert_eq!(changes[1].headline(), "added \"书面\"");
    }

    #[test]
    fn whole_lines_added_and_removed_are_one_change_per_run() {
        let changes = all(
            "Title\nOld closing line.\nEnd",
            "Title\nFirst new paragraph.\nSecond new paragraph.\nEnd",
        );
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].before, "Old closing line.");
        assert_eq!(
            changes[0].after,
            "First new paragraph.\nSecond new paragraph."
        );
        assert_eq!(
            changes[0].context(),
            "[-Old closing line.-]{+First new paragraph. Second new paragraph.+}"
        );
        assert_eq!((changes[0].old_line, changes[0].new_line), (2, 2));

        let added = all("Title\nEnd", "Title\nA new line.\nEnd");
        assert_eq!(added[0].headline(), "added \"A new line.\"");
        assert_eq!((added[0].old_line, added[0].new_line), (2, 2));
        let removed = all("Title\nGone line.\nEnd", "Title\nEnd");
        assert_eq!(removed[0].headline(), "removed \"Gone line.\"");
    }

    #[test]
    fn several_changes_come_in_reading_order_and_the_limit_keeps_the_count() {
        let old = "We met on Tuesday.\nSame.\nThe talks were useful.";
        let new = "We met on Wednesday.\nSame.\nThe talks were frank.";
        let (first, total) = changes(old, new, 1);
        assert_eq!(total, 2);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].after, "Wednesday");
        let all = all(old, new);
        assert_eq!(all[1].headline(), "\"useful\" → \"frank\"");
        assert_eq!((all[1].old_line, all[1].new_line), (3, 3));
    }

    #[test]
    fn the_summary_headline_of_a_large_rewrite_is_the_first_change() {
        let old: Vec<String> = (0..400)
            .map(|i| format!("Paragraph {i} says the old thing."))
            .collect();
        let new: Vec<String> = (0..400)
            .map(|i| format!("Paragraph {i} says the new thing."))
            .collect();
        let (old, new) = (old.join("\n"), new.join("\n"));
        let (all, total) = changes(&old, &new, usize::MAX);
        assert_eq!(total, 400);
        assert_eq!(
            first_headline(&LineDiff::new(&old, &new)),
            Some(all[0].headline())
        );
    }

    #[test]
    fn a_tiny_replacement_takes_a_neighbouring_word() {
        let date = all(
            "Statement\nIssued on 28 November 2026.",
            "Statement\nIssued on 29 November 2026.",
        );
        assert_eq!(date[0].headline(), "\"on 28\" → \"on 29\"");
        let start = all("Title\n28 November 2026", "Title\n29 November 2026");
        assert_eq!(start[0].headline(), "\"28 November\" → \"29 November\"");
        // Words long enough to say something stay alone.
        let day = all("We met on Tuesday.", "We met on Friday.");
        assert_eq!(day[0].headline(), "\"Tuesday\" → \"Friday\"");
    }

    #[test]
    fn headlines_cut_long_sides_at_a_word() {
        let change = Change {
            before: String::new(),
            after: "The ministry has decided to suspend all consular services until further notice"
                .to_owned(),
            lead: String::new(),
            tail: String::new(),
            old_line: 1,
            new_line: 1,
        };
        assert_eq!(
            change.headline(),
            "added \"The ministry has decided to suspend…\""
        );
    }

    #[test]
    fn identical_texts_have_no_changes() {
        assert!(all("a\nb", "a\nb").is_empty());
        assert_eq!(first_headline(&LineDiff::new("a\nb", "a\nb")), None);
    }

    #[test]
    fn a_text_that_appears_or_goes_is_named_by_its_first_line() {
        assert_eq!(
            first_headline(&LineDiff::new("", "\nStatement on the visit\nbody")).as_deref(),
            Some("\"Statement on the visit\"")
        );
        assert_eq!(
            first_headline(&LineDiff::new("Statement on the visit\nbody", "")).as_deref(),
            Some("\"Statement on the visit\"")
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Lines of a few words from a small vocabulary (English and
        /// Chinese), so generated texts share lines and words as edits do.
        fn text() -> impl Strategy<Value = String> {
            let word = prop::sample::select(vec![
                "the",
                "ministry",
                "notes",
                "rejects",
                "report",
                "28",
                "29",
                "外交部",
                "此事",
                "该事件",
                "发表",
                "谈话",
                ".",
                "。",
            ]);
            let line = prop::collection::vec(word, 0..8).prop_map(|w| w.join(" "));
            prop::collection::vec(line, 0..6).prop_map(|l| l.join("\n"))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]

            /// No change exactly when the texts are equal; what a change
            /// took out is in the old text and what it put in is in the
            /// new one; the count covers the list.
            #[test]
            fn changes_come_from_the_two_texts(old in text(), new in text()) {
                let (changes, total) = changes(&old, &new, usize::MAX);
                prop_assert_eq!(changes.len(), total);
                let same_lines = crate::diff::split_lines(&old)
                    .iter()
                    .map(|l| l.trim())
                    .filter(|l| !l.is_empty())
                    .eq(crate::diff::split_lines(&new).iter().map(|l| l.trim()).filter(|l| !l.is_empty()));
                if old == new {
                    prop_assert!(changes.is_empty());
                }
                if !same_lines {
                    prop_assert!(!changes.is_empty(), "{:?} vs {:?}", old, new);
                }
                for c in &changes {
                    prop_assert!(!(c.before.is_empty() && c.after.is_empty()));
                    for line in c.before.lines() {
                        prop_assert!(old.contains(line), "{:?} not in {:?}", line, old);
                    }
                    for line in c.after.lines() {
                        prop_assert!(new.contains(line), "{:?} not in {:?}", line, new);
                    }
                    let headline = c.headline();
                    prop_assert!(!headline.contains('\n'), "{}", headline);
                }
                // The summary names a change whenever a line with words
                // changed (blank lines alone are not a headline).
                let summary = crate::diff::summarize(&old, &new);
                if !same_lines {
                    prop_assert!(summary.first_change.is_some());
                }
                if old == new {
                    prop_assert!(summary.first_change.is_none());
                }
            }
        }
    }
}
