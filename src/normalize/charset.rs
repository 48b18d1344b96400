//! Decodes a body to Unicode: BOM, then the HTTP `charset`, then an HTML
//! `<meta charset>`/`http-equiv` prescan, then detection (chardetng, with
//! the URL's top-level domain as a hint), then windows-1252.
//!
//! Two departures from the browser algorithm, both because real official
//! pages need them (see `tests/fixtures/normalize/SOURCES.md`):
//! - the meta prescan reads the first [`PRESCAN_LIMIT_BYTES`], not 1024
//!   bytes: Wayback replays and CMS templates push the meta far down;
//! - a legacy label loses to bytes that are valid, non-ASCII UTF-8: saving
//!   tools transcode pages and keep the old label, and valid UTF-8 by
//!   accident is vanishingly rare in real GBK or windows-125x text.
//!
//! Never fails: bytes that do not decode become U+FFFD.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252, X_USER_DEFINED};

/// How far into the body the `<meta>` prescan looks. Real pages put the
/// meta at byte 1180, 2045 and 8283; 64 KiB covers any sane `<head>`.
pub const PRESCAN_LIMIT_BYTES: usize = 64 * 1024;

/// Where the encoding decision came from, so logs and `extract` can say why
/// a page decoded the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharsetSource {
    /// A byte order mark at the start of the body.
    Bom,
    /// The `charset` parameter of the HTTP `Content-Type`.
    Header,
    /// A `<meta charset>`/`http-equiv` (or `<?xml encoding>`) in the body.
    Meta,
    /// No usable label, or a legacy label overruled: the bytes are UTF-8.
    Utf8Valid,
    /// chardetng guessed from the bytes (and the TLD hint).
    Detected,
    /// windows-1252 without evidence. Reserved: chardetng always answers,
    /// so [`decode`] does not produce it today; callers should handle it.
    Default,
}

/// A decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The text, without any BOM; undecodable bytes are U+FFFD.
    pub text: String,
    /// The encoding used (WHATWG name via `encoding.name()`).
    pub encoding: &'static Encoding,
    /// Why that encoding was chosen.
    pub source: CharsetSource,
}

/// Decodes `body` as a browser would, with the two departures in the module
/// docs. `content_type` is the raw header; `tld_hint` is the URL's top-level
/// domain (`"cn"`, `"jp"`), used only when guessing.
pub fn decode(body: &[u8], content_type: Option<&str>, tld_hint: Option<&str>) -> Decoded {
    if let Some((encoding, bom_len)) = Encoding::for_bom(body) {
        let text = encoding
            .decode_without_bom_handling(&body[bom_len..])
            .0
            .into_owned();
        return Decoded {
            text,
            encoding,
            source: CharsetSource::Bom,
        };
    }

    let label = content_type
        .and_then(header_charset)
        .map(|encoding| (encoding, CharsetSource::Header))
        .or_else(|| {
            if wants_prescan(body, content_type) {
                prescan(body).map(|encoding| (encoding, CharsetSource::Meta))
            } else {
                None
            }
        });

    let utf8 = utf8_state(body);
    let (encoding, source) = match label {
        // "Label lies": a legacy label on bytes that are valid UTF-8 with
        // non-ASCII in them. UTF-16 labels are not legacy; they stay.
        Some((encoding, _))
            if encoding != UTF_8
                && encoding != UTF_16LE
                && encoding != UTF_16BE
                && utf8 == Utf8State::NonAscii =>
        {
            (UTF_8, CharsetSource::Utf8Valid)
        }
        Some(found) => found,
        None => match utf8 {
            Utf8State::NonAscii => (UTF_8, CharsetSource::Utf8Valid),
            // ISO-2022-JP is 7-bit; only an ESC byte makes guessing worth it.
            Utf8State::Ascii if !body.contains(&0x1B) => (UTF_8, CharsetSource::Utf8Valid),
            Utf8State::Ascii => match guess(body, tld_hint) {
                encoding if encoding == encoding_rs::ISO_2022_JP => {
                    (encoding, CharsetSource::Detected)
                }
                _ => (UTF_8, CharsetSource::Utf8Valid),
            },
            Utf8State::Invalid => (guess(body, tld_hint), CharsetSource::Detected),
        },
    };
    let text = if encoding == UTF_8 {
        match std::str::from_utf8(body) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(body).into_owned(),
        }
    } else {
        encoding.decode_without_bom_handling(body).0.into_owned()
    };
    Decoded {
        text,
        encoding,
        source,
    }
}

/// The encoding named by a `Content-Type`'s `charset` parameter, if it names
/// one encoding_rs knows. Unknown labels are ignored, as browsers do.
pub fn header_charset(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        Encoding::for_label(value.as_bytes())
    })
}

/// Whether the body is HTML or XML enough for an in-band label to count:
/// the same decision [`super::normalize`] makes about how to parse it.
fn wants_prescan(body: &[u8], content_type: Option<&str>) -> bool {
    matches!(
        super::sniff::kind(body, content_type),
        super::sniff::Kind::Html | super::sniff::Kind::Xml
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Utf8State {
    /// Only bytes below 0x80.
    Ascii,
    /// Valid UTF-8 with at least one multi-byte sequence (a sequence cut
    /// off by the end of a capped body still counts as valid).
    NonAscii,
    Invalid,
}

fn utf8_state(body: &[u8]) -> Utf8State {
    if body.is_ascii() {
        return Utf8State::Ascii;
    }
    match std::str::from_utf8(body) {
        Ok(_) => Utf8State::NonAscii,
        // `error_len() == None`: the input ended mid-sequence, which is what
        // a body truncated at `max_body_bytes` looks like.
        Err(e) if e.error_len().is_none() => Utf8State::NonAscii,
        Err(_) => Utf8State::Invalid,
    }
}

/// chardetng's guess for unlabelled bytes, with one rescue: chardetng rules
/// out any encoding the bytes are not valid in, so a single stray byte (a
/// character cut in half by a CMS, a UTF-8 "©" pasted into a GBK page)
/// turns a Chinese page into windows-1252 mojibake. When the guess is not
/// a multi-byte encoding, each multi-byte candidate is tried again on the
/// body with its few malformed sequences blanked out; one that chardetng
/// then confirms, with at most one in [`MAX_STRAY_SHARE_INVERSE`] of the
/// non-ASCII bytes blanked, wins (fewest blanked first).
fn guess(body: &[u8], tld_hint: Option<&str>) -> &'static Encoding {
    // chardetng asserts on upper case, dots and non-ASCII; pass only a clean
    // label.
    let tld = tld_hint
        .map(|tld| tld.trim_end_matches('.'))
        .filter(|tld| {
            !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(str::to_ascii_lowercase);
    let tld = tld.as_deref().map(str::as_bytes);
    let first = chardetng_guess(body, tld);
    if MULTI_BYTE.contains(&first) {
        return first;
    }
    let non_ascii = body.iter().filter(|b| !b.is_ascii()).count();
    let mut best: Option<(usize, &'static Encoding)> = None;
    for &candidate in MULTI_BYTE {
        let Some((blanked, stray)) = blank_malformed(body, candidate) else {
            continue;
        };
        if stray * MAX_STRAY_SHARE_INVERSE > non_ascii || best.is_some_and(|(n, _)| n <= stray) {
            continue;
        }
        if chardetng_guess(&blanked, tld) == candidate
            && (candidate == UTF_8 || reads_as_cjk(&candidate.decode_without_bom_handling(body).0))
        {
            best = Some((stray, candidate));
        }
    }
    best.map_or(first, |(_, encoding)| encoding)
}

/// Whether a decoding reads as Chinese, Japanese or Korean text: its CJK
/// characters come in runs, as words do. Latin-1 text misread as a
/// double-byte encoding pairs each accented letter with the ASCII letter
/// after it, giving CJK characters that stand alone between Latin words
/// ("d\u{e9}clar\u{e9}" in Big5 is `d`, one Han character, `ar`, …).
fn reads_as_cjk(text: &str) -> bool {
    let cjk = |c: char| {
        super::is_cjk(c)
            || ('\u{3000}'..='\u{303F}').contains(&c)
            || ('\u{FF00}'..='\u{FFEF}').contains(&c)
    };
    let (mut total, mut in_runs) = (0usize, 0usize);
    let mut previous = ' ';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if cjk(c) {
            total += 1;
            if cjk(previous) || chars.peek().is_some_and(|&next| cjk(next)) {
                in_runs += 1;
            }
        }
        previous = c;
    }
    total >= 4 && in_runs * 10 >= total * 7
}

/// The encodings a stray byte can hide: chardetng's multi-byte ones.
const MULTI_BYTE: &[&Encoding] = &[
    UTF_8,
    encoding_rs::GBK,
    encoding_rs::BIG5,
    encoding_rs::SHIFT_JIS,
    encoding_rs::EUC_JP,
    encoding_rs::EUC_KR,
];

/// Malformed bytes may be at most one in this many non-ASCII bytes (2 %)
/// for a rescue: a few stray bytes, not a wrong guess.
const MAX_STRAY_SHARE_INVERSE: usize = 50;

fn chardetng_guess(body: &[u8], tld: Option<&[u8]>) -> &'static Encoding {
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Allow);
    detector.feed(body, true);
    detector.guess(tld, chardetng::Utf8Detection::Allow)
}

/// `body` with every byte of a sequence malformed in `encoding` replaced by
/// a space, and how many bytes that was; `None` when nothing is malformed
/// (chardetng already judged those bytes as they are).
fn blank_malformed(body: &[u8], encoding: &'static Encoding) -> Option<(Vec<u8>, usize)> {
    use encoding_rs::DecoderResult;
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut out = vec![0u8; 4096];
    let mut blanked = body.to_vec();
    let mut stray = 0;
    let mut at = 0;
    loop {
        let (result, read, _) =
            decoder.decode_to_utf8_without_replacement(&body[at..], &mut out, true);
        at += read;
        match result {
            DecoderResult::InputEmpty => break,
            DecoderResult::OutputFull => {}
            DecoderResult::Malformed(bad, pending) => {
                // The malformed bytes end `pending` bytes before `at`.
                let end = at - usize::from(pending);
                let start = end.saturating_sub(usize::from(bad));
                for b in &mut blanked[start..end] {
                    *b = b' ';
                }
                stray += end - start;
            }
        }
    }
    (stray > 0).then_some((blanked, stray))
}

/// The encoding declared in the first [`PRESCAN_LIMIT_BYTES`] of an HTML
/// (or XML) body: the WHATWG "prescan a byte stream" algorithm (only
/// `<meta>` tags count, comments and other tags' attributes are skipped),
/// plus a leading `<?xml … encoding="…"?>`. UTF-16 labels mean UTF-8, as
/// the standard says (a body that really is UTF-16 has a BOM).
pub fn prescan(body: &[u8]) -> Option<&'static Encoding> {
    let bytes = &body[..body.len().min(PRESCAN_LIMIT_BYTES)];
    let found = xml_declaration(bytes).or_else(|| meta_prescan(bytes))?;
    Some(if found == UTF_16LE || found == UTF_16BE {
        UTF_8
    } else if found == X_USER_DEFINED {
        WINDOWS_1252
    } else {
        found
    })
}

fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0C | b'\r' | b' ')
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn find(bytes: &[u8], needle: &[u8]) -> Option<usize> {
    bytes.windows(needle.len()).position(|w| w == needle)
}

fn xml_declaration(bytes: &[u8]) -> Option<&'static Encoding> {
    let rest = bytes.strip_prefix(b"<?xml")?;
    let end = rest.iter().position(|&b| b == b'>')?;
    let decl = &rest[..end];
    let at = find(decl, b"encoding")?;
    let mut value = decl[at + b"encoding".len()..]
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let quote = *value.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    value = &value[1..];
    let close = value.iter().position(|&b| b == quote)?;
    Encoding::for_label(&value[..close])
}

fn meta_prescan(bytes: &[u8]) -> Option<&'static Encoding> {
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.starts_with(b"<!--") {
            // The `-->` may share dashes with the opener (`<!-->`).
            pos += 2 + find(&rest[2..], b"-->")? + 3;
        } else if starts_with_ignore_case(rest, b"<meta")
            && rest.get(5).is_some_and(|&b| is_space(b) || b == b'/')
        {
            pos += 5;
            if let Some(encoding) = meta_attributes(bytes, &mut pos) {
                return Some(encoding);
            }
        } else if rest.len() >= 2
            && rest[0] == b'<'
            && (rest[1].is_ascii_alphabetic()
                || (rest[1] == b'/' && rest.get(2).is_some_and(u8::is_ascii_alphabetic)))
        {
            // Any other tag: skip its name, then its attributes, so that
            // `<script charset="UTF-8">` is not mistaken for a declaration.
            pos += rest.iter().position(|&b| is_space(b) || b == b'>')?;
            while get_attribute(bytes, &mut pos)?.is_some() {}
        } else if rest.starts_with(b"<!") || rest.starts_with(b"</") || rest.starts_with(b"<?") {
            pos += rest.iter().position(|&b| b == b'>')? + 1;
        } else {
            pos += 1;
        }
    }
    None
}

/// The attributes of one `<meta>`, decided as the standard's prescan does.
/// `None` means "keep scanning".
fn meta_attributes(bytes: &[u8], pos: &mut usize) -> Option<&'static Encoding> {
    let mut seen_http_equiv = false;
    let mut seen_content = false;
    let mut seen_charset = false;
    let mut got_pragma = false;
    // None: no charset seen; Some(true): from `content`, needs the pragma.
    let mut need_pragma: Option<bool> = None;
    let mut charset: Option<&'static Encoding> = None;
    while let Some(Some((name, value))) = get_attribute(bytes, pos) {
        match name.as_slice() {
            b"http-equiv" if !seen_http_equiv => {
                seen_http_equiv = true;
                got_pragma = value == b"content-type";
            }
            b"content" if !seen_content => {
                seen_content = true;
                if charset.is_none()
                    && let Some(label) = charset_from_content(&value)
                {
                    charset = Encoding::for_label(label);
                    need_pragma = Some(true);
                }
            }
            b"charset" if !seen_charset => {
                seen_charset = true;
                charset = Encoding::for_label(&value);
                need_pragma = Some(false);
            }
            _ => {}
        }
    }
    match need_pragma {
        None => None,
        Some(true) if !got_pragma => None,
        Some(_) => charset,
    }
}

/// WHATWG "extracting a character encoding from a meta element".
fn charset_from_content(content: &[u8]) -> Option<&[u8]> {
    let mut pos = 0;
    loop {
        let at = find(&content[pos..], b"charset")?;
        pos += at + b"charset".len();
        while content.get(pos).is_some_and(|&b| is_space(b)) {
            pos += 1;
        }
        if content.get(pos) == Some(&b'=') {
            pos += 1;
            break;
        }
    }
    while content.get(pos).is_some_and(|&b| is_space(b)) {
        pos += 1;
    }
    let rest = &content[pos..];
    match rest.first()? {
        &quote @ (b'"' | b'\'') => {
            let close = rest[1..].iter().position(|&b| b == quote)?;
            Some(&rest[1..1 + close])
        }
        _ => {
            let end = rest
                .iter()
                .position(|&b| is_space(b) || b == b';')
                .unwrap_or(rest.len());
            Some(&rest[..end])
        }
    }
}

/// WHATWG "get an attribute": `Some(None)` means the tag ended (at `>`),
/// `None` means the input ran out. Names and values are lower-cased.
#[allow(clippy::type_complexity)]
fn get_attribute(bytes: &[u8], pos: &mut usize) -> Option<Option<(Vec<u8>, Vec<u8>)>> {
    while is_space(*bytes.get(*pos)?) || bytes[*pos] == b'/' {
        *pos += 1;
    }
    if bytes[*pos] == b'>' {
        return Some(None);
    }
    let mut name = Vec::new();
    let mut value = Vec::new();
    // The name.
    loop {
        let b = *bytes.get(*pos)?;
        if b == b'=' && !name.is_empty() {
            *pos += 1;
            break;
        }
        if is_space(b) {
            while is_space(*bytes.get(*pos)?) {
                *pos += 1;
            }
            if bytes[*pos] != b'=' {
                return Some(Some((name, value)));
            }
            *pos += 1;
            break;
        }
        if b == b'/' || b == b'>' {
            return Some(Some((name, value)));
        }
        name.push(b.to_ascii_lowercase());
        *pos += 1;
    }
    // The value.
    while is_space(*bytes.get(*pos)?) {
        *pos += 1;
    }
    let b = bytes[*pos];
    if b == b'"' || b == b'\'' {
        *pos += 1;
        loop {
            let c = *bytes.get(*pos)?;
            *pos += 1;
            if c == b {
                return Some(Some((name, value)));
            }
            value.push(c.to_ascii_lowercase());
        }
    }
    if b == b'>' {
        return Some(Some((name, value)));
    }
    loop {
        let c = *bytes.get(*pos)?;
        if is_space(c) || c == b'>' {
            return Some(Some((name, value)));
        }
        value.push(c.to_ascii_lowercase());
        *pos += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{BIG5, GBK, SHIFT_JIS, WINDOWS_1250};

    const BAIDU: &[u8] =
        include_bytes!("../../tests/fixtures/normalize/jsoup-baidu-cn-home-2010.html");
    const XINHUA: &[u8] = include_bytes!(
        "../../tests/fixtures/normalize/traf-archive.org.he.xinhuanet.com.25340717.html"
    );
    const QQ: &[u8] = include_bytes!("../../tests/fixtures/normalize/moz-qq.html");
    const NHK: &[u8] = include_bytes!("../../tests/fixtures/normalize/traf-nhk.or.jp.k100.html");
    const NOAA: &[u8] = include_bytes!(
        "../../tests/fixtures/normalize/edgi-noaa-radar-status-unknown-charset.html"
    );
    const RP: &[u8] =
        include_bytes!("../../tests/fixtures/normalize/traf-rp.pl-unijne-fundusze-sejm.html");

    #[test]
    fn baidu_gb2312_from_meta_only() {
        let d = decode(BAIDU, Some("text/html"), Some("com"));
        assert_eq!((d.encoding, d.source), (GBK, CharsetSource::Meta));
        assert!(d.text.contains("百度"), "{}", &d.text[..300]);
    }

    #[test]
    fn xinhua_meta_beyond_1024_bytes() {
        let d = decode(XINHUA, None, None);
        assert_eq!((d.encoding, d.source), (GBK, CharsetSource::Meta));
        assert!(d.text.contains(
            "秦皇岛、承德、张家口等10个设区市演出(此前已在保定市演出多场)，引起强烈反响。"
        ));
    }

    #[test]
    fn qq_label_lies_utf8_wins() {
        assert_eq!(
            prescan(QQ),
            Some(GBK),
            "the fixture must still carry its gb2312 label"
        );
        let d = decode(QQ, Some("text/html"), Some("com"));
        assert_eq!((d.encoding, d.source), (UTF_8, CharsetSource::Utf8Valid));
        assert!(d.text.contains("DeepMind新电脑已可利用记忆自学"));
    }

    #[test]
    fn legacy_header_label_also_loses_to_utf8() {
        let d = decode(
            "<p>Zürich</p>".as_bytes(),
            Some("text/html; charset=ISO-8859-1"),
            None,
        );
        assert_eq!((d.encoding, d.source), (UTF_8, CharsetSource::Utf8Valid));
        assert_eq!(d.text, "<p>Zürich</p>");
    }

    #[test]
    fn nhk_bom_wins_over_header() {
        let d = decode(NHK, Some("text/html; charset=shift_jis"), None);
        assert_eq!((d.encoding, d.source), (UTF_8, CharsetSource::Bom));
        assert!(!d.text.starts_with('\u{FEFF}'));
        assert!(d.text.contains("子どもへの"));
    }

    #[test]
    fn utf16_bom() {
        let mut body = vec![0xFF, 0xFE];
        for unit in "<p>和平</p>".encode_utf16() {
            body.extend_from_slice(&unit.to_le_bytes());
        }
        let d = decode(&body, Some("text/html; charset=utf-8"), None);
        assert_eq!((d.encoding, d.source), (UTF_16LE, CharsetSource::Bom));
        assert_eq!(d.text, "<p>和平</p>");
    }

    #[test]
    fn noaa_unknown_meta_label_is_ignored() {
        let d = decode(NOAA, Some("text/html; charset=who-knows-what-i-am"), None);
        assert_eq!((d.encoding, d.source), (UTF_8, CharsetSource::Utf8Valid));
        assert!(d.text.contains("Radar"));
    }

    #[test]
    fn rp_windows_1250_after_script_charset() {
        assert_eq!(prescan(RP), Some(WINDOWS_1250));
        let d = decode(RP, Some("text/html"), Some("pl"));
        assert_eq!((d.encoding, d.source), (WINDOWS_1250, CharsetSource::Meta));
        assert!(d.text.contains("Ciężar dyskusji przeniesie"));
    }

    #[test]
    fn script_charset_attribute_does_not_count() {
        let body = b"<head><script charset=\"UTF-8\" src=x.js></script><meta charset=\"windows-1250\"></head>";
        assert_eq!(prescan(body), Some(WINDOWS_1250));
        let body = b"<head><script charset=\"UTF-8\"></script></head>";
        assert_eq!(prescan(body), None);
    }

    #[test]
    fn prescan_skips_comments_and_needs_pragma() {
        assert_eq!(
            prescan(b"<!-- <meta charset=gbk> --><meta charset=big5>"),
            Some(BIG5)
        );
        assert_eq!(prescan(b"<meta content=\"text/html; charset=gbk\">"), None);
        assert_eq!(
            prescan(b"<META HTTP-EQUIV=Content-Type CONTENT='text/html; charset=\"shift_jis\"'>"),
            Some(SHIFT_JIS)
        );
        assert_eq!(prescan(b"<meta charset=utf-16le>"), Some(UTF_8));
        assert_eq!(
            prescan(b"<?xml version=\"1.0\" encoding=\"GB2312\"?><rss/>"),
            Some(GBK)
        );
    }

    #[test]
    fn big5_and_shift_jis_from_header_only() {
        let text = "<p>中華民國外交部新聞稿</p>";
        let (bytes, _, unmappable) = BIG5.encode(text);
        assert!(!unmappable);
        let d = decode(&bytes, Some("text/html; charset=big5"), Some("tw"));
        assert_eq!(
            (d.encoding, d.source, d.text.as_str()),
            (BIG5, CharsetSource::Header, text)
        );

        let text = "<p>外務省報道発表：日本国大使館からのお知らせ</p>";
        let (bytes, _, unmappable) = SHIFT_JIS.encode(text);
        assert!(!unmappable);
        let d = decode(&bytes, Some("text/html; Charset=\"Shift_JIS\""), Some("jp"));
        assert_eq!(
            (d.encoding, d.source, d.text.as_str()),
            (SHIFT_JIS, CharsetSource::Header, text)
        );
    }

    #[test]
    fn unlabeled_legacy_bytes_are_detected() {
        let text =
            "<p>中华人民共和国外交部发言人答记者问。外交部发言人就有关问题回答了记者提问。</p>";
        let (bytes, _, _) = GBK.encode(text);
        let d = decode(&bytes, None, Some("CN."));
        assert_eq!(
            (d.encoding, d.source, d.text.as_str()),
            (GBK, CharsetSource::Detected, text)
        );
    }

    /// 6 KB of inline CSS and script before the first Chinese byte, and no
    /// label anywhere: detection sees the whole body, not a window of it.
    fn long_ascii_head(body: &str) -> String {
        let mut head = String::from("<html><head><title>t</title><style>\n");
        while head.len() < 4 * 1024 {
            head.push_str(".menu td a { color: #003366; font-family: Arial, sans-serif; }\n");
        }
        head.push_str("</style><script>\n");
        while head.len() < 6 * 1024 {
            head.push_str("function zoom(size) { document.body.style.fontSize = size + 'px'; }\n");
        }
        head.push_str("</script></head><body>");
        head.push_str(body);
        head.push_str("</body></html>");
        head
    }

    const STATEMENT_ZH: &str = "<h1>中国驻英国大使馆发言人答记者问</h1><p>问：英方近日发表涉港言论，请问对此有何评论？</p>\
        <p>答：香港回归祖国以来，“一国两制”实践取得举世公认的成功。香港事务纯属中国内政，任何外国无权干涉。</p>";

    #[test]
    fn unlabelled_gbk_after_a_long_ascii_head_is_gbk_on_any_domain() {
        let text = long_ascii_head(STATEMENT_ZH);
        let (bytes, _, unmappable) = GBK.encode(&text);
        assert!(!unmappable);
        assert!(bytes.iter().position(|b| !b.is_ascii()).expect("non-ASCII") > 6 * 1024);
        for tld in [Some("uk"), Some("cn"), Some("com"), None] {
            let d = decode(&bytes, Some("text/html"), tld);
            assert_eq!(
                (d.encoding, d.text.as_str()),
                (GBK, text.as_str()),
                "{tld:?}"
            );
        }
    }

    #[test]
    fn a_stray_byte_does_not_turn_a_chinese_page_into_latin_mojibake() {
        let text = long_ascii_head(STATEMENT_ZH);
        let (gbk, _, _) = GBK.encode(&text);
        let end = gbk.len() - "</body></html>".len();
        let strays: [&[u8]; 3] = [
            // A character cut in half by a template.
            b"<p>\xD6</p>",
            // A UTF-8 snippet pasted into the GBK page.
            "<p>© 2020 – Embassy</p>".as_bytes(),
            // A lone byte GBK has no place for.
            b"<p>\xFF</p>",
        ];
        for stray in strays {
            let mut bytes = gbk[..end].to_vec();
            bytes.extend_from_slice(stray);
            bytes.extend_from_slice(&gbk[end..]);
            for tld in [Some("uk"), Some("cn"), None] {
                let d = decode(&bytes, Some("text/html"), tld);
                assert_eq!(d.encoding, GBK, "{stray:?} {tld:?}");
                assert!(d.text.contains("任何外国无权干涉"), "{stray:?} {tld:?}");
            }
        }
        // The same for Big5 (traditional Chinese) and for a UTF-8 page.
        let (big5, _, unmappable) = BIG5.encode(
            "<p>中華民國外交部新聞稿：外交部對相關報導表示嚴正關切，並呼籲各方尊重事實。</p>",
        );
        assert!(!unmappable);
        let mut bytes = big5.to_vec();
        bytes.extend_from_slice(b"<p>\xFF</p>");
        assert_eq!(decode(&bytes, None, Some("tw")).encoding, BIG5);
        let mut bytes = long_ascii_head(STATEMENT_ZH).into_bytes();
        bytes.extend_from_slice(b"\xFF");
        let d = decode(&bytes, None, Some("uk"));
        assert_eq!(d.encoding, UTF_8);
        assert!(d.text.contains("任何外国无权干涉"));
    }

    #[test]
    fn single_byte_pages_stay_single_byte() {
        let rows: &[(&Encoding, &str, &str)] = &[
            (
                WINDOWS_1252,
                "<p>Die Bundesregierung begrüßt die Einigung. Außenministerin: «Ein wichtiger Schritt für Europa», sagte sie am Montag in Brüssel. Größere Änderungen folgen.</p>",
                "de",
            ),
            (
                WINDOWS_1252,
                "<p>Le ministère des Affaires étrangères salue l’accord conclu à Genève. « Une étape décisive », a déclaré la porte-parole. Également présents : délégués français.</p>",
                "fr",
            ),
            (
                encoding_rs::WINDOWS_1250,
                "<p>Ciężar dyskusji przeniesie się na forum Parlamentu Europejskiego. Minister spraw zagranicznych zapowiedział, że Polska złoży wniosek w przyszłym tygodniu.</p>",
                "pl",
            ),
        ];
        for &(encoding, text, tld) in rows {
            let (bytes, _, unmappable) = encoding.encode(text);
            assert!(!unmappable);
            // Some with a stray byte (0x81 is undefined in windows-1252).
            for extra in [&b""[..], b"\x81"] {
                let mut body = bytes.to_vec();
                body.extend_from_slice(extra);
                let d = decode(&body, None, Some(tld));
                // chardetng may name a twin (ISO-8859-2 for windows-1250
                // Polish): what matters is the text and no CJK rescue.
                assert!(
                    !MULTI_BYTE.contains(&d.encoding),
                    "{text}: {}",
                    d.encoding.name()
                );
                assert!(
                    d.text.starts_with(text),
                    "{} read {:?}",
                    encoding.name(),
                    d.text
                );
            }
        }
    }

    #[test]
    fn broken_bytes_become_replacement_characters() {
        let d = decode(
            b"ok \xFF\xFE\xFD end",
            Some("text/plain; charset=utf-8"),
            None,
        );
        assert_eq!(d.encoding, UTF_8);
        assert!(d.text.contains('\u{FFFD}'));
        // A truncated tail is still UTF-8, not a reason to guess.
        let body = "Zürich 中".as_bytes();
        let d = decode(&body[..body.len() - 1], None, None);
        assert_eq!((d.encoding, d.source), (UTF_8, CharsetSource::Utf8Valid));
    }

    #[test]
    fn prescan_never_panics_on_truncated_tags() {
        for body in [
            &b"<meta"[..],
            b"<meta ",
            b"<meta charset=",
            b"<meta charset='gbk",
            b"<a href",
            b"<!--",
            b"<",
        ] {
            let _ = prescan(body);
            let _ = decode(body, None, None);
        }
    }
}
