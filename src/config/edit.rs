//! Edits to the watch list as text, for `chancery watch add|remove`: the
//! rest of the file stays byte for byte as written (comments, layout,
//! quoting). Nothing here reads or writes files or judges the result: the
//! caller validates the whole new text with [`super::parse_with`] before
//! writing it.
//!
//! - Adding appends one `[[watch]]` table at the end of the file (after a
//!   blank line), so the old text is an exact prefix of the new one.
//! - Removing cuts out the lines of one `[[watch]]` table: its header, its
//!   keys and sub-tables, the comment lines directly above its header (no
//!   blank line between) and the blank lines above those. A comment
//!   separated from the header by a blank line, or below the table's last
//!   key, is left in place.

use std::ops::Range;

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};
use url::Url;

/// Why a watch could not be cut out of the text.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("cannot parse the config as TOML")]
    Syntax(#[source] toml_edit::TomlError),
    #[error("no [[watch]] table named {name:?}")]
    NotFound { name: String },
    /// The watch is written in a way a line edit cannot cut out safely
    /// (an inline `watch = [...]` array, or its sub-tables interleaved with
    /// other tables).
    #[error("watch {name:?} is not a self-contained [[watch]] table; edit the file by hand")]
    NotSelfContained { name: String },
}

/// A watch to add, as the user gave it. Values are written as given; the
/// config parser judges them.
#[derive(Debug, Clone)]
pub struct NewWatch<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub select: &'a [String],
    pub interval: Option<&'a str>,
    /// `render = "browser"`, with its `wait_for` if any.
    pub browser: bool,
    pub wait_for: Option<&'a str>,
}

/// The `[[watch]]` table for `watch`, quoted and escaped by `toml_edit`,
/// ending in a newline.
pub fn render_watch(watch: &NewWatch<'_>) -> String {
    let mut table = Table::new();
    table["name"] = value(watch.name);
    table["url"] = value(watch.url);
    if !watch.select.is_empty() {
        let select: Array = watch.select.iter().map(String::as_str).collect();
        table["select"] = value(select);
    }
    if let Some(interval) = watch.interval {
        table["interval"] = value(interval);
    }
    if watch.browser {
        table["render"] = value("browser");
    }
    if let Some(css) = watch.wait_for {
        table["wait_for"] = value(css);
    }
    let mut watches = ArrayOfTables::new();
    watches.push(table);
    let mut doc = DocumentMut::new();
    doc["watch"] = Item::ArrayOfTables(watches);
    doc.to_string()
}

/// `text` with `table` (from [`render_watch`]) appended after a blank line.
/// `text` is an exact prefix of the result; a file with CRLF line ends gets
/// CRLF in the added lines too.
pub fn append_watch(text: &str, table: &str) -> String {
    let crlf = text.contains("\r\n");
    let newline = if crlf { "\r\n" } else { "\n" };
    let mut out = String::with_capacity(text.len() + table.len() + 4);
    out.push_str(text);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str(newline);
    }
    let blank_line_before = out.ends_with("\n\n") || out.ends_with("\r\n\r\n");
    if !out.trim().is_empty() && !blank_line_before {
        out.push_str(newline);
    }
    if crlf {
        out.push_str(&table.replace('\n', "\r\n"));
    } else {
        out.push_str(table);
    }
    out
}

/// A watch name for `url`: host and last path segment, lowercased, reduced
/// to `[a-z0-9._-]+`, with `-2`, `-3`, … added until `taken` says no.
pub fn name_for(url: &Url, taken: impl Fn(&str) -> bool) -> String {
    let host = url.host_str().unwrap_or_default();
    let last = url
        .path_segments()
        .and_then(|mut segments| segments.rfind(|s| !s.is_empty()))
        .unwrap_or_default();
    let raw = format!("{host}-{last}");
    let mut base = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_') {
            base.push(c);
            continue;
        }
        if c == '%' {
            // A percent-encoded byte is a separator, not two hex digits.
            let mut ahead = chars.clone();
            let hex = |c: Option<char>| c.is_some_and(|c| c.is_ascii_hexdigit());
            if hex(ahead.next()) && hex(ahead.next()) {
                chars = ahead;
            }
        }
        if !base.is_empty() && !base.ends_with('-') {
            base.push('-');
        }
    }
    let base = base.trim_start_matches(['.', '-']).trim_end_matches('-');
    let base = if base.is_empty() { "watch" } else { base };
    if !taken(base) {
        return base.to_owned();
    }
    (2u32..)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| !taken(candidate))
        .expect("some numbered name is free")
}

/// `text` without the `[[watch]]` table named `name` (see the module docs
/// for which lines go with it). Everything else is kept byte for byte.
pub fn remove_watch(text: &str, name: &str) -> Result<String, EditError> {
    let range = watch_range(text, name)?;
    let mut out = String::with_capacity(text.len() - range.len());
    out.push_str(&text[..range.start]);
    out.push_str(&text[range.end..]);
    Ok(out)
}

/// The byte range of the lines that make up the watch `name`.
fn watch_range(text: &str, name: &str) -> Result<Range<usize>, EditError> {
    let doc = toml_edit::Document::parse(text).map_err(EditError::Syntax)?;
    let not_found = || EditError::NotFound {
        name: name.to_owned(),
    };
    let not_self_contained = || EditError::NotSelfContained {
        name: name.to_owned(),
    };
    let watches = match doc.as_table().get("watch") {
        Some(Item::ArrayOfTables(watches)) => watches,
        Some(Item::Value(toml_edit::Value::Array(inline))) => {
            let named = inline.iter().any(|w| {
                w.as_inline_table()
                    .and_then(|t| t.get("name"))
                    .and_then(|n| n.as_str())
                    == Some(name)
            });
            return Err(if named {
                not_self_contained()
            } else {
                not_found()
            });
        }
        _ => return Err(not_found()),
    };
    let table = watches
        .iter()
        .find(|t| t.get("name").and_then(Item::as_str) == Some(name))
        .ok_or_else(not_found)?;
    let header = table.span().ok_or_else(not_self_contained)?;

    // Start: the header's line, then the comment lines directly above it,
    // then the blank lines above those; never before the header's prefix
    // (whitespace and comments only, as the parser saw it).
    let floor = table
        .decor()
        .prefix()
        .and_then(|p| p.span())
        .map_or(header.start, |p| p.start);
    let mut start = line_start(text, header.start);
    let mut in_comments = true;
    while start > floor {
        let above = line_start(text, start - 1);
        if above < floor {
            break;
        }
        let line = text[above..start].trim();
        if in_comments && line.starts_with('#') {
            start = above;
        } else if line.is_empty() {
            in_comments = false;
            start = above;
        } else {
            break;
        }
    }

    // End: the end of the line holding the table's last key or sub-table.
    let last = table_end(table).unwrap_or(header.end);
    let end = text[last..].find('\n').map_or(text.len(), |i| last + i + 1);

    // Another table's header inside the range: its sub-tables are
    // interleaved with other tables, and a cut would take those too.
    let mut ours = Vec::new();
    header_starts(table, &mut ours);
    let mut all = Vec::new();
    header_starts(doc.as_table(), &mut all);
    let foreign = all
        .iter()
        .any(|at| (start..end).contains(at) && *at != header.start && !ours.contains(at));
    if foreign {
        return Err(not_self_contained());
    }
    Ok(start..end)
}

/// The byte offset where the line holding `offset` starts.
fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind('\n').map_or(0, |i| i + 1)
}

/// The furthest byte offset of anything in `table` (header, values,
/// sub-tables).
fn table_end(table: &Table) -> Option<usize> {
    let mut end = table.span().map(|s| s.end);
    for (_, item) in table.iter() {
        end = end.max(item_end(item));
    }
    end
}

fn item_end(item: &Item) -> Option<usize> {
    match item {
        Item::None => None,
        Item::Value(v) => v.span().map(|s| s.end),
        Item::Table(t) => table_end(t),
        Item::ArrayOfTables(a) => a.iter().filter_map(table_end).max(),
    }
}

/// Where each `[table]` / `[[table]]` header under `table` starts.
fn header_starts(table: &Table, out: &mut Vec<usize>) {
    for (_, item) in table.iter() {
        match item {
            Item::Table(t) => {
                out.extend(t.span().map(|s| s.start));
                header_starts(t, out);
            }
            Item::ArrayOfTables(a) => {
                for t in a.iter() {
                    out.extend(t.span().map(|s| s.start));
                    header_starts(t, out);
                }
            }
            Item::None | Item::Value(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# chancery config

[daemon]
state_dir = \"state\"   # relative to this file

# --- watches ---

# The ministry's statement page.
[[watch]]
name = \"a\"
url = \"https://a.example/x\"
select = [
  \"#content\",  # the article only
]

[[watch]]
name = \"b\"
url = \"https://b.example/\"
[watch.follow]
links = \"a.item\"

# Mail goes here.
[[subscriber]]
name = \"ops\"
email = [\"ops@example.org\"]
";

    #[test]
    fn removing_the_first_watch_takes_its_comment_and_keeps_the_section_comment() {
        let out = remove_watch(FILE, "a").expect("removed");
        let expected = FILE.replace(
            "\n# The ministry's statement page.\n[[watch]]\nname = \"a\"\nurl = \"https://a.example/x\"\nselect = [\n  \"#content\",  # the article only\n]\n",
            "",
        );
        assert_ne!(expected, FILE);
        assert_eq!(out, expected);
    }

    #[test]
    fn removing_a_watch_takes_its_sub_tables_and_keeps_the_next_tables_comment() {
        let out = remove_watch(FILE, "b").expect("removed");
        let expected = FILE.replace(
            "\n[[watch]]\nname = \"b\"\nurl = \"https://b.example/\"\n[watch.follow]\nlinks = \"a.item\"\n",
            "",
        );
        assert_ne!(expected, FILE);
        assert_eq!(out, expected);
    }

    #[test]
    fn removing_the_last_table_of_the_file() {
        let text = "[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\n\n[[watch]]\nname = \"b\"\nurl = \"https://b.example/\"";
        assert_eq!(
            remove_watch(text, "b").expect("removed"),
            "[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\n"
        );
        assert_eq!(
            remove_watch(text, "a").expect("removed"),
            "\n[[watch]]\nname = \"b\"\nurl = \"https://b.example/\""
        );
    }

    #[test]
    fn unknown_and_inline_watches_are_errors() {
        assert!(matches!(
            remove_watch(FILE, "zzz"),
            Err(EditError::NotFound { .. })
        ));
        let inline = "watch = [{ name = \"a\", url = \"https://a.example/\" }]\n";
        assert!(matches!(
            remove_watch(inline, "a"),
            Err(EditError::NotSelfContained { .. })
        ));
        assert!(matches!(
            remove_watch("[[watch]\n", "a"),
            Err(EditError::Syntax(_))
        ));
    }

    #[test]
    fn interleaved_sub_tables_are_refused() {
        let text = "[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\n[smtp]\nhost = \"h\"\n[watch.follow]\nfeed = true\n";
        assert!(matches!(
            remove_watch(text, "a"),
            Err(EditError::NotSelfContained { .. })
        ));
    }

    #[test]
    fn appending_keeps_the_text_as_a_prefix() {
        let select = ["main p".to_owned(), "h1 \"quoted\"".to_owned()];
        let table = render_watch(&NewWatch {
            name: "x",
            url: "https://x.example/a",
            select: &select,
            interval: Some("30m"),
            browser: false,
            wait_for: None,
        });
        assert_eq!(
            table,
            "[[watch]]\nname = \"x\"\nurl = \"https://x.example/a\"\nselect = [\"main p\", 'h1 \"quoted\"']\ninterval = \"30m\"\n"
        );
        for text in ["", "# only a comment", "a = 1\n", "a = 1\n\n"] {
            let out = append_watch(text, &table);
            assert!(out.starts_with(text), "{out:?}");
            assert!(out.ends_with(&table), "{out:?}");
            assert!(!out.contains("\n\n\n"), "{out:?}");
        }
        assert_eq!(append_watch("a = 1", "[[watch]]\n"), "a = 1\n\n[[watch]]\n");
        assert_eq!(
            append_watch("a = 1\r\n", "[[watch]]\nname = \"x\"\n"),
            "a = 1\r\n\r\n[[watch]]\r\nname = \"x\"\r\n"
        );
        let doc: DocumentMut = append_watch(FILE, &table).parse().expect("valid TOML");
        assert_eq!(doc["watch"].as_array_of_tables().map(|a| a.len()), Some(3));
    }

    #[test]
    fn names_come_from_host_and_last_segment() {
        let url = |s: &str| Url::parse(s).expect("url");
        let free = |_: &str| false;
        assert_eq!(
            name_for(&url("https://www.FMPRC.gov.cn/eng/xw/T2024_11.html"), free),
            "www.fmprc.gov.cn-t2024_11.html"
        );
        assert_eq!(name_for(&url("https://a.example/"), free), "a.example");
        assert_eq!(
            name_for(&url("https://a.example/news/%E5%A4%96 x/"), free),
            "a.example-x"
        );
        assert_eq!(
            name_for(&url("http://127.0.0.1:8080/statement?id=3"), free),
            "127.0.0.1-statement"
        );
        let taken = |n: &str| n == "a.example-x" || n == "a.example-x-2";
        assert_eq!(
            name_for(&url("https://a.example/x"), taken),
            "a.example-x-3"
        );
    }
}
