//! Follow mode's readers on arbitrary bytes: the feed parser (RSS, Atom,
//! JSON Feed through feed-rs, entries through `normalize`) and the HTML
//! listing reader (links and the next page).
//!
//! Checks: no panic; `feed::parse` documents "malformed input gives
//! FeedError, never a panic", at most `MAX_ENTRIES` entries, no URL twice;
//! the listing has at most `MAX_LINKS` links, no URL twice, all `http(s)`.
#![no_main]

use std::collections::HashSet;
use std::sync::LazyLock;

use chancery::follow::{Hosts, Page, feed, links};
use chancery::normalize::compile_selector;
use libfuzzer_sys::fuzz_target;
use scraper::Selector;
use url::Url;

static URL: LazyLock<Url> =
    LazyLock::new(|| Url::parse("https://www.example.gov/press/index.html").unwrap());
static LINKS: LazyLock<Selector> = LazyLock::new(|| compile_selector("a").unwrap());

fuzz_target!(|data: &[u8]| {
    let feed_page = Page {
        body: data,
        content_type: Some("application/rss+xml"),
        url: &URL,
    };
    if let Ok(parsed) = feed::parse(&feed_page) {
        assert!(parsed.entries.len() <= feed::MAX_ENTRIES);
        let mut seen = HashSet::new();
        for entry in &parsed.entries {
            assert!(
                seen.insert(entry.url.clone()),
                "feed URL twice: {}",
                entry.url
            );
        }
        let _ = feed::newest_first(parsed.entries);
    }

    let html_page = Page {
        body: data,
        content_type: Some("text/html"),
        url: &URL,
    };
    let listing = links::read_listing(&html_page, &LINKS, Hosts::Any, None);
    assert!(listing.links.len() <= links::MAX_LINKS);
    let mut seen = HashSet::new();
    for link in &listing.links {
        assert!(
            matches!(link.url.scheme(), "http" | "https"),
            "{}",
            link.url
        );
        assert!(
            seen.insert(link.url.clone()),
            "listing URL twice: {}",
            link.url
        );
    }
});
