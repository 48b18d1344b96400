//! The line-oriented text renderings: unified (`diff -u`) and word
//! (git `--word-diff=plain` marks, or colours on a terminal).

use std::fmt::Write as _;
use std::time::Instant;

use anstyle::{AnsiColor, Style};

use super::words::{self, Chunk, Row};
use super::{Block, INLINE_TIMEOUT, LineDiff, RenderOptions};

pub(super) const HEADER: Style = Style::new().bold();
pub(super) const HUNK: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));
pub(super) const DELETED: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
pub(super) const INSERTED: Style =
    Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
/// Struck through as well as red, so deletions read as such without colour
/// vision.
const DELETED_WORDS: Style = DELETED.strikethrough();

/// Appends `text` and a newline, styled when `color`.
fn line(out: &mut String, color: bool, style: Style, text: std::fmt::Arguments<'_>) {
    if color {
        let _ = writeln!(out, "{}{}{}", style.render(), text, style.render_reset());
    } else {
        let _ = writeln!(out, "{text}");
    }
}

fn file_headers(out: &mut String, opts: &RenderOptions) {
    line(
        out,
        opts.color,
        HEADER,
        format_args!("--- {}", opts.old_label),
    );
    line(
        out,
        opts.color,
        HEADER,
        format_args!("+++ {}", opts.new_label),
    );
}

/// `diff -u` output; empty when the texts are equal.
pub(super) fn unified(diff: &LineDiff<'_>, opts: &RenderOptions) -> String {
    let hunks = diff.hunks(opts.context_lines);
    let mut out = String::new();
    if hunks.is_empty() {
        return out;
    }
    file_headers(&mut out, opts);
    for hunk in &hunks {
        line(
            &mut out,
            opts.color,
            HUNK,
            format_args!("{}", hunk.header()),
        );
        for block in &hunk.blocks {
            match block {
                Block::Same { old } => {
                    for text in &diff.old[old.clone()] {
                        let _ = writeln!(out, " {text}");
                    }
                }
                Block::Change { old, new } => {
                    for text in &diff.old[old.clone()] {
                        line(&mut out, opts.color, DELETED, format_args!("-{text}"));
                    }
                    for text in &diff.new[new.clone()] {
                        line(&mut out, opts.color, INSERTED, format_args!("+{text}"));
                    }
                }
            }
        }
    }
    out
}

/// Writes `text` marked as deleted: `[-text-]`, or red struck through.
fn deleted(out: &mut String, color: bool, text: &str) {
    if color {
        let _ = write!(
            out,
            "{}{text}{}",
            DELETED_WORDS.render(),
            DELETED_WORDS.render_reset()
        );
    } else {
        let _ = write!(out, "[-{text}-]");
    }
}

/// Writes `text` marked as inserted: `{+text+}`, or green.
fn inserted(out: &mut String, color: bool, text: &str) {
    if color {
        let _ = write!(
            out,
            "{}{text}{}",
            INSERTED.render(),
            INSERTED.render_reset()
        );
    } else {
        let _ = write!(out, "{{+{text}+}}");
    }
}

/// Lines in context, each edited line shown once with its changed words
/// marked; empty when the texts are equal.
pub(super) fn word(diff: &LineDiff<'_>, opts: &RenderOptions) -> String {
    let hunks = diff.hunks(opts.context_lines);
    let mut out = String::new();
    if hunks.is_empty() {
        return out;
    }
    let deadline = Instant::now() + INLINE_TIMEOUT;
    let color = opts.color;
    file_headers(&mut out, opts);
    for hunk in &hunks {
        line(&mut out, color, HUNK, format_args!("{}", hunk.header()));
        for block in &hunk.blocks {
            match block {
                Block::Same { old } => {
                    for text in &diff.old[old.clone()] {
                        let _ = writeln!(out, "{text}");
                    }
                }
                Block::Change { old, new } => {
                    let pairs =
                        words::pair_lines(&diff.old, old.clone(), &diff.new, new.clone(), deadline);
                    for row in words::rows(old.clone(), new.clone(), &pairs) {
                        match row {
                            Row::Deleted(i) => deleted(&mut out, color, diff.old[i]),
                            Row::Inserted(j) => inserted(&mut out, color, diff.new[j]),
                            Row::Edited(pair) => {
                                let (o, n) = (diff.old[pair.old], diff.new[pair.new]);
                                for chunk in &pair.inline.chunks {
                                    match chunk {
                                        Chunk::Same { old, .. } => out.push_str(&o[old.clone()]),
                                        Chunk::Changed { old, new } => {
                                            if !old.is_empty() {
                                                deleted(&mut out, color, &o[old.clone()]);
                                            }
                                            if !new.is_empty() {
                                                inserted(&mut out, color, &n[new.clone()]);
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        out.push('\n');
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Format, render};
    use super::*;

    fn opts() -> RenderOptions {
        RenderOptions {
            context_lines: 1,
            old_label: "mfa@1".to_owned(),
            new_label: "mfa@2".to_owned(),
            ..RenderOptions::default()
        }
    }

    const OLD: &str = "Title\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nlast";
    const NEW: &str = "Title\nline 2 changed\nline 3\nline 4\nline 5\nline 6\nline 7\nlast\nadded";

    #[test]
    fn unified_is_exact_with_hunk_numbers() {
        assert_eq!(
            render(OLD, NEW, Format::Unified, &opts()),
            "--- mfa@1\n+++ mfa@2\n\
             @@ -1,3 +1,3 @@\n Title\n-line 2\n+line 2 changed\n line 3\n\
             @@ -8 +8,2 @@\n last\n+added\n"
        );
    }

    #[test]
    fn unified_with_default_context_merges_close_hunks() {
        let out = render(
            "a\nb\nc\nd",
            "a\nB\nc\nD",
            Format::Unified,
            &RenderOptions::default(),
        );
        assert_eq!(
            out,
            "--- old\n+++ new\n@@ -1,4 +1,4 @@\n a\n-b\n+B\n c\n-d\n+D\n"
        );
    }

    #[test]
    fn unified_of_empty_old_text() {
        assert_eq!(
            render("", "x\ny", Format::Unified, &RenderOptions::default()),
            "--- old\n+++ new\n@@ -0,0 +1,2 @@\n+x\n+y\n"
        );
    }

    #[test]
    fn identical_texts_render_nothing() {
        for format in [Format::Unified, Format::Word, Format::SideBySide] {
            assert_eq!(render("a\nb", "a\nb", format, &opts()), "", "{format:?}");
            assert_eq!(render("", "", format, &opts()), "", "{format:?}");
        }
    }

    #[test]
    fn unified_colours_each_kind_of_line() {
        let out = render(
            "a\nb",
            "a\nc",
            Format::Unified,
            &RenderOptions {
                color: true,
                ..opts()
            },
        );
        assert_eq!(
            out,
            "\x1b[1m--- mfa@1\x1b[0m\n\x1b[1m+++ mfa@2\x1b[0m\n\
             \x1b[36m@@ -1,2 +1,2 @@\x1b[0m\n a\n\
             \x1b[31m-b\x1b[0m\n\x1b[32m+c\x1b[0m\n"
        );
    }

    #[test]
    fn word_marks_changed_words_inside_context() {
        let old = "标题\n外交部发言人就此事发表谈话。\n结束\n另一段";
        let new = "标题\n外交部发言人就该事件发表书面谈话。\n结束\n另一段\n新增段落";
        assert_eq!(
            render(old, new, Format::Word, &opts()),
            "--- mfa@1\n+++ mfa@2\n\
             @@ -1,4 +1,5 @@\n标题\n外交部发言人就[-此事-]{+该事件+}发表{+书面+}谈话。\n结束\n\
             另一段\n{+新增段落+}\n"
        );
    }

    #[test]
    fn word_shows_unrelated_lines_whole() {
        assert_eq!(
            render(
                "keep\nVisa services are suspended.",
                "keep\n领事业务安排",
                Format::Word,
                &opts()
            ),
            "--- mfa@1\n+++ mfa@2\n@@ -1,2 +1,2 @@\nkeep\n[-Visa services are suspended.-]\n{+领事业务安排+}\n"
        );
    }

    #[test]
    fn word_colours_replace_brackets() {
        let out = render(
            "on Tuesday now",
            "on Wednesday now",
            Format::Word,
            &RenderOptions {
                color: true,
                ..opts()
            },
        );
        assert!(
            out.ends_with("on \x1b[9m\x1b[31mTuesday\x1b[0m\x1b[32mWednesday\x1b[0m now\n"),
            "{out:?}"
        );
        assert!(!out.contains("[-") && !out.contains("{+"), "{out:?}");
    }
}
