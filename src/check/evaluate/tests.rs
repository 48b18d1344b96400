//! Table tests: what a response is, whatever its history.

use std::time::{Duration, SystemTime};

use url::Url;

use super::*;
use crate::fetch::Exchange;
use crate::model::Timestamp;

fn watch(extra: &str) -> Watch {
    let text =
        format!("[[watch]]\nname = \"mfa\"\nurl = \"https://mfa.example/news/1.html\"\n{extra}\n");
    let config =
        crate::config::parse(std::path::Path::new("t.toml"), &text, None).expect("test config");
    (*config.watches[0]).clone()
}

fn response(status: u16, final_url: &str, body: &str) -> Response {
    Response {
        final_url: Url::parse(final_url).expect("url"),
        status,
        content_type: Some("text/html; charset=utf-8".to_owned()),
        etag: None,
        last_modified: None,
        retry_after: None,
        body: body.as_bytes().to_vec(),
        elapsed: Duration::from_millis(5),
        exchange: Exchange {
            requested_at: Timestamp(0),
            remote_ip: None,
            version: "HTTP/1.1".to_owned(),
            reason: "OK".to_owned(),
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            rendered_by: None,
        },
    }
}

const PAGE: &str = "https://mfa.example/news/1.html";
const STATEMENT: &str = "<html><head><title>Statement on the talks</title></head><body>\
    <h1>Statement on the talks</h1><p>The ministry welcomes the talks held in Geneva this week, \
    and hopes both sides keep to what they agreed.</p></body></html>";

#[test]
fn responses_become_observations_with_reasons() {
    let w = watch("");
    // (status, final URL, body, validators sent, observation, reason)
    type Row<'a> = (u16, &'a str, &'a str, bool, Kind, Option<&'a str>);
    let rows: &[Row] = &[
        (200, PAGE, STATEMENT, false, Kind::Text, None),
        (304, PAGE, "", true, Kind::NotModified, None),
        // A 304 to a request without validators says nothing about the page.
        (304, PAGE, "", false, Kind::Failed, Some("http")),
        (
            404,
            PAGE,
            "<title>Not found</title>",
            false,
            Kind::Gone(404),
            Some("not-found"),
        ),
        (410, PAGE, "", false, Kind::Gone(410), Some("not-found")),
        (
            200,
            PAGE,
            "<title>Page not found - Ministry</title><p>Sorry</p>",
            false,
            Kind::Gone(200),
            Some("soft-404"),
        ),
        (
            200,
            "https://mfa.example/",
            STATEMENT,
            false,
            Kind::Gone(200),
            Some("redirected"),
        ),
        (
            200,
            PAGE,
            "<html><body></body></html>",
            false,
            Kind::Empty,
            Some("empty"),
        ),
        (
            403,
            PAGE,
            "<title>Access Denied</title>",
            false,
            Kind::Failed,
            Some("blocked"),
        ),
        (429, PAGE, "", false, Kind::Failed, Some("blocked")),
        (500, PAGE, "oops", false, Kind::Failed, Some("http")),
    ];
    for &(status, final_url, body, sent, kind, reason) in rows {
        let e = evaluate(&w, &Ok(response(status, final_url, body)), sent, None);
        assert_eq!(
            (e.observation, e.reason),
            (kind, reason),
            "{status} {final_url} {body:?}"
        );
        assert_eq!(e.text.is_some(), kind == Kind::Text);
        assert_eq!(e.text_sha256.is_some(), kind == Kind::Text);
        assert_eq!(
            e.error.is_none(),
            matches!(kind, Kind::Text | Kind::NotModified)
        );
    }
}

#[test]
fn a_select_matching_nothing_says_so() {
    let e = evaluate(
        &watch("select = [\"#gone\"]"),
        &Ok(response(200, PAGE, STATEMENT)),
        false,
        None,
    );
    assert_eq!(e.observation, Kind::Empty);
    assert!(
        e.error
            .as_deref()
            .is_some_and(|m| m.contains("select matches nothing"))
    );
}

#[test]
fn a_failed_fetch_keeps_its_reason() {
    let rows = [
        (
            FetchError::Timeout {
                after: Duration::from_secs(3),
            },
            "timeout",
        ),
        (
            FetchError::TooLarge {
                limit: 1,
                received: 2,
            },
            "too-large",
        ),
        (FetchError::TooManyRedirects { max: 10 }, "redirect-loop"),
        (FetchError::DisallowedByRobots, "robots"),
        (FetchError::Connect("refused".into()), "network"),
        (FetchError::Body("reset".into()), "network"),
    ];
    for (error, reason) in rows {
        let message = error.to_string();
        let e = evaluate(&watch(""), &Err(error), false, None);
        assert_eq!((e.observation, e.reason), (Kind::Failed, Some(reason)));
        assert_eq!(e.error.as_deref(), Some(message.as_str()));
    }
}

#[test]
fn retry_after_is_read_for_429_and_503_only_and_capped() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let with = |status: u16, value: &str| {
        let mut r = response(status, PAGE, "");
        r.retry_after = Some(value.to_owned());
        retry_after(&r, now)
    };
    assert_eq!(with(429, "120"), Some(Duration::from_secs(120)));
    assert_eq!(with(503, " 7 "), Some(Duration::from_secs(7)));
    assert_eq!(with(200, "120"), None);
    assert_eq!(with(429, "soon"), None);
    assert_eq!(with(429, "99999999"), Some(MAX_RETRY_AFTER));
    let date = httpdate::fmt_http_date(now + Duration::from_secs(90));
    assert_eq!(with(503, &date), Some(Duration::from_secs(90)));
    // A date in the past means now.
    let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
    assert_eq!(with(503, &past), Some(Duration::ZERO));
}
