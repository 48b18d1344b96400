//! Charset decoding and HTML (and text, JSON, XML) normalization on
//! arbitrary bytes. Checks: no panic, and determinism — the same bytes and
//! filters give the same result twice (the text hash is the change signal).
//! The `sticky` target checks the region a check passes back.
//!
//! Input: byte 0 picks the content type, byte 1 the URL (its TLD is a
//! charset hint) and `content = auto|full`; the rest is the body.
#![no_main]

use chancery::normalize::{self, Content, Filters, Input};
use libfuzzer_sys::fuzz_target;
use url::Url;

const CONTENT_TYPES: [Option<&str>; 6] = [
    Some("text/html"),
    Some("text/html;charset=gbk"),
    Some("text/plain"),
    None,
    Some("application/json"),
    Some("application/xml"),
];

const URLS: [Option<&str>; 4] = [
    None,
    Some("https://www.fmprc.gov.cn/statement.html"),
    Some("https://www.mofa.go.jp/press/release.html"),
    Some("https://example.org/news/1"),
];

fuzz_target!(|data: &[u8]| {
    let [kind, hints, body @ ..] = data else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(*kind) % CONTENT_TYPES.len()];
    let url = URLS[usize::from(hints & 0x03)].map(|u| Url::parse(u).unwrap());
    let filters = Filters {
        content: if hints & 0x04 == 0 {
            Content::Auto
        } else {
            Content::Full
        },
        ..Filters::default()
    };
    let input = Input {
        body,
        content_type,
        url: url.as_ref(),
    };
    let first = normalize::normalize(&input, &filters);
    let second = normalize::normalize(&input, &filters);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "normalize is not deterministic"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("normalize is not deterministic: {first:?} vs {second:?}"),
    }
});
