//! Alert emails: rendering (subject, plain-text and HTML parts, headers) and
//! sending over SMTP with lettre.
//!
//! One alert is one message, multipart/alternative: a plain-text part with
//! the facts and the unified diff, and an HTML part with the same facts and
//! the word-level diff coloured with inline styles. Headers let mail rules
//! filter (`List-Id`, `X-Chancery-*`), and the `Message-ID` derives from the
//! alert id, so a retried alert is the same message to the receiving side.
//!
//! Sending opens one connection per alert (no pooling across calls) and is
//! bounded by `smtp.timeout` as a whole. Errors are classified for the
//! delivery worker: SMTP 5xx replies are permanent, everything else
//! (4xx, refused connections, timeouts, TLS failures) transient. The SMTP
//! password is handed to lettre's `Credentials` only, and scrubbed from any
//! reply text a server might echo, so no error carries it.

use std::fmt::Write as _;
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{Smtp, SmtpTls};
use crate::diff::{Format, RenderOptions, change_html, escape_html, one_line, render};
use crate::notify::{AlertData, DeliveryError, SnapshotData};

/// TLS settings that differ in tests: an extra trusted root certificate
/// (PEM) for a test server's self-signed certificate.
///
/// Production leaves it empty and trusts the operating system's roots
/// (rustls-platform-verifier). An added root is trusted besides them, never
/// instead; there is deliberately no way to skip verification.
#[derive(Debug, Clone, Default)]
pub struct TlsExtras {
    pub extra_root_pem: Option<Vec<u8>>,
}

/// Unchanged lines around each change in both diffs of a mail: enough to
/// locate the edit in the statement, few enough to keep the mail short.
const CONTEXT_LINES: usize = 3;

/// The subject line: `[chancery] mfa edited: "Tuesday" → "Wednesday"`.
///
/// An edit names its first changed words (and how many other places
/// changed); other events their summary's first change, which names the
/// statement or the detail. Control characters (page text is untrusted)
/// become spaces so the subject stays one line. A test alert says TEST
/// first, so nobody mistakes it for a real change.
pub fn subject(alert: &AlertData) -> String {
    if alert.event == "test" {
        return "[chancery] TEST alert from `chancery notify test`: not a real change".to_owned();
    }
    let mut subject = format!(
        "[chancery] {} {}",
        one_line(&alert.watch_name),
        one_line(&alert.event)
    );
    let (changes, total) = alert.changes();
    let what = match changes.first() {
        Some(first) if alert.event == "edited" => Some(match total {
            1 => first.headline(),
            2 => format!("{} and 1 more change", first.headline()),
            n => format!("{} and {} more changes", first.headline(), n - 1),
        }),
        _ => alert.summary.first_change.clone().or_else(|| {
            // A restore to the same text has no change to name: name the
            // statement by its first line.
            crate::diff::title(alert.texts().1)
        }),
    };
    if let Some(what) = what {
        let _ = write!(subject, ": {}", one_line(&what));
    }
    subject
}

/// The sentence that opens both parts, saying what happened.
fn headline(alert: &AlertData) -> String {
    let name = &alert.watch_name;
    match alert.event.as_str() {
        "edited" => match alert.returns_to() {
            Some(at) => format!(
                "The statement page watched as \"{name}\" was edited back to the version first seen {at}."
            ),
            None => format!("The statement page watched as \"{name}\" was edited."),
        },
        "removed" => format!(
            "The statement page watched as \"{name}\" was removed, or its statement text is gone."
        ),
        "restored" if same_text(alert) => format!(
            "The statement page watched as \"{name}\" is back after a removal, with the text it had before."
        ),
        "restored" => format!(
            "The statement page watched as \"{name}\" is back after a removal, with a different text."
        ),
        "flapping" => format!(
            "The statement page watched as \"{name}\" alternates between versions (e.g. servers with different builds); further alternations between them will not be alerted."
        ),
        "failing" => format!(
            "Every check of the page watched as \"{name}\" has failed for a while: changes to it are not being seen."
        ),
        "recovered" => format!(
            "Checks of the page watched as \"{name}\" work again after it was reported failing."
        ),
        "test" => "TEST ALERT sent by `chancery notify test`: nothing changed on any watched page."
            .to_owned(),
        "delisted" => match &alert.delisting {
            Some(d) => {
                let what = match &d.title {
                    Some(title) => format!(
                        "The statement \"{}\" (watched as \"{name}\")",
                        one_line(title)
                    ),
                    None => format!("The statement watched as \"{name}\""),
                };
                format!(
                    "{what} is no longer listed on {}; {}.",
                    d.listing_url,
                    d.page()
                )
            }
            None => {
                format!("The statement watched as \"{name}\" is no longer listed on its index.")
            }
        },
        "published" => {
            format!("A new statement was published: chancery now watches it as \"{name}\".")
        }
        other => format!("The statement page watched as \"{name}\": {other}."),
    }
}

/// What the summary's first change is, for an event that is not an edit
/// listed word by word: the statement's first line, or the event's detail.
fn detail_label(alert: &AlertData) -> &'static str {
    match alert.event.as_str() {
        "failing" | "recovered" | "flapping" => "Detail",
        _ => "Statement",
    }
}

/// Whether the texts on both sides are the same.
fn same_text(alert: &AlertData) -> bool {
    matches!((&alert.previous, &alert.current), (Some(a), Some(b)) if a.sha256 == b.sha256)
}

/// `snapshot 12, fetched 2026-11-28T12:00:00Z` (and when its text was
/// first seen, if earlier), or why there is none.
fn snapshot_fact(snapshot: Option<&SnapshotData>, absent: &str) -> String {
    match snapshot {
        Some(s) if s.first_seen_at < s.fetched_at => format!(
            "snapshot {}, fetched {} (this text was first seen {})",
            s.id,
            s.fetched_at.rfc3339(),
            s.first_seen_at.rfc3339()
        ),
        Some(s) => format!("snapshot {}, fetched {}", s.id, s.fetched_at.rfc3339()),
        None => absent.to_owned(),
    }
}

/// The facts both parts show, as (label, value) rows.
fn facts(alert: &AlertData) -> Vec<(&'static str, String)> {
    let summary = &alert.summary;
    let after_absent = if alert.event == "removed" {
        "none (the page is gone)"
    } else {
        "none"
    };
    let mut rows = vec![
        ("Watch", alert.watch_name.clone()),
        ("URL", alert.watch_url.clone()),
        ("Event", alert.event.clone()),
    ];
    if let Some(page) = &alert.page_url {
        rows.push(("Web view", page.clone()));
    }
    // Events that are not a change of the text (health, a delisting) show
    // the text they are about once, with no change counts.
    let text_changed = !matches!(alert.event.as_str(), "failing" | "recovered" | "delisted");
    if let Some(d) = &alert.delisting {
        rows.push(("Listing", d.listing_url.clone()));
        rows.push(("Page", d.page()));
    }
    if text_changed {
        rows.push(("Before", snapshot_fact(alert.previous.as_ref(), "none")));
        rows.push(("After", snapshot_fact(alert.current.as_ref(), after_absent)));
    } else {
        rows.push((
            "Text",
            snapshot_fact(alert.current.as_ref(), "none recorded"),
        ));
    }
    rows.push(("Detected", alert.detected_at.rfc3339()));
    if text_changed && same_text(alert) {
        rows.push(("Changed", "nothing: the same text as before".to_owned()));
    } else if text_changed {
        rows.push((
            "Changed",
            format!(
                "{} added, {} removed ({:.0}% of the text)",
                count_lines(summary.lines_added),
                summary.lines_removed,
                summary.changed_ratio * 100.0
            ),
        ));
    }
    if let Some(status) = alert.status {
        rows.push(("HTTP status", status.to_string()));
    }
    rows
}

/// `1 line`, `2 lines`.
fn count_lines(n: u32) -> String {
    if n == 1 {
        "1 line".to_owned()
    } else {
        format!("{n} lines")
    }
}

/// The commands that show the whole story, for a reader at the server.
fn commands(alert: &AlertData) -> [String; 2] {
    [
        format!("chancery history {}", alert.watch_name),
        format!("chancery diff {}", alert.watch_name),
    ]
}

fn render_options(alert: &AlertData) -> RenderOptions {
    let (old_label, new_label) = alert.labels();
    RenderOptions {
        color: false,
        context_lines: CONTEXT_LINES,
        old_label,
        new_label,
        ..RenderOptions::default()
    }
}

/// Changed places an email lists before its full diff.
const CHANGES_IN_EMAIL: usize = 5;

/// The plain-text part: headline, what changed (each changed place in a
/// few words and in its sentence), facts, commands and the unified diff.
pub fn text_body(alert: &AlertData) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", headline(alert));
    let (changes, total) = alert.changes();
    if !changes.is_empty() {
        out.push_str("What changed:\n");
        for change in changes.iter().take(CHANGES_IN_EMAIL) {
            let _ = writeln!(out, "  * {}", change.headline());
            let _ = writeln!(out, "    {}", change.context().replace('\n', " "));
        }
        if total > CHANGES_IN_EMAIL {
            let _ = writeln!(
                out,
                "  (and {} more; the whole diff is below)",
                total - CHANGES_IN_EMAIL
            );
        }
        out.push('\n');
    }
    for (label, value) in facts(alert) {
        let _ = writeln!(out, "  {:<12} {value}", format!("{label}:"));
    }
    if changes.is_empty()
        && let Some(first) = &alert.summary.first_change
    {
        let _ = writeln!(out, "\n{}: {first}", detail_label(alert));
    }
    let _ = writeln!(out, "\nThe full history and diff, on the chancery host:");
    for command in commands(alert) {
        let _ = writeln!(out, "  {command}");
    }
    out.push('\n');
    let (old, new) = alert.texts();
    let diff = render(old, new, Format::Unified, &render_options(alert));
    if alert.event == "delisted" {
        out.push_str("(The statement's text did not change: it was taken off the listing.)\n");
    } else if diff.is_empty() {
        out.push_str("(The normalized texts are identical.)\n");
    } else {
        out.push_str(&diff);
    }
    let _ = write!(out, "\n-- \nchancery alert {}\n", alert.id);
    out
}

const BODY: &str = "margin:0;padding:16px;font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;\
font-size:14px;line-height:1.5;color:#1f2328;background-color:#ffffff;";
const FACT_LABEL: &str =
    "padding:2px 12px 2px 0;color:#59636e;vertical-align:top;white-space:nowrap;";
const FACT_VALUE: &str = "padding:2px 0;vertical-align:top;";
const CODE: &str = "font-family:Menlo,Consolas,'Courier New',monospace;font-size:13px;\
background-color:#f6f8fa;padding:1px 4px;";
const FOOTER: &str = "margin-top:16px;color:#59636e;font-size:12px;";

/// The HTML part: the same facts, the URL as a link, and the word-level diff
/// with inline styles only (clients strip `<style>`). Every piece of page or
/// config text is escaped.
pub fn html_body(alert: &AlertData) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n</head>\n<body style=\"{BODY}\">\n",
        escape_html(&subject(alert))
    );
    let _ = writeln!(
        out,
        "<p style=\"margin:0 0 12px 0;font-size:16px;font-weight:bold;\">{}</p>",
        escape_html(&headline(alert))
    );
    out.push_str("<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse;margin:0 0 12px 0;\">\n");
    for (label, value) in facts(alert) {
        let value = if label == "URL" {
            let url = escape_html(&value);
            format!("<a href=\"{url}\" style=\"color:#0969da;\">{url}</a>")
        } else {
            escape_html(&value)
        };
        let _ = writeln!(
            out,
            "<tr><td style=\"{FACT_LABEL}\">{label}</td><td style=\"{FACT_VALUE}\">{value}</td></tr>"
        );
    }
    out.push_str("</table>\n");
    let (changes, total) = alert.changes();
    if !changes.is_empty() {
        out.push_str("<p style=\"margin:0 0 4px 0;font-weight:bold;\">What changed</p>\n<ul style=\"margin:0 0 12px 0;padding-left:20px;\">\n");
        for change in changes.iter().take(CHANGES_IN_EMAIL) {
            let _ = writeln!(
                out,
                "<li style=\"margin:0 0 4px 0;\">{}</li>",
                change_html(change)
            );
        }
        if total > CHANGES_IN_EMAIL {
            let _ = writeln!(
                out,
                "<li style=\"margin:0 0 4px 0;\">and {} more: the whole diff is below</li>",
                total - CHANGES_IN_EMAIL
            );
        }
        out.push_str("</ul>\n");
    } else if let Some(first) = &alert.summary.first_change {
        let _ = writeln!(
            out,
            "<p style=\"margin:0 0 12px 0;\">{}: {}</p>",
            detail_label(alert),
            escape_html(first)
        );
    }
    let [history, diff_command] = commands(alert);
    let _ = writeln!(
        out,
        "<p style=\"margin:0 0 12px 0;\">The full history and diff, on the chancery host: \
         <code style=\"{CODE}\">{}</code> and <code style=\"{CODE}\">{}</code></p>",
        escape_html(&history),
        escape_html(&diff_command)
    );
    let (old, new) = alert.texts();
    let diff = render(old, new, Format::Html, &render_options(alert));
    if alert.event == "delisted" {
        out.push_str(
            "<p>(The statement&rsquo;s text did not change: it was taken off the listing.)</p>\n",
        );
    } else if diff.is_empty() {
        out.push_str("<p>(The normalized texts are identical.)</p>\n");
    } else {
        out.push_str(&diff);
    }
    let _ = write!(
        out,
        "<p style=\"{FOOTER}\">chancery alert {}</p>\n</body>\n</html>\n",
        escape_html(&alert.id)
    );
    out
}

/// The `Message-ID`: the alert id at `chancery.<from domain>`, so retries of
/// one alert are one message to the receiver (which may deduplicate on it),
/// and installations sending from different domains do not collide. It is
/// only as unique as the alert id: mail providers drop a second message with
/// a Message-ID they have seen.
///
/// Characters outside RFC 5322's `atext` (and dots) become `-`.
pub fn message_id(alert_id: &str, from_domain: &str) -> String {
    let left: String = alert_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let left = left.trim_matches('.');
    let left = if left.is_empty() { "alert" } else { left };
    format!("<{left}@chancery.{from_domain}>")
}

fn raw_header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), one_line(value))
}

/// The complete message for `alert`, from `from` to all of `to`.
///
/// Fails (permanently: retrying cannot fix an address) when `from` or a
/// recipient is not a valid mailbox.
pub fn build_message(
    from: &str,
    to: &[String],
    alert: &AlertData,
) -> Result<Message, DeliveryError> {
    if to.is_empty() {
        return Err(DeliveryError::permanent(
            "the alert has no email recipients",
        ));
    }
    let from: Mailbox = from.parse().map_err(|e| {
        DeliveryError::permanent(format!("smtp.from {from:?} is not a valid mailbox: {e}"))
    })?;
    let domain = from.email.domain().to_ascii_lowercase();
    let mut builder = Message::builder()
        .from(from)
        .subject(subject(alert))
        .date_now()
        .message_id(Some(message_id(&alert.id, &domain)))
        .raw_header(raw_header(
            "List-Id",
            &format!("chancery alerts <chancery.{domain}>"),
        ))
        // RFC 3834: no vacation replies to a machine.
        .raw_header(raw_header("Auto-Submitted", "auto-generated"))
        .raw_header(raw_header("X-Chancery-Event", &alert.event))
        .raw_header(raw_header("X-Chancery-Watch", &alert.watch_name))
        .raw_header(raw_header("X-Chancery-Delivery", &alert.id));
    for address in to {
        let mailbox: Mailbox = address.parse().map_err(|e| {
            DeliveryError::permanent(format!("recipient {address:?} is not a valid mailbox: {e}"))
        })?;
        builder = builder.to(mailbox);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            text_body(alert),
            html_body(alert),
        ))
        .map_err(|e| DeliveryError::permanent(format!("cannot build the alert email: {e}")))
}

/// Sends `alert` to `to` through `smtp`.
///
/// One connection per call, bounded by `smtp.timeout` from connecting to the
/// last reply. `Ok` means the server accepted the message for all
/// recipients. Errors name `host:port` and the server's reply, are permanent
/// only for 5xx replies (and unusable addresses), and never contain the
/// password.
pub async fn send(
    smtp: &Smtp,
    tls: &TlsExtras,
    to: &[String],
    alert: &AlertData,
) -> Result<(), DeliveryError> {
    let message = build_message(&smtp.from, to, alert)?;
    let endpoint = format!("{}:{}", smtp.host, smtp.port);
    let transport = transport(smtp, tls, &endpoint)?;
    let result = tokio::time::timeout(smtp.timeout, transport.send(message)).await;
    transport.shutdown().await;
    let secrets = credential_forms(smtp);
    match result {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(classify(&endpoint, &e, &secrets)),
        Err(_) => Err(DeliveryError::transient(format!(
            "smtp server {endpoint} did not finish within {}",
            humantime::format_duration(smtp.timeout)
        ))),
    }
}

/// A transport for one delivery: TLS as configured, credentials when both
/// parts are set, and a pool that keeps no idle connection (it only closes
/// the connection properly after the message).
fn transport(
    smtp: &Smtp,
    extras: &TlsExtras,
    endpoint: &str,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, DeliveryError> {
    let tls_parameters = || -> Result<TlsParameters, DeliveryError> {
        let mut builder = TlsParameters::builder(smtp.host.clone());
        if let Some(pem) = &extras.extra_root_pem {
            let root = Certificate::from_pem(pem).map_err(|e| {
                DeliveryError::transient(format!(
                    "extra root certificate for smtp server {endpoint} is unusable: {e}"
                ))
            })?;
            builder = builder.add_root_certificate(root);
        }
        builder.build_rustls().map_err(|e| {
            DeliveryError::transient(format!("tls setup for smtp server {endpoint} failed: {e}"))
        })
    };
    let tls = match smtp.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(tls_parameters()?),
        SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(smtp.timeout))
        .pool_config(
            PoolConfig::new()
                .min_idle(0)
                .max_size(0)
                .idle_timeout(Duration::from_secs(1)),
        );
    if let (Some(username), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(
            username.clone(),
            password.expose().to_owned(),
        ));
    }
    Ok(builder.build())
}

/// Every form the SMTP password travels in: as is, and in base64 alone
/// (AUTH LOGIN) and as `\0user\0password` (AUTH PLAIN). A server that
/// quotes what it received in its error would put one of them in the
/// reply, and from there in logs and the outbox.
fn credential_forms(smtp: &Smtp) -> Vec<String> {
    use base64::Engine as _;
    let Some(password) = smtp.password.as_ref().map(|p| p.expose()) else {
        return Vec::new();
    };
    if password.is_empty() {
        return Vec::new();
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let user = smtp.username.as_deref().unwrap_or("");
    let mut forms = vec![
        password.to_owned(),
        b64.encode(password),
        b64.encode(format!("\0{user}\0{password}")),
        b64.encode(format!("{user}\0{password}")),
    ];
    // Unpadded too: some servers trim the `=`.
    let trimmed: Vec<String> = forms[1..]
        .iter()
        .map(|f| f.trim_end_matches('=').to_owned())
        .collect();
    forms.extend(trimmed);
    forms
}

/// Maps a lettre error to a delivery error: 5xx replies are permanent,
/// everything else transient. The text is one sentence naming the server
/// and its reply (or the failure), with every form of the password
/// (`secrets`) scrubbed out in case a server echoed it.
fn classify(
    endpoint: &str,
    error: &lettre::transport::smtp::Error,
    secrets: &[String],
) -> DeliveryError {
    let message = match error.status() {
        Some(code) => {
            let reply = std::error::Error::source(error)
                .map(|s| s.to_string())
                .unwrap_or_default();
            format!("smtp server {endpoint} answered {code} {reply}")
        }
        None if error.is_timeout() => format!("smtp server {endpoint} timed out: {}", chain(error)),
        None if error.is_tls() => {
            format!("tls with smtp server {endpoint} failed: {}", chain(error))
        }
        None => format!("smtp delivery to {endpoint} failed: {}", chain(error)),
    };
    let message = secrets.iter().fold(message, |message, secret| {
        message.replace(secret.as_str(), "***")
    });
    let message = message.trim_end().to_owned();
    if error.is_permanent() {
        DeliveryError::permanent(message)
    } else {
        DeliveryError::transient(message)
    }
}

/// The error and its causes joined with `: `, each said once.
///
/// lettre's errors print their cause after their own text, and wrap one
/// another (`Connection error: Connection error: invalid peer
/// certificate`), so each level contributes only the text its cause does
/// not already say, and repeats are dropped.
fn chain(error: &dyn std::error::Error) -> String {
    let mut texts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        texts.push(cause.to_string());
        source = cause.source();
    }
    let mut parts: Vec<String> = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let own = match texts.get(i + 1) {
            Some(next) => text.strip_suffix(next.as_str()).unwrap_or(text),
            None => text,
        };
        let own = own.trim_end_matches([':', ' ']);
        if !own.is_empty() && !parts.iter().any(|p| p.eq_ignore_ascii_case(own)) {
            parts.push(own.to_owned());
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;

    /// 2026-11-28T12:00:00Z and later, in milliseconds.
    const NOON: i64 = 1_795_867_200_000;

    fn snapshot(id: i64, at: i64, text: &str) -> SnapshotData {
        SnapshotData {
            id,
            sha256: crate::hash::sha256_hex(text.as_bytes()),
            fetched_at: Timestamp(at),
            first_seen_at: Timestamp(at),
            text: text.to_owned(),
        }
    }

    fn alert(event: &str, old: Option<&str>, new: Option<&str>) -> AlertData {
        let summary = crate::diff::summarize(old.unwrap_or(""), new.unwrap_or(""));
        AlertData {
            id: "a1b2c3".to_owned(),
            event: event.to_owned(),
            watch_name: "uk-embassy".to_owned(),
            watch_url: "https://embassy.example/statements?id=7&lang=en".to_owned(),
            // A new text's snapshot is made by the check that detects the
            // change: same instant.
            detected_at: Timestamp(NOON + 3_600_000),
            previous: old.map(|t| snapshot(12, NOON, t)),
            current: new.map(|t| snapshot(13, NOON + 3_600_000, t)),
            status: Some(200),
            summary,
            delisting: None,
            page_url: None,
        }
    }

    const OLD: &str = "Statement on the visit\nThe ambassador met the minister on Tuesday.\nEnd";
    const NEW: &str = "Statement on the visit\nThe ambassador met the minister on Wednesday.\nEnd";

    #[test]
    fn timestamps_in_these_tests_are_what_they_say() {
        assert_eq!(Timestamp(NOON).rfc3339(), "2026-11-28T12:00:00Z");
    }

    #[test]
    fn subjects_name_watch_event_and_the_changed_words() {
        assert_eq!(
            subject(&alert("edited", Some(OLD), Some(NEW))),
            "[chancery] uk-embassy edited: \"Tuesday\" → \"Wednesday\""
        );
        let two = "Statement on the visit\nThe ambassador met the minister on Wednesday.\nThe end";
        assert_eq!(
            subject(&alert("edited", Some(OLD), Some(two))),
            "[chancery] uk-embassy edited: \"Tuesday\" → \"Wednesday\" and 1 more change"
        );
        assert_eq!(
            subject(&alert("restored", None, Some("Back again"))),
            "[chancery] uk-embassy restored: \"Back again\""
        );
        let mut removed = alert("removed", Some(OLD), None);
        assert_eq!(
            subject(&removed),
            "[chancery] uk-embassy removed: \"Statement on the visit\""
        );
        removed.summary.first_change = None;
        assert_eq!(subject(&removed), "[chancery] uk-embassy removed");
    }

    #[test]
    fn subject_keeps_page_text_on_one_line() {
        let mut removed = alert("removed", Some(OLD), None);
        removed.summary.first_change = Some("evil\r\nBcc: x@example.org".to_owned());
        assert_eq!(
            subject(&removed),
            "[chancery] uk-embassy removed: evil  Bcc: x@example.org"
        );
        let edited = alert("edited", Some("a\nold"), Some("a\nnew\rBcc: x@example.org"));
        assert!(
            !subject(&edited).contains(['\r', '\n']),
            "{}",
            subject(&edited)
        );
    }

    #[test]
    fn test_alert_subject_is_unmistakable() {
        let test = AlertData::test("t1".to_owned(), "ops");
        let subject = subject(&test);
        assert!(subject.starts_with("[chancery] TEST alert"), "{subject}");
        assert!(subject.contains("not a real change"), "{subject}");
        assert!(
            text_body(&test).starts_with("TEST ALERT"),
            "{}",
            text_body(&test)
        );
    }

    #[test]
    fn text_body_is_exact() {
        assert_eq!(
            text_body(&alert("edited", Some(OLD), Some(NEW))),
            "The statement page watched as \"uk-embassy\" was edited.\n\
             \n\
             What changed:\n\
             \x20 * \"Tuesday\" → \"Wednesday\"\n\
             \x20   The ambassador met the minister on [-Tuesday-]{+Wednesday+}.\n\
             \n\
             \x20 Watch:       uk-embassy\n\
             \x20 URL:         https://embassy.example/statements?id=7&lang=en\n\
             \x20 Event:       edited\n\
             \x20 Before:      snapshot 12, fetched 2026-11-28T12:00:00Z\n\
             \x20 After:       snapshot 13, fetched 2026-11-28T13:00:00Z\n\
             \x20 Detected:    2026-11-28T13:00:00Z\n\
             \x20 Changed:     1 line added, 1 removed (33% of the text)\n\
             \x20 HTTP status: 200\n\
             \n\
             The full history and diff, on the chancery host:\n\
             \x20 chancery history uk-embassy\n\
             \x20 chancery diff uk-embassy\n\
             \n\
             --- uk-embassy@12 (2026-11-28T12:00:00Z)\n\
             +++ uk-embassy@13 (2026-11-28T13:00:00Z)\n\
             @@ -1,3 +1,3 @@\n\
             \x20Statement on the visit\n\
             -The ambassador met the minister on Tuesday.\n\
             +The ambassador met the minister on Wednesday.\n\
             \x20End\n\
             \n\
             -- \n\
             chancery alert a1b2c3\n"
        );
    }

    #[test]
    fn an_edit_back_to_an_earlier_version_says_so() {
        let mut reverted = alert("edited", Some(NEW), Some(OLD));
        reverted.current = Some(SnapshotData {
            first_seen_at: Timestamp(NOON - 3_600_000),
            ..snapshot(11, NOON + 3_600_000, OLD)
        });
        assert_eq!(reverted.returns_to(), Some(Timestamp(NOON - 3_600_000)));
        assert!(
            text_body(&reverted).starts_with(
                "The statement page watched as \"uk-embassy\" was edited back to the version first seen 2026-11-28T11:00:00Z."
            ),
            "{}",
            text_body(&reverted)
        );
        assert!(html_body(&reverted).contains("back to the version first seen"));
        let webhook = crate::notify::webhook::body(&reverted);
        let json: serde_json::Value = serde_json::from_slice(&webhook).expect("JSON");
        assert_eq!(json["returns_to"], "2026-11-28T11:00:00Z");
        // A new text is not a return.
        assert_eq!(alert("edited", Some(OLD), Some(NEW)).returns_to(), None);
    }

    #[test]
    fn html_body_marks_words_links_the_url_and_escapes() {
        let html = html_body(&alert("edited", Some(OLD), Some(NEW)));
        assert!(html.contains("<meta charset=\"utf-8\">"), "{html}");
        assert!(
            html.contains(
                "<a href=\"https://embassy.example/statements?id=7&amp;lang=en\" style=\"color:#0969da;\">\
                 https://embassy.example/statements?id=7&amp;lang=en</a>"
            ),
            "{html}"
        );
        assert!(html.contains(">Tuesday</del>"), "{html}");
        assert!(html.contains(">Wednesday</ins>"), "{html}");
        assert!(
            !html.contains(">The ambassador met the minister on Tuesday.</del>"),
            "{html}"
        );
        for fact in [
            "2026-11-28T12:00:00Z",
            "2026-11-28T13:00:00Z",
            "chancery history uk-embassy",
            "chancery diff uk-embassy",
        ] {
            assert!(html.contains(fact), "{fact} missing: {html}");
        }
        assert!(!html.contains("<style"), "{html}");

        let hostile = html_body(&alert(
            "edited",
            Some("a\n<b>bold</b>"),
            Some("a\n<script>alert(1)</script><img src=x onerror=alert(2)>"),
        ));
        assert!(
            !hostile.contains("<script") && !hostile.contains("<img"),
            "{hostile}"
        );
        assert!(
            hostile.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{hostile}"
        );
    }

    #[test]
    fn removal_renders_without_a_current_snapshot() {
        let removed = alert("removed", Some(OLD), None);
        let text = text_body(&removed);
        assert!(
            text.contains("After:       none (the page is gone)"),
            "{text}"
        );
        assert!(text.contains("+++ uk-embassy@removed"), "{text}");
        assert!(
            text.contains("-The ambassador met the minister on Tuesday."),
            "{text}"
        );
        let html = html_body(&removed);
        assert!(
            html.contains(">The ambassador met the minister on Tuesday.</del>"),
            "{html}"
        );
    }

    #[test]
    fn a_delisting_names_the_statement_its_listing_and_its_page() {
        let mut delisted = alert("delisted", Some(OLD), Some(OLD));
        delisted.watch_name = "press/t7".to_owned();
        delisted.summary =
            crate::diff::DiffSummary::none(Some("\"Statement on the visit\"".to_owned()));
        delisted.delisting = Some(crate::notify::Delisting {
            listing_url: "https://embassy.example/press/".to_owned(),
            title: Some("Statement on the visit".to_owned()),
            page_checked_at: Some(Timestamp(NOON + 3_600_000)),
            page_status: Some(200),
            page_outcome: Some(crate::model::Outcome::Unchanged),
        });
        assert_eq!(
            subject(&delisted),
            "[chancery] press/t7 delisted: \"Statement on the visit\""
        );
        let text = text_body(&delisted);
        assert!(
            text.starts_with(
                "The statement \"Statement on the visit\" (watched as \"press/t7\") is no longer listed on \
                 https://embassy.example/press/; the page itself still answers HTTP 200 (checked 2026-11-28T13:00:00Z).\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("  Text:        snapshot 13, fetched"),
            "{text}"
        );
        for absent in [
            "Changed:",
            "Before:",
            "After:",
            "\n-The ambassador",
            "0 lines",
        ] {
            assert!(!text.contains(absent), "{absent:?} in {text}");
        }
        assert!(text.contains("it was taken off the listing"), "{text}");

        let gone = crate::notify::Delisting {
            page_status: Some(404),
            page_outcome: Some(crate::model::Outcome::Removed),
            ..delisted.delisting.clone().expect("set above")
        };
        assert_eq!(
            gone.page(),
            "the page itself is gone (HTTP 404, checked 2026-11-28T13:00:00Z)"
        );
    }

    #[test]
    fn message_ids_are_stable_and_valid() {
        assert_eq!(
            message_id("a1b2c3", "example.org"),
            "<a1b2c3@chancery.example.org>"
        );
        assert_eq!(
            message_id("x y<z>@", "example.org"),
            "<x-y-z--@chancery.example.org>"
        );
        assert_eq!(
            message_id("...", "example.org"),
            "<alert@chancery.example.org>"
        );
    }

    #[test]
    fn message_has_filterable_headers_and_both_parts() {
        let message = build_message(
            "Chancery <alerts@Example.org>",
            &["a@example.net".to_owned(), "b@example.net".to_owned()],
            &alert("edited", Some(OLD), Some(NEW)),
        )
        .expect("valid addresses");
        let raw = String::from_utf8(message.formatted()).expect("ascii message");
        for header in [
            "Message-ID: <a1b2c3@chancery.example.org>\r\n",
            "List-Id: chancery alerts <chancery.example.org>\r\n",
            "X-Chancery-Event: edited\r\n",
            "X-Chancery-Watch: uk-embassy\r\n",
            "X-Chancery-Delivery: a1b2c3\r\n",
            "Auto-Submitted: auto-generated\r\n",
            "To: a@example.net, b@example.net\r\n",
            "Content-Type: multipart/alternative;",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Type: text/html; charset=utf-8",
        ] {
            assert!(raw.contains(header), "{header:?} missing:\n{raw}");
        }
        assert!(raw.contains("\r\nDate: "), "{raw}");
        let envelope = message.envelope();
        assert_eq!(envelope.to().len(), 2);
    }

    #[test]
    fn bad_addresses_are_permanent_errors() {
        let alert = alert("edited", Some(OLD), Some(NEW));
        let e = build_message("not a mailbox", &["a@example.net".to_owned()], &alert)
            .expect_err("bad from");
        assert!(e.permanent && e.message.contains("smtp.from"), "{e:?}");
        let e = build_message("a@example.org", &["nobody".to_owned()], &alert)
            .expect_err("bad recipient");
        assert!(e.permanent && e.message.contains("\"nobody\""), "{e:?}");
        let e = build_message("a@example.org", &[], &alert).expect_err("no recipient");
        assert!(e.permanent, "{e:?}");
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match &self.1 {
                Some(cause) => write!(f, "{}: {cause}", self.0),
                None => f.write_str(self.0),
            }
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|c| c as _)
        }
    }

    #[test]
    fn error_chains_say_each_cause_once() {
        let error = Layer(
            "Connection error",
            Some(Box::new(Layer(
                "Connection error",
                Some(Box::new(Layer("invalid peer certificate", None))),
            ))),
        );
        assert_eq!(chain(&error), "Connection error: invalid peer certificate");
    }

    /// The delivery worker spawns deliveries on the multi-threaded runtime.
    #[test]
    fn sending_is_a_send_future() {
        fn assert_send<T: Send>(_: &T) {}
        let smtp = Smtp {
            host: "127.0.0.1".to_owned(),
            port: 1,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "a@example.org".to_owned(),
            timeout: Duration::from_secs(1),
        };
        let alert = alert("edited", Some(OLD), Some(NEW));
        let extras = TlsExtras::default();
        let future = send(&smtp, &extras, &[], &alert);
        assert_send(&future);
    }
}
