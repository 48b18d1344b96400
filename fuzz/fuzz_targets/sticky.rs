//! The main-content region a check remembers (`content = "auto"`): the
//! next check passes it back as `sticky` (`normalize_sticky`). On the same
//! bytes that must give the same text and region, else an unchanged page
//! reads as edited on its second check (ARCHITECTURE.md, Invariants: "Nor
//! does a re-choice of the statement's region when its prose is unchanged").
//!
//! Input as in `normalize`: byte 0 picks the content type, byte 1 the URL
//! (bits 0-1); `content` is always `auto` (the only mode with a region).
#![no_main]

use chancery::normalize::{self, Filters, Input};
use libfuzzer_sys::fuzz_target;
use url::Url;

const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("text/html"),
    Some("text/html;charset=gbk"),
    Some("application/xml"),
    None,
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
    let input = Input {
        body,
        content_type,
        url: url.as_ref(),
    };
    let filters = Filters::default();
    let Ok(first) = normalize::normalize(&input, &filters) else {
        return;
    };
    let Some(region) = &first.region else {
        return;
    };
    let again = normalize::normalize_sticky(&input, &filters, Some(region))
        .expect("the same bytes normalized once");
    let regions = format!(
        "region {region:?}; with it passed back: {:?}, moved {}",
        again.region, again.region_moved
    );
    assert_eq!(
        again.text, first.text,
        "the remembered region changed the text ({regions})"
    );
    assert_eq!(again.region.as_ref(), Some(region), "{regions}");
    assert!(!again.region_moved, "{regions}");
});
