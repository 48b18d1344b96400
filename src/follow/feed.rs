//! Feed entries as statements: RSS 2.0 (and 0.9x/1.0), Atom and JSON Feed,
//! parsed with feed-rs.
//!
//! feed-rs was chosen over the `rss` + `atom_syndication` pair because one
//! crate covers all three formats with one entry model, resolves
//! `xml:base`, and parses dates leniently (real RSS `pubDate`s are often
//! not RFC 822). It reads the raw bytes and takes the charset from the XML
//! declaration, which is why the body is not decoded first.
//!
//! An entry's text is its content, else its summary, turned into text by
//! chancery's own normalizer (all of it, no filters), so the same
//! statement compares the same whether read from the feed or the page, and
//! a markup-only change in the feed is not an edit.

use std::collections::HashSet;

use feed_rs::model;
use url::Url;

use super::{Page, canon};
use crate::model::Timestamp;
use crate::normalize::{self, Filters, Input};

/// Entries read per feed at most, in document order. Feeds carry tens;
/// the cap bounds what a runaway feed (an archive of every entry ever)
/// can cost downstream.
pub const MAX_ENTRIES: usize = 1_000;

/// One feed entry, ready to become (or compare with) a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Canonical statement URL: the entry's `alternate` link (Atom), `link`
    /// (RSS), `url` or `external_url` (JSON Feed); else its id, when that is
    /// an `http(s)` URL (RSS `guid`s are permalinks by default).
    pub url: Url,
    /// The title as text (HTML titles are normalized), whitespace collapsed;
    /// may be empty.
    pub title: String,
    /// The entry's content, else its summary, through `normalize` (HTML
    /// stripped, NFC, whitespace rules); empty if the entry has neither.
    pub text: String,
    /// When it was published (else last updated), if the feed says so.
    pub published: Option<Timestamp>,
}

/// A parsed feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    /// Entries in document order, no URL twice (the first wins), at most
    /// [`MAX_ENTRIES`].
    pub entries: Vec<Entry>,
    /// Entries skipped for having no usable `http(s)` link: they cannot be
    /// watched, but the engine can say how many there were.
    pub n_without_link: usize,
}

/// A body that is not a feed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Not RSS, Atom or JSON Feed, or too broken to parse.
    #[error("{url} is not a readable RSS, Atom or JSON feed")]
    Parse {
        url: String,
        #[source]
        source: feed_rs::parser::ParseFeedError,
    },
}

/// Parses `page` as a feed. Malformed input gives [`FeedError`], never a
/// panic; relative links resolve against `xml:base`, then the page URL.
pub fn parse(page: &Page<'_>) -> Result<Feed, FeedError> {
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(page.url.as_str()))
        // feed-rs makes up ids for entries without one (a random UUID as a
        // last resort); chancery only uses ids that are URLs, so skip it.
        .id_generator(|_, _, _| String::new())
        .build();
    let parsed = parser.parse(page.body).map_err(|source| FeedError::Parse {
        url: page.url.to_string(),
        source,
    })?;

    let mut seen = HashSet::new();
    let mut entries = Vec::new();
    let mut n_without_link = 0;
    for entry in parsed.entries.into_iter().take(MAX_ENTRIES) {
        let Some(url) = entry_url(&entry, page.url) else {
            n_without_link += 1;
            continue;
        };
        if !seen.insert(url.clone()) {
            continue;
        }
        let title = entry
            .title
            .as_ref()
            .map(|title| to_text(&title.content, title.content_type.as_str(), &url))
            .map(|title| title.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        let text = match (&entry.content, &entry.summary) {
            (
                Some(model::Content {
                    body: Some(body),
                    content_type,
                    ..
                }),
                _,
            ) => to_text(body, content_type.as_str(), &url),
            (_, Some(summary)) => to_text(&summary.content, summary.content_type.as_str(), &url),
            _ => String::new(),
        };
        let published = entry
            .published
            .or(entry.updated)
            .map(|at| Timestamp(at.timestamp_millis()));
        entries.push(Entry {
            url,
            title,
            text,
            published,
        });
    }
    Ok(Feed {
        entries,
        n_without_link,
    })
}

/// `entries` newest first: by date when every entry has one (stable, so
/// equal dates keep document order), else in document order, which feeds
/// conventionally keep newest first. Mixing dated and undated entries has
/// no sound order, so the feed's own is trusted then.
pub fn newest_first(mut entries: Vec<Entry>) -> Vec<Entry> {
    if entries.iter().all(|entry| entry.published.is_some()) {
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.published));
    }
    entries
}

/// The entry's statement URL; see [`Entry::url`].
fn entry_url(entry: &model::Entry, feed_url: &Url) -> Option<Url> {
    let resolve = |href: &str| {
        feed_url
            .join(href.trim())
            .ok()
            .and_then(|url| canon::child_url(&url))
    };
    let alternate = entry
        .links
        .iter()
        .filter(|link| {
            link.target.is_none()
                && link
                    .rel
                    .as_deref()
                    .is_none_or(|rel| rel.eq_ignore_ascii_case("alternate"))
        })
        .find_map(|link| resolve(&link.href));
    alternate.or_else(|| {
        // Only an absolute id: a relative one ("1234") is not a link.
        Url::parse(entry.id.trim())
            .ok()
            .and_then(|url| canon::child_url(&url))
    })
}

/// A feed text field as comparable text. `media_type` is feed-rs's idea of
/// it (`text/html`, `application/xhtml` for Atom's `xhtml`, `text/xml` for
/// inline XML, `text/plain`): markup is normalized as HTML, anything else
/// as plain text.
fn to_text(body: &str, media_type: &str, url: &Url) -> String {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let content_type = if essence.contains("html") || essence.ends_with("xml") {
        "text/html; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let input = Input {
        body: body.as_bytes(),
        content_type: Some(content_type),
        url: Some(url),
    };
    // Only binary media types are refused, and these are text.
    normalize::normalize(&input, &Filters::default())
        .map(|normalized| normalized.text)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_url() -> Url {
        Url::parse("https://www.example.gov/feeds/statements").expect("test URL parses")
    }

    fn parse_str(body: &str) -> Result<Feed, FeedError> {
        let url = feed_url();
        parse(&Page {
            body: body.as_bytes(),
            content_type: Some("application/xml"),
            url: &url,
        })
    }

    fn rss_items(items: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>"#
        )
    }

    #[test]
    fn rss_link_guid_fallback_and_entries_without_links() {
        let feed = parse_str(&rss_items(
            r#"<item><title>With link</title><link>https://www.example.gov/a.html?utm_source=rss</link><guid>x1</guid></item>
               <item><title>Guid only</title><guid isPermaLink="true">https://www.example.gov/b.html</guid></item>
               <item><title>No link</title><guid isPermaLink="false">tag-123</guid><description>text</description></item>
               <item><title>Nothing at all</title></item>
               <item><title>Mail</title><link>mailto:press@example.gov</link></item>
               <item><title>Duplicate</title><link>https://www.example.gov/a.html#x</link></item>"#,
        ))
        .expect("a valid feed parses");
        let urls: Vec<&str> = feed.entries.iter().map(|e| e.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://www.example.gov/a.html",
                "https://www.example.gov/b.html"
            ]
        );
        assert_eq!(feed.entries[0].title, "With link");
        assert_eq!(feed.n_without_link, 3);
    }

    #[test]
    fn html_content_becomes_normalized_text() {
        let feed = parse_str(&rss_items(
            r#"<item><title>T &amp; U</title><link>/rel/c.html</link>
               <description><![CDATA[<p>Summary</p>]]></description>
               <content:encoded xmlns:content="http://purl.org/rss/1.0/modules/content/"><![CDATA[<h1>Statement</h1><p>First   paragraph.<script>x()</script></p><ul><li>one</li></ul>]]></content:encoded>
               <pubDate>Sat, 28 Nov 2026 09:30:00 +0800</pubDate></item>
               <item><title>S</title><link>https://www.example.gov/d.html</link><description>&lt;b&gt;Only&lt;/b&gt; a summary</description></item>"#,
        ))
        .expect("a valid feed parses");
        let first = &feed.entries[0];
        assert_eq!(first.url.as_str(), "https://www.example.gov/rel/c.html");
        assert_eq!(first.title, "T & U");
        assert_eq!(first.text, "Statement\nFirst paragraph.\none");
        assert_eq!(
            first.published.map(|t| t.rfc3339()).as_deref(),
            Some("2026-11-28T01:30:00Z")
        );
        assert_eq!(feed.entries[1].text, "Only a summary");
        assert_eq!(feed.entries[1].published, None);
    }

    #[test]
    fn atom_alternate_link_not_self_and_xml_base() {
        let feed = parse_str(
            r#"<?xml version="1.0" encoding="utf-8"?>
            <feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://www.example.gov/en/press/">
              <title>Press</title><id>urn:x</id><updated>2026-11-28T00:00:00Z</updated>
              <entry><title type="html">&lt;b&gt;Bold&lt;/b&gt; title</title><id>urn:1</id>
                <link rel="self" href="https://www.example.gov/api/1"/><link href="2026/one.html"/>
                <updated>2026-11-28T10:00:00Z</updated><summary>Short.</summary></entry>
              <entry><title>Id is the link</title><id>https://www.example.gov/en/press/two.html</id>
                <link rel="edit" href="/edit/2"/><published>2026-11-27T10:00:00+01:00</published></entry>
              <entry><title>Not a URL id</title><id>tag:example.gov,2026:3</id></entry>
            </feed>"#,
        )
        .expect("a valid feed parses");
        let urls: Vec<&str> = feed.entries.iter().map(|e| e.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://www.example.gov/en/press/2026/one.html",
                "https://www.example.gov/en/press/two.html"
            ]
        );
        assert_eq!(feed.entries[0].title, "Bold title");
        assert_eq!(feed.entries[0].text, "Short.");
        assert_eq!(
            feed.entries[1].published.map(|t| t.rfc3339()).as_deref(),
            Some("2026-11-27T09:00:00Z")
        );
        assert_eq!(feed.n_without_link, 1);
    }

    #[test]
    fn json_feed_url_and_content() {
        let feed = parse_str(
            r#"{"version":"https://jsonfeed.org/version/1.1","title":"Statements","items":[
                {"id":"1","url":"https://www.example.gov/s/1?fbclid=z","title":"One","content_html":"<p>Hello <em>world</em></p>","date_published":"2026-11-28T08:00:00Z"},
                {"id":"2","external_url":"https://www.example.gov/s/2","content_text":"Plain <not a tag>"},
                {"id":"3","title":"No url"}]}"#,
        )
        .expect("a valid feed parses");
        assert_eq!(feed.entries.len(), 2);
        assert_eq!(feed.entries[0].url.as_str(), "https://www.example.gov/s/1");
        assert_eq!(feed.entries[0].text, "Hello world");
        assert_eq!(feed.entries[1].text, "Plain <not a tag>");
        assert_eq!(feed.n_without_link, 1);
    }

    #[test]
    fn broken_feeds_are_errors_not_panics() {
        for body in [
            "",
            "   ",
            "not a feed",
            "<html><body><p>a web page</p></body></html>",
            "<rss version=\"2.0\"><channel><item><title>unclosed",
            "{\"version\":\"https://jsonfeed.org/version/1.1\",\"items\":[",
            "{\"version\":\"something else\",\"items\":[]}",
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><item><title>a</wrong></item></channel></rss>",
        ] {
            let result = parse_str(body);
            if let Err(error) = &result {
                let message = error.to_string();
                assert!(
                    message.contains("https://www.example.gov/feeds/statements"),
                    "{message}"
                );
            } else {
                // Lenient parsing may accept some of these; then nothing
                // usable may come out of them.
                assert!(result.expect("checked").entries.is_empty(), "{body:?}");
            }
        }
        assert!(parse_str("not a feed").is_err());
        assert!(parse_str("<html><body>page</body></html>").is_err());
    }

    #[test]
    fn every_truncation_of_a_real_feed_is_handled() {
        let body = include_str!("../../tests/fixtures/follow/statements.rss");
        for end in (0..body.len())
            .filter(|&end| body.is_char_boundary(end))
            .step_by(7)
        {
            let _ = parse_str(&body[..end]);
        }
    }

    #[test]
    fn corrupted_feeds_never_panic() {
        // Deterministic byte damage (a xorshift generator), 600
        // variants of each real-shaped fixture.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        const DAMAGE: &[u8] = b"<>&\"'/{}[]:,\0\xff";
        for fixture in [
            &include_bytes!("../../tests/fixtures/follow/statements.rss")[..],
            include_bytes!("../../tests/fixtures/follow/statements.atom"),
            include_bytes!("../../tests/fixtures/follow/statements.json"),
        ] {
            for _ in 0..600 {
                let mut body = fixture.to_vec();
                for _ in 0..1 + next() % 4 {
                    let at = usize::try_from(next() % body.len() as u64).expect("fits");
                    body[at] = DAMAGE[usize::try_from(next() % DAMAGE.len() as u64).expect("fits")];
                }
                let url = feed_url();
                let _ = parse(&Page {
                    body: &body,
                    content_type: None,
                    url: &url,
                });
            }
        }
    }

    #[test]
    fn entries_are_capped() {
        let items: String = (0..MAX_ENTRIES + 500)
            .map(|i| format!("<item><link>https://www.example.gov/{i}</link></item>"))
            .collect();
        let feed = parse_str(&rss_items(&items)).expect("a valid feed parses");
        assert_eq!(feed.entries.len(), MAX_ENTRIES);
    }

    #[test]
    fn deep_nesting_in_content_does_not_overflow() {
        let deep = format!("{}x{}", "<div>".repeat(50_000), "</div>".repeat(50_000));
        let body = rss_items(&format!(
            "<item><link>https://www.example.gov/deep</link><description><![CDATA[{deep}]]></description></item>"
        ));
        let feed = parse_str(&body).expect("a valid feed parses");
        assert_eq!(feed.entries[0].text, "x");
    }

    #[test]
    fn newest_first_by_date_only_when_all_are_dated() {
        let entry = |path: &str, at: Option<i64>| Entry {
            url: feed_url().join(path).expect("joins"),
            title: String::new(),
            text: String::new(),
            published: at.map(Timestamp),
        };
        let order = |entries: Vec<Entry>| {
            newest_first(entries)
                .into_iter()
                .map(|e| e.url.path().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            order(vec![
                entry("/a", Some(1)),
                entry("/b", Some(3)),
                entry("/c", Some(2)),
                entry("/d", Some(3))
            ]),
            ["/b", "/d", "/c", "/a"]
        );
        assert_eq!(
            order(vec![
                entry("/a", Some(1)),
                entry("/b", None),
                entry("/c", Some(2))
            ]),
            ["/a", "/b", "/c"]
        );
    }
}
