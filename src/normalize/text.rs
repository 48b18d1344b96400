//! Line assembly shared by every media type: whitespace runs (any Unicode
//! `White_Space`, so NBSP and U+3000 too) become one ASCII space, lines are
//! trimmed, empty lines dropped, invisible characters removed.
//!
//! Everything here works on the fly, in one pass, into one `String`: the
//! HTML walk feeds text nodes straight in without per-node allocations.

/// Characters that render as nothing and so must not count as a change:
/// zero-width space/non-joiner/joiner, word joiner, BOM, soft hyphen.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
    )
}

/// Builds `\n`-separated lines: no empty lines, no leading or trailing
/// spaces, no trailing newline.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    out: String,
    /// The current (last) line has a visible character.
    line_has_text: bool,
    /// Whitespace came after the last visible character of this line.
    pending_space: bool,
    /// A table cell started after text on this line.
    pending_cell: bool,
}

impl Lines {
    pub(crate) fn with_capacity(bytes: usize) -> Lines {
        Lines {
            out: String::with_capacity(bytes),
            ..Lines::default()
        }
    }

    /// Appends flowing text: whitespace (newlines included) collapses.
    pub(crate) fn push_text(&mut self, text: &str) {
        // Fast path for runs of plain ASCII: copy slices, not chars.
        let bytes = text.as_bytes();
        let mut run_start = None;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b.is_ascii_graphic() {
                if run_start.is_none() {
                    self.before_visible();
                    run_start = Some(i);
                }
                i += 1;
                continue;
            }
            if let Some(start) = run_start.take() {
                self.out.push_str(&text[start..i]);
            }
            if b.is_ascii() {
                // ASCII whitespace or a control character.
                if b.is_ascii_whitespace() || b == 0x0B {
                    self.pending_space = self.line_has_text;
                }
                i += 1;
                continue;
            }
            let c = text[i..]
                .chars()
                .next()
                .expect("i is on a char boundary: it follows whole chars");
            self.push_char(c);
            i += c.len_utf8();
        }
        if let Some(start) = run_start {
            self.out.push_str(&text[start..]);
        }
    }

    /// Appends preformatted text: newlines end lines, other whitespace
    /// still collapses (a change in indentation is not a change).
    pub(crate) fn push_preformatted(&mut self, text: &str) {
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                self.line_break();
            }
            self.push_text(line);
        }
    }

    fn push_char(&mut self, c: char) {
        if c.is_whitespace() {
            self.pending_space = self.line_has_text;
        } else if is_invisible(c) || c.is_control() {
        } else {
            self.before_visible();
            self.out.push(c);
        }
    }

    /// Writes what must precede the next visible character.
    fn before_visible(&mut self) {
        if self.pending_cell {
            self.out.push_str(" | ");
        } else if self.pending_space {
            self.out.push(' ');
        } else if !self.line_has_text && !self.out.is_empty() {
            self.out.push('\n');
        }
        self.pending_cell = false;
        self.pending_space = false;
        self.line_has_text = true;
    }

    /// Ends the current line (a no-op if it is empty).
    pub(crate) fn line_break(&mut self) {
        self.line_has_text = false;
        self.pending_space = false;
        self.pending_cell = false;
    }

    /// A table cell begins: if the row already has text on this line, the
    /// next text is joined with ` | `.
    pub(crate) fn cell(&mut self) {
        if self.line_has_text {
            self.pending_cell = true;
        }
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// What [`clean`] does with leading whitespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Indent {
    /// Collapse it like any other whitespace (trim it).
    Collapse,
    /// Keep leading ASCII spaces (pretty-printed JSON nesting).
    Keep,
}

/// Re-applies the line rules to finished text: per-line whitespace
/// collapse, trim, drop empty lines. `\r\n` and lone `\r` end lines too.
pub(crate) fn clean(text: &str, indent: Indent) -> String {
    let mut lines = Lines::with_capacity(text.len());
    for line in text.split(['\n', '\r']) {
        lines.line_break();
        match indent {
            Indent::Collapse => lines.push_text(line),
            Indent::Keep => {
                let rest = line.trim_start_matches(' ');
                let before = lines.out.len();
                let had_text = lines.line_has_text;
                lines.push_text(rest);
                if lines.line_has_text != had_text {
                    // Text was written: splice the indentation in after the
                    // newline that `before_visible` wrote.
                    let at = if before == 0 { 0 } else { before + 1 };
                    let width = line.len() - rest.len();
                    lines.out.insert_str(at, &" ".repeat(width));
                }
            }
        }
    }
    lines.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_unicode_whitespace_and_trims() {
        let mut lines = Lines::default();
        lines.push_text("  a\u{00A0}\u{00A0}b\u{3000}c\t\td \n");
        lines.line_break();
        lines.line_break();
        lines.push_text("\u{2003}e\u{200B}f\u{00AD}g ");
        assert_eq!(lines.finish(), "a b c d\nefg");
    }

    #[test]
    fn cells_join_only_between_texts() {
        let mut lines = Lines::default();
        lines.cell();
        lines.push_text("a");
        lines.cell();
        lines.cell();
        lines.push_text(" b ");
        lines.cell();
        lines.line_break();
        lines.push_text("c");
        assert_eq!(lines.finish(), "a | b\nc");
    }

    #[test]
    fn preformatted_keeps_line_breaks() {
        let mut lines = Lines::default();
        lines.push_preformatted("x  =  1\n\n  y = 2\n");
        assert_eq!(lines.finish(), "x = 1\ny = 2");
    }

    #[test]
    fn clean_keeps_indent_only_when_asked() {
        let text = "{\r\n  \"a\":  1\n\n}  ";
        assert_eq!(clean(text, Indent::Collapse), "{\n\"a\": 1\n}");
        assert_eq!(clean(text, Indent::Keep), "{\n  \"a\": 1\n}");
        assert_eq!(clean("   x", Indent::Keep), "   x");
    }
}
