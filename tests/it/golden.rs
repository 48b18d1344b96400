//! Golden files: what people read — the alert email as the SMTP server
//! received it, the webhook request as the receiver got it, and every
//! `chancery diff --format` — compared with expected files in
//! `tests/golden/`, so that any change to rendered output shows up in
//! review as a diff of those files.
//!
//! One scenario feeds them all: a small hand-written statement page (a
//! title, a date line, three paragraphs) is checked by the real binary, then
//! one sentence of one paragraph is edited and checked again, which records
//! an edit and delivers it to an email and a webhook subscriber.
//!
//! What differs from run to run is replaced by placeholders, and nothing
//! else: see [`Normalizer`]. Everything else is kept byte for byte.
//!
//! To accept a change on purpose, run the tests with `CHANCERY_BLESS=1`
//! (`CHANCERY_BLESS=1 cargo test --test it golden`): the expected files are
//! rewritten from the current output instead of compared. Review
//! `git diff tests/golden/` and commit the files with the change.

use std::path::{Path, PathBuf};

use crate::smtp::{Options, Received, SmtpServer};
use crate::support::{
    Env, Mail, Route, Seen, Server, assert_webhook_schema, edit_once, verify_signature,
};

const SECRET: &str = "golden-webhook-secret";
const ENV: &[(&str, &str)] = &[("CHANCERY_TEST_WEBHOOK_SECRET", SECRET)];
const WATCH: &str = "harbour-statement";

/// The statement page before the edit: a title, a date line and three
/// paragraphs, with an `&` and a non-ASCII dash so escaping and encoding
/// show in the outputs.
const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Statement on the Harbour & Fisheries Agreement</title>
</head>
<body>
<article>
<h1>Statement by the Spokesperson on the Harbour &amp; Fisheries Agreement</h1>
<p class="date">28 November 2026</p>
<p>The Ministry of Foreign Affairs welcomes the signing of the Harbour &amp; Fisheries Agreement in Valletta on Thursday. The agreement opens both ports to inspections by either party.</p>
<p>The text was negotiated over eighteen months. The Ministry thanks the mediators for their patience and their discretion.</p>
<p>Questions may be addressed to the press office – a full transcript will be published on this page.</p>
</article>
</body>
</html>
"#;

/// The sentence the edit changes, and what it becomes.
const OLD_SENTENCE: &str = "The agreement opens both ports to inspections by either party.";
const NEW_SENTENCE: &str =
    "The agreement opens both ports to joint inspections from 1 January 2027.";

/// The recorded edit and what its alerts delivered.
struct Scenario {
    server: Server,
    smtp: SmtpServer,
    env: Env,
}

impl Scenario {
    /// Checks the page, edits it, checks again: one edit, one mail and one
    /// webhook delivered.
    fn run() -> Scenario {
        let server = Server::start();
        server.set("/statement", Route::html(PAGE));
        server.set("/hook", Route::status(204, ""));
        let smtp = SmtpServer::start(Options::plain());
        let rest = format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"Chancery <alerts@example.org>\"\n\n\
             [[watch]]\nname = \"{WATCH}\"\nurl = \"{}\"\nnotify = [\"desk\", \"hook\"]\n\n\
             [[subscriber]]\nname = \"desk\"\nemail = [\"desk@example.org\", \"editor@example.org\"]\n\n\
             [[subscriber]]\nname = \"hook\"\nwebhook = \"{}\"\nsecret_env = \"CHANCERY_TEST_WEBHOOK_SECRET\"\n",
            smtp.port(),
            server.url("/statement"),
            server.url("/hook"),
        );
        let env = Env::new("per_host_delay = \"0s\"", &rest);
        env.run_with_env(&["check", "--no-confirm"], ENV).ok();
        assert!(smtp.received().is_empty(), "a baseline mails nobody");
        assert!(
            server.requests("/hook").is_empty(),
            "a baseline posts nothing"
        );

        server.set(
            "/statement",
            Route::html(edit_once(PAGE, OLD_SENTENCE, NEW_SENTENCE)),
        );
        let run = env.run_with_env(&["check", "--no-confirm"], ENV).ok();
        assert!(run.line_for(WATCH).contains("edited"), "{run:?}");
        assert!(run.stderr.contains("2 delivered"), "{run:?}");
        Scenario { server, smtp, env }
    }

    /// The one message the SMTP server accepted.
    fn mail(&self) -> Received {
        let received = self.smtp.received();
        assert_eq!(received.len(), 1, "one alert mail: {received:#?}");
        received.into_iter().next().expect("one message")
    }

    /// The one webhook request the receiver got.
    fn webhook(&self) -> Seen {
        let posts = self.server.requests("/hook");
        assert_eq!(posts.len(), 1, "one webhook request: {posts:#?}");
        let post = posts.into_iter().next().expect("one request");
        assert_eq!(post.method, "POST");
        post
    }

    /// This run's random installation id, the first part of every alert id
    /// (`<instance>-<change id>-<subscriber>`).
    fn instance(&self) -> String {
        let conn = rusqlite::Connection::open(self.env.db_path()).expect("open db");
        conn.query_row("SELECT value FROM meta WHERE key = 'instance'", [], |r| {
            r.get(0)
        })
        .expect("instance id")
    }

    fn normalizer(&self) -> Normalizer {
        Normalizer {
            literals: vec![
                (self.instance(), "<INSTANCE>"),
                (
                    format!("127.0.0.1:{}", self.server.port()),
                    "127.0.0.1:<PORT>",
                ),
                (
                    format!("127.0.0.1:{}", self.smtp.port()),
                    "127.0.0.1:<SMTP_PORT>",
                ),
                (self.env.dir.path().display().to_string(), "<TMP>"),
            ],
            time: regex::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
                .expect("time pattern"),
        }
    }
}

/// Replaces what differs from run to run with stable placeholders:
///
/// - `<INSTANCE>`: the installation's random id, which begins every alert
///   id (`X-Chancery-Delivery`, the webhook's `id`, the mail's
///   `Message-ID` and footer); the change id and subscriber after it stay;
/// - `<PORT>`, `<SMTP_PORT>`: the test servers' ports on 127.0.0.1;
/// - `<TMP>`: the temp dir holding config and state;
/// - `YYYY-MM-DDThh:mm:ssZ`: RFC 3339 UTC timestamps (snapshot and
///   detection times). The placeholder is as wide as what it replaces, so
///   the side-by-side columns stay aligned in the golden file. All times
///   get the same one: the two checks often run in the same second, so
///   telling them apart by value would make the files flaky.
///
/// The callers add four more where they occur: the mail's `Date` header
/// (`<DATE>`) and multipart boundary (`<BOUNDARY>`), and the webhook's
/// `Content-Length` (`<LENGTH>`, it counts the port's digits) and
/// signature (`sha256=<HMAC>`, over a body with times and ids in it; it is
/// verified against the secret before it is replaced).
struct Normalizer {
    literals: Vec<(String, &'static str)>,
    time: regex::Regex,
}

impl Normalizer {
    fn apply(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (volatile, placeholder) in &self.literals {
            text = text.replace(volatile.as_str(), placeholder);
        }
        self.time
            .replace_all(&text, "YYYY-MM-DDThh:mm:ssZ")
            .into_owned()
    }
}

#[test]
fn the_alert_email_matches_its_golden_files() {
    let scenario = Scenario::run();
    let normalizer = scenario.normalizer();
    let received = scenario.mail();
    let mail = Mail::parse(&received.data);
    assert_eq!(mail.parts.len(), 2, "{mail:#?}");

    // The envelope, the headers in the order sent (unfolded, encoded words
    // decoded) and each part's headers: what mail rules and clients see.
    let mut head = format!(
        "MAIL FROM:<{}>\n{}\n",
        received.from,
        received
            .to
            .iter()
            .map(|to| format!("RCPT TO:<{to}>\n"))
            .collect::<String>()
    );
    for (name, value) in &mail.headers {
        let value = match name.as_str() {
            "Date" => "<DATE>".to_owned(),
            _ => value.replace(&mail.boundary, "<BOUNDARY>"),
        };
        head.push_str(&format!("{name}: {value}\n"));
    }
    for (i, part) in mail.parts.iter().enumerate() {
        head.push_str(&format!("\npart {}\n", i + 1));
        for (name, value) in &part.headers {
            head.push_str(&format!("{name}: {value}\n"));
        }
    }

    let text = mail.part("text/plain");
    let html = mail.part("text/html");
    check_all(&[
        ("email-headers.txt", normalizer.apply(&head)),
        ("email.txt", normalizer.apply(text)),
        ("email.html", normalizer.apply(html)),
    ]);
}

/// The rest of the statement's life: taken down (404), then put back as it
/// was. The plain-text part of each alert mail, as the desk reads it.
#[test]
fn the_removal_and_restore_emails_match_their_golden_files() {
    let scenario = Scenario::run();
    let edited = edit_once(PAGE, OLD_SENTENCE, NEW_SENTENCE);
    scenario.server.set(
        "/statement",
        Route::status(404, "<html><body><h1>Not Found</h1></body></html>"),
    );
    let run = scenario
        .env
        .run_with_env(&["check", "--no-confirm"], ENV)
        .ok();
    assert!(run.line_for(WATCH).contains("removed"), "{run:?}");
    scenario.server.set("/statement", Route::html(edited));
    let run = scenario
        .env
        .run_with_env(&["check", "--no-confirm"], ENV)
        .ok();
    assert!(run.line_for(WATCH).contains("restored"), "{run:?}");

    let normalizer = scenario.normalizer();
    let texts: Vec<String> = scenario
        .smtp
        .received()
        .iter()
        .map(|m| normalizer.apply(Mail::parse(&m.data).part("text/plain")))
        .collect();
    assert_eq!(texts.len(), 3, "edited, removed, restored");
    let restored = Mail::parse(&scenario.smtp.received()[2].data);
    assert_eq!(
        crate::support::decode_words(&restored.header("Subject")),
        "[chancery] harbour-statement restored: \"Statement by the Spokesperson on the Harbour & Fisheries Agreement\""
    );
    check_all(&[
        ("email-removed.txt", texts[1].clone()),
        ("email-restored.txt", texts[2].clone()),
    ]);
}

#[test]
fn the_webhook_request_matches_its_golden_files() {
    let scenario = Scenario::run();
    let normalizer = scenario.normalizer();
    let post = scenario.webhook();
    verify_signature(&post, SECRET);
    assert_webhook_schema(&serde_json::from_slice(&post.body).expect("JSON body"));

    // Every header the receiver got (names lowercased by the test server),
    // sorted, since the server does not keep their order.
    let mut headers: Vec<(&String, &String)> = post.headers.iter().collect();
    headers.sort();
    let mut head = format!("POST {}\n", post.path);
    for (name, value) in headers {
        let value = match name.as_str() {
            "content-length" => "<LENGTH>",
            "x-chancery-signature" => "sha256=<HMAC>",
            _ => value,
        };
        head.push_str(&format!("{name}: {value}\n"));
    }
    let body = String::from_utf8(post.body.clone()).expect("UTF-8 body");
    check_all(&[
        ("webhook-headers.txt", normalizer.apply(&head)),
        ("webhook.json", normalizer.apply(&body)),
    ]);
}

#[test]
fn every_diff_format_matches_its_golden_file() {
    let scenario = Scenario::run();
    let normalizer = scenario.normalizer();
    let formats = diff_formats(&scenario.env);
    let names: Vec<String> = formats.iter().map(|f| diff_file_name(f)).collect();
    let mut files = Vec::new();
    for (format, name) in formats.iter().zip(&names) {
        let run = scenario
            .env
            .run(&["diff", WATCH, "--format", format, "--color", "never"])
            .ok();
        assert!(
            !run.stdout.contains('\u{1b}'),
            "--color never printed an escape sequence:\n{run:?}"
        );
        files.push((name.as_str(), normalizer.apply(&run.stdout)));
    }
    check_all(&files);

    // A golden file for a format that no longer exists is stale.
    let stale: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("diff-") && !names.iter().any(|n| n == name)
        })
        .collect();
    if blessing() {
        for path in &stale {
            std::fs::remove_file(path).expect("remove a stale golden file");
        }
    } else {
        assert!(
            stale.is_empty(),
            "golden files for formats `chancery diff --help` does not list: {stale:?}"
        );
    }
}

/// The values of `--format` as `chancery diff --help` lists them, so a new
/// format cannot go without a golden file.
fn diff_formats(env: &Env) -> Vec<String> {
    let help = env.run(&["diff", "--help"]).ok();
    let lines = help
        .stdout
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("--format"))
        .skip_while(|l| l.trim() != "Possible values:")
        .skip(1);
    let mut formats = Vec::new();
    for line in lines {
        let Some(item) = line.trim().strip_prefix("- ") else {
            break;
        };
        let name = item.split(':').next().expect("split yields one piece");
        formats.push(name.trim().to_owned());
    }
    assert!(!formats.is_empty(), "no --format values in:\n{help:?}");
    formats
}

/// `diff-unified.txt`, `diff-json.json`, `diff-html.html`: the extension
/// says how to read the file.
fn diff_file_name(format: &str) -> String {
    let extension = match format {
        "json" => "json",
        "html" => "html",
        _ => "txt",
    };
    format!("diff-{format}.{extension}")
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// `CHANCERY_BLESS=1`: rewrite the expected files instead of comparing.
fn blessing() -> bool {
    std::env::var_os("CHANCERY_BLESS").is_some_and(|v| v == "1")
}

/// Compares each `(file name, actual text)` with `tests/golden/<name>` (or
/// rewrites the files when blessing), and fails once with a report of every
/// file that differs.
#[track_caller]
fn check_all(files: &[(&str, String)]) {
    let mut reports = Vec::new();
    for (name, actual) in files {
        let path = golden_dir().join(name);
        if blessing() {
            std::fs::create_dir_all(golden_dir()).expect("create tests/golden");
            std::fs::write(&path, actual)
                .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            eprintln!("blessed {}", path.display());
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(expected) if expected == *actual => {}
            Ok(expected) => reports.push(mismatch(name, &expected, actual)),
            Err(e) => reports.push(format!(
                "tests/golden/{name}: cannot read it ({e}); the output is:\n{actual}"
            )),
        }
    }
    assert!(
        reports.is_empty(),
        "{}\n\nIf the new output is right, rewrite the files with CHANCERY_BLESS=1 and review `git diff tests/golden/`.",
        reports.join("\n\n")
    );
}

/// Where `expected` and `actual` first differ (1-based line, both lines
/// quoted so whitespace shows), then both texts whole.
fn mismatch(name: &str, expected: &str, actual: &str) -> String {
    let (mut want, mut got) = (expected.split_inclusive('\n'), actual.split_inclusive('\n'));
    let mut line = 1;
    let first = loop {
        match (want.next(), got.next()) {
            (Some(w), Some(g)) if w == g => line += 1,
            (w, g) => break (w, g),
        }
    };
    let show = |side: Option<&str>| side.map_or("(end of text)".to_owned(), |l| format!("{l:?}"));
    format!(
        "tests/golden/{name} differs from the output at line {line}:\n  expected: {}\n  actual:   {}\n\
         --- expected (tests/golden/{name})\n{expected}\n--- actual\n{actual}\n--- end",
        show(first.0),
        show(first.1),
    )
}
