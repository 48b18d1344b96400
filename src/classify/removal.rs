//! Text that is really a takedown. A response with text can still mean the
//! statement is gone: the host serves its not-found page with 200, the
//! statement gives way to an error page in words no table knows, or the
//! page redirects somewhere whose text is not the statement. These rules
//! compare texts, so they run where the last good text is known; the
//! verdicts that need no history (404/410, a "not found" title, a redirect
//! to the home page or the listing above) are in [`super::page`].

use crate::diff;

use super::{Landing, NotFoundPage};

/// A text this close to the host's not-found page (share of lines changed)
/// is that page.
pub const SOFT_404_SIMILARITY: f64 = 0.2;

/// A redirect elsewhere whose text shares almost nothing with the statement
/// is a takedown, not an edit.
pub const MOVED_AWAY_RATIO: f64 = 0.9;

/// `Some(why)` when `text` is the host's not-found page: the host answers
/// a random path with 2xx and a text like this one, while the last good
/// text was not like it.
pub fn like_not_found(text: &str, last_text: &str, page: NotFoundPage<'_>) -> Option<String> {
    let like = |a: &str| {
        !a.is_empty() && diff::summarize(a, page.text).changed_ratio <= SOFT_404_SIMILARITY
    };
    (like(text) && !like(last_text)).then(|| {
        format!(
            "the page matches {}'s answer to a path that does not exist",
            page.host
        )
    })
}

/// A prose paragraph: a line at least this long (characters).
const PARAGRAPH_CHARS: usize = 60;

/// An error page's text has no line longer than this.
const MAX_ERROR_LINE_CHARS: usize = 120;

/// Words of an apology or an error, and words for "page", in the languages
/// of the not-found table ([`super::not_found`]); an error page's short line
/// has one of each.
const ERROR_WORDS: &[&str] = &[
    "sorry",
    "oops",
    "error",
    "unavailable",
    "not exist",
    "no longer",
    "not be found",
    "missing",
    "broken",
    "抱歉",
    "对不起",
    "對不起",
    "错误",
    "錯誤",
    "不存在",
    "désolé",
    "erreur",
    "lo sentimos",
    "error",
    "извините",
    "ошибка",
    "عذرا",
    "عذراً",
    "خطأ",
    "leider",
    "fehler",
    "申し訳",
    "エラー",
    "죄송",
];
const PAGE_WORDS: &[&str] = &[
    "page",
    "url",
    "link",
    "页面",
    "网页",
    "頁面",
    "網頁",
    "página",
    "страниц",
    "الصفحة",
    "seite",
    "ページ",
    "페이지",
];

/// `Some(why)` when the statement was replaced by an error page in words
/// the not-found table does not know: none of the statement's paragraphs
/// is left, the new text has no prose, and one of its short lines speaks
/// of an error and a page ("Oops! That link is broken.").
pub fn error_page(text: &str, last_text: &str) -> Option<String> {
    let paragraphs: Vec<&str> = last_text
        .lines()
        .filter(|l| l.chars().count() >= PARAGRAPH_CHARS)
        .collect();
    if paragraphs.is_empty()
        || text
            .lines()
            .any(|l| l.chars().count() > MAX_ERROR_LINE_CHARS)
        || text.lines().any(|l| paragraphs.contains(&l))
    {
        return None;
    }
    let line = text.lines().map(str::trim).find(|line| {
        let lower = line.to_lowercase();
        ERROR_WORDS.iter().any(|w| lower.contains(w))
            && PAGE_WORDS.iter().any(|w| lower.contains(w))
    })?;
    Some(format!("the statement is gone and the page says {line:?}"))
}

/// `Some(why)` when the response came from another page (a redirect) and
/// its text is no longer the statement.
pub fn moved_away(landing: &Landing<'_>, last_text: &str) -> Option<String> {
    let (requested, landed) = (landing.requested, landing.final_url);
    let same_page = landed.host_str() == requested.host_str()
        && landed.path().trim_end_matches('/') == requested.path().trim_end_matches('/');
    if same_page || last_text.is_empty() {
        return None;
    }
    (diff::summarize(last_text, landing.text).changed_ratio >= MOVED_AWAY_RATIO)
        .then(|| format!("redirected to {landed}, whose text is not this statement"))
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test url")
    }

    const STATEMENT: &str =
        "Statement on the talks\nThe ministry welcomes the talks.\nBoth sides met in Geneva.";
    const NOT_FOUND: &str = "Home | News | Contact\nSorry, this page does not exist.\nCopyright";

    #[test]
    fn the_hosts_not_found_page_is_a_takedown_only_if_the_statement_was_not() {
        let page = NotFoundPage {
            host: "mfa.example",
            text: NOT_FOUND,
        };
        let cases = [
            // (new text, last text, a takedown?)
            (NOT_FOUND, STATEMENT, true),
            // One line of chrome different is still the not-found page.
            (
                "Home | News | Contact\nSorry, this page does not exist.\nCopyright 2026",
                STATEMENT,
                false,
            ),
            (STATEMENT, STATEMENT, false),
            // A watch on a page that always looked like the not-found page.
            (NOT_FOUND, NOT_FOUND, false),
            ("", STATEMENT, false),
        ];
        for (text, last, takedown) in cases {
            let why = like_not_found(text, last, page);
            assert_eq!(why.is_some(), takedown, "{text:?} after {last:?}: {why:?}");
        }
        let why = like_not_found(NOT_FOUND, STATEMENT, page).expect("takedown");
        assert!(why.contains("mfa.example"), "{why}");
    }

    #[test]
    fn an_error_page_in_unknown_words_replaces_the_statement() {
        let statement = "Statement on the talks\nThe ministry welcomes the talks held in Geneva this week between the two delegations.\nBoth sides agreed to meet again.";
        let cases = [
            (
                "Home | News\nOops! That page has gone missing.\nCopyright",
                true,
            ),
            ("首页\n对不起，出现错误，该页面暂时无法访问\n版权所有", true),
            // The statement's paragraph is still there: an edit.
            (
                "Statement on the talks\nThe ministry welcomes the talks held in Geneva this week between the two delegations.\nSorry, one page of the annex had an error.",
                false,
            ),
            // A new short statement that apologizes is not an error page.
            (
                "Correction\nWe apologize for the mistake in yesterday's statement.",
                false,
            ),
            // Prose: a real rewrite.
            (
                "A new statement\nThe ministry regrets the error on its web page last week, and notes that the talks in Geneva will resume on Monday with both delegations present.",
                false,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error_page(text, statement).is_some(), expected, "{text:?}");
        }
        // Nothing to compare with.
        assert!(error_page("Sorry, page not available", "Short").is_none());
    }

    #[test]
    fn a_redirect_elsewhere_is_a_takedown_only_when_the_text_is_not_the_statement() {
        let requested = url("https://mfa.example/news/1.html");
        let elsewhere = url("https://mfa.example/topics/peace.html");
        let landing = |final_url: &'static Url, text: &'static str| Landing {
            status: 200,
            requested: Box::leak(Box::new(requested.clone())),
            final_url,
            text,
        };
        let elsewhere: &'static Url = Box::leak(Box::new(elsewhere));
        let same: &'static Url = Box::leak(Box::new(url("https://mfa.example/news/1.html/")));
        assert!(
            moved_away(
                &landing(elsewhere, "Other topic\nNothing alike here"),
                STATEMENT
            )
            .is_some()
        );
        // Moved with its text: an edit at most, judged by the text.
        assert!(moved_away(&landing(elsewhere, STATEMENT), STATEMENT).is_none());
        // The same page (a trailing slash) is never "moved away".
        assert!(moved_away(&landing(same, "Other topic\nNothing alike here"), STATEMENT).is_none());
        // Nothing to compare with.
        assert!(moved_away(&landing(elsewhere, "Other topic"), "").is_none());
    }
}
