//! Decides what kind of body this is: the declared media type when it is
//! specific, else a sniff of the first bytes (after the WHATWG MIME
//! sniffing rules for unknown types, cut down to what chancery needs).

/// How a body is turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// HTML, parsed as a browser would.
    Html,
    /// XML other than XHTML: parsed by the HTML parser, every element is
    /// its own line (feeds get a real parser later).
    Xml,
    /// JSON, re-serialized with sorted keys.
    Json,
    /// Plain text (any `text/*` that is not markup).
    Text,
    /// PDF: text from the content streams, one line per printed line.
    Pdf,
    /// Images, archives, binary: no text to watch.
    Unsupported,
}

/// How many leading bytes the binary sniff looks at.
const SNIFF_BYTES: usize = 8 * 1024;

/// The kind of `body` under `content_type` (the raw header).
pub(crate) fn kind(body: &[u8], content_type: Option<&str>) -> Kind {
    let essence = essence(content_type);
    let is = |name: &str| essence.eq_ignore_ascii_case(name);
    let (top, sub) = essence.split_once('/').unwrap_or((essence, ""));
    let top_is = |name: &str| top.eq_ignore_ascii_case(name);
    let sub_ends = |suffix: &str| {
        sub.len() >= suffix.len()
            && sub.as_bytes()[sub.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };

    if is("text/html") || is("application/xhtml+xml") {
        Kind::Html
    } else if is("text/xml") || is("application/xml") || sub_ends("+xml") {
        Kind::Xml
    } else if is("application/json") || is("text/json") || sub_ends("+json") {
        Kind::Json
    } else if is("application/pdf")
        || is("application/x-pdf")
        || (body.starts_with(b"%PDF-")
            && (essence.is_empty()
                || is("application/octet-stream")
                || is("binary/octet-stream")
                || is("application/download")
                || is("application/force-download")))
    {
        Kind::Pdf
    } else if top_is("image")
        || top_is("audio")
        || top_is("video")
        || top_is("font")
        || top_is("model")
        || is("application/zip")
        || is("application/gzip")
        || is("application/x-gzip")
        || is("application/wasm")
        || is("application/msword")
        || sub.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("vnd."))
    {
        Kind::Unsupported
    } else if top_is("text") {
        Kind::Text
    } else {
        // Missing, `application/octet-stream` or some other application
        // type: look at the bytes.
        sniff(body)
    }
}

/// The lower-level media type without parameters, e.g. `text/html`.
pub(crate) fn essence(content_type: Option<&str>) -> &str {
    content_type
        .and_then(|ct| ct.split(';').next())
        .map(str::trim)
        .unwrap_or("")
}

fn sniff(body: &[u8]) -> Kind {
    if is_binary(body) {
        Kind::Unsupported
    } else if looks_like_markup(body) {
        if skip_start(body).starts_with(b"<?xml") && !looks_like_html(skip_start(body)) {
            Kind::Xml
        } else {
            Kind::Html
        }
    } else if matches!(skip_start(body).first(), Some(b'{' | b'[')) {
        Kind::Json
    } else {
        Kind::Text
    }
}

/// A body whose first bytes are HTML (or XML) markup.
pub(crate) fn looks_like_markup(body: &[u8]) -> bool {
    let start = skip_start(body);
    start.starts_with(b"<?xml") || looks_like_html(start)
}

/// After leading whitespace and a UTF-8 BOM.
fn skip_start(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(body)
        .trim_ascii_start()
}

/// The WHATWG "identifying a resource with an unknown MIME type" HTML
/// patterns: a known tag name followed by a space or `>`.
fn looks_like_html(start: &[u8]) -> bool {
    const TAGS: &[&[u8]] = &[
        b"<!doctype html",
        b"<html",
        b"<head",
        b"<script",
        b"<iframe",
        b"<h1",
        b"<div",
        b"<font",
        b"<table",
        b"<a",
        b"<style",
        b"<title",
        b"<b",
        b"<body",
        b"<br",
        b"<p",
        b"<!--",
        b"<meta",
        b"<link",
    ];
    TAGS.iter().any(|tag| {
        start.len() > tag.len()
            && start[..tag.len()].eq_ignore_ascii_case(tag)
            && matches!(start[tag.len()], b' ' | b'\t' | b'\n' | b'\r' | 0x0C | b'>')
    })
}

/// Magic numbers of common binary formats, or a WHATWG "binary data byte"
/// in the first [`SNIFF_BYTES`] (ESC is allowed: ISO-2022-JP uses it).
/// Why a body taken for text is not text, if it is not: a known binary
/// format by its first bytes, or more control bytes than text has (over
/// 2% of the first 8 KiB: a stray control character in a real page does
/// not count, random or compressed bytes have about 10%).
pub(crate) fn binary_in_text(body: &[u8]) -> Option<&'static str> {
    const MAGIC: &[(&[u8], &str)] = &[
        (
            b"\x1F\x8B",
            "gzip data; was Content-Encoding: gzip missing?",
        ),
        (b"\x28\xB5\x2F\xFD", "zstd data"),
        (b"BZh", "bzip2 data"),
        (b"PK\x03\x04", "a zip archive"),
        (b"7z\xBC\xAF\x27\x1C", "a 7z archive"),
        (b"\x89PNG\r\n\x1A\n", "a PNG image"),
        (b"GIF87a", "a GIF image"),
        (b"GIF89a", "a GIF image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"\x00asm", "WebAssembly"),
        (b"\x7FELF", "an executable"),
        (b"wOFF", "a font"),
        (b"wOF2", "a font"),
    ];
    if let Some((_, what)) = MAGIC.iter().find(|(magic, _)| body.starts_with(magic)) {
        return Some(what);
    }
    if body.starts_with(b"\xFF\xFE") || body.starts_with(b"\xFE\xFF") {
        // UTF-16 text is full of NUL bytes.
        return None;
    }
    let head = &body[..body.len().min(SNIFF_BYTES)];
    let control = head
        .iter()
        .filter(|&&b| matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F))
        .count();
    (control * 50 > head.len()).then_some("bytes no text has")
}

fn is_binary(body: &[u8]) -> bool {
    const MAGIC: &[&[u8]] = &[
        b"%PDF-",
        b"PK\x03\x04",
        b"\x89PNG\r\n\x1A\n",
        b"GIF87a",
        b"GIF89a",
        b"\xFF\xD8\xFF",
        b"\x1F\x8B",
        b"RIFF",
        b"OggS",
        b"ID3",
        b"wOFF",
        b"wOF2",
        b"\x00asm",
        b"7z\xBC\xAF\x27\x1C",
    ];
    if MAGIC.iter().any(|magic| body.starts_with(magic)) {
        return true;
    }
    if body.starts_with(b"\xFF\xFE") || body.starts_with(b"\xFE\xFF") {
        // UTF-16 text is full of NUL bytes.
        return false;
    }
    body[..body.len().min(SNIFF_BYTES)]
        .iter()
        .any(|&b| matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F))
}

#[cfg(test)]
mod binary_tests {
    use super::binary_in_text;

    #[test]
    fn compressed_and_random_bodies_are_binary_and_pages_are_not() {
        assert_eq!(
            binary_in_text(b"\x1F\x8B\x08\x00rest"),
            Some("gzip data; was Content-Encoding: gzip missing?")
        );
        // Bytes of a simple generator, spread like random data.
        let mut x: u32 = 12345;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        assert_eq!(binary_in_text(&noise), Some("bytes no text has"));
        // A real page with one stray control character is text.
        let mut page = b"<html><body><p>Statement</p>".repeat(20);
        page.push(0x1A);
        assert_eq!(binary_in_text(&page), None);
        assert_eq!(
            binary_in_text("外交部发言人就此事发表谈话。".as_bytes()),
            None
        );
        assert_eq!(binary_in_text(b"\xFF\xFEa\x00b\x00"), None, "UTF-16");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types() {
        assert_eq!(kind(b"", Some("text/html; charset=utf-8")), Kind::Html);
        assert_eq!(kind(b"", Some("application/xhtml+xml")), Kind::Html);
        assert_eq!(kind(b"", Some("application/rss+xml")), Kind::Xml);
        assert_eq!(kind(b"", Some("Application/JSON")), Kind::Json);
        assert_eq!(kind(b"", Some("application/ld+json")), Kind::Json);
        assert_eq!(kind(b"", Some("text/plain")), Kind::Text);
        assert_eq!(kind(b"<html>", Some("image/png")), Kind::Unsupported);
        assert_eq!(kind(b"", Some("application/pdf")), Kind::Pdf);
        assert_eq!(
            kind(
                b"",
                Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
            ),
            Kind::Unsupported
        );
    }

    #[test]
    fn sniffed_types() {
        assert_eq!(kind(b"\n <!DOCTYPE html><p>x", None), Kind::Html);
        assert_eq!(
            kind(b"<p>x</p>", Some("application/octet-stream")),
            Kind::Html
        );
        assert_eq!(kind(b"<?xml version=\"1.0\"?><rss>", None), Kind::Xml);
        assert_eq!(kind(b" {\"a\": 1}", None), Kind::Json);
        assert_eq!(kind(b"Statement of the ministry", None), Kind::Text);
        assert_eq!(kind(b"<not-a-tag> is text", None), Kind::Text);
        assert_eq!(kind(b"\x89PNG\r\n\x1A\n....", None), Kind::Unsupported);
        assert_eq!(
            kind(b"abc\x00def", Some("application/octet-stream")),
            Kind::Unsupported
        );
        assert_eq!(kind(b"\xFF\xFEa\x00", None), Kind::Text);
    }

    #[test]
    fn pdf_by_type_or_by_magic_under_a_generic_type() {
        assert_eq!(kind(b"", Some("Application/PDF; qs=1")), Kind::Pdf);
        assert_eq!(kind(b"%PDF-1.7\n", None), Kind::Pdf);
        assert_eq!(
            kind(b"%PDF-1.4\n", Some("application/octet-stream")),
            Kind::Pdf
        );
        assert_eq!(kind(b"%PDF-1.4\n", Some("binary/octet-stream")), Kind::Pdf);
        // A specific other type wins over the magic.
        assert_eq!(kind(b"%PDF-1.4\n", Some("image/png")), Kind::Unsupported);
        assert_eq!(
            kind(b"%PDF-1.4\n", Some("application/x-other")),
            Kind::Unsupported
        );
        assert_eq!(kind(b"<p>%PDF-", None), Kind::Html);
    }
}
