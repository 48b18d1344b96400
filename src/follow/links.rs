//! Statement links on an HTML listing page, and its "next page" link.
//!
//! The page is decoded and parsed exactly as the normalizer does it
//! (`normalize::charset::decode`, then the same nesting cap and script
//! removal, then scraper), so a listing in GBK with its charset only in a
//! `<meta>` reads the same here as in `chancery extract`. Links resolve
//! against the first `<base href>` if the page has a usable one, else the
//! page's final URL, as a browser resolves them.

use scraper::{ElementRef, Html, Selector};
use url::Url;

use super::{Hosts, Page, canon};
use crate::normalize::charset;
use crate::normalize::depth;

/// Links kept per page at most. A real listing has tens; the cap bounds
/// what a runaway page (a sitemap, an archive of every statement since
/// 1998) can cost downstream, where each link is a stored child.
pub const MAX_LINKS: usize = 10_000;

/// Characters of link text kept: enough for any headline, and a link
/// wrapped around a whole article cannot make every item large.
pub const MAX_TEXT_CHARS: usize = 300;

/// One statement link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Canonical, absolute `http(s)` URL ([`canon::child_url`]).
    pub url: Url,
    /// The link's visible text, whitespace collapsed; its `title` or an
    /// image's `alt` when it has no text; may be empty.
    pub text: String,
}

/// What a listing page offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Statement links in document order, no URL twice (the first
    /// occurrence wins, keeping the first non-empty text), at most
    /// [`MAX_LINKS`].
    pub links: Vec<Link>,
    /// The next listing page, if any (see [`next_page`]).
    pub next: Option<Url>,
}

/// Parses the page once and returns both its statement links and its next
/// page link.
///
/// `selector` matches the links; a matched element without an `href` (say
/// `ul.list li`) stands for the first `a`/`area` with an `href` inside it.
/// Dropped: anything that is not `http(s)` (`javascript:`, `mailto:`,
/// `#top`-only links resolve to the page itself and go too), links with
/// credentials, links back to the page itself, and with [`Hosts::Same`]
/// links to other hosts.
pub fn read_listing(
    page: &Page<'_>,
    selector: &Selector,
    hosts: Hosts,
    next: Option<&Selector>,
) -> Listing {
    let document = parse(page);
    let base = base_url(&document, page.url);
    Listing {
        links: collect_links(&document, &base, page.url, selector, hosts),
        next: find_next(&document, &base, page.url, next),
    }
}

/// The statement links alone; see [`read_listing`].
pub fn links(page: &Page<'_>, selector: &Selector, hosts: Hosts) -> Vec<Link> {
    let document = parse(page);
    let base = base_url(&document, page.url);
    collect_links(&document, &base, page.url, selector, hosts)
}

/// The next listing page: the first element matching `next` that is or
/// holds a usable link, else the first `a`, `area` or `link` with
/// `rel="next"`. Never another host (pagination does not leave the site),
/// never the page itself (a "next" on the last page often points back).
/// Canonical, like statement links.
pub fn next_page(page: &Page<'_>, next: Option<&Selector>) -> Option<Url> {
    let document = parse(page);
    let base = base_url(&document, page.url);
    find_next(&document, &base, page.url, next)
}

/// Whether `url` is on the same host as `index` (the host compared, not
/// the port or scheme, so an `http` listing may link its `https` pages).
pub(crate) fn same_host(url: &Url, index: &Url) -> bool {
    url.host() == index.host()
}

fn parse(page: &Page<'_>) -> Html {
    let tld = page
        .url
        .host_str()
        .and_then(|host| host.trim_end_matches('.').rsplit('.').next());
    let decoded = charset::decode(page.body, page.content_type, tld);
    Html::parse_document(&depth::prepare(&decoded.text, depth::Attributes::All))
}

/// The document base URL: the first `<base>` with an `href`, resolved
/// against the page URL, when that gives an `http(s)` URL; else the page
/// URL (as the HTML standard falls back for an unparsable base).
fn base_url(document: &Html, page_url: &Url) -> Url {
    let selector = Selector::parse("base[href]").expect("a constant selector parses");
    document
        .select(&selector)
        .next()
        .and_then(|base| base.value().attr("href"))
        .and_then(|href| page_url.join(href.trim()).ok())
        .filter(|base| matches!(base.scheme(), "http" | "https"))
        .unwrap_or_else(|| page_url.clone())
}

/// The `href` of `element`, or of the first link inside it.
fn href_of<'a>(element: ElementRef<'a>) -> Option<(ElementRef<'a>, &'a str)> {
    if let Some(href) = element.value().attr("href") {
        return Some((element, href));
    }
    let inner = Selector::parse("a[href], area[href]").expect("a constant selector parses");
    element
        .select(&inner)
        .next()
        .and_then(|link| link.value().attr("href").map(|href| (link, href)))
}

/// `href` resolved against `base`, as a child URL, unless it is the page
/// itself.
fn resolve(href: &str, base: &Url, page_canonical: &Url) -> Option<Url> {
    let url = base.join(href.trim()).ok()?;
    canon::child_url(&url).filter(|url| url != page_canonical)
}

fn collect_links(
    document: &Html,
    base: &Url,
    page_url: &Url,
    selector: &Selector,
    hosts: Hosts,
) -> Vec<Link> {
    let page_canonical = canon::canonicalize(page_url);
    let mut links: Vec<Link> = Vec::new();
    let mut index_of: std::collections::HashMap<Url, usize> = std::collections::HashMap::new();
    for element in document.select(selector) {
        let Some((link, href)) = href_of(element) else {
            continue;
        };
        let Some(url) = resolve(href, base, &page_canonical) else {
            continue;
        };
        if hosts == Hosts::Same && !same_host(&url, page_url) {
            continue;
        }
        if let Some(&at) = index_of.get(&url) {
            if links[at].text.is_empty() {
                links[at].text = link_text(link);
            }
            continue;
        }
        if links.len() == MAX_LINKS {
            break;
        }
        index_of.insert(url.clone(), links.len());
        links.push(Link {
            url,
            text: link_text(link),
        });
    }
    links
}

fn find_next(document: &Html, base: &Url, page_url: &Url, next: Option<&Selector>) -> Option<Url> {
    let page_canonical = canon::canonicalize(page_url);
    let usable =
        |href: &str| resolve(href, base, &page_canonical).filter(|url| same_host(url, page_url));
    if let Some(selector) = next {
        let found = document
            .select(selector)
            .filter_map(href_of)
            .find_map(|(_, href)| usable(href));
        if found.is_some() {
            return found;
        }
    }
    let rel = Selector::parse("a[rel][href], area[rel][href], link[rel][href]")
        .expect("a constant selector parses");
    document
        .select(&rel)
        .filter(|element| {
            element.value().attr("rel").is_some_and(|rel| {
                rel.split_ascii_whitespace()
                    .any(|token| token.eq_ignore_ascii_case("next"))
            })
        })
        .filter_map(|element| element.value().attr("href"))
        .find_map(usable)
}

/// Visible text, else `title`, else the `alt` of an image inside;
/// whitespace collapsed, at most [`MAX_TEXT_CHARS`].
fn link_text(link: ElementRef<'_>) -> String {
    let mut text = collapse(link.text());
    if text.is_empty() {
        text = collapse(link.value().attr("title"));
    }
    if text.is_empty() {
        let img = Selector::parse("img[alt]").expect("a constant selector parses");
        text = collapse(
            link.select(&img)
                .next()
                .and_then(|img| img.value().attr("alt")),
        );
    }
    text
}

/// Joins the pieces with single spaces, trimmed, cut at [`MAX_TEXT_CHARS`].
fn collapse<'a>(pieces: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    let mut n_chars = 0;
    let mut pending_space = false;
    for piece in pieces {
        for c in piece.chars() {
            if c.is_whitespace() {
                pending_space = !out.is_empty();
                continue;
            }
            if n_chars >= MAX_TEXT_CHARS {
                return out;
            }
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
            n_chars += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(css: &str) -> Selector {
        Selector::parse(css).expect("test selector parses")
    }

    fn url(text: &str) -> Url {
        Url::parse(text).expect("test URL parses")
    }

    fn read(body: &str, page_url: &str, css: &str, hosts: Hosts) -> Vec<(String, String)> {
        let page_url = url(page_url);
        let page = Page {
            body: body.as_bytes(),
            content_type: Some("text/html; charset=utf-8"),
            url: &page_url,
        };
        links(&page, &sel(css), hosts)
            .into_iter()
            .map(|link| (link.url.to_string(), link.text))
            .collect()
    }

    fn urls(body: &str, page_url: &str, css: &str, hosts: Hosts) -> Vec<String> {
        read(body, page_url, css, hosts)
            .into_iter()
            .map(|(url, _)| url)
            .collect()
    }

    #[test]
    fn document_order_dedup_and_text() {
        let body = r#"<ul class="list">
            <li><a href="/eng/xw/t3.html">  Third
                statement </a></li>
            <li><a href="t2.html#content"><img src=x.png alt="Second (image)"></a></li>
            <li><a href="/eng/xw/t3.html?utm_source=weibo">Third again</a></li>
            <li><a href="https://www.example.gov/eng/xw/t1.html" title="First">   </a></li>
            <li><a href="t2.html">Second, text</a></li>
        </ul><a href="/other.html">not in the list</a>"#;
        assert_eq!(
            read(
                body,
                "https://www.example.gov/eng/xw/",
                "ul.list a",
                Hosts::Same
            ),
            [
                ("https://www.example.gov/eng/xw/t3.html", "Third statement"),
                ("https://www.example.gov/eng/xw/t2.html", "Second (image)"),
                ("https://www.example.gov/eng/xw/t1.html", "First"),
            ]
            .map(|(u, t)| (u.to_owned(), t.to_owned()))
        );
    }

    #[test]
    fn empty_text_is_filled_by_a_later_duplicate() {
        let body = r#"<a class=s href="/a"><span></span></a><a class=s href="/a#x">Headline</a>"#;
        assert_eq!(
            read(body, "https://e.gov/", "a.s", Hosts::Same),
            [("https://e.gov/a".to_owned(), "Headline".to_owned())]
        );
    }

    #[test]
    fn non_http_and_self_links_are_dropped() {
        let body = r##"<div id=l>
            <a href="javascript:void(0)">js</a><a href=" JavaScript:go()">js2</a>
            <a href="mailto:press@example.gov">mail</a><a href="tel:+8610">tel</a>
            <a href="#top">top</a><a href="">self</a><a href="./">self dir</a>
            <a href="?utm_source=x">self tracked</a><a>no href</a>
            <a href="https://user:pw@example.gov/x">creds</a>
            <a href="ftp://example.gov/f">ftp</a>
            <a href="/ok.html">ok</a></div>"##;
        assert_eq!(
            urls(body, "https://example.gov/list/", "#l a", Hosts::Any),
            ["https://example.gov/ok.html"]
        );
    }

    #[test]
    fn same_host_drops_other_hosts_any_keeps_them() {
        let body = r#"<div class=l><a href="https://www.example.gov/a">a</a>
            <a href="//cdn.example.gov/b">b</a><a href="http://www.example.gov:8080/c">c</a>
            <a href="https://WWW.EXAMPLE.GOV/d">d</a><a href="https://other.org/e">e</a></div>"#;
        assert_eq!(
            urls(body, "https://www.example.gov/", ".l a", Hosts::Same),
            [
                "https://www.example.gov/a",
                "http://www.example.gov:8080/c",
                "https://www.example.gov/d"
            ]
        );
        assert_eq!(
            urls(body, "https://www.example.gov/", ".l a", Hosts::Any).len(),
            5
        );
    }

    #[test]
    fn base_href_and_relative_parent_links() {
        let body = r#"<head><base href="/chn/wjbxw/"></head>
            <ul><li><a href="../xw/202611/t1.html">a</a><li><a href="t2.html">b</a>
            <li><a href="/abs.html">c</a><li><a href="../../../../up.html">d</a></ul>"#;
        assert_eq!(
            urls(
                body,
                "https://www.example.gov.cn/eng/index.html",
                "li a",
                Hosts::Same
            ),
            [
                "https://www.example.gov.cn/chn/xw/202611/t1.html",
                "https://www.example.gov.cn/chn/wjbxw/t2.html",
                "https://www.example.gov.cn/abs.html",
                "https://www.example.gov.cn/up.html",
            ]
        );
        // Only the first base counts; an unusable one is ignored.
        let two = r#"<base href="https://www.example.gov.cn/a/"><base href="/b/"><a href=x>x</a>"#;
        assert_eq!(
            urls(two, "https://www.example.gov.cn/", "a", Hosts::Same),
            ["https://www.example.gov.cn/a/x"]
        );
        let js = r#"<base href="javascript:alert(1)"><a href=x>x</a>"#;
        assert_eq!(
            urls(js, "https://e.gov/l/", "a", Hosts::Same),
            ["https://e.gov/l/x"]
        );
    }

    #[test]
    fn a_container_selector_stands_for_its_first_link() {
        let body = r#"<ul class=news><li><span>2026-11-28</span> <a href="/a.html">A</a> <a href="/a-pdf.pdf">PDF</a></li>
            <li>no link here</li><li><a href="/b.html">B</a></li></ul>"#;
        assert_eq!(
            urls(body, "https://e.gov/", "ul.news li", Hosts::Same),
            ["https://e.gov/a.html", "https://e.gov/b.html"]
        );
    }

    #[test]
    fn gbk_listing_with_meta_charset() {
        let html = "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\">\
                    <ul class=list><li><a href=\"./202611/t20261128_1.html\">外交部发言人答记者问</a></li></ul>";
        let (bytes, _, _) = encoding_rs::GBK.encode(html);
        let page_url = url("http://www.example.gov.cn/web/fyrbt/");
        let page = Page {
            body: &bytes,
            content_type: Some("text/html"),
            url: &page_url,
        };
        let found = links(&page, &sel("ul.list a"), Hosts::Same);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].text, "外交部发言人答记者问");
        assert_eq!(
            found[0].url.as_str(),
            "http://www.example.gov.cn/web/fyrbt/202611/t20261128_1.html"
        );
    }

    #[test]
    fn next_page_by_selector_then_rel_next() {
        let page_url = url("https://e.gov/list/index.html");
        let check = |body: &str, next: Option<&Selector>| {
            let page = Page {
                body: body.as_bytes(),
                content_type: Some("text/html"),
                url: &page_url,
            };
            next_page(&page, next).map(String::from)
        };
        let body = r#"<div class=pager><a class=next href="index_1.html">Next</a></div>
                      <a rel="prev next" href="index_9.html">rel</a>"#;
        assert_eq!(
            check(body, Some(&sel("a.next"))).as_deref(),
            Some("https://e.gov/list/index_1.html")
        );
        assert_eq!(
            check(body, None).as_deref(),
            Some("https://e.gov/list/index_9.html")
        );
        // A container works as for statement links; `<link rel=next>` too.
        assert_eq!(
            check(
                r#"<li class=n><a href="?page=2#x">2</a></li>"#,
                Some(&sel("li.n"))
            )
            .as_deref(),
            Some("https://e.gov/list/index.html?page=2")
        );
        assert_eq!(
            check(
                r#"<head><link rel=NEXT href="/list/p2"></head>"#,
                Some(&sel("a.missing"))
            )
            .as_deref(),
            Some("https://e.gov/list/p2")
        );
        // Never the page itself, another host, or javascript.
        assert_eq!(
            check(
                r#"<a class=next href="index.html#">n</a>"#,
                Some(&sel("a.next"))
            ),
            None
        );
        assert_eq!(
            check(
                r#"<a class=next href="https://x.org/2">n</a>"#,
                Some(&sel("a.next"))
            ),
            None
        );
        assert_eq!(
            check(
                r#"<a class=next href="javascript:next()">n</a>"#,
                Some(&sel("a.next"))
            ),
            None
        );
        assert_eq!(check("<p>last page</p>", Some(&sel("a.next"))), None);
    }

    #[test]
    fn read_listing_gives_links_and_next_from_one_parse() {
        let page_url = url("https://e.gov/l/");
        let body = r#"<ul><li><a href=a>a</a></li></ul><a class=next href="p2/">more</a>"#;
        let page = Page {
            body: body.as_bytes(),
            content_type: None,
            url: &page_url,
        };
        let listing = read_listing(&page, &sel("ul a"), Hosts::Same, Some(&sel("a.next")));
        assert_eq!(listing.links.len(), 1);
        assert_eq!(
            listing.next.map(String::from).as_deref(),
            Some("https://e.gov/l/p2/")
        );
    }

    #[test]
    fn long_link_text_is_cut() {
        let body = format!(r#"<a href="/a">{}</a>"#, "字 ".repeat(1000));
        let found = read(&body, "https://e.gov/", "a", Hosts::Same);
        assert_eq!(
            found[0].1.chars().filter(|c| *c == '字').count(),
            MAX_TEXT_CHARS
        );
    }

    #[test]
    fn a_huge_listing_is_capped_and_linear() {
        // 100,000 distinct links, 5.9 MB: quadratic work here would take
        // hours; linear work takes seconds even in a debug build.
        let mut body = String::from("<ul class=list>");
        for i in 0..100_000 {
            body.push_str(&format!(
                "<li><a href=\"/eng/xw/t{i}.html\">Statement {i}</a></li>"
            ));
        }
        body.push_str("</ul>");
        let started = std::time::Instant::now();
        let found = links(
            &Page {
                body: body.as_bytes(),
                content_type: Some("text/html"),
                url: &url("https://e.gov/eng/xw/"),
            },
            &sel("ul.list a"),
            Hosts::Same,
        );
        let elapsed = started.elapsed();
        assert_eq!(found.len(), MAX_LINKS);
        assert_eq!(found[0].url.as_str(), "https://e.gov/eng/xw/t0.html");
        assert_eq!(
            found[MAX_LINKS - 1].text,
            format!("Statement {}", MAX_LINKS - 1)
        );
        assert!(
            elapsed < std::time::Duration::from_secs(120),
            "took {elapsed:?}"
        );
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        // Tags nested beyond the normalizer's cap are dropped (their text
        // stays), so the deep link is lost; the shallow ones still count.
        let body = format!(
            "<a class=s href=/before>b</a>{}<a class=s href=/deep>deep</a>{}<a class=s href=/after>a</a>",
            "<div>".repeat(100_000),
            "</div>".repeat(100_000)
        );
        assert_eq!(
            urls(&body, "https://e.gov/", "a.s", Hosts::Same),
            ["https://e.gov/before", "https://e.gov/after"]
        );
    }
}
