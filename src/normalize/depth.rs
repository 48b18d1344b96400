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

use std::borrow::Cow;
use std::collections::HashMap;

/// Deepest element nesting kept. A block tag then costs at most this many
/// stack steps in the parser.
pub(crate) const MAX_DEPTH: usize = 256;

/// `source` without comments, scripts, styles and inline SVG, and with tags
/// nested deeper than [`MAX_DEPTH`] removed; borrowed when nothing had to go.
pub(crate) fn prepare(source: &str) -> Cow<'_, str> {
    let (_, removed) = scan(source, MAX_DEPTH);
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
fn scan(source: &str, limit: usize) -> (usize, Vec<std::ops::Range<usize>>) {
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
        assert!(matches!(prepare(page), Cow::Borrowed(_)));
        assert_eq!(scan(page, MAX_DEPTH).0, 2);
    }

    #[test]
    fn comments_scripts_styles_and_svg_are_cut_before_parsing() {
        let page = "<p>a<!-- <p>hidden --></p><SCRIPT type=x>'<div></p>'</script ><p>b</p>\
                    <style>p{}</style><svg viewBox=\"0 0 1 1\"><text>logo</text></SVG><p title=\"<script>\">c</p>";
        assert_eq!(prepare(page), "<p>a</p><p>b</p><p title=\"<script>\">c</p>");
        // An unterminated script runs to the end, as in the parser.
        assert_eq!(prepare("<p>a</p><script>x"), "<p>a</p>");
        // Self-closing svg is just a tag.
        assert_eq!(prepare("<svg/><p>a</p>"), "<svg/><p>a</p>");
    }

    #[test]
    fn deep_tags_are_removed_text_kept() {
        let page = format!("{}x{}", "<div class=\"a>b\">".repeat(5), "</DIV>".repeat(5));
        let (_, removed) = scan(&page, 3);
        assert_eq!(removed.len(), 4);
        assert_eq!(prepare(&page), Cow::Borrowed(page.as_str()));
        let deep = format!(
            "{}x{}",
            "<div>".repeat(MAX_DEPTH + 2),
            "</div>".repeat(MAX_DEPTH + 2)
        );
        let capped = prepare(&deep);
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
        let capped = prepare(&after_math);
        assert!(capped.matches("<div>").count() < MAX_DEPTH, "math");
        let ruby = format!("{}{}", "<rb>".repeat(n), "</p>".repeat(n));
        assert!(prepare(&ruby).matches("<rb>").count() <= MAX_DEPTH, "rb");
        // Real ruby, closed by its container, stays shallow.
        let real = "<p><ruby>漢<rb>かん</rb><rt>kan</rt>字<rt>ji</rt></ruby></p>".repeat(500);
        assert!(
            scan(&real, MAX_DEPTH).0 <= 4,
            "depth {}",
            scan(&real, MAX_DEPTH).0
        );
    }

    #[test]
    fn unclosed_inline_tags_are_closed_by_their_container() {
        let page = "<table><tr><td><div><font>a</div></td></tr></table>".repeat(1000);
        assert!(
            scan(&page, MAX_DEPTH).0 <= 3,
            "depth {}",
            scan(&page, MAX_DEPTH).0
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
            let depth = scan(&text, MAX_DEPTH).0;
            assert!(depth < MAX_DEPTH / 4, "{name}: depth {depth}");
        }
    }
}
