//! The follow stage end to end over the fixtures in `tests/fixtures/follow/`
//! (hand-written listings and feeds modelled on real official sites), and
//! the reconciliation and naming rules.

use std::sync::Arc;

use super::*;

fn url(text: &str) -> Url {
    Url::parse(text).expect("test URL parses")
}

fn sel(css: &str) -> Arc<Selector> {
    Arc::new(Selector::parse(css).expect("test selector parses"))
}

fn read(body: &[u8], content_type: &str, page_url: &str, spec: &FollowSpec) -> IndexRead {
    let page_url = url(page_url);
    read_index(
        &Page {
            body,
            content_type: Some(content_type),
            url: &page_url,
        },
        spec,
    )
    .expect("fixture reads")
}

fn item_urls(read: &IndexRead) -> Vec<&str> {
    read.items.iter().map(|item| item.url.as_str()).collect()
}

#[test]
fn english_press_room_listing() {
    let spec = FollowSpec {
        next: Some(sel("a.next")),
        pages: 3,
        ..FollowSpec::links(sel("ul.press-list li > a"))
    };
    let read = read(
        include_bytes!("../../tests/fixtures/follow/press-releases-en.html"),
        "text/html; charset=utf-8",
        "https://www.example-mfa.gov/en/press-room/press-releases/",
        &spec,
    );
    assert_eq!(
        item_urls(&read),
        [
            "https://www.example-mfa.gov/en/press-room/press-releases/2026/11/statement-on-the-ceasefire-agreement",
            "https://www.example-mfa.gov/en/press-room/press-releases/2026/11/minister-meets-un-high-commissioner",
            "https://www.example-mfa.gov/en/press-room/press-releases/2026/11/joint-statement-climate-finance",
            "https://www.example-mfa.gov/en/press-room/press-releases/2026/11/travel-advice-update-sahel",
            "https://www.example-mfa.gov/en/press-room/press-releases/2026/11/condolences-earthquake",
        ]
    );
    assert_eq!(
        read.items[1].title,
        "Minister meets UN High Commissioner for Refugees"
    );
    assert!(read.items.iter().all(|item| item.entry.is_none()));
    assert_eq!(
        read.next.as_ref().map(Url::as_str),
        Some("https://www.example-mfa.gov/en/press-room/press-releases/?page=2")
    );

    // Without `same_host`, the external statement counts too.
    let any = FollowSpec {
        hosts: Hosts::Any,
        ..spec
    };
    let read_any = super::tests::read(
        include_bytes!("../../tests/fixtures/follow/press-releases-en.html"),
        "text/html",
        "https://www.example-mfa.gov/en/press-room/press-releases/",
        &any,
    );
    assert_eq!(read_any.items.len(), 6);
    assert_eq!(
        read_any.items[4].url.as_str(),
        "https://www.un.example.org/press/2026/sg-statement"
    );
}

#[test]
fn chinese_listing_with_relative_links() {
    let spec = FollowSpec {
        next: Some(sel("a.next")),
        ..FollowSpec::links(sel("ul.list1 a"))
    };
    let read = read(
        include_bytes!("../../tests/fixtures/follow/fyrbt-zh.html"),
        "text/html",
        "https://www.example.gov.cn/web/xwfw/fyrbt/",
        &spec,
    );
    assert_eq!(
        item_urls(&read),
        [
            "https://www.example.gov.cn/web/xwfw/fyrbt/202611/t20261128_11771234.shtml",
            "https://www.example.gov.cn/web/xwfw/fyrbt/202611/t20261127_11770981.shtml",
            "https://www.example.gov.cn/web/xwfw/fyrbt/202611/t20261127_11770777.shtml",
            "https://www.example.gov.cn/web/wjbxw/202611/t20261126_11769900.shtml",
            "https://www.example.gov.cn/web/xwfw/fyrbt/202611/t20261126_11769555.shtml",
        ]
    );
    assert_eq!(
        read.items[0].title,
        "2026年11月28日外交部发言人毛宁主持例行记者会"
    );
    // The page numbers are written by a script: there is no link to follow.
    assert_eq!(read.next, None);
    assert_eq!(
        child_name("fmprc-spokesperson", &read.items[0].url),
        "fmprc-spokesperson/t20261128_11771234"
    );
}

#[test]
fn rss_feed_drives_children() {
    let read = read(
        include_bytes!("../../tests/fixtures/follow/statements.rss"),
        "application/rss+xml",
        "https://www.example.gov/press/feed.rss",
        &FollowSpec::feed(),
    );
    assert_eq!(
        item_urls(&read),
        [
            "https://www.example.gov/press/2026/11/secretarys-call-with-foreign-minister/",
            "https://www.example.gov/press/2026/11/designation-of-entities/",
            "https://www.example.gov/press/2026/11/travel-advisory-update/",
            "https://www.example.gov/press/2026/11/joint-statement-maritime-security/",
        ]
    );
    let first = read.items[0]
        .entry
        .as_ref()
        .expect("feed items carry their entry");
    assert_eq!(
        first.title,
        "Secretary's Call with the Foreign Minister of Example"
    );
    assert_eq!(
        first.text,
        "The following is attributable to Spokesperson Jane Doe:\n\
         The Secretary spoke today with the Foreign Minister of Example about the ceasefire and humanitarian access.\n\
         They agreed to remain in close contact."
    );
    assert_eq!(
        first.published.map(|t| t.rfc3339()).as_deref(),
        Some("2026-11-28T13:40:00Z")
    );
    assert_eq!(read.next, None);
}

#[test]
fn atom_feed_drives_children() {
    let read = read(
        include_bytes!("../../tests/fixtures/follow/statements.atom"),
        "application/atom+xml",
        "https://www.example-regierung.de/feeds/pressemitteilungen.atom",
        &FollowSpec::feed(),
    );
    assert_eq!(
        item_urls(&read),
        [
            "https://www.example-regierung.de/de/newsroom/presse/2026-11-28-lage-region-2712345",
            "https://www.example-regierung.de/de/newsroom/presse/2026-11-27-delegation-2712200",
            "https://www.example-regierung.de/de/reiseundsicherheit/reisewarnung-2712100",
        ]
    );
    let entries: Vec<&feed::Entry> = read.items.iter().filter_map(|i| i.entry.as_ref()).collect();
    assert_eq!(
        entries[0].title,
        "Außenministerin zur Lage in der Region (Update)"
    );
    assert_eq!(
        entries[0].text,
        "Die Außenministerin erklärte heute in Berlin:\nWir rufen alle Seiten zur Zurückhaltung auf."
    );
    assert_eq!(
        entries[1].text,
        "Der Staatsminister empfing heute eine Delegation."
    );
    assert_eq!(
        entries[2].text,
        "Die Reise- und Sicherheitshinweise wurden aktualisiert."
    );
}

#[test]
fn json_feed_drives_children() {
    let read = read(
        include_bytes!("../../tests/fixtures/follow/statements.json"),
        "application/feed+json",
        "https://www.example-gov.nz/news/feed.json",
        &FollowSpec::feed(),
    );
    assert_eq!(
        item_urls(&read),
        [
            "https://www.example-gov.nz/news/2026/11/28/new-funding-for-flood-recovery",
            "https://www.example-gov.nz/news/2026/11/27/statement-on-trade-talks",
            "https://www.example-gov.nz/news/2026/11/25/appointments-to-the-board",
        ]
    );
    let first = read.items[0]
        .entry
        .as_ref()
        .expect("feed items carry their entry");
    assert_eq!(
        first.text,
        "The Minister today announced $40 million in new funding for flood recovery.\nApplications open on 1 December."
    );
}

#[test]
fn feed_entries_on_other_hosts_count_unless_same_host() {
    let body = br#"<rss version="2.0"><channel><title>t</title>
        <item><link>https://www.example.gov/a</link></item>
        <item><link>https://elsewhere.example.org/b</link></item></channel></rss>"#;
    // Served from a feed host: by default every entry counts.
    let any = read(
        body,
        "application/rss+xml",
        "https://feeds.example.gov/press",
        &FollowSpec::feed(),
    );
    assert_eq!(any.items.len(), 2);
    let same = FollowSpec {
        hosts: Hosts::Same,
        ..FollowSpec::feed()
    };
    let same = read(
        body,
        "application/rss+xml",
        "https://www.example.gov/feed",
        &same,
    );
    assert_eq!(item_urls(&same), ["https://www.example.gov/a"]);
}

#[test]
fn a_broken_feed_is_a_clear_error() {
    let page_url = url("https://www.example.gov/feed");
    let error = read_index(
        &Page {
            body: b"<html><body>Service unavailable</body></html>",
            content_type: Some("text/html"),
            url: &page_url,
        },
        &FollowSpec::feed(),
    )
    .expect_err("an HTML page is not a feed");
    assert_eq!(
        error.to_string(),
        "https://www.example.gov/feed is not a readable RSS, Atom or JSON feed"
    );
    assert!(std::error::Error::source(&error).is_some());
}

// ---- reconcile ----

fn urls(paths: &[&str]) -> Vec<Url> {
    paths
        .iter()
        .map(|path| url(&format!("https://e.gov/{path}")))
        .collect()
}

fn paths(urls: &[Url]) -> Vec<&str> {
    urls.iter()
        .map(|url| url.path().trim_start_matches('/'))
        .collect()
}

fn states(reconciled: &Reconciled) -> Vec<(&str, ChildState, i64)> {
    reconciled
        .children
        .iter()
        .map(|child| {
            (
                child.url.path().trim_start_matches('/'),
                child.state,
                child.order,
            )
        })
        .collect()
}

fn state_of(reconciled: &Reconciled, path: &str) -> (ChildState, i64) {
    let child = reconciled
        .children
        .iter()
        .find(|child| child.url.path() == format!("/{path}"))
        .expect("child exists");
    (child.state, child.order)
}

/// No events at all, only (possibly) new states.
fn quiet(r: &Reconciled) -> bool {
    r.baselined.is_empty()
        && r.published.is_empty()
        && r.delisted.is_empty()
        && r.relisted.is_empty()
        && r.retired.is_empty()
        && r.unretired.is_empty()
}

use ChildState::{Delisted, Listed, Retired, ScrolledOff};

const BIG: usize = DEFAULT_MAX;

#[test]
fn first_look_baselines_newest_first() {
    let r = reconcile(&[], &urls(&["e", "d", "c", "b", "a"]), BIG);
    assert_eq!(paths(&r.baselined), ["e", "d", "c", "b", "a"]);
    assert!(r.published.is_empty() && r.delisted.is_empty() && r.retired.is_empty());
    assert_eq!(
        states(&r),
        [
            ("e", Listed, 4),
            ("d", Listed, 3),
            ("c", Listed, 2),
            ("b", Listed, 1),
            ("a", Listed, 0)
        ]
    );
}

#[test]
fn new_links_on_top_are_published_and_push_the_oldest_off_quietly() {
    let base = reconcile(&[], &urls(&["e", "d", "c", "b", "a"]), BIG).children;
    // One page of five: "f" arrives on top, "a" drops off the bottom.
    let r = reconcile(&base, &urls(&["f", "e", "d", "c", "b"]), BIG);
    assert_eq!(paths(&r.published), ["f"]);
    assert!(r.baselined.is_empty() && r.delisted.is_empty(), "{r:?}");
    assert_eq!(state_of(&r, "f"), (Listed, 5));
    assert_eq!(state_of(&r, "a"), (ScrolledOff, 0));
    // Two at once: numbered by position, the top newest; two scroll off,
    // and "a" is not counted again.
    let r2 = reconcile(&r.children, &urls(&["h", "g", "f", "e", "d"]), BIG);
    assert_eq!(paths(&r2.published), ["h", "g"]);
    assert!(r2.delisted.is_empty(), "{r2:?}");
    assert_eq!(state_of(&r2, "h"), (Listed, 7));
    assert_eq!(state_of(&r2, "g"), (Listed, 6));
    assert_eq!(state_of(&r2, "c"), (ScrolledOff, 2));
    assert_eq!(state_of(&r2, "b"), (ScrolledOff, 1));
    // A scrolled-off link that shows again is just listed.
    let r3 = reconcile(&r2.children, &urls(&["h", "g", "f", "e", "d", "c"]), BIG);
    assert!(quiet(&r3), "{r3:?}");
    assert_eq!(state_of(&r3, "c"), (Listed, 2));
}

#[test]
fn a_link_taken_off_the_middle_is_delisted_then_relisted() {
    let base = reconcile(&[], &urls(&["e", "d", "c", "b", "a"]), BIG).children;
    let r = reconcile(&base, &urls(&["e", "d", "b", "a"]), BIG);
    assert_eq!(paths(&r.delisted), ["c"]);
    assert!(r.published.is_empty());
    assert_eq!(state_of(&r, "c"), (Delisted, 2));
    // Still delisted: no second event.
    let again = reconcile(&r.children, &urls(&["e", "d", "b", "a"]), BIG);
    assert!(quiet(&again), "{again:?}");
    assert_eq!(state_of(&again, "c"), (Delisted, 2));
    // It comes back.
    let back = reconcile(&again.children, &urls(&["e", "d", "c", "b", "a"]), BIG);
    assert_eq!(paths(&back.relisted), ["c"]);
    assert!(back.published.is_empty() && back.delisted.is_empty());
    assert_eq!(state_of(&back, "c"), (Listed, 2));
}

#[test]
fn a_fixed_size_page_backfills_from_page_two_without_an_event() {
    let base = reconcile(&[], &urls(&["e", "d", "c", "b", "a"]), BIG).children;
    // "c" is taken down; "z" (from page 2) moves up into view.
    let r = reconcile(&base, &urls(&["e", "d", "b", "a", "z"]), BIG);
    assert_eq!(paths(&r.delisted), ["c"]);
    assert_eq!(paths(&r.baselined), ["z"]);
    assert!(r.published.is_empty());
    assert_eq!(state_of(&r, "z"), (Listed, -1));
}

#[test]
fn the_bottom_link_taken_down_is_delisted() {
    let base = reconcile(&[], &urls(&["e", "d", "c", "b", "a"]), BIG).children;
    // Nothing new on top, so nothing pushed "a" off: it was taken down.
    let r = reconcile(&base, &urls(&["e", "d", "c", "b"]), BIG);
    assert_eq!(paths(&r.delisted), ["a"]);
    // The same with a backfilled link from page 2.
    let r = reconcile(&base, &urls(&["e", "d", "c", "b", "z"]), BIG);
    assert_eq!(paths(&r.delisted), ["a"]);
    assert_eq!(paths(&r.baselined), ["z"]);
    // A new one on top and the bottom two gone: one scrolled, one taken.
    let r = reconcile(&base, &urls(&["f", "e", "d", "c"]), BIG);
    assert_eq!(paths(&r.published), ["f"]);
    assert_eq!(paths(&r.delisted), ["b"]);
    assert_eq!(state_of(&r, "a"), (ScrolledOff, 0));
}

#[test]
fn statements_appended_to_an_oldest_first_listing_are_published() {
    let base = reconcile(&[], &urls(&["a", "b", "c"]), BIG).children;
    let r = reconcile(&base, &urls(&["a", "b", "c", "d"]), BIG);
    assert_eq!(paths(&r.published), ["d"]);
    assert!(r.baselined.is_empty() && r.delisted.is_empty());
}

#[test]
fn an_empty_listing_delists_nothing() {
    let base = reconcile(&[], &urls(&["b", "a"]), BIG).children;
    let r = reconcile(&base, &[], BIG);
    assert!(quiet(&r), "{r:?}");
    assert_eq!(state_of(&r, "b"), (ScrolledOff, 1));
    // The selector works again: back to listed, still no events.
    let fixed = reconcile(&r.children, &urls(&["b", "a"]), BIG);
    assert!(quiet(&fixed), "{fixed:?}");
    assert_eq!(fixed.children, base);
}

#[test]
fn a_wholesale_url_change_publishes_and_delists_nothing() {
    let base = reconcile(&[], &urls(&["c", "b", "a"]), BIG).children;
    let r = reconcile(&base, &urls(&["z", "y", "x"]), BIG);
    assert_eq!(paths(&r.published), ["z", "y", "x"]);
    assert!(r.delisted.is_empty());
    assert_eq!(state_of(&r, "a"), (ScrolledOff, 0));
    assert_eq!(state_of(&r, "z"), (Listed, 5));
}

#[test]
fn duplicates_in_the_listing_count_once() {
    let r = reconcile(&[], &urls(&["b", "a", "b"]), BIG);
    assert_eq!(paths(&r.baselined), ["b", "a"]);
    assert_eq!(r.children.len(), 2);
}

#[test]
fn max_retires_the_oldest_keeps_their_history() {
    let base = reconcile(&[], &urls(&["e", "d", "c", "b", "a"]), 5).children;
    let listing = urls(&["g", "f", "e", "d", "c", "b", "a"]);
    let r = reconcile(&base, &listing, 5);
    assert_eq!(paths(&r.published), ["g", "f"]);
    assert_eq!(paths(&r.retired), ["b", "a"]);
    assert_eq!(r.children.len(), 7, "retired children are kept");
    assert_eq!(r.children.iter().filter(|c| c.state != Retired).count(), 5);
    // Still on the listing, still retired, no new events.
    let again = reconcile(&r.children, &listing, 5);
    assert!(quiet(&again), "{again:?}");
    assert_eq!(again.children, r.children);
    // max raised: listed retired children come back without an event.
    let raised = reconcile(&r.children, &listing, 6);
    assert_eq!(paths(&raised.unretired), ["b"]);
    assert!(raised.relisted.is_empty() && raised.published.is_empty());
    assert_eq!(state_of(&raised, "b"), (Listed, 1));
}

#[test]
fn a_first_look_beyond_max_remembers_the_rest_as_retired() {
    let listing = urls(&["e", "d", "c", "b", "a"]);
    let r = reconcile(&[], &listing, 3);
    assert_eq!(paths(&r.baselined), ["e", "d", "c"]);
    assert!(
        r.retired.is_empty(),
        "never active, so not retired on this look"
    );
    assert_eq!(
        states(&r),
        [
            ("e", Listed, 4),
            ("d", Listed, 3),
            ("c", Listed, 2),
            ("b", Retired, 1),
            ("a", Retired, 0)
        ]
    );
    // The next look does not mistake them for new statements.
    let next = reconcile(&r.children, &listing, 3);
    assert!(quiet(&next), "{next:?}");
    assert_eq!(next.children, r.children);
}

#[test]
fn a_pinned_old_statement_does_not_keep_newer_ones_out() {
    let base = reconcile(&[], &urls(&["c", "b", "a"]), 3).children;
    // "a" is pinned to the top; "d" is published.
    let r = reconcile(&base, &urls(&["a", "d", "c", "b"]), 3);
    assert_eq!(paths(&r.published), ["d"]);
    assert_eq!(paths(&r.retired), ["a"]);
}

#[test]
fn delisted_and_beyond_max_reports_both() {
    let base = reconcile(&[], &urls(&["c", "b", "a"]), 3).children;
    // "b" vanishes from the middle while two new ones fill max.
    let r = reconcile(&base, &urls(&["e", "d", "c", "a"]), 3);
    assert_eq!(paths(&r.published), ["e", "d"]);
    assert_eq!(paths(&r.delisted), ["b"]);
    assert_eq!(paths(&r.retired), ["b", "a"]);
}

#[test]
fn max_zero_keeps_nothing_active() {
    let r = reconcile(&[], &urls(&["b", "a"]), 0);
    assert!(r.baselined.is_empty());
    assert!(r.children.iter().all(|child| child.state == Retired));
}

#[test]
fn reconciling_a_huge_listing_is_linear() {
    let paths: Vec<String> = (0..links::MAX_LINKS).map(|i| format!("s/{i}")).collect();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let listing = urls(&refs);
    let base = reconcile(&[], &listing[1..], BIG).children;
    let r = reconcile(&base, &listing, BIG);
    assert_eq!(r.published, [listing[0].clone()]);
    assert_eq!(r.children.len(), links::MAX_LINKS);
}

// ---- names ----

#[test]
fn readable_names() {
    let name = |u: &str| child_name("p", &url(u));
    assert_eq!(
        name("https://www.example.gov.cn/web/fyrbt/202611/t20261128_11771234.shtml"),
        "p/t20261128_11771234"
    );
    assert_eq!(
        name("https://www.example.gov/en/press/2026/11/Statement-on-the-Summit/"),
        "p/statement-on-the-summit"
    );
    assert_eq!(
        name("https://www.example.gov/art/2026/11/28/art_123_abc/index.html"),
        "p/art_123_abc"
    );
    assert_eq!(
        name("https://www.example.gov/content.jsp?id=123&lang=en"),
        "p/content-id-123-lang-en"
    );
    assert_eq!(
        name("https://www.example.gov/news/detail.aspx?ItemID=42#x"),
        "p/detail-itemid-42"
    );
    assert_eq!(
        name("https://www.example.gov/press/release.pdf"),
        "p/release-pdf"
    );
    // Tracking parameters and fragments never reach a name.
    assert_eq!(
        name("https://www.example.gov/a/b.html?utm_source=x#top"),
        name("https://www.example.gov/a/b.html")
    );
}

#[test]
fn names_that_lost_information_carry_a_hash_that_never_changes() {
    let name = |u: &str| child_name("p", &url(u));
    // Pinned values: a change here renames every stored child.
    // (sha256sum of the canonical URL, first 8 digits.)
    assert_eq!(name("https://www.example.gov/"), "p/c3c1e521");
    assert_eq!(
        name("https://www.example.gov/新闻/发布会.html"),
        "p/60d77f53"
    );
    assert_eq!(
        name("https://www.example.gov/新闻/2026发布会.html"),
        format!(
            "p/2026-{}",
            short_hash(&url("https://www.example.gov/新闻/2026发布会.html"))
        )
    );
    let long = name(&format!(
        "https://www.example.gov/{}.html",
        "a-very-long-headline".repeat(10)
    ));
    assert!(
        long.len() <= "p/".len() + MAX_SLUG_CHARS + 1 + SHORT_HASH_CHARS,
        "{long}"
    );
    assert!(long.starts_with("p/a-very-long-headlinea-very"), "{long}");
    // Distinct lossy URLs get distinct names.
    assert_ne!(
        name("https://www.example.gov/新闻/一.html"),
        name("https://www.example.gov/新闻/二.html")
    );
}

#[test]
fn names_use_only_config_name_characters() {
    for u in [
        "https://www.example.gov/A%20B/C&D/x.y.z?q=%E4%B8%AD&r=.hidden",
        "https://www.example.gov/.hidden",
        "https://www.example.gov/---/",
        "https://www.example.gov/__init__",
    ] {
        let name = child_name("parent", &url(u));
        let slug = name.strip_prefix("parent/").expect("parent prefix");
        assert!(
            !slug.is_empty() && !slug.starts_with('.') && !slug.starts_with('-'),
            "{name}"
        );
        assert!(
            slug.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'),
            "{name}"
        );
    }
}

#[test]
fn unique_names_fall_back_to_hashes() {
    let en = url("https://www.example.gov/en/press/1.html");
    let fr = url("https://www.example.gov/fr/press/1.html");
    assert_eq!(child_name("p", &en), child_name("p", &fr));
    let first = unique_child_name("p", &en, |_| false);
    assert_eq!(first, "p/1");
    let second = unique_child_name("p", &fr, |name| name == first);
    assert_eq!(second, format!("p/1-{}", short_hash(&fr)));
    let third = unique_child_name("p", &fr, |name| name == first || name == second);
    assert_eq!(third, format!("p/{}", sha256_hex(fr.as_str().as_bytes())));
    // A name that already has its hash goes straight to the full one.
    let lossy = url("https://www.example.gov/新闻/一.html");
    let taken = child_name("p", &lossy);
    assert_eq!(
        unique_child_name("p", &lossy, |name| name == taken),
        format!("p/{}", sha256_hex(lossy.as_str().as_bytes()))
    );
}
