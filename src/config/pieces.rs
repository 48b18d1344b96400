//! Where a config can be cut into pieces that parse alone.
//!
//! TOML's parser holds a whole document's tokens, parse events and tree at
//! once: about 3 KB for each `[[watch]]` of two lines, so a 100,000-watch
//! file took 300 MB to read. Cut at its top-level table headers, the file
//! is read a few thousand tables at a time and only the validated watches
//! stay (`raw::deserialize` says how the pieces are put back together).
//!
//! The cuts come from TOML's own lexer, so brackets inside strings,
//! comments and multi-line arrays are never taken for headers.

use std::ops::Range;

use toml_parser::lexer::TokenKind;

/// A piece of the text, and the `[[name]]` headers it holds.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Piece<'t> {
    pub(super) range: Range<usize>,
    /// The names of the arrays of tables this piece adds to.
    pub(super) arrays: Vec<&'t str>,
}

impl Piece<'_> {
    /// All of `text` as one piece: what TOML's parser reads at once.
    pub(super) fn whole(text: &str) -> Piece<'static> {
        Piece {
            range: 0..text.len(),
            arrays: Vec::new(),
        }
    }
}

/// A top-level header with a one-part bare key (`[daemon]`, `[[watch]]`):
/// where a piece may start.
#[derive(Debug)]
struct Cut<'t> {
    at: usize,
    name: &'t str,
    array: bool,
}

/// `text` in pieces of about `max` bytes (a single table may be longer):
/// the text before the first header, then runs of whole top-level tables.
/// One piece, the whole text, when cutting could change the meaning: a
/// table header used twice or as both `[name]` and `[[name]]` (TOML's
/// parser then reports the mistake as it would for the whole file).
pub(super) fn pieces(text: &str, max: usize) -> Vec<Piece<'_>> {
    let cuts = cuts(text);
    let mut kinds: std::collections::HashMap<&str, bool> = std::collections::HashMap::new();
    for cut in &cuts {
        match kinds.insert(cut.name, cut.array) {
            Some(array) if !(array && cut.array) => return vec![Piece::whole(text)],
            _ => {}
        }
    }
    let mut pieces = vec![Piece {
        range: 0..cuts.first().map_or(text.len(), |c| c.at),
        arrays: Vec::new(),
    }];
    for (i, cut) in cuts.iter().enumerate() {
        let end = cuts.get(i + 1).map_or(text.len(), |next| next.at);
        let last = pieces.last_mut().expect("the first piece is pushed above");
        // The text before the first header stays alone: its keys belong to
        // the root table, never to a header's.
        if i > 0 && last.range.end - last.range.start < max {
            last.range.end = end;
        } else {
            pieces.push(Piece {
                range: cut.at..end,
                arrays: Vec::new(),
            });
        }
        if cut.array {
            let last = pieces.last_mut().expect("a piece was pushed above");
            if !last.arrays.contains(&cut.name) {
                last.arrays.push(cut.name);
            }
        }
    }
    pieces
}

/// Every top-level header whose key is one bare word, in order.
fn cuts(text: &str) -> Vec<Cut<'_>> {
    let mut tokens = toml_parser::Source::new(text).lex().peekable();
    let mut cuts = Vec::new();
    // Open brackets and braces of a value (an array or inline table may
    // span lines); a `[` opening a line outside any value starts a header.
    let mut depth = 0usize;
    let mut line_start = true;
    while let Some(token) = tokens.next() {
        match token.kind() {
            TokenKind::Newline => {
                line_start = true;
                continue;
            }
            TokenKind::Whitespace => continue,
            TokenKind::LeftSquareBracket if depth == 0 && line_start => {
                let at = token.span().start();
                let array = tokens
                    .next_if(|t| {
                        t.kind() == TokenKind::LeftSquareBracket && t.span().start() == at + 1
                    })
                    .is_some();
                // The key: one bare word between the brackets, or nothing
                // this reader cuts at (dotted, quoted or malformed).
                let mut words = Vec::new();
                let mut plain = true;
                while let Some(t) = tokens.next_if(|t| {
                    !matches!(
                        t.kind(),
                        TokenKind::RightSquareBracket | TokenKind::Newline | TokenKind::Eof
                    )
                }) {
                    match t.kind() {
                        TokenKind::Whitespace => {}
                        TokenKind::Atom => words.push(&text[t.span().start()..t.span().end()]),
                        _ => plain = false,
                    }
                }
                if let ([name], true) = (words.as_slice(), plain) {
                    cuts.push(Cut { at, name, array });
                }
            }
            TokenKind::LeftSquareBracket | TokenKind::LeftCurlyBracket => depth += 1,
            TokenKind::RightSquareBracket | TokenKind::RightCurlyBracket => {
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        line_start = false;
    }
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str, max: usize) -> Vec<&str> {
        pieces(text, max)
            .into_iter()
            .map(|p| &text[p.range])
            .collect()
    }

    #[test]
    fn cuts_between_top_level_tables_only() {
        let text = "\
# root keys stay alone
[daemon]
state_dir = \"s\"
[[watch]]
name = \"a\"
ignore = [
  '[not a header]',
  \"\"\"
[[watch]]
\"\"\",
]
[watch.follow]
links = \"a\"
[[watch]]
name = \"b\" # [[watch]]
select = { css = [ \"x\" ] }
";
        let got = texts(text, 1);
        assert_eq!(
            got,
            vec![
                "# root keys stay alone\n",
                "[daemon]\nstate_dir = \"s\"\n",
                "[[watch]]\nname = \"a\"\nignore = [\n  '[not a header]',\n  \"\"\"\n[[watch]]\n\"\"\",\n]\n[watch.follow]\nlinks = \"a\"\n",
                "[[watch]]\nname = \"b\" # [[watch]]\nselect = { css = [ \"x\" ] }\n",
            ]
        );
        let whole: String = got.concat();
        assert_eq!(whole, text, "the pieces cover the text exactly");
    }

    #[test]
    fn groups_tables_up_to_the_size() {
        let text = "a = 1\n[[watch]]\nn = 1\n[[watch]]\nn = 2\n[[watch]]\nn = 3\n";
        let pieces = pieces(text, 30);
        let got: Vec<&str> = pieces.iter().map(|p| &text[p.range.clone()]).collect();
        assert_eq!(
            got,
            vec![
                "a = 1\n",
                "[[watch]]\nn = 1\n[[watch]]\nn = 2\n",
                "[[watch]]\nn = 3\n"
            ]
        );
        assert_eq!(pieces[0].arrays, Vec::<&str>::new());
        assert_eq!(pieces[1].arrays, vec!["watch"]);
    }

    #[test]
    fn a_header_used_twice_keeps_the_file_whole() {
        for text in [
            "[daemon]\na = 1\n[[watch]]\nn = 1\n[daemon]\nb = 2\n",
            "[[watch]]\nn = 1\n[watch]\nn = 2\n",
        ] {
            let pieces = pieces(text, 1);
            assert_eq!(pieces.len(), 1, "{text}");
            assert_eq!(pieces[0].range, 0..text.len());
        }
    }

    #[test]
    fn an_unclosed_array_stops_the_cutting() {
        let text = "[[watch]]\nignore = [\n[[watch]]\nn = 2\n";
        assert_eq!(texts(text, 1), vec!["", text]);
    }
}
