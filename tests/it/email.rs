//! Alert emails sent for real by `chancery::notify::email::send` to the test
//! SMTP server ([`crate::smtp`]): plain, STARTTLS with AUTH and implicit TLS
//! against a self-signed certificate, error classification, and a password
//! that never reaches an error.

use std::time::Duration;

use chancery::config::{Secret, Smtp, SmtpTls};
use chancery::model::Timestamp;
use chancery::notify::email::{TlsExtras, send};
use chancery::notify::{AlertData, DeliveryError, SnapshotData};

use crate::smtp::{Options, Security, SmtpServer, Stage};
use crate::support::{Mail, decode_words};

/// 2026-11-28T12:00:00Z.
const NOON: i64 = 1_795_867_200_000;

const EN_OLD: &str = "Press statement\n\
The Ambassador met the Foreign Minister on Tuesday to discuss trade and security.\n\
Both sides agreed to continue the dialogue.\n\
Contact the press office for details.";
const EN_NEW: &str = "Press statement\n\
The Ambassador met the Foreign Minister on Wednesday to discuss trade and security.\n\
Both sides agreed to continue the dialogue.\n\
Contact the press office for details.";

const ZH_OLD: &str = "中华人民共和国驻英国大使馆\n外交部发言人就此事发表谈话。\n结束";
const ZH_NEW: &str = "中华人民共和国驻英国大使馆\n外交部发言人就该事件发表书面谈话。\n结束";

fn snapshot(id: i64, at: i64, text: &str) -> SnapshotData {
    SnapshotData {
        id,
        sha256: chancery::hash::sha256_hex(text.as_bytes()),
        fetched_at: Timestamp(at),
        first_seen_at: Timestamp(at),
        text: text.to_owned(),
    }
}

fn alert(id: &str, event: &str, watch: &str, old: Option<&str>, new: Option<&str>) -> AlertData {
    AlertData {
        id: id.to_owned(),
        event: event.to_owned(),
        watch_name: watch.to_owned(),
        watch_url: format!("https://embassy.example/{watch}/statement?id=7&lang=en"),
        detected_at: Timestamp(NOON + 3_605_000),
        previous: old.map(|t| snapshot(12, NOON, t)),
        current: new.map(|t| snapshot(13, NOON + 3_600_000, t)),
        status: Some(if new.is_some() { 200 } else { 404 }),
        summary: chancery::diff::summarize(old.unwrap_or(""), new.unwrap_or("")),
        delisting: None,
        page_url: None,
    }
}

fn smtp(server_port: u16, tls: SmtpTls) -> Smtp {
    Smtp {
        host: "127.0.0.1".to_owned(),
        port: server_port,
        tls,
        username: None,
        password: None,
        from: "Chancery <alerts@example.org>".to_owned(),
        timeout: Duration::from_secs(10),
    }
}

fn trusting(server: &SmtpServer) -> TlsExtras {
    TlsExtras {
        extra_root_pem: Some(server.cert_pem.clone().into_bytes()),
    }
}

fn recipients() -> Vec<String> {
    vec![
        "ops@example.net".to_owned(),
        "Press Desk <press@example.net>".to_owned(),
    ]
}

fn one_message(server: &SmtpServer) -> (crate::smtp::Received, Mail) {
    let received = server.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    let message = received.into_iter().next().expect("one message");
    let mail = Mail::parse(&message.data);
    (message, mail)
}

#[tokio::test]
async fn plain_smtp_delivers_an_english_edit_with_both_parts_and_filter_headers() {
    let server = SmtpServer::start(Options::plain());
    let alert = alert(
        "42-7f3a",
        "edited",
        "uk-embassy",
        Some(EN_OLD),
        Some(EN_NEW),
    );
    send(
        &smtp(server.port(), SmtpTls::None),
        &TlsExtras::default(),
        &recipients(),
        &alert,
    )
    .await
    .expect("delivered");

    let (message, mail) = one_message(&server);
    assert_eq!(message.from, "alerts@example.org");
    assert_eq!(message.to, ["ops@example.net", "press@example.net"]);
    assert!(!message.tls);
    // The subject names the changed words, and the arrow makes it
    // non-ASCII (encoded) even for an English page.
    assert_eq!(
        mail.header("Subject"),
        "[chancery] uk-embassy edited: \"Tuesday\" → \"Wednesday\""
    );
    assert_eq!(mail.header("Message-ID"), "<42-7f3a@chancery.example.org>");
    assert_eq!(mail.header("X-Chancery-Delivery"), "42-7f3a");
    assert_eq!(mail.header("X-Chancery-Event"), "edited");
    assert_eq!(mail.header("X-Chancery-Watch"), "uk-embassy");
    assert_eq!(
        mail.header("List-Id"),
        "chancery alerts <chancery.example.org>"
    );
    assert_eq!(mail.header("From"), "Chancery <alerts@example.org>");
    assert!(mail.header("To").contains("press@example.net"), "{mail:#?}");
    assert!(!mail.header("Date").is_empty());
    assert!(
        mail.header("Content-Type")
            .starts_with("multipart/alternative"),
        "{mail:#?}"
    );

    let text = mail.part("text/plain");
    for fact in [
        "https://embassy.example/uk-embassy/statement?id=7&lang=en",
        "edited",
        "snapshot 12, fetched 2026-11-28T12:00:00Z",
        "snapshot 13, fetched 2026-11-28T13:00:00Z",
        "Detected:    2026-11-28T13:00:05Z",
        "chancery history uk-embassy",
        "chancery diff uk-embassy",
        "-The Ambassador met the Foreign Minister on Tuesday to discuss trade and security.",
        "+The Ambassador met the Foreign Minister on Wednesday to discuss trade and security.",
    ] {
        assert!(
            text.contains(fact),
            "{fact:?} missing from the text part:\n{text}"
        );
    }

    let html = mail.part("text/html");
    assert!(
        html.contains(">Tuesday</del>") && html.contains(">Wednesday</ins>"),
        "{html}"
    );
    // Once in "What changed", once in the diff: only the changed word.
    assert_eq!(html.matches("<del").count(), 2, "{html}");
    assert_eq!(html.matches("<ins").count(), 2, "{html}");
    assert!(
        html.contains("href=\"https://embassy.example/uk-embassy/statement?id=7&amp;lang=en\""),
        "{html}"
    );
    for fact in [
        "2026-11-28T12:00:00Z",
        "2026-11-28T13:00:00Z",
        "2026-11-28T13:00:05Z",
        "chancery history uk-embassy",
    ] {
        assert!(
            html.contains(fact),
            "{fact:?} missing from the HTML part:\n{html}"
        );
    }
}

#[tokio::test]
async fn a_chinese_edit_has_an_encoded_subject_and_marks_only_the_changed_words() {
    let server = SmtpServer::start(Options::plain());
    let alert = alert("zh-1", "edited", "cn-embassy", Some(ZH_OLD), Some(ZH_NEW));
    send(
        &smtp(server.port(), SmtpTls::None),
        &TlsExtras::default(),
        &recipients(),
        &alert,
    )
    .await
    .expect("delivered");

    let (message, mail) = one_message(&server);
    assert!(
        message.data.is_ascii(),
        "headers and bodies are transfer-encoded"
    );
    assert_eq!(
        mail.header("Subject"),
        "[chancery] cn-embassy edited: \"此事\" → \"该事件\" and 1 more change"
    );
    let text = mail.part("text/plain");
    assert!(
        text.contains("+外交部发言人就该事件发表书面谈话。"),
        "{text}"
    );
    assert!(text.contains("-外交部发言人就此事发表谈话。"), "{text}");
    let html = mail.part("text/html");
    assert!(
        html.contains("外交部发言人就<del style=\"background-color:#ffebe9;color:#82071e;text-decoration:line-through;\">此事</del>"),
        "{html}"
    );
    assert!(html.contains(">该事件</ins>发表<ins"), "{html}");
    assert!(html.contains(">书面</ins>谈话。"), "{html}");
    // Once in "What changed", once in the diff.
    assert_eq!(html.matches("<del").count(), 2, "{html}");
    assert_eq!(html.matches("<ins").count(), 4, "{html}");
}

#[tokio::test]
async fn starttls_with_auth_against_a_self_signed_server() {
    let server = SmtpServer::start(
        Options::plain()
            .with_security(Security::Starttls)
            .with_credentials("alerts", "correct horse"),
    );
    let config = Smtp {
        username: Some("alerts".to_owned()),
        password: Some(Secret::new("correct horse")),
        ..smtp(server.port(), SmtpTls::Starttls)
    };
    let alert = alert("tls-1", "edited", "uk-embassy", Some(EN_OLD), Some(EN_NEW));
    send(&config, &trusting(&server), &recipients(), &alert)
        .await
        .expect("delivered over STARTTLS");
    let (message, mail) = one_message(&server);
    assert!(message.tls, "the message must come after STARTTLS");
    assert_eq!(message.user.as_deref(), Some("alerts"));
    assert_eq!(mail.header("X-Chancery-Delivery"), "tls-1");
}

#[tokio::test]
async fn implicit_tls_delivers() {
    let server = SmtpServer::start(Options::plain().with_security(Security::Implicit));
    let alert = alert("tls-2", "edited", "uk-embassy", Some(EN_OLD), Some(EN_NEW));
    send(
        &smtp(server.port(), SmtpTls::Tls),
        &trusting(&server),
        &recipients(),
        &alert,
    )
    .await
    .expect("delivered over implicit TLS");
    let (message, _) = one_message(&server);
    assert!(message.tls);
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_transient_failure_and_sends_nothing() {
    let server = SmtpServer::start(Options::plain().with_security(Security::Implicit));
    let alert = alert("tls-3", "edited", "uk-embassy", Some(EN_OLD), Some(EN_NEW));
    let e = send(
        &smtp(server.port(), SmtpTls::Tls),
        &TlsExtras::default(),
        &recipients(),
        &alert,
    )
    .await
    .expect_err("self-signed certificate must not be trusted by default");
    assert!(e.message.contains("invalid peer certificate"), "{e:?}");
    assert!(!e.permanent, "{e:?}");
    assert!(
        e.message.contains(&format!("127.0.0.1:{}", server.port())),
        "{e:?}"
    );
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn starttls_required_but_not_offered_sends_nothing() {
    let server = SmtpServer::start(Options::plain());
    let alert = alert("tls-4", "edited", "uk-embassy", Some(EN_OLD), Some(EN_NEW));
    let e = send(
        &smtp(server.port(), SmtpTls::Starttls),
        &trusting(&server),
        &recipients(),
        &alert,
    )
    .await
    .expect_err("STARTTLS is required");
    assert!(!e.permanent, "{e:?}");
    assert!(server.received().is_empty(), "nothing may go in plain text");
}

async fn refused_at(stage: Stage, reply: &str) -> DeliveryError {
    let server = SmtpServer::start(Options::plain().refusing(stage, reply));
    let alert = alert("r-1", "edited", "uk-embassy", Some(EN_OLD), Some(EN_NEW));
    let e = send(
        &smtp(server.port(), SmtpTls::None),
        &TlsExtras::default(),
        &recipients(),
        &alert,
    )
    .await
    .expect_err("refused");
    assert!(server.received().is_empty());
    let endpoint = format!("127.0.0.1:{}", server.port());
    assert!(
        e.message.contains(&endpoint),
        "{e:?} should name {endpoint}"
    );
    e
}

#[tokio::test]
async fn smtp_replies_map_5xx_to_permanent_and_4xx_to_transient() {
    let e = refused_at(Stage::Rcpt, "550 5.1.1 mailbox unavailable").await;
    assert!(e.permanent, "{e:?}");
    assert!(
        e.message.contains("550") && e.message.contains("mailbox unavailable"),
        "{e:?}"
    );

    let e = refused_at(Stage::Rcpt, "451 4.7.1 greylisted, try again later").await;
    assert!(!e.permanent, "{e:?}");
    assert!(
        e.message.contains("451") && e.message.contains("greylisted"),
        "{e:?}"
    );

    let e = refused_at(Stage::Mail, "421 4.3.2 service shutting down").await;
    assert!(!e.permanent, "{e:?}");

    let e = refused_at(Stage::Data, "554 5.7.1 message rejected as spam").await;
    assert!(e.permanent, "{e:?}");
    assert!(e.message.contains("554"), "{e:?}");
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let alert = alert("c-1", "edited", "uk-embassy", Some(EN_OLD), Some(EN_NEW));
    let e = send(
        &smtp(port, SmtpTls::None),
        &TlsExtras::default(),
        &recipients(),
        &alert,
    )
    .await
    .expect_err("nothing listens");
    assert!(e.message.contains("Connection refused"), "{e:?}");
    assert!(!e.permanent, "{e:?}");
    assert!(e.message.contains(&format!("127.0.0.1:{port}")), "{e:?}");
}

#[tokio::test]
async fn a_silent_server_times_out_transiently() {
    let mut options = Options::plain();
    options.silent = true;
    let server = SmtpServer::start(options);
    let config = Smtp {
        timeout: Duration::from_millis(500),
        ..smtp(server.port(), SmtpTls::None)
    };
    let alert = alert("t-1", "edited", "uk-embassy", Some(EN_OLD), Some(EN_NEW));
    let started = std::time::Instant::now();
    let e = send(&config, &TlsExtras::default(), &recipients(), &alert)
        .await
        .expect_err("no greeting");
    assert!(!e.permanent, "{e:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by smtp.timeout"
    );
}

#[tokio::test]
async fn a_wrong_password_fails_without_the_password_in_the_error() {
    const PASSWORD: &str = "s3cret-Hunter2!";
    for echo in [false, true] {
        let mut options = Options::plain()
            .with_security(Security::Starttls)
            .with_credentials("alerts", "the-right-one");
        options.echo_password_on_failure = echo;
        // The other careless server quotes the AUTH line itself: the
        // password in base64, which must not reach an error either.
        options.echo_auth_on_failure = !echo;
        let server = SmtpServer::start(options);
        let config = Smtp {
            username: Some("alerts".to_owned()),
            password: Some(Secret::new(PASSWORD)),
            ..smtp(server.port(), SmtpTls::Starttls)
        };
        let alert = alert("p-1", "edited", "uk-embassy", Some(EN_OLD), Some(EN_NEW));
        let result = send(&config, &trusting(&server), &recipients(), &alert).await;
        let e = result.clone().expect_err("wrong password");
        assert!(e.permanent, "535 is permanent: {e:?}");
        assert!(e.message.contains("535"), "{e:?}");
        assert!(
            e.message.contains(&format!("127.0.0.1:{}", server.port())),
            "{e:?}"
        );
        for shown in [e.to_string(), format!("{e:?}"), format!("{result:?}")] {
            assert!(
                !shown.contains(PASSWORD),
                "echo={echo}: password leaked in {shown}"
            );
            for encoded in encodings_of("alerts", PASSWORD) {
                assert!(
                    !shown.contains(&encoded),
                    "echo={echo}: password leaked as {encoded} in {shown}"
                );
            }
        }
        if !echo {
            assert!(
                e.message.contains("AUTH PLAIN ***") || e.message.contains("AUTH LOGIN"),
                "{e:?}"
            );
        }
        assert!(server.received().is_empty());
    }
}

#[tokio::test]
async fn a_removal_alert_renders_and_is_delivered() {
    let server = SmtpServer::start(Options::plain());
    let alert = alert("rm-1", "removed", "uk-embassy", Some(EN_OLD), None);
    send(
        &smtp(server.port(), SmtpTls::None),
        &TlsExtras::default(),
        &recipients(),
        &alert,
    )
    .await
    .expect("delivered");
    let (_, mail) = one_message(&server);
    assert_eq!(
        mail.header("Subject"),
        "[chancery] uk-embassy removed: \"Press statement\""
    );
    assert_eq!(mail.header("X-Chancery-Event"), "removed");
    let text = mail.part("text/plain");
    assert!(text.contains("none (the page is gone)"), "{text}");
    assert!(text.contains("HTTP status: 404"), "{text}");
    assert!(
        text.contains("-Contact the press office for details."),
        "{text}"
    );
    let html = mail.part("text/html");
    assert!(
        html.contains(">Contact the press office for details.</del>"),
        "{html}"
    );
    assert!(!html.contains("<ins"), "{html}");
}

#[tokio::test]
async fn a_test_alert_is_marked_as_such() {
    let server = SmtpServer::start(Options::plain());
    let alert = AlertData::test("test-9".to_owned(), "ops");
    send(
        &smtp(server.port(), SmtpTls::None),
        &TlsExtras::default(),
        &recipients(),
        &alert,
    )
    .await
    .expect("delivered");
    let (_, mail) = one_message(&server);
    assert!(
        mail.header("Subject").starts_with("[chancery] TEST alert"),
        "{mail:#?}"
    );
    assert_eq!(mail.header("X-Chancery-Event"), "test");
    assert!(
        mail.part("text/plain").starts_with("TEST ALERT"),
        "{mail:#?}"
    );
}

/// End to end through the binary: a change found by `chancery check` is
/// queued, and the same run mails it over real SMTP to the desk.
#[test]
fn a_check_that_finds_an_edit_mails_the_subscriber() {
    use crate::support::{Env, Route, Server, edit_once};
    let server = Server::start();
    let page = "<html><body><h1>Statement</h1><p>The embassy notes the report.</p><p>Contact the press office.</p></body></html>";
    server.set("/page", Route::html(page));
    let smtp =
        SmtpServer::start(Options::plain().with_credentials("alerts", "mail-pass-do-not-log"));
    let rest = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"alerts\"\npassword_env = \"CHANCERY_TEST_SMTP_PASSWORD\"\nfrom = \"Chancery <alerts@example.org>\"\n\n\
         [[watch]]\nname = \"embassy\"\nurl = \"{}\"\nnotify = [\"desk\"]\n\n\
         [[subscriber]]\nname = \"desk\"\nemail = [\"desk@example.org\", \"editor@example.org\"]\n",
        smtp.port(),
        server.url("/page")
    );
    let env = Env::new("per_host_delay = \"0s\"", &rest);
    let vars = [("CHANCERY_TEST_SMTP_PASSWORD", "mail-pass-do-not-log")];
    env.run_with_env(&["check"], &vars).ok();
    assert!(smtp.received().is_empty(), "a baseline mails nobody");

    server.set(
        "/page",
        Route::html(edit_once(page, "notes the report", "welcomes the report")),
    );
    let run = env.run_with_env(&["check"], &vars).ok();
    assert!(run.stderr.contains("1 delivered"), "{run:?}");
    assert!(!run.stderr.contains("mail-pass-do-not-log"));
    let received = smtp.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].user.as_deref(), Some("alerts"));
    assert_eq!(received[0].to.len(), 2);
    let mail = Mail::parse(&received[0].data);
    assert_eq!(
        decode_words(&mail.header("Subject")),
        "[chancery] embassy edited: \"notes\" → \"welcomes\""
    );
    let text = mail.part("text/plain");
    // What changed comes first, before the facts and the whole diff.
    let what = text.find("What changed:").expect("a what-changed section");
    assert!(what < text.find("Watch:").expect("facts"), "{text}");
    assert!(
        text.contains("The embassy [-notes-]{+welcomes+} the report."),
        "{text}"
    );
    assert!(text.contains("-The embassy notes the report."), "{text}");
    assert!(text.contains("+The embassy welcomes the report."), "{text}");
    assert!(text.contains("chancery history embassy"), "{text}");
    let html = mail.part("text/html");
    assert!(html.contains("welcomes"), "{html}");
    let outbox = env.run(&["outbox", "--all", "--json"]).ok().json();
    assert_eq!(outbox[0]["status"], "delivered");
    assert_eq!(outbox[0]["channel"], "email");
}

/// The statement this project exists for: one phrase edited deep inside a
/// paragraph of more than a thousand characters. The check line, the
/// history, the mail's subject and the top of its text part all name the
/// changed words, not the paragraph's first 80 characters.
#[test]
fn an_edit_deep_in_a_long_statement_paragraph_is_named_by_its_words() {
    use crate::seed;
    use crate::support::{Env, Route, Server, edit_once};
    let paragraphs = seed::paragraphs();
    let long = paragraphs
        .iter()
        .find(|p| p.contains("It is the UK that has changed."))
        .expect("the seed's long paragraph");
    assert!(long.chars().count() > 1000, "{}", long.len());
    let rest: Vec<&str> = paragraphs.iter().take(4).map(String::as_str).collect();
    let page = seed::page_en(seed::TITLE, &[rest[0], long, rest[2]], 1);
    let edited = edit_once(
        &page,
        "It is the UK that has changed.",
        "It is the UK that has changed course.",
    );

    let server = Server::start();
    server.set("/statement", Route::html(page));
    let smtp = SmtpServer::start(Options::plain());
    let rest = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"alerts@example.org\"\n\n\
         [[watch]]\nname = \"embassy\"\nurl = \"{}\"\nnotify = [\"desk\"]\n\n\
         [[subscriber]]\nname = \"desk\"\nemail = [\"desk@example.org\"]\n",
        smtp.port(),
        server.url("/statement")
    );
    let env = Env::new("per_host_delay = \"0s\"", &rest);
    env.run(&["check"]).ok();
    server.set("/statement", Route::html(edited));
    let run = env.run(&["check"]).ok();

    let line = run.line_for("embassy");
    assert!(line.contains("edited"), "{line}");
    assert!(line.ends_with("added \"course\" [HTTP 200]"), "{line}");
    let history = env.run(&["history", "embassy"]).ok().stdout;
    assert!(history.contains("added \"course\""), "{history}");

    let received = smtp.received();
    assert_eq!(received.len(), 1, "one alert");
    let mail = Mail::parse(&received[0].data);
    assert_eq!(
        decode_words(&mail.header("Subject")),
        "[chancery] embassy edited: added \"course\""
    );
    let text = mail.part("text/plain");
    let expected = "What changed:\n  * added \"course\"\n    …changed. It is the UK that has changed {+course+}. The UK side should take full…\n";
    assert!(text.contains(expected), "{text}");
    assert!(
        text.find("What changed:") < text.find("Watch:"),
        "what changed comes first: {text}"
    );
}

/// The base64 forms a password travels in: alone (AUTH LOGIN) and as
/// `\0user\0password` (AUTH PLAIN).
fn encodings_of(user: &str, password: &str) -> Vec<String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        b64.encode(password),
        b64.encode(format!("\0{user}\0{password}")),
    ]
}
