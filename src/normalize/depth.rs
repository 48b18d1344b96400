//! Prepares the source for the HTML parser: caps element nesting, and cuts
//! out comments, scripts, styles and inline SVG, whose content the output
//! drops anyway (about a third of the corpus's bytes), so the parser never
//! spends time on them.
//!
//! html5ever checks "is a `<p>` open in button scope" by walking the stack of
//! open elements for every block start tag, so parse time grows with
//! depth × tags: 10,000 nested `<div>`s took 0.45 s, 40,000 took 8.3 s
//! (release build), and a capped 10 MiB body could hold two million. Blink
//! caps DOM depth at 512 for the same reason. Here a lexical pre-pass
//! tracks an approximate stack of open elements and removes the start and
//! end tags of elements nested deeper than [`MAX_DEPTH`]; their text stays.
//! Real pages never get near the cap: the 69 corpus pages peak at 27 by
//! this count. Below the cap the source is passed through untouched.
//!
//! For the text ([`Attributes::Read`]) it also cuts the attributes nothing
//! downstream reads (`href`, `src`, `data-*`, event handlers…): the
//! tokenizer copies every attribute character by character, and they are
//! a sixth of a statement page's bytes after the scripts, a third of the
//! corpus's. Kept: what the text rules read ([`is_read`]) and what the
//! tree builder reads, so the tree is the same with or without them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

/// Deepest element nesting kept. A block tag then costs at most this many
/// stack steps in the parser.
pub(crate) const MAX_DEPTH: usize = 256;

/// Which attributes reach the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attributes {
    /// Every one: the page's links are read (follow mode), or a `select`
    /// or `exclude` selector may name any attribute.
    All,
    /// Those the text rules and the tree builder read ([`is_read`]).
    Read,
}

/// `source` without comments, scripts, styles and inline SVG, and with tags
/// nested deeper than [`MAX_DEPTH`] removed, and with [`Attributes::Read`]
/// the attributes nothing reads; borrowed when nothing had to go.
pub(crate) fn prepare(source: &str, attributes: Attributes) -> Cow<'_, str> {
    let (_, removed) = scan(source, MAX_DEPTH, attributes);
    if removed.is_empty() {
        return Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len());
    let mut at = 0;
    for range in removed {
        out.push_str(&source[at..range.start]);
        at = range.end;
    }
    out.push_str(&source[at..]);
    Cow::Owned(out)
}

/// Elements with no end tag.
fn is_void(name: &[u8]) -> bool {
    const VOID: &[&[u8]] = &[
        b"area",
        b"base",
        b"basefont",
        b"bgsound",
        b"br",
        b"col",
        b"embed",
        b"frame",
        b"hr",
        b"image",
        b"img",
        b"input",
        b"keygen",
        b"link",
        b"meta",
        b"param",
        b"source",
        b"track",
        b"wbr",
    ];
    VOID.iter().any(|v| v.eq_ignore_ascii_case(name))
}

/// Elements the parser closes implicitly (a new `<li>` ends the last one),
/// plus the document skeleton: not counted, so missing end tags on them
/// cannot inflate the depth. (Ruby's `rb`, `rt`, `rp` and `rtc` are not
/// here: they close each other only inside a `<ruby>`, and outside one
/// they nest like any element.)
fn is_self_closing_family(name: &[u8]) -> bool {
    const FAMILY: &[&[u8]] = &[
        b"p",
        b"li",
        b"dt",
        b"dd",
        b"option",
        b"optgroup",
        b"tr",
        b"td",
        b"th",
        b"thead",
        b"tbody",
        b"tfoot",
        b"colgroup",
        b"caption",
        b"html",
        b"head",
        b"body",
    ];
    FAMILY.iter().any(|v| v.eq_ignore_ascii_case(name))
}

/// Elements whose content is text up to their end tag.
fn is_raw_text(name: &[u8]) -> bool {
    const RAW: &[&[u8]] = &[
        b"script",
        b"style",
        b"xmp",
        b"iframe",
        b"noembed",
        b"noframes",
        b"noscript",
        b"textarea",
        b"title",
    ];
    RAW.iter().any(|v| v.eq_ignore_ascii_case(name))
}

/// Elements whose whole content normalization drops and the parser can
/// skip: scripts, styles and inline SVG (which cannot nest inside itself in
/// practice; a nested one ends the skip early, which only parses more).
fn is_dropped(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"script")
        || name.eq_ignore_ascii_case(b"style")
        || name.eq_ignore_ascii_case(b"svg")
}

fn is_foreign_root(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"svg") || name.eq_ignore_ascii_case(b"math")
}

/// Open elements counted by [`name_key`], which is a hash already: used
/// as it is rather than hashed again (std's SipHash showed in profiles).
type Counts = HashMap<u64, u32, std::hash::BuildHasherDefault<KeyHasher>>;

#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; any other input still hashes.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// FNV-1a of the lower-cased name: element identity without allocating.
fn name_key(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(bytes.get(from..)?, needle).map(|at| from + at)
}

/// Position after the `>` closing the tag whose name ends at `from`
/// (quoted attribute values may contain `>`), or the end of input.
fn tag_end(bytes: &[u8], mut at: usize) -> usize {
    while let Some(next) = memchr::memchr2(b'>', b'=', bytes.get(at..).unwrap_or_default()) {
        at += next;
        if bytes[at] == b'>' {
            return at + 1;
        }
        at += 1;
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        if let Some(&quote @ (b'"' | b'\'')) = bytes.get(at) {
            match memchr::memchr(quote, &bytes[at + 1..]) {
                Some(close) => at += close + 2,
                None => return bytes.len(),
            }
        }
    }
    bytes.len()
}

/// Attributes read after parsing: by the text rules (`class`, `id` and
/// `role` for the statement's region, the hiding ones by
/// `dom::is_hidden`), and by html5ever's tree builder (`type` of an
/// `<input>` in a table, `color`/`face`/`size` of a `<font>` in MathML,
/// `encoding` of `<annotation-xml>`, a `<meta>`'s charset, the
/// declarative shadow root's `shadowroot*`). Names compare without case,
/// as the tokenizer lower-cases them.
fn is_read(name: &[u8]) -> bool {
    const READ: &[&[u8]] = &[
        b"class",
        b"id",
        b"role",
        b"hidden",
        b"aria-hidden",
        b"style",
        b"type",
        b"open",
        b"color",
        b"face",
        b"size",
        b"encoding",
        b"charset",
        b"http-equiv",
        b"content",
    ];
    READ.iter().any(|r| r.eq_ignore_ascii_case(name))
        || name
            .get(..10)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"shadowroot"))
}

/// HTML's whitespace in tags (a carriage return is a line feed to the
/// tokenizer).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0C' | b'\r')
}

/// Pushes to `out` the byte range of each attribute of the start tag
/// whose name ends at `from` and which ends (after its `>`) at `end` that
/// [`is_read`] does not keep, following the tokenizer's attribute states.
/// Where the tokenizer would end the tag elsewhere than `end` (a `>` in a
/// name or an unquoted value, a quote left open) the tag is left whole.
fn unread_attributes(bytes: &[u8], from: usize, end: usize, out: &mut Vec<Range<usize>>) {
    if end == 0 || bytes.get(end - 1) != Some(&b'>') || from >= end {
        return;
    }
    let tag = &bytes[..end - 1];
    let mark = out.len();
    // Up to whitespace or one of `stops`, from `at`; `None` at a `>`,
    // which would have ended the tag there.
    let run = |mut at: usize, stops: &[u8]| -> Option<usize> {
        while at < tag.len() && !is_space(tag[at]) && !stops.contains(&tag[at]) {
            if tag[at] == b'>' {
                return None;
            }
            at += 1;
        }
        Some(at)
    };
    let skip_space = |mut at: usize| {
        while at < tag.len() && is_space(tag[at]) {
            at += 1;
        }
        at
    };
    let mut at = from;
    loop {
        // Before a name: whitespace, and a `/` that does not end the tag.
        while at < tag.len() && (is_space(tag[at]) || tag[at] == b'/') {
            at += 1;
        }
        if at == tag.len() {
            return;
        }
        let start = at;
        // A name's first character may be `=`; then up to whitespace, `/`, `=`.
        let Some(name_end) = run(at + 1, b"/=").filter(|_| tag[start] != b'>') else {
            out.truncate(mark);
            return;
        };
        at = name_end;
        let value = skip_space(name_end);
        if tag.get(value) == Some(&b'=') {
            let value = skip_space(value + 1);
            at = match tag.get(value) {
                Some(&quote @ (b'"' | b'\'')) => match memchr::memchr(quote, &tag[value + 1..]) {
                    Some(close) => value + close + 2,
                    None => {
                        out.truncate(mark);
                        return;
                    }
                },
                Some(_) => match run(value, b"") {
                    Some(value_end) => value_end,
                    None => {
                        out.truncate(mark);
                        return;
                    }
                },
                // `name=` right before the `>`: an empty value.
                None => value,
            };
        }
        if !is_read(&tag[start..name_end]) {
            out.push(start..at);
        }
    }
}

/// Where the end tag `</name` starts (case-insensitive), or the end.
fn raw_text_end(bytes: &[u8], mut from: usize, name: &[u8]) -> usize {
    while let Some(at) = find(bytes, from, b"</") {
        let candidate = &bytes[at + 2..];
        if candidate.len() >= name.len() && candidate[..name.len()].eq_ignore_ascii_case(name) {
            return at;
        }
        from = at + 2;
    }
    bytes.len()
}

/// The deepest approximate nesting seen, and the byte ranges of the tags
/// nested deeper than `limit`.
fn scan(source: &str, limit: usize, attributes: Attributes) -> (usize, Vec<Range<usize>>) {
    let bytes = source.as_bytes();
    let mut removed = Vec::new();
    let mut stack: Vec<u64> = Vec::new();
    let mut open = Counts::default();
    let mut foreign_depth = 0usize;
    let mut max_depth = 0;
    let mut at = 0;
    while let Some(offset) = memchr::memchr(b'<', &bytes[at..]) {
        let start = at + offset;
        let rest = &bytes[start..];
        if rest.starts_with(b"<!--") {
            at = find(bytes, start + 4, b"-->").map_or(bytes.len(), |end| end + 3);
            removed.push(start..at);
            continue;
        }
        if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
            at = find(bytes, start, b">").map_or(bytes.len(), |end| end + 1);
            continue;
        }
        let is_end = rest.get(1) == Some(&b'/');
        let name_start = start + 1 + usize::from(is_end);
        if !bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
            at = start + 1;
            continue;
        }
        let name_end = bytes[name_start..]
            .iter()
            .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
            .map_or(bytes.len(), |n| name_start + n);
        let name = &bytes[name_start..name_end];
        let end = tag_end(bytes, name_end);
        let self_closing = end >= 2 && bytes[end - 2] == b'/' && bytes[end - 1] == b'>';
        at = end;

        if !is_end && !self_closing && is_dropped(name) {
            // Content the output drops anyway: skip it and its end tag so
            // the parser never sees it (a third of a typical page's bytes).
            let close = raw_text_end(bytes, at, name);
            at = if close < bytes.len() {
                tag_end(bytes, close + 2 + name.len())
            } else {
                close
            };
            removed.push(start..at);
            continue;
        }
        // Taken back if the whole tag goes (nested too deep).
        let attributes_cut = removed.len();
        if !is_end && attributes == Attributes::Read {
            unread_attributes(bytes, name_end, end, &mut removed);
        }
        // Inside MathML (inline SVG is cut out above) elements nest like any
        // other and are counted like any other: an unclosed `<math>` must
        // not switch the count off for the rest of the page. Only the HTML
        // rules for void and implicitly closed elements wait for its end.
        if is_foreign_root(name) {
            if is_end {
                foreign_depth = foreign_depth.saturating_sub(1);
            } else if !self_closing {
                foreign_depth += 1;
            }
        }
        if !is_end && name.eq_ignore_ascii_case(b"plaintext") {
            break;
        }
        if !is_end && is_raw_text(name) {
            at = raw_text_end(bytes, at, name);
            continue;
        }
        if self_closing && foreign_depth > 0 {
            continue;
        }
        if foreign_depth == 0 && (is_void(name) || is_self_closing_family(name)) {
            continue;
        }
        let key = name_key(name);
        if is_end {
            // Like the parser's "any other end tag": pop to the matching
            // open element; a stray end tag does nothing. Amortized O(1):
            // each element is popped once.
            if open.get(&key).copied().unwrap_or(0) == 0 {
                continue;
            }
            if stack.len() > limit {
                removed.push(start..end);
            }
            while let Some(top) = stack.pop() {
                if let Some(count) = open.get_mut(&top) {
                    *count -= 1;
                }
                if top == key {
                    break;
                }
            }
        } else {
            stack.push(key);
            *open.entry(key).or_insert(0) += 1;
            max_depth = max_depth.max(stack.len());
            if stack.len() > limit {
                removed.truncate(attributes_cut);
                removed.push(start..end);
            }
        }
    }
    (max_depth, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shallow_pages_pass_through() {
        let page = "<div><p>a<p>b<ul><li>c<li>d</ul><span>e</span></div>";
        assert!(matches!(prepare(page, Attributes::All), Cow::Borrowed(_)));
        assert_eq!(scan(page, MAX_DEPTH, Attributes::All).0, 2);
    }

    #[test]
    fn comments_scripts_styles_and_svg_are_cut_before_parsing() {
        let page = "<p>a<!-- <p>hidden --></p><SCRIPT type=x>'<div></p>'</script ><p>b</p>\
                    <style>p{}</style><svg viewBox=\"0 0 1 1\"><text>logo</text></SVG><p title=\"<script>\">c</p>";
        assert_eq!(
            prepare(page, Attributes::All),
            "<p>a</p><p>b</p><p title=\"<script>\">c</p>"
        );
        // An unterminated script runs to the end, as in the parser.
        assert_eq!(prepare("<p>a</p><script>x", Attributes::All), "<p>a</p>");
        // Self-closing svg is just a tag.
        assert_eq!(prepare("<svg/><p>a</p>", Attributes::All), "<svg/><p>a</p>");
    }

    #[test]
    fn attributes_nothing_reads_are_cut() {
        let read = |page| prepare(page, Attributes::Read);
        assert_eq!(
            read("<a href=\"/x\" class=\"c\" data-x='y' onclick=go()>t</a>"),
            "<a  class=\"c\"  >t</a>"
        );
        // Kept: what the text rules and the tree builder read, in any case.
        let kept = "<DIV CLASS=a ID=b Style=\"display:none\" HIDDEN aria-hidden=true role=main>\
                    <input type=hidden><font color=red size=2 face=x><template shadowrootmode=open>";
        assert_eq!(read(kept), kept);
        // A `>` in a quoted value is the value's; `/` and `=` edge cases.
        assert_eq!(read("<a title=\"a>b\" class=c>x"), "<a  class=c>x");
        // `a/` is the value: the `<br>` was not self-closing either.
        assert_eq!(read("<br data-x=a/><img src=x />"), "<br ><img  />");
        assert_eq!(read("<p =x lang = 'en' id=p>y"), "<p   id=p>y");
        assert_eq!(read("<a href=>z"), "<a >z");
        // Where the tokenizer would end the tag elsewhere, it stays whole.
        let odd = "<a href=x?y=\"z>w\" class=c>t";
        assert_eq!(read(odd), odd);
        // Text, end tags and raw text are not tags to cut in.
        let text = "<title>a <b href=x> c</title><textarea><i lang=x></textarea></a href=x>";
        assert_eq!(read(text), text);
        // `All` keeps every one.
        assert_eq!(
            prepare("<a href=\"/x\">t</a>", Attributes::All),
            "<a href=\"/x\">t</a>"
        );
    }

    #[test]
    fn deep_tags_are_removed_text_kept() {
        let page = format!("{}x{}", "<div class=\"a>b\">".repeat(5), "</DIV>".repeat(5));
        let (_, removed) = scan(&page, 3, Attributes::All);
        assert_eq!(removed.len(), 4);
        assert_eq!(
            prepare(&page, Attributes::All),
            Cow::Borrowed(page.as_str())
        );
        let deep = format!(
            "{}x{}",
            "<div>".repeat(MAX_DEPTH + 2),
            "</div>".repeat(MAX_DEPTH + 2)
        );
        let capped = prepare(&deep, Attributes::All);
        assert_eq!(capped.matches("<div>").count(), MAX_DEPTH);
        assert_eq!(capped.matches("</div>").count(), MAX_DEPTH);
        assert!(capped.contains(">x<"));
    }

    /// Two ways past the cap that once made parsing quadratic (19 s of CPU
    /// for 100,000 `<div>` after an unclosed `<math>`; 61 s for 100,000
    /// `<rb>` and as many stray `</p>`): both are now counted and capped.
    #[test]
    fn math_and_ruby_tags_are_counted_too() {
        let n = 10_000;
        let after_math = format!("<math>{}x", "<div>".repeat(n));
        let capped = prepare(&after_math, Attributes::All);
        assert!(capped.matches("<div>").count() < MAX_DEPTH, "math");
        let ruby = format!("{}{}", "<rb>".repeat(n), "</p>".repeat(n));
        assert!(
            prepare(&ruby, Attributes::All).matches("<rb>").count() <= MAX_DEPTH,
            "rb"
        );
        // Real ruby, closed by its container, stays shallow.
        let real = "<p><ruby>漢<rb>かん</rb><rt>kan</rt>字<rt>ji</rt></ruby></p>".repeat(500);
        assert!(
            scan(&real, MAX_DEPTH, Attributes::All).0 <= 4,
            "depth {}",
            scan(&real, MAX_DEPTH, Attributes::All).0
        );
    }

    #[test]
    fn unclosed_inline_tags_are_closed_by_their_container() {
        let page = "<table><tr><td><div><font>a</div></td></tr></table>".repeat(1000);
        assert!(
            scan(&page, MAX_DEPTH, Attributes::All).0 <= 3,
            "depth {}",
            scan(&page, MAX_DEPTH, Attributes::All).0
        );
    }

    #[test]
    fn corpus_pages_stay_well_below_the_cap() {
        for (name, body) in [
            (
                "baidu",
                &include_bytes!("../../tests/fixtures/normalize/jsoup-baidu-cn-home-2010.html")[..],
            ),
            (
                "xinhua",
                include_bytes!(
                    "../../tests/fixtures/normalize/traf-archive.org.he.xinhuanet.com.25340717.html"
                ),
            ),
            (
                "qq",
                include_bytes!("../../tests/fixtures/normalize/moz-qq.html"),
            ),
            (
                "nhk",
                include_bytes!("../../tests/fixtures/normalize/traf-nhk.or.jp.k100.html"),
            ),
            (
                "rp",
                include_bytes!(
                    "../../tests/fixtures/normalize/traf-rp.pl-unijne-fundusze-sejm.html"
                ),
            ),
        ] {
            let text = super::super::charset::decode(body, None, None).text;
            let depth = scan(&text, MAX_DEPTH, Attributes::All).0;
            assert!(depth < MAX_DEPTH / 4, "{name}: depth {depth}");
        }
    }
}
