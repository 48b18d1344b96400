//! What a response is, before any comparison with history: the statement
//! (content), a removal (404/410, a soft 404, a redirect to the home page or
//! a listing), a block (anti-bot interstitial, access denied, rate limit), or
//! just a failed request.
//!
//! The line that matters: a real "not found" means **removed**, while a
//! block or challenge page means a **failed** check that never records a
//! removal. Block markers are checked first, on every status, so a CDN's
//! "Access Denied" served with 404 is still a block. Pure, table-tested;
//! the markers were taken from real block pages (EDGI's snapshot-quality
//! suite: Akamai, Cloudflare, CloudFront, AWS WAF, ERDDAP, federalregister.gov)
//! and from Chinese government sites' not-found pages.

use url::Url;

use super::not_found::segments;

/// A response reduced to what judging it needs.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    pub status: u16,
    /// The URL the watch asked for.
    pub requested: &'a Url,
    /// The URL after redirects.
    pub final_url: &'a Url,
    /// The document title, if any.
    pub title: Option<&'a str>,
    /// The normalized text (possibly empty).
    pub text: &'a str,
}

/// What a response is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx with the page's text: evidence to compare with history.
    Content,
    /// The statement is gone.
    Removed(Removal),
    /// A block, challenge or rate limit: a failed check, never a removal.
    Blocked(String),
    /// Any other unusable response (e.g. a 500, a 403 with no block page).
    Failed(String),
}

/// Why a response counts as a removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// 404 or 410.
    NotFound(u16),
    /// A 2xx whose title or a short line says "not found" (see
    /// [`super::not_found`]).
    Soft404(String),
    /// Redirected to the site's home page or to a listing above the page.
    Redirected(String),
}

impl Removal {
    /// The reason stored with the check.
    pub fn reason(&self) -> &'static str {
        match self {
            Removal::NotFound(_) => "not-found",
            Removal::Soft404(_) => "soft-404",
            Removal::Redirected(_) => "redirected",
        }
    }

    /// A sentence for the check's error column and logs.
    pub fn describe(&self) -> String {
        match self {
            Removal::NotFound(status) => format!("HTTP {status}"),
            Removal::Soft404(why) => format!("soft 404: {why}"),
            Removal::Redirected(to) => format!("redirected to {to}"),
        }
    }
}

/// Judges one response. Only the first few kilobytes of text are looked
/// at: block and not-found pages are short, statements are not.
pub fn judge(page: &Page<'_>) -> Verdict {
    if let Some(marker) = block_marker(page) {
        return Verdict::Blocked(marker);
    }
    match page.status {
        404 | 410 => Verdict::Removed(Removal::NotFound(page.status)),
        429 => Verdict::Blocked("HTTP 429 Too Many Requests".to_owned()),
        503 => Verdict::Blocked("HTTP 503 Service Unavailable".to_owned()),
        // AWS WAF and others answer a challenge with an empty 202.
        202 if page.text.is_empty() => {
            Verdict::Blocked("HTTP 202 with an empty body (a bot challenge)".to_owned())
        }
        200..=299 => {
            if let Some(why) = not_found_phrase(page) {
                Verdict::Removed(Removal::Soft404(why))
            } else if let Some(to) = redirected_up(page.requested, page.final_url) {
                Verdict::Removed(Removal::Redirected(to))
            } else {
                Verdict::Content
            }
        }
        status => Verdict::Failed(format!("HTTP {status}")),
    }
}

/// Titles (whole or one ` | `-separated segment, lower-cased) of block and
/// challenge pages.
const BLOCK_TITLES: &[&str] = &[
    "just a moment...",
    "just a moment",
    "attention required! | cloudflare",
    "attention required!",
    "access denied",
    "access forbidden",
    "request rejected",
    "human verification",
    "security check",
    "are you a robot?",
    "are you a human?",
    "bot verification",
    "ddos protection",
    "request access",
    "error: the request could not be satisfied",
    "zyxel security cloud-dns filter service portal",
    "访问被拒绝",
    "拒绝访问",
    "安全验证",
    "访问验证",
    "人机验证",
];

/// Phrases (lower-cased) in the first part of the text of block pages.
const BLOCK_PHRASES: &[&str] = &[
    "checking your browser before accessing",
    "enable javascript and cookies to continue",
    "verify you are human",
    "verifying you are human",
    "performing security verification",
    "you don't have permission to access",
    "you do not have permission to access",
    "the requested url was rejected",
    "your support id is",
    "access to this page has been denied",
    "request unsuccessful. incapsula",
    "your ip address is on this erddap's request blacklist",
    "please complete the security check",
    "complete the captcha",
    "sorry, you have been blocked",
    "请输入验证码",
    "您的访问被拒绝",
    "您的请求已被拦截",
    "访问过于频繁",
];

/// How much of the text is searched for block phrases.
const HEAD_CHARS: usize = 4000;

fn head(text: &str) -> String {
    let end = text
        .char_indices()
        .nth(HEAD_CHARS)
        .map_or(text.len(), |(i, _)| i);
    text[..end].to_lowercase()
}

fn block_marker(page: &Page<'_>) -> Option<String> {
    if let Some(title) = page.title
        && segments(title).any(|s| BLOCK_TITLES.contains(&s.as_str()))
    {
        return Some(format!(
            "block page {:?} (HTTP {})",
            title.trim(),
            page.status
        ));
    }
    // A long 2xx page that merely quotes a phrase is a statement, not a
    // block page: phrases count only on short pages or non-2xx answers.
    let short = page.text.chars().count() <= HEAD_CHARS;
    if !short && (200..300).contains(&page.status) {
        return None;
    }
    let head = head(page.text);
    BLOCK_PHRASES
        .iter()
        .find(|phrase| head.contains(*phrase))
        .map(|phrase| format!("block page saying {phrase:?} (HTTP {})", page.status))
}

fn not_found_phrase(page: &Page<'_>) -> Option<String> {
    super::not_found::says_not_found(page.title, page.text)
}

/// Index file names that stand for their directory.
const INDEX_FILES: &[&str] = &[
    "index.html",
    "index.htm",
    "index.shtml",
    "index.php",
    "index.jsp",
    "index.asp",
    "index.aspx",
    "default.htm",
    "default.html",
    "default.asp",
    "default.aspx",
];

/// The directory a path stands for: `/a/b/index.html` and `/a/b/` → `/a/b`.
fn directory_of(path: &str) -> &str {
    let path = match path.rsplit_once('/') {
        Some((dir, file)) if INDEX_FILES.contains(&file.to_ascii_lowercase().as_str()) => dir,
        _ => path,
    };
    path.trim_end_matches('/')
}

fn host_key(url: &Url) -> String {
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    host.strip_prefix("www.").unwrap_or(&host).to_owned()
}

/// `Some(final URL)` when a redirect took the request to the site's home
/// page or to a directory above the requested page (the listing it was
/// on): what sites do when they take a statement down.
fn redirected_up(requested: &Url, final_url: &Url) -> Option<String> {
    let from = directory_of(requested.path());
    let to = directory_of(final_url.path());
    if host_key(requested) != host_key(final_url) {
        // Another site's home page (a renamed ministry's new domain) still
        // means the statement is gone; its same path there does not.
        return (to.is_empty() && !from.is_empty()).then(|| final_url.to_string());
    }
    if from == to {
        // Same page (an http→https upgrade, a trailing slash, a query).
        return None;
    }
    let above = to.is_empty() || from.starts_with(&format!("{to}/"));
    above.then(|| final_url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test url")
    }

    fn judge_with(status: u16, title: Option<&str>, text: &str) -> Verdict {
        let u = url("https://www.example.gov/news/2026/statement-123.html");
        judge(&Page {
            status,
            requested: &u,
            final_url: &u,
            title,
            text,
        })
    }

    fn is_blocked(v: &Verdict) -> bool {
        matches!(v, Verdict::Blocked(_))
    }

    /// Titles and statuses of real responses from EDGI's snapshot-quality
    /// suite (peer-suites/edgi-snapshot-quality): every block page there is
    /// a block here, every real "page not found" a removal.
    #[test]
    fn real_block_pages_are_blocks() {
        let blocks: &[(u16, Option<&str>, &str)] = &[
            (
                403,
                Some("Access Denied"),
                "Access Denied You don't have permission to access \"http://www.fws.gov/\" on this server. Reference #18.6f",
            ),
            (
                403,
                Some("Just a moment..."),
                "Enable JavaScript and cookies to continue",
            ),
            (
                403,
                Some("Attention Required! | Cloudflare"),
                "Sorry, you have been blocked",
            ),
            (
                403,
                Some("ERROR: The request could not be satisfied"),
                "403 ERROR The request could not be satisfied.",
            ),
            (405, Some("Human Verification"), ""),
            (429, None, ""),
            (
                429,
                Some("429 Too Many Requests"),
                "429 Too Many Requests nginx",
            ),
            (503, None, ""),
            (202, None, ""),
            (
                200,
                Some("Federal Register :: Request Access"),
                "Request Access Due to aggressive automated scraping of FederalRegister.gov",
            ),
            (
                200,
                Some("Zyxel Security Cloud-DNS Filter Service Portal"),
                "This site is blocked",
            ),
            (
                403,
                None,
                "Error { code=403; message=\"Forbidden: Access Forbidden -- Your IP address is on this ERDDAP's request blacklist.",
            ),
            // A CDN block page served with 404 is still a block, never a removal.
            (
                404,
                Some("Access Denied"),
                "You don't have permission to access this resource.",
            ),
            (200, Some("安全验证"), "请输入验证码"),
        ];
        for (status, title, text) in blocks {
            let v = judge_with(*status, *title, text);
            assert!(is_blocked(&v), "{status} {title:?}: {v:?}");
        }
    }

    #[test]
    fn real_not_found_pages_are_removals() {
        let gone: &[(u16, Option<&str>)] = &[
            (
                404,
                Some("Page Not Found | U.S. Department of the Treasury"),
            ),
            (404, Some("404 - File or directory not found.")),
            (404, Some("404 | NLR")),
            (
                404,
                Some("Page not found | National Institute of Environmental Health Sciences"),
            ),
            (
                404,
                Some(
                    "FEMA.gov | Federal Emergency Management Agency - FEMA.gov is experiencing technical difficulties",
                ),
            ),
            (410, None),
        ];
        for (status, title) in gone {
            assert_eq!(
                judge_with(*status, *title, "Some navigation\nHome"),
                Verdict::Removed(Removal::NotFound(*status)),
                "{title:?}"
            );
        }
    }

    #[test]
    fn soft_404_by_title_or_heading() {
        for (title, text) in [
            (
                Some("Page not found - Ministry of Foreign Affairs"),
                "Menu\nSorry",
            ),
            (Some("404"), "Home"),
            (Some("页面不存在"), "返回首页"),
            (Some("中华人民共和国外交部"), "您访问的页面不存在\n返回首页"),
            (
                None,
                "Page Not Found\nThe page you requested could not be found.",
            ),
        ] {
            let v = judge_with(200, title, text);
            assert!(
                matches!(v, Verdict::Removed(Removal::Soft404(_))),
                "{title:?} {text:?}: {v:?}"
            );
        }
    }

    #[test]
    fn statements_are_content() {
        for (title, text) in [
            (
                Some("Statement on the situation in the region"),
                "The Ministry notes...\nIt was not found necessary to...",
            ),
            (
                Some("Foreign Ministry Spokesperson's Remarks"),
                "Q: ... A: The page you are reading",
            ),
            (Some("外交部发言人答记者问"), "问：……\n答：……"),
            // A statement quoting a block phrase deep in a long text.
            (
                Some("Remarks on cybersecurity"),
                &*format!(
                    "{}\nSome sites say 'Checking your browser before accessing'.",
                    "The minister spoke. ".repeat(300)
                ),
            ),
        ] {
            assert_eq!(judge_with(200, title, text), Verdict::Content, "{title:?}");
        }
    }

    #[test]
    fn other_statuses_fail_without_removal() {
        assert_eq!(
            judge_with(500, None, ""),
            Verdict::Failed("HTTP 500".into())
        );
        assert_eq!(
            judge_with(403, Some("403 Forbidden"), "nginx"),
            Verdict::Failed("HTTP 403".into())
        );
        assert_eq!(
            judge_with(401, None, ""),
            Verdict::Failed("HTTP 401".into())
        );
    }

    #[test]
    fn redirects_home_or_up_are_removals() {
        let page = "https://www.mfa.gov.cn/eng/xw/fyrbt/202611/t20261128_1.html";
        let removed = [
            "https://www.mfa.gov.cn/",
            "https://mfa.gov.cn/index.html",
            "https://www.mfa.gov.cn/eng/",
            "https://www.mfa.gov.cn/eng/xw/fyrbt/",
            "https://www.mfa.gov.cn/eng/xw/fyrbt/index.shtml",
            "https://www.fmprc.gov.cn/",
        ];
        for to in removed {
            assert!(redirected_up(&url(page), &url(to)).is_some(), "{to}");
        }
        let kept = [
            page,
            "http://www.mfa.gov.cn/eng/xw/fyrbt/202611/t20261128_1.html",
            // Moved sideways to another page: judged on the text instead.
            "https://www.mfa.gov.cn/eng/xw/fyrbt/202611/t20261128_1_new.html",
            "https://www.mfa.gov.cn/eng/xw/fyrbt/202611/t20261128_1.html?lang=en",
            // The same page on a renamed ministry's new domain.
            "https://www.fmprc.gov.cn/eng/xw/fyrbt/202611/t20261128_1.html",
        ];
        for to in kept {
            assert!(redirected_up(&url(page), &url(to)).is_none(), "{to}");
        }
        // A watch on a directory page that redirects to its index file.
        assert!(
            redirected_up(
                &url("https://a.gov/news/"),
                &url("https://a.gov/news/index.html")
            )
            .is_none()
        );
    }
}
