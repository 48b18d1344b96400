//! Text that is really a takedown. A response with text can still mean the
//! statement is gone: the host serves its not-found page with 200, or the
//! page redirects somewhere whose text is not the statement. Both rules
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
