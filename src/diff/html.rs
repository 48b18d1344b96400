//! The HTML rendering: the word format as an HTML fragment for alert emails
//! (and `chancery diff --format html`).
//!
//! Mail clients strip `<style>` blocks and classes, so every style is inline.
//! The fragment is one `<pre>` with `white-space: pre-wrap`: `<pre>` keeps
//! line breaks even in clients that ignore the style (Outlook's Word engine),
//! and `pre-wrap` lets long lines wrap where it is honoured. Changed words are
//! `<del>`/`<ins>`, which read as deletions and insertions even with styles
//! gone. All page text is escaped: it is untrusted input.

use std::fmt::Write as _;
use std::time::Instant;

use super::words::{self, Chunk, Row};
use super::{Block, INLINE_TIMEOUT, LineDiff, RenderOptions};

const PRE: &str = "margin:0;padding:8px;font-family:Menlo,Consolas,'Courier New',monospace;\
font-size:13px;line-height:1.5;white-space:pre-wrap;word-wrap:break-word;\
overflow-wrap:anywhere;color:#1f2328;background-color:#f6f8fa;";
const HEADER: &str = "font-weight:bold;";
const HUNK: &str = "color:#0550ae;";
/// Struck through as well as red, so deletions read as such without colour
/// vision.
const DELETED: &str = "background-color:#ffebe9;color:#82071e;text-decoration:line-through;";
const INSERTED: &str = "background-color:#dafbe1;color:#116329;text-decoration:none;";

/// Escapes `text` for HTML element content and attribute values.
///
/// Escapes `& < > " '`, so the result is inert both between tags and inside
/// a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

fn span(out: &mut String, style: &str, text: &str) {
    let _ = write!(out, "<span style=\"{style}\">{}</span>", escape(text));
}

fn deleted(out: &mut String, text: &str) {
    let _ = write!(out, "<del style=\"{DELETED}\">{}</del>", escape(text));
}

fn inserted(out: &mut String, text: &str) {
    let _ = write!(out, "<ins style=\"{INSERTED}\">{}</ins>", escape(text));
}

/// One changed place in its sentence, the change struck out and inserted
/// with the same inline styles as the diff (page text escaped).
pub fn change(change: &super::Change) -> String {
    let one = |text: &str| text.replace('\n', " ");
    let mut out = escape(&change.lead);
    if !change.before.is_empty() {
        deleted(&mut out, &one(&change.before));
    }
    if !change.after.is_empty() {
        inserted(&mut out, &one(&change.after));
    }
    out.push_str(&escape(&change.tail));
    out
}

/// Lines in context with changed words marked, as one `<pre>` fragment
/// ending in a newline; empty when the texts are equal.
pub(super) fn render(diff: &LineDiff<'_>, opts: &RenderOptions) -> String {
    let hunks = diff.hunks(opts.context_lines);
    let mut out = String::new();
    if hunks.is_empty() {
        return out;
    }
    let deadline = Instant::now() + INLINE_TIMEOUT;
    let _ = write!(out, "<pre style=\"{PRE}\">");
    span(&mut out, HEADER, &format!("--- {}", opts.old_label));
    out.push('\n');
    span(&mut out, HEADER, &format!("+++ {}", opts.new_label));
    out.push('\n');
    for hunk in &hunks {
        span(&mut out, HUNK, &hunk.header());
        out.push('\n');
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
                            Row::Deleted(i) => deleted(&mut out, diff.old[i]),
                            Row::Inserted(j) => inserted(&mut out, diff.new[j]),
                            Row::Edited(pair) => {
                                let (o, n) = (diff.old[pair.old], diff.new[pair.new]);
                                for chunk in &pair.inline.chunks {
                                    match chunk {
                                        Chunk::Same { old, .. } => {
                                            out.push_str(&escape(&o[old.clone()]));
                                        }
                                        Chunk::Changed { old, new } => {
                                            if !old.is_empty() {
                                                deleted(&mut out, &o[old.clone()]);
                                            }
                                            if !new.is_empty() {
                                                inserted(&mut out, &n[new.clone()]);
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
    out.push_str("</pre>\n");
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

    /// The fixed opening of every fragment, up to the hunk header.
    fn head(old_label: &str, new_label: &str) -> String {
        format!(
            "<pre style=\"{PRE}\"><span style=\"{HEADER}\">--- {old_label}</span>\n\
             <span style=\"{HEADER}\">+++ {new_label}</span>\n"
        )
    }

    fn del(text: &str) -> String {
        format!("<del style=\"{DELETED}\">{text}</del>")
    }

    fn ins(text: &str) -> String {
        format!("<ins style=\"{INSERTED}\">{text}</ins>")
    }

    fn hunk(header: &str) -> String {
        format!("<span style=\"{HUNK}\">{header}</span>\n")
    }

    #[test]
    fn english_edit_marks_the_changed_word_in_context() {
        let old = "Statement\n\nThe ambassador met the minister on Tuesday.\nEnd\nA\nB\nFar away";
        let new = "Statement\n\nThe ambassador met the minister on Wednesday.\nEnd\nA\nB\nFar away\nAdded line";
        assert_eq!(
            render(old, new, Format::Html, &opts()),
            format!(
                "{}{}\nThe ambassador met the minister on {}{}.\nEnd\n{}Far away\n{}\n</pre>\n",
                head("mfa@1", "mfa@2"),
                hunk("@@ -2,3 +2,3 @@"),
                del("Tuesday"),
                ins("Wednesday"),
                hunk("@@ -7 +7,2 @@"),
                ins("Added line"),
            )
        );
    }

    /// Spelled out once in full, so a reviewer sees the real markup.
    #[test]
    fn chinese_edit_marks_only_the_changed_words() {
        let old = "标题\n外交部发言人就此事发表谈话。\n结束";
        let new = "标题\n外交部发言人就该事件发表书面谈话。\n结束";
        assert_eq!(
            render(old, new, Format::Html, &RenderOptions::default()),
            "<pre style=\"margin:0;padding:8px;font-family:Menlo,Consolas,'Courier New',monospace;\
             font-size:13px;line-height:1.5;white-space:pre-wrap;word-wrap:break-word;\
             overflow-wrap:anywhere;color:#1f2328;background-color:#f6f8fa;\">\
             <span style=\"font-weight:bold;\">--- old</span>\n\
             <span style=\"font-weight:bold;\">+++ new</span>\n\
             <span style=\"color:#0550ae;\">@@ -1,3 +1,3 @@</span>\n\
             标题\n\
             外交部发言人就\
             <del style=\"background-color:#ffebe9;color:#82071e;text-decoration:line-through;\">此事</del>\
             <ins style=\"background-color:#dafbe1;color:#116329;text-decoration:none;\">该事件</ins>\
             发表\
             <ins style=\"background-color:#dafbe1;color:#116329;text-decoration:none;\">书面</ins>\
             谈话。\n\
             结束\n\
             </pre>\n"
        );
    }

    #[test]
    fn unrelated_lines_are_shown_whole() {
        assert_eq!(
            render(
                "keep\nVisa services are suspended.",
                "keep\n领事业务安排",
                Format::Html,
                &opts()
            ),
            format!(
                "{}{}keep\n{}\n{}\n</pre>\n",
                head("mfa@1", "mfa@2"),
                hunk("@@ -1,2 +1,2 @@"),
                del("Visa services are suspended."),
                ins("领事业务安排"),
            )
        );
    }

    #[test]
    fn page_text_and_labels_are_escaped() {
        let out = render(
            "a & b\nx",
            "a & b\n<script>alert('x')</script> \"q\"",
            Format::Html,
            &RenderOptions {
                old_label: "<b>old</b>".to_owned(),
                ..opts()
            },
        );
        assert_eq!(
            out,
            format!(
                "{}{}a &amp; b\n{}\n{}\n</pre>\n",
                head("&lt;b&gt;old&lt;/b&gt;", "mfa@2"),
                hunk("@@ -1,2 +1,2 @@"),
                del("x"),
                ins("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &quot;q&quot;"),
            )
        );
        assert!(!out.contains("<script") && !out.contains("<b>"), "{out}");
    }

    #[test]
    fn identical_texts_render_nothing_and_colour_is_ignored() {
        assert_eq!(render("a\nb", "a\nb", Format::Html, &opts()), "");
        let coloured = RenderOptions {
            color: true,
            ..opts()
        };
        let out = render("a\nb", "a\nc", Format::Html, &coloured);
        assert_eq!(out, render("a\nb", "a\nc", Format::Html, &opts()));
        assert!(!out.contains('\x1b'), "{out}");
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
