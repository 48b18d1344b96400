//! Webhook alerts: a JSON `POST` signed with HMAC-SHA256.
//!
//! Headers: `X-Chancery-Event`, `X-Chancery-Delivery` (the alert id, the
//! same on every retry) and `X-Chancery-Signature: sha256=<hex HMAC of the
//! exact body with the subscriber's secret>`. 2xx is success; 4xx other than
//! 408/429 is permanent; 5xx, 408, 429 and network errors are retried.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;
use url::Url;

use crate::config::Secret;
use crate::diff::DiffSummary;
use crate::model::Timestamp;
use crate::notify::{AlertData, DeliveryError};

/// Bound on one webhook delivery.
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    event: &'a str,
    watch: WatchRef<'a>,
    detected_at: String,
    previous: Option<Side>,
    current: Side,
    summary: &'a DiffSummary,
    /// Where the text changed, word by word, in reading order (at most
    /// [`crate::notify::CHANGES_LISTED`]); empty when there is no text on one side.
    changes: Vec<ChangeRef>,
    /// How many changed places there are in all.
    changes_total: usize,
    /// For an edit back to an earlier version: when it was first seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    returns_to: Option<String>,
    /// For `delisted`: the listing, the title, and the page's latest check.
    #[serde(skip_serializing_if = "Option::is_none")]
    delisting: Option<DelistingRef<'a>>,
    /// The change's page in the web view, when `[web] base_url` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    page_url: Option<&'a str>,
    diff: String,
}

#[derive(Serialize)]
struct DelistingRef<'a> {
    listing_url: &'a str,
    title: Option<&'a str>,
    page_status: Option<u16>,
    page_checked_at: Option<String>,
    page_outcome: Option<crate::model::Outcome>,
}

/// One changed place (README, "Webhook payload").
#[derive(Serialize)]
struct ChangeRef {
    before: String,
    after: String,
    context: String,
    old_line: usize,
    new_line: usize,
}

#[derive(Serialize)]
struct WatchRef<'a> {
    name: &'a str,
    url: &'a str,
}

#[derive(Serialize)]
struct Side {
    snapshot: Option<i64>,
    sha256: Option<String>,
    fetched_at: String,
    /// When this text was first seen (absent for a removal).
    #[serde(skip_serializing_if = "Option::is_none")]
    first_seen_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
}

/// The JSON body, exactly as sent (and signed).
pub fn body(alert: &AlertData) -> Vec<u8> {
    let previous = alert.previous.as_ref().map(|s| Side {
        snapshot: Some(s.id),
        sha256: Some(s.sha256.clone()),
        fetched_at: s.fetched_at.rfc3339(),
        first_seen_at: Some(s.first_seen_at.rfc3339()),
        status: None,
    });
    let current = match &alert.current {
        Some(s) => Side {
            snapshot: Some(s.id),
            sha256: Some(s.sha256.clone()),
            fetched_at: s.fetched_at.rfc3339(),
            first_seen_at: Some(s.first_seen_at.rfc3339()),
            status: alert.status,
        },
        // A removal: no text, but the status that said so.
        None => Side {
            snapshot: None,
            sha256: None,
            fetched_at: alert.detected_at.rfc3339(),
            first_seen_at: None,
            status: alert.status,
        },
    };
    let (changes, changes_total) = alert.changes();
    let changes = changes
        .into_iter()
        .map(|c| ChangeRef {
            context: c.context(),
            before: c.before,
            after: c.after,
            old_line: c.old_line,
            new_line: c.new_line,
        })
        .collect();
    let body = Body {
        id: &alert.id,
        event: &alert.event,
        watch: WatchRef {
            name: &alert.watch_name,
            url: &alert.watch_url,
        },
        detected_at: alert.detected_at.rfc3339(),
        previous,
        current,
        summary: &alert.summary,
        changes,
        changes_total,
        returns_to: alert.returns_to().map(Timestamp::rfc3339),
        delisting: alert.delisting.as_ref().map(|d| DelistingRef {
            listing_url: &d.listing_url,
            title: d.title.as_deref(),
            page_status: d.page_status,
            page_checked_at: d.page_checked_at.map(Timestamp::rfc3339),
            page_outcome: d.page_outcome,
        }),
        page_url: alert.page_url.as_deref(),
        diff: alert.unified_diff(),
    };
    // Serializing plain structs of strings and numbers cannot fail.
    serde_json::to_vec_pretty(&body).expect("alert body serializes")
}

/// `sha256=<hex HMAC-SHA256 of body keyed with secret>`.
pub fn signature(secret: &Secret, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// An HTTP client for webhooks: no redirects (a moved endpoint is a
/// configuration error to fix, not to follow), a 10 s bound.
pub fn client(user_agent: &str) -> Result<reqwest::Client, DeliveryError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(user_agent)
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| DeliveryError::transient(format!("cannot build the webhook client: {e}")))
}

/// Posts `alert` to `url`.
pub async fn send(
    client: &reqwest::Client,
    url: &Url,
    secret: Option<&Secret>,
    alert: &AlertData,
) -> Result<(), DeliveryError> {
    let body = body(alert);
    let mut request = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Chancery-Event", &alert.event)
        .header("X-Chancery-Delivery", &alert.id);
    if let Some(secret) = secret {
        request = request.header("X-Chancery-Signature", signature(secret, &body));
    }
    let endpoint = endpoint(url);
    let response = request.body(body).send().await.map_err(|e| {
        let why = if e.is_timeout() {
            format!("timed out after {}s", TIMEOUT.as_secs())
        } else {
            crate::fetch::root_cause(&e)
        };
        DeliveryError::transient(format!("webhook {endpoint}: {why}"))
    })?;
    let status = response.status();
    let code = status.as_u16();
    if status.is_success() {
        return Ok(());
    }
    // What the receiver said, in a line: often the reason ("invalid
    // signature", "unknown channel").
    let reason = status
        .canonical_reason()
        .map(|r| format!(" {r}"))
        .unwrap_or_default();
    let said = tokio::time::timeout(Duration::from_secs(2), response.bytes())
        .await
        .ok()
        .and_then(Result::ok)
        .map(|b| reply_excerpt(&b))
        .filter(|s| !s.is_empty())
        .map(|s| format!(": {s:?}"))
        .unwrap_or_default();
    let message = format!("webhook {endpoint} answered HTTP {code}{reason}{said}");
    match code {
        408 | 429 | 500..=599 => Err(DeliveryError::transient(message)),
        300..=399 => Err(DeliveryError::permanent(format!(
            "{message} (redirects are not followed: fix the URL)"
        ))),
        _ => Err(DeliveryError::permanent(message)),
    }
}

/// `https://hooks.example.org:8443/…`: where a webhook goes, for messages.
/// The path is left out (`/…`): services put the secret of a webhook in it.
fn endpoint(url: &Url) -> String {
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or("?"));
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    if url.path() != "/" || url.query().is_some() {
        out.push_str("/…");
    }
    out
}

/// The first 200 characters of a reply body, on one line.
fn reply_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2: key "Jefe".
        let sig = signature(&Secret::new("Jefe"), b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn body_has_the_documented_fields() {
        let alert = AlertData::test("abc-1-hook".to_owned(), "hook");
        let json: serde_json::Value = serde_json::from_slice(&body(&alert)).expect("json");
        assert_eq!(json["id"], "abc-1-hook");
        assert_eq!(json["event"], "test");
        assert_eq!(json["watch"]["name"], "chancery-test");
        assert!(json["previous"]["sha256"].is_string());
        assert_eq!(json["current"]["status"], 200);
        assert_eq!(json["summary"]["lines_added"], 2);
        assert_eq!(json["previous"]["snapshot"], 0, "ids are integers");
        // "read" → "reads", "before" → "now", and the added last line.
        assert_eq!(json["changes_total"], 3);
        assert_eq!(json["changes"][1]["before"], "before");
        assert_eq!(json["changes"][1]["after"], "now");
        assert_eq!(
            json["changes"][1]["context"],
            "The statement reads like this [-before-]{+now+}."
        );
        assert_eq!(json["changes"][1]["old_line"], 2);
        assert_eq!(json["changes"][2]["before"], "");
        assert_eq!(json["changes"][2]["new_line"], 3);
        assert!(
            json["diff"]
                .as_str()
                .expect("diff")
                .contains("+The statement reads like this now.")
        );
    }

    #[test]
    fn endpoints_in_messages_never_show_the_path() {
        let url = |s: &str| Url::parse(s).expect("url");
        assert_eq!(
            endpoint(&url(
                "https://hooks.slack.example/services/T000/B000/XXXXSECRET"
            )),
            "https://hooks.slack.example/…"
        );
        assert_eq!(
            endpoint(&url("http://127.0.0.1:8080/")),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            reply_excerpt(b"  invalid\n signature "),
            "invalid signature"
        );
        assert_eq!(reply_excerpt(&[b'x'; 300]).chars().count(), 201);
    }

    #[test]
    fn a_removal_has_null_current_text_and_the_status() {
        let mut alert = AlertData::test("x".to_owned(), "hook");
        alert.event = "removed".to_owned();
        alert.current = None;
        alert.status = Some(404);
        let json: serde_json::Value = serde_json::from_slice(&body(&alert)).expect("json");
        assert!(json["current"]["snapshot"].is_null());
        assert!(json["current"]["sha256"].is_null());
        assert_eq!(json["current"]["status"], 404);
    }
}
