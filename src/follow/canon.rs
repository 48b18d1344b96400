//! One spelling per statement URL, so a listing that links the same page as
//! `…/t1.html#top` from one place and `…/t1.html?utm_source=wx` from
//! another yields one child, and a listing that starts adding tracking
//! parameters does not look like a page of new statements.
//!
//! What [`canonicalize`] changes, all of it meaning-preserving:
//! - the fragment is dropped (it never reaches the server);
//! - tracking parameters ([`is_tracking_param`]) are dropped, every other
//!   query parameter stays, in its order and its exact spelling; an empty
//!   query (`?`) goes too;
//! - a `;jsessionid=…` path parameter is dropped (Java CMSs, common on
//!   government sites, append it when the visitor has no cookie);
//! - percent-escapes are upper-cased and escapes of unreserved characters
//!   (`%7E` → `~`) decoded, as RFC 3986 §6.2.2 allows;
//! - and, through the `url` crate's own parsing: scheme and host lower-case,
//!   default port dropped, an empty path becomes `/`.
//!
//! What it deliberately leaves alone, because on official sites it can
//! mean a different document:
//! - the case of the path (`/Eng/` and `/eng/` are different files on most
//!   servers);
//! - `index.html` versus the bare directory, and `.html` versus `.htm` or
//!   no extension: often the same page, but folding them would merge two
//!   documents on a server where they differ, and a wrong merge loses a
//!   statement, while a missed merge only costs one duplicate child;
//! - a trailing slash, `www.` and the scheme: an `http` → `https` move is
//!   a real change of address, and the engine should see it as one;
//! - parameters such as `from`, `source` or `ref`: CMSs use them to select
//!   content, so only names that are tracking everywhere are on the list.

use url::Url;

/// Query parameter names dropped everywhere (compared ASCII
/// case-insensitively), beyond every name starting with `utm_`:
/// - Google: `gclid`, `gclsrc`, `dclid`, `gbraid`, `wbraid`, `_ga`, `_gl`;
/// - Meta: `fbclid`, `igshid`; Microsoft: `msclkid`; Yandex: `yclid`;
///   X/Twitter: `twclid`; TikTok: `ttclid`; LinkedIn: `li_fat_id`;
/// - Mailchimp: `mc_cid`, `mc_eid`; HubSpot: `_hsenc`, `_hsmi`, `__hstc`,
///   `__hssc`, `__hsfp`; Marketo: `mkt_tok`; Webtrends (common on German
///   federal sites): `wt.mc_id`, `wt_mc`, `wt_zmc`;
///   Adobe: `s_cid`; Vero: `vero_id`, `vero_conv`;
/// - Alibaba/Taobao: `spm`, `scm`; WeChat share links: `isappinstalled`;
/// - session ids that servers put in links: `jsessionid`, `phpsessid`.
pub const TRACKING_PARAMS: &[&str] = &[
    "gclid",
    "gclsrc",
    "dclid",
    "gbraid",
    "wbraid",
    "_ga",
    "_gl",
    "fbclid",
    "igshid",
    "msclkid",
    "yclid",
    "twclid",
    "ttclid",
    "li_fat_id",
    "mc_cid",
    "mc_eid",
    "_hsenc",
    "_hsmi",
    "__hstc",
    "__hssc",
    "__hsfp",
    "mkt_tok",
    "wt.mc_id",
    "wt_mc",
    "wt_zmc",
    "s_cid",
    "vero_id",
    "vero_conv",
    "spm",
    "scm",
    "isappinstalled",
    "jsessionid",
    "phpsessid",
];

/// Whether a query parameter (its raw, still-encoded name) only tracks the
/// visitor and never selects content.
pub fn is_tracking_param(name: &str) -> bool {
    let name = name.trim();
    name.get(..4)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("utm_"))
        || TRACKING_PARAMS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(name))
}

/// The canonical form of `url` (see the module docs for what changes).
/// Idempotent: canonicalizing a canonical URL returns it unchanged.
pub fn canonicalize(url: &Url) -> Url {
    let mut url = url.clone();
    url.set_fragment(None);

    let path = normalize_escapes(&strip_session_path_param(url.path()));
    if path != url.path() {
        url.set_path(&path);
    }

    let query = url.query().map(|query| {
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
                !is_tracking_param(&normalize_escapes(name))
            })
            .map(normalize_escapes)
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(query) if !query.is_empty() => {
            if url.query() != Some(query.as_str()) {
                url.set_query(Some(&query));
            }
        }
        _ => url.set_query(None),
    }
    url
}

/// A URL that may become a child watch, in canonical form, or `None` for a
/// link that must not: anything but `http`/`https` (`mailto:`,
/// `javascript:`, `ftp:`, `data:`), and URLs with a user name or password,
/// which a public listing has no business linking and which would put a
/// credential into a child's name and into logs.
pub fn child_url(url: &Url) -> Option<Url> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    Some(canonicalize(url))
}

/// `path` without `;jsessionid=…` path parameters (any case).
fn strip_session_path_param(path: &str) -> std::borrow::Cow<'_, str> {
    const NEEDLE: &str = ";jsessionid=";
    let lower = path.to_ascii_lowercase();
    if !lower.contains(NEEDLE) {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut at = 0;
    while let Some(found) = lower[at..].find(NEEDLE) {
        let start = at + found;
        out.push_str(&path[at..start]);
        // The id runs to the next path segment or path parameter.
        let rest = &path[start + 1..];
        at = start + 1 + rest.find(['/', ';']).unwrap_or(rest.len());
    }
    out.push_str(&path[at..]);
    std::borrow::Cow::Owned(out)
}

/// Upper-cases the hex digits of percent-escapes and decodes the escapes of
/// unreserved characters (RFC 3986 §2.3), which mean the same either way.
fn normalize_escapes(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(offset) = text[at..].find('%') {
        let start = at + offset;
        out.push_str(&text[at..start]);
        let hex = bytes.get(start + 1..start + 3);
        match hex.and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()) {
            Some(byte)
                if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') =>
            {
                out.push(char::from(byte));
                at = start + 3;
            }
            Some(byte) => {
                out.push_str(&format!("%{byte:02X}"));
                at = start + 3;
            }
            None => {
                out.push('%');
                at = start + 1;
            }
        }
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(url: &str) -> String {
        canonicalize(&Url::parse(url).expect("test URL parses")).to_string()
    }

    #[test]
    fn fragment_and_tracking_params_go_other_params_stay_in_order() {
        assert_eq!(
            canon(
                "https://www.example.gov.cn/eng/xw/t1.html?b=2&utm_source=wx&a=1&UTM_Medium=x&fbclid=abc#top"
            ),
            "https://www.example.gov.cn/eng/xw/t1.html?b=2&a=1"
        );
        for name in TRACKING_PARAMS {
            assert_eq!(
                canon(&format!("https://a.example/p?{name}=1")),
                "https://a.example/p",
                "{name}"
            );
        }
        assert_eq!(
            canon("https://a.example/p?spm=a.b.c&id=7&_ga=1.2"),
            "https://a.example/p?id=7"
        );
        // Look-alikes are content parameters.
        assert_eq!(
            canon("https://a.example/p?from=timeline&utm=1&spmx=1&source=rss"),
            "https://a.example/p?from=timeline&utm=1&spmx=1&source=rss"
        );
        // A query that only tracked, or was empty, disappears entirely.
        assert_eq!(
            canon("https://a.example/p?utm_campaign=x"),
            "https://a.example/p"
        );
        assert_eq!(canon("https://a.example/p?"), "https://a.example/p");
        assert_eq!(
            canon("https://a.example/p?&&id=1&"),
            "https://a.example/p?id=1"
        );
    }

    #[test]
    fn scheme_host_port_and_empty_path() {
        assert_eq!(
            canon("HTTPS://WWW.Example.GOV.cn:443"),
            "https://www.example.gov.cn/"
        );
        assert_eq!(canon("http://example.gov:80/a"), "http://example.gov/a");
        assert_eq!(
            canon("http://example.gov:8080/a"),
            "http://example.gov:8080/a"
        );
    }

    #[test]
    fn meaningful_parts_are_kept() {
        for url in [
            "https://example.gov/Eng/Press/Index.html",
            "https://example.gov/eng/press/",
            "https://example.gov/eng/press/index.html",
            "https://example.gov/eng/press",
            "http://example.gov/eng/press.htm",
            "https://www.example.gov/a?from=1&ref=2",
            "https://example.gov/a%2Fb",
        ] {
            assert_eq!(canon(url), url);
        }
    }

    #[test]
    fn escapes_are_normalized() {
        assert_eq!(
            canon("https://a.example/%7euser/%e4%b8%ad?q=%41%2f"),
            "https://a.example/~user/%E4%B8%AD?q=A%2F"
        );
        // Non-ASCII paths are percent-encoded by the parser, then the same.
        assert_eq!(
            canon("https://a.example/新闻/一.html"),
            canon("https://a.example/%e6%96%b0%e9%97%bb/%E4%B8%80.html")
        );
        // A lone percent sign is left as it is.
        assert_eq!(
            canon("https://a.example/100%?x=%zz"),
            "https://a.example/100%?x=%zz"
        );
    }

    #[test]
    fn jsessionid_is_dropped_from_path_and_query() {
        assert_eq!(
            canon("http://a.example/art/view.jsp;JSESSIONID=0A1B2C?id=5&jsessionid=9"),
            "http://a.example/art/view.jsp?id=5"
        );
        assert_eq!(
            canon("http://a.example/a;jsessionid=1/b;v=2"),
            "http://a.example/a/b;v=2"
        );
    }

    #[test]
    fn idempotent() {
        for url in [
            "https://a.example/%7e/x?utm_source=1&b=%2f#f",
            "http://a.example/a;jsessionid=1;v=2?x&y=",
            "https://a.example/新闻?q=中文",
        ] {
            let once = canon(url);
            assert_eq!(canon(&once), once, "{url}");
        }
    }

    #[test]
    fn child_urls_are_http_without_credentials() {
        let child =
            |url: &str| child_url(&Url::parse(url).expect("test URL parses")).map(String::from);
        assert_eq!(
            child("https://a.example/x#y").as_deref(),
            Some("https://a.example/x")
        );
        assert_eq!(child("mailto:press@a.example"), None);
        assert_eq!(child("javascript:void(0)"), None);
        assert_eq!(child("ftp://a.example/x"), None);
        assert_eq!(child("data:text/html,hi"), None);
        assert_eq!(child("https://user:secret@a.example/x"), None);
        assert_eq!(child("https://user@a.example/x"), None);
    }
}
