//! `chancery serve`: the read-only web view over real HTTP, on the seed
//! embassy page, with a hostile statement, the token, and the store left
//! untouched.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;

use crate::seed;
use crate::support::{Daemon, Env, Route, Server, ci_python, count};

/// A response as the test reads it.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.1 GET (one request per connection).
pub(crate) fn get(base: &str, path: &str, auth: Option<&str>) -> Reply {
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Starts `chancery serve` on a free loopback port; its base URL.
pub(crate) fn serve(env: &Env, vars: &[(&str, &str)]) -> (Daemon, String) {
    let daemon = env.background(&["serve", "--listen", "127.0.0.1:0"], "serve", vars);
    daemon.wait_log("serving the web view", Duration::from_secs(15));
    let log = daemon.log();
    let url = log
        .split("url=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the log names the URL")
        .trim_end_matches('/')
        .to_owned();
    (daemon, url)
}

const STATEMENT: [&str; 2] = [
    "The Embassy firmly opposes the remarks made on Tuesday.",
    "We urge the parties concerned to respect the facts.",
];

/// A history of one edit whose new text carries markup as words.
fn history(server: &Server) -> Env {
    server.set(
        "/remarks",
        Route::html(seed::page_en("Remarks", &STATEMENT, 1)),
    );
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &format!(
            "[[watch]]\nname = \"embassy\"\nurl = \"{}\"\n",
            server.url("/remarks")
        ),
    );
    env.run(&["check"]).ok();
    let hostile = [
        STATEMENT[0],
        "<script>alert('x')</script> We urge the parties <b>concerned</b> to respect the facts.",
    ];
    server.set(
        "/remarks",
        Route::html(seed::page_en("Remarks", &hostile, 2)),
    );
    env.run(&["check", "--no-confirm"]).ok();
    env
}

#[test]
fn pages_show_watches_changes_and_versions_with_every_text_escaped() {
    let server = Server::start();
    let env = history(&server);
    let checks_before = count(&env.db_path(), "checks");
    let (_serve, base) = serve(&env, &[]);

    let index = get(&base, "/", None);
    assert_eq!(index.status, 200, "{}", index.body);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = index.header("content-security-policy").unwrap_or("");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("script-src"), "{csp}");
    assert_eq!(index.header("x-content-type-options"), Some("nosniff"));
    assert!(
        index.body.contains("<a href=\"/w/embassy\">embassy</a>"),
        "{}",
        index.body
    );
    assert!(
        index.body.contains("<span class=\"state ok\">ok</span>"),
        "{}",
        index.body
    );
    assert!(index.body.contains(">edited</span>"), "{}", index.body);

    let watch = get(&base, "/w/embassy", None);
    assert_eq!(watch.status, 200);
    assert!(watch.body.contains("<h2>Changes</h2>"), "{}", watch.body);
    assert!(watch.body.contains("first-seen") && watch.body.contains("edited"));
    // The change's headline, page text in it escaped.
    assert!(
        watch
            .body
            .contains("&lt;script&gt;alert('x')&lt;/script&gt;"),
        "{}",
        watch.body
    );
    assert!(!watch.body.contains("<script"), "{}", watch.body);

    // Both versions, the second with the markup as text.
    let v1 = get(&base, "/w/embassy/snapshots/1", None);
    assert_eq!(v1.status, 200);
    assert!(v1.body.contains(STATEMENT[1]), "{}", v1.body);
    let v2 = get(&base, "/w/embassy/snapshots/2", None);
    assert_eq!(v2.status, 200);
    assert!(
        v2.body.contains(
            "&lt;script&gt;alert('x')&lt;/script&gt; We urge the parties &lt;b&gt;concerned&lt;/b&gt;"
        ),
        "{}",
        v2.body
    );
    assert!(!v2.body.contains("<script"), "{}", v2.body);
    // The raw response: plain text, never rendered.
    assert!(
        v2.body.contains("/w/embassy/snapshots/2/raw"),
        "{}",
        v2.body
    );
    let raw = get(&base, "/w/embassy/snapshots/2/raw", None);
    assert_eq!(raw.status, 200);
    assert!(
        raw.header("content-type")
            .is_some_and(|ct| ct.starts_with("text/plain")),
        "{:?}",
        raw.headers
    );
    assert_eq!(raw.header("x-content-type-options"), Some("nosniff"));
    assert!(raw.body.contains("&lt;script&gt;"), "the body as served");

    // The change: word by word and side by side, the inserted markup as
    // words, both versions linked with their hashes.
    assert!(
        watch.body.contains("href=\"/w/embassy/changes/2\""),
        "{}",
        watch.body
    );
    let change = get(&base, "/w/embassy/changes/2", None);
    assert_eq!(change.status, 200, "{}", change.body);
    assert!(
        change.body.contains("<h2>Word by word</h2>"),
        "{}",
        change.body
    );
    assert!(
        change
            .body
            .contains("<ins>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; </ins>We urge"),
        "{}",
        change.body
    );
    assert!(
        change.body.contains("<table class=\"side\">"),
        "{}",
        change.body
    );
    assert!(change.body.contains("href=\"/w/embassy/snapshots/1\""));
    assert!(change.body.contains("href=\"/w/embassy/snapshots/2\""));
    assert!(
        change.body.contains("chancery export embassy --since "),
        "{}",
        change.body
    );
    assert!(!change.body.contains("<script"), "{}", change.body);
    let first = get(&base, "/w/embassy/changes/1", None);
    assert_eq!(first.status, 200);
    assert!(first.body.contains(STATEMENT[0]), "{}", first.body);

    // Unknown names and ids, odd paths: 404, nothing else.
    for path in [
        "/w/embassy/changes/99",
        "/w/other/changes/2",
        "/w/nobody",
        "/w/embassy/snapshots/99",
        "/w/embassy/snapshots/x",
        "/w/embassy/snapshots/0/raw",
        "/w/..%2F..%2Fetc%2Fpasswd",
        "/etc/passwd",
    ] {
        let reply = get(&base, path, None);
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
        assert!(reply.header("content-security-policy").is_some(), "{path}");
    }
    // Read-only: serving wrote nothing.
    assert_eq!(count(&env.db_path(), "checks"), checks_before);
}

#[test]
fn a_token_guards_every_page_and_an_open_address_needs_one() {
    let server = Server::start();
    let env = history(&server);
    let token = "s3cret-token-for-the-desk";
    let (serve, base) = serve(&env, &[("CHANCERY_WEB_TOKEN", token)]);
    assert!(!serve.log().contains(token), "the token is never logged");

    for path in [
        "/",
        "/w/embassy",
        "/w/embassy/snapshots/1/raw",
        "/style.css",
    ] {
        let denied = get(&base, path, None);
        assert_eq!(denied.status, 401, "{path}");
        assert!(
            denied
                .header("www-authenticate")
                .is_some_and(|h| h.starts_with("Basic")),
            "{path}: {:?}",
            denied.headers
        );
        let wrong = get(&base, path, Some("Bearer not-the-token-at-all"));
        assert_eq!(wrong.status, 401, "{path}");
    }
    let bearer = get(&base, "/w/embassy", Some(&format!("Bearer {token}")));
    assert_eq!(bearer.status, 200);
    // What a browser or a feed reader sends for https://reader:TOKEN@host/.
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("reader:{token}"))
    );
    assert_eq!(get(&base, "/", Some(&basic)).status, 200);

    // Beyond loopback, no token: refused before listening.
    let open = env.run(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(open.code, 2, "{open:?}");
    assert!(open.stderr.contains("without a token"), "{open:?}");
}

/// The interpreter that has feedparser (see [`ci_python`]).
fn feedparser_python() -> Option<String> {
    ci_python(
        "CHANCERY_FEEDPARSER",
        "feedparser==6.0.11",
        "the feedparser check of the Atom feeds",
    )
}

/// Reads a feed with feedparser and prints what a feed reader sees.
const READER: &str = r#"
import json, sys, feedparser
d = feedparser.parse(sys.stdin.buffer.read())
print(json.dumps({
    'bozo': d.bozo,
    'error': str(d.get('bozo_exception', '')),
    'version': d.version,
    'title': d.feed.get('title'),
    'entries': [{'id': e.id, 'title': e.title, 'link': e.link,
                 'updated': e.updated, 'summary': e.summary} for e in d.entries],
}))
"#;

#[test]
fn atom_feeds_of_changes_are_valid_and_stable() {
    let server = Server::start();
    let env = history(&server);
    let (_serve, base) = serve(&env, &[]);

    let all = get(&base, "/feed.atom", None);
    assert_eq!(all.status, 200);
    assert_eq!(
        all.header("content-type"),
        Some("application/atom+xml; charset=utf-8")
    );
    // Changes, not baselines: the edit only.
    assert_eq!(all.body.matches("<entry>").count(), 1, "{}", all.body);
    assert!(
        all.body.contains("<id>urn:chancery:change:2</id>"),
        "{}",
        all.body
    );
    assert!(
        all.body
            .contains(&format!("href=\"{base}/w/embassy/changes/2\"")),
        "{}",
        all.body
    );
    assert!(!all.body.contains("<script"), "{}", all.body);
    // The same entry, with the same id, in the watch's own feed.
    let one = get(&base, "/w/embassy/feed.atom", None);
    assert_eq!(one.status, 200);
    assert!(
        one.body.contains("<id>urn:chancery:change:2</id>"),
        "{}",
        one.body
    );
    assert_eq!(get(&base, "/w/nobody/feed.atom", None).status, 404);

    let Some(python) = feedparser_python() else {
        return;
    };
    for body in [&all.body, &one.body] {
        let mut child = std::process::Command::new(&python)
            .args(["-c", READER])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run feedparser");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(body.as_bytes())
            .expect("feed the feed");
        let out = child.wait_with_output().expect("feedparser output");
        assert!(out.status.success(), "{out:?}");
        let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(seen["bozo"], false, "{seen:#}");
        assert_eq!(seen["version"], "atom10", "{seen:#}");
        let entry = &seen["entries"][0];
        assert_eq!(entry["id"], "urn:chancery:change:2", "{seen:#}");
        assert_eq!(entry["link"], format!("{base}/w/embassy/changes/2"));
        let summary = entry["summary"].as_str().unwrap_or("");
        assert!(
            summary.contains("{+<script>alert('x')</script>"),
            "the changed words, as text: {seen:#}"
        );
        assert!(
            entry["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("embassy: edited — ")),
            "{seen:#}"
        );
    }
}

/// `[web] listen`: the daemon serves the view itself; `base_url` puts the
/// change page's address in alerts and in the feeds.
#[test]
fn the_daemon_serves_the_view_and_alerts_link_to_the_change_page() {
    let server = Server::start();
    server.set("/hook", Route::status(204, ""));
    server.set(
        "/remarks",
        Route::html(seed::page_en("Remarks", &STATEMENT, 1)),
    );
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &format!(
            "[web]\nlisten = \"127.0.0.1:0\"\nbase_url = \"https://chancery.example.org/desk/\"\n\n\
             [[watch]]\nname = \"embassy\"\nurl = \"{}\"\ninterval = \"1s\"\nnotify = [\"hook\"]\n\n\
             [[subscriber]]\nname = \"hook\"\nwebhook = \"{}\"\n",
            server.url("/remarks"),
            server.url("/hook"),
        ),
    );
    let daemon = env.daemon("run");
    daemon.wait_log("serving the web view", Duration::from_secs(15));
    daemon.wait_log("outcome=first-seen", Duration::from_secs(15));
    let edited = [
        STATEMENT[0],
        "We urge the parties concerned to respect the record.",
    ];
    server.set(
        "/remarks",
        Route::html(seed::page_en("Remarks", &edited, 2)),
    );
    assert!(
        crate::support::wait_until(Duration::from_secs(20), || server
            .requests("/hook")
            .iter()
            .any(|r| r.method == "POST")),
        "{}",
        daemon.log()
    );
    let hook = server
        .requests("/hook")
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("a webhook");
    let body: serde_json::Value = serde_json::from_slice(&hook.body).expect("JSON");
    crate::support::assert_webhook_schema(&body);
    assert_eq!(
        body["page_url"], "https://chancery.example.org/desk/w/embassy/changes/2",
        "{body:#}"
    );

    let log = daemon.log();
    let base = log
        .split("url=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the log names the URL")
        .trim_end_matches('/')
        .to_owned();
    let page = get(&base, "/w/embassy/changes/2", None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<ins>record</ins>"), "{}", page.body);
    let feed = get(&base, "/feed.atom", None);
    assert!(
        feed.body
            .contains("href=\"https://chancery.example.org/desk/w/embassy/changes/2\""),
        "{}",
        feed.body
    );
}

#[test]
fn a_long_history_is_read_page_by_page() {
    let server = Server::start();
    let env = history(&server);
    let (_serve, base) = serve(&env, &[]);

    // One change per page: the edit, then the first sighting, then none.
    let first = get(&base, "/w/embassy?n=1", None);
    assert!(first.body.contains("id=\"change-2\""), "{}", first.body);
    assert!(!first.body.contains("id=\"change-1\""), "{}", first.body);
    assert!(
        first
            .body
            .contains("href=\"/w/embassy?changes_before=2&amp;n=1\" rel=\"next\""),
        "{}",
        first.body
    );
    let second = get(&base, "/w/embassy?changes_before=2&n=1", None);
    assert!(second.body.contains("id=\"change-1\""), "{}", second.body);
    assert!(!second.body.contains("id=\"change-2\""), "{}", second.body);
    assert!(second.body.contains("← newest"), "{}", second.body);
    let past = get(&base, "/w/embassy?changes_before=1&n=1", None);
    assert!(past.body.contains("No change recorded."), "{}", past.body);
    assert!(!past.body.contains("Older changes"), "{}", past.body);

    // Checks page the same way, by check id.
    let checks = get(&base, "/w/embassy?n=1", None);
    let next = checks
        .body
        .split("href=\"/w/embassy?checks_before=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .expect("a link to older checks")
        .to_owned();
    let older = get(&base, &format!("/w/embassy?checks_before={next}&n=1"), None);
    assert_eq!(older.status, 200);
    assert!(
        older.body.contains("<h2>Checks (older)</h2>"),
        "{}",
        older.body
    );
    // Bad cursors are a 400 from the query parser, never a query.
    assert_eq!(get(&base, "/w/embassy?changes_before=x", None).status, 400);
}
