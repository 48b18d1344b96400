//! What counts as a change (blocked vs removed, soft 404s, redirects
//! home, confirmation, flapping, health events, subscriber triggers), each
//! against the scripted server on 127.0.0.1 and the real binary.

use std::time::Duration;

use crate::support::{Env, Route, Seen, Server};

const PAGE: &str = "<html><head><title>Statement on the harbour agreement</title></head><body>\
    <h1>Statement on the harbour agreement</h1>\
    <p>The ministry welcomes the signing of the harbour agreement.</p>\
    <p>Both sides will meet again in spring.</p>\
    <p>The text of the agreement will be published in full.</p></body></html>";

const CLOUDFLARE: &str = "<!DOCTYPE html><html><head><title>Just a moment...</title></head>\
    <body><h1>www.example.gov</h1><p>Verifying you are human. This may take a few seconds.</p>\
    <noscript>Enable JavaScript and cookies to continue</noscript></body></html>";

const AKAMAI: &str = "<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY><H1>Access Denied</H1>\
    You don't have permission to access \"http://www.example.gov/statement\" on this server.<P>\
    Reference&#32;&#35;18&#46;6f0d1402</BODY></HTML>";

fn watch(server: &Server, extra: &str) -> String {
    format!(
        "[[watch]]\nname = \"mfa\"\nurl = \"{}\"\n{extra}\n",
        server.url("/statement")
    )
}

/// `(outcome, reason)` of the newest check in `history --checks 1 --json`.
fn last_check(env: &Env) -> (String, String) {
    let h = env
        .run(&["history", "mfa", "--checks", "1", "--json"])
        .ok()
        .json();
    let c = &h["checks"][0];
    (
        c["outcome"].as_str().unwrap_or("").to_owned(),
        c["reason"].as_str().unwrap_or("").to_owned(),
    )
}

fn change_kinds(env: &Env) -> Vec<String> {
    let h = env.run(&["history", "mfa", "--json"]).ok().json();
    h["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["kind"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn blocks_fail_the_check_and_never_remove_the_page() {
    let server = Server::start();
    server.set("/statement", Route::html(PAGE));
    let env = Env::new("", &watch(&server, ""));
    env.run(&["check"]).ok();

    let blocks = [
        Route::status(403, CLOUDFLARE).with_header("cf-mitigated", "challenge"),
        Route::html(CLOUDFLARE),
        Route::status(429, "Too Many Requests").with_header("Retry-After", "1"),
        Route::status(503, "<html><body>Service Unavailable</body></html>"),
        // A CDN's block page served with 404 is a block, not a removal.
        Route::status(404, AKAMAI),
    ];
    for route in blocks {
        server.set("/statement", route.clone());
        let run = env.run(&["check"]);
        assert_eq!(run.code, 1, "{route:?}\n{run:?}");
        let line = run.line_for("mfa");
        assert!(line.starts_with("mfa error"), "{line}");
        assert!(line.contains("(blocked)"), "{line}");
        // Said once, by the reason: `mfa error [HTTP 403] (blocked): block page …`.
        assert_eq!(line.matches("blocked").count(), 1, "{line}");
        assert_eq!(last_check(&env), ("error".into(), "blocked".into()));
        let list = env.run(&["list"]).ok().stdout;
        let row: Vec<&str> = list
            .lines()
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(row[..2], ["mfa", "blocked"], "{list}");
    }
    assert_eq!(change_kinds(&env), ["first-seen"]);

    // The page is back as it was: unchanged, the baseline never moved.
    server.set("/statement", Route::html(PAGE));
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("mfa").starts_with("mfa unchanged"), "{run:?}");
}

#[test]
fn a_soft_404_by_its_heading_is_a_removal() {
    let server = Server::start();
    server.set("/statement", Route::html(PAGE));
    let env = Env::new("", &watch(&server, ""));
    env.run(&["check"]).ok();
    server.set(
        "/statement",
        Route::html(
            "<html><head><title>中华人民共和国外交部</title></head><body>\
             <h1>您访问的页面不存在</h1><p>返回首页</p></body></html>",
        ),
    );
    let run = env.run(&["check"]).ok();
    let line = run.line_for("mfa");
    assert!(line.starts_with("mfa removed"), "{line}");
    assert!(line.contains("(soft-404)"), "{line}");
    assert_eq!(change_kinds(&env), ["removed", "first-seen"]);
}

#[test]
fn a_soft_404_like_the_hosts_not_found_page_is_a_removal() {
    let server = Server::start();
    server.set("/statement", Route::html(PAGE));
    // The host answers every unknown path with 200 and its error page,
    // whose wording says nothing a phrase list would know.
    let not_found = "<html><head><title>Ministry of Foreign Affairs</title></head><body>\
        <h1>We could not locate that item</h1><p>Try the search box or the site map.</p>\
        <p>Ministry of Foreign Affairs, 2 Harbour Road</p></body></html>";
    server.set("*", Route::html(not_found));
    let env = Env::new("", &watch(&server, ""));
    env.run(&["check"]).ok();

    server.set("/statement", Route::html(not_found));
    let run = env.run(&["check"]).ok();
    let line = run.line_for("mfa");
    assert!(line.starts_with("mfa removed"), "{line}");
    assert!(line.contains("(soft-404)"), "{line}");
    let probes: Vec<Seen> = server
        .all_requests()
        .into_iter()
        .filter(|s| s.path.starts_with("/chancery-not-found-probe-"))
        .collect();
    assert_eq!(probes.len(), 1, "one probe per host: {probes:?}");

    // A genuine edit on the same host is still an edit, and the probe is
    // not repeated within the day.
    server.set("/statement", Route::html(PAGE));
    env.run(&["check"]).ok();
    server.set(
        "/statement",
        Route::html(PAGE.replace("in spring", "in early spring")),
    );
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("mfa").starts_with("mfa edited"), "{run:?}");
}

#[test]
fn a_redirect_to_the_home_page_is_a_removal() {
    let server = Server::start();
    server.set("/statement", Route::html(PAGE));
    server.set(
        "/",
        Route::html("<html><head><title>Ministry</title></head><body><h1>Welcome</h1><p>Latest news</p></body></html>"),
    );
    let env = Env::new("", &watch(&server, ""));
    env.run(&["check"]).ok();
    server.set("/statement", Route::redirect(302, &server.url("/")));
    let run = env.run(&["check"]).ok();
    let line = run.line_for("mfa");
    assert!(line.starts_with("mfa removed"), "{line}");
    assert!(line.contains("(redirected)"), "{line}");
    let history = env.run(&["history", "mfa", "--checks", "1"]).ok();
    assert!(
        history.stdout.contains(&format!("-> {}", server.url("/"))),
        "history shows where the redirect went: {history:?}"
    );
}

#[test]
fn a_one_off_404_is_not_confirmed_and_records_no_removal() {
    let server = Server::start();
    server.set("/statement", Route::html(PAGE));
    let env = Env::new("", &watch(&server, "confirm_delay = \"200ms\""));
    env.run(&["check"]).ok();

    // One 404, then the page again: the confirming fetch disagrees.
    server.set("/statement", Route::html(PAGE).then_status(&[404]));
    let run = env.run(&["check"]).ok();
    let line = run.line_for("mfa");
    assert!(line.starts_with("mfa unchanged"), "{line}");
    assert!(line.contains("(unconfirmed)"), "{line}");
    assert_eq!(change_kinds(&env), ["first-seen"]);
    let statuses: Vec<u16> = server
        .requests("/statement")
        .iter()
        .map(|s| s.status)
        .collect();
    assert_eq!(statuses, [200, 404, 200], "one confirming re-fetch");
    let gap = {
        let r = server.requests("/statement");
        r[2].at.duration_since(r[1].at)
    };
    assert!(
        gap >= Duration::from_millis(200),
        "confirm_delay waited: {gap:?}"
    );

    // A lasting 404 is confirmed and recorded.
    server.set("/statement", Route::status(404, "<h1>Not Found</h1>"));
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("mfa").starts_with("mfa removed"), "{run:?}");
    assert_eq!(change_kinds(&env), ["removed", "first-seen"]);

    // --no-confirm records on the first fetch.
    server.set("/statement", Route::html(PAGE));
    env.run(&["check"]).ok();
    server.set("/statement", Route::html(PAGE).then_status(&[410]));
    let before = server.requests("/statement").len();
    let run = env.run(&["check", "--no-confirm"]).ok();
    assert!(run.line_for("mfa").starts_with("mfa removed"), "{run:?}");
    assert_eq!(server.requests("/statement").len(), before + 1);
}

const HOOK_SECRET: &str = "signal-test-secret";

fn with_hooks(server: &Server, watch_extra: &str, subscribers: &[(&str, &str)]) -> Env {
    let names: Vec<String> = subscribers
        .iter()
        .map(|(n, _)| format!("\"{n}\""))
        .collect();
    let mut text = watch(
        server,
        &format!("{watch_extra}\nnotify = [{}]", names.join(", ")),
    );
    for (name, extra) in subscribers {
        text.push_str(&format!(
            "\n[[subscriber]]\nname = \"{name}\"\nwebhook = \"{}\"\nsecret_env = \"SIGNAL_SECRET\"\n{extra}\n",
            server.url(&format!("/hook/{name}"))
        ));
    }
    Env::new("per_host_delay = \"0s\"", &text)
}

fn events(server: &Server, hook: &str) -> Vec<String> {
    server
        .requests(&format!("/hook/{hook}"))
        .into_iter()
        .filter(|s| s.method == "POST")
        .map(|s| {
            let body: serde_json::Value = serde_json::from_slice(&s.body).expect("JSON");
            crate::support::assert_webhook_schema(&body);
            body["event"].as_str().unwrap_or("").to_owned()
        })
        .collect()
}

const SECRET_ENV: &[(&str, &str)] = &[("SIGNAL_SECRET", HOOK_SECRET)];

#[test]
fn a_page_flapping_between_two_versions_alerts_once() {
    let server = Server::start();
    let a = PAGE.to_owned();
    let b = PAGE.replace("in spring", "in the spring");
    server.set("/statement", Route::html(a.clone()));
    server.set("/hook/desk", Route::status(204, ""));
    let env = with_hooks(&server, "", &[("desk", "")]);
    env.run_with_env(&["check"], SECRET_ENV).ok();

    server.set("/statement", Route::html("").rotating(&[&b, &a]));
    let mut lines = Vec::new();
    for _ in 0..6 {
        let run = env.run_with_env(&["check"], SECRET_ENV).ok();
        lines.push(run.line_for("mfa"));
    }
    // B looks like an edit; back to A is flapping; after that, quiet: A is
    // the baseline again, and B is unchanged "(flapping)".
    assert!(lines[0].starts_with("mfa edited"), "{lines:?}");
    assert!(lines[1].starts_with("mfa flapping"), "{lines:?}");
    for line in &lines[2..] {
        assert!(line.starts_with("mfa unchanged"), "{lines:?}");
    }
    assert!(lines[2].contains("(flapping)"), "{lines:?}");
    assert!(lines[4].contains("(flapping)"), "{lines:?}");
    assert_eq!(events(&server, "desk"), ["edited", "flapping"]);
    assert_eq!(change_kinds(&env), ["flapping", "edited", "first-seen"]);

    // A genuinely new version ends the quiet.
    let c = PAGE.replace("published in full", "published next week");
    server.set("/statement", Route::html(c));
    let run = env.run_with_env(&["check"], SECRET_ENV).ok();
    assert!(run.line_for("mfa").starts_with("mfa edited"), "{run:?}");
    assert_eq!(events(&server, "desk"), ["edited", "flapping", "edited"]);
}

#[test]
fn failing_and_recovered_reach_a_webhook_subscriber() {
    let server = Server::start();
    server.set("/statement", Route::html(PAGE));
    server.set("/hook/ops", Route::status(204, ""));
    server.set("/hook/edits", Route::status(204, ""));
    let env = with_hooks(
        &server,
        "failing_after = \"1s\"",
        &[
            ("ops", "events = [\"failing\", \"recovered\"]"),
            ("edits", "events = [\"edited\"]"),
        ],
    );
    env.run_with_env(&["check"], SECRET_ENV).ok();

    server.set("/statement", Route::status(500, "Internal Server Error"));
    let run = env.run_with_env(&["check"], SECRET_ENV);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(events(&server, "ops").is_empty(), "not failing for 1s yet");
    std::thread::sleep(Duration::from_millis(1100));
    let run = env.run_with_env(&["check"], SECRET_ENV);
    assert!(run.line_for("mfa").contains("watch failing"), "{run:?}");
    assert_eq!(events(&server, "ops"), ["failing"]);
    let post = &server.requests("/hook/ops")[0];
    let body: serde_json::Value = serde_json::from_slice(&post.body).expect("JSON");
    assert!(
        body["summary"]["first_change"]
            .as_str()
            .is_some_and(|s| s.contains("HTTP 500")),
        "the alert carries the last error: {body:#}"
    );

    // `list` marks it, `status` fails.
    let list = env.run(&["list"]).ok();
    assert!(list.stdout.contains("FAILING"), "{list:?}");
    let status = env.run(&["status"]);
    assert_eq!(status.code, 1, "{status:?}");
    assert!(status.stdout.contains("mfa"), "{status:?}");

    // Still failing: no second `failing`.
    env.run_with_env(&["check"], SECRET_ENV);
    assert_eq!(events(&server, "ops"), ["failing"]);

    server.set("/statement", Route::html(PAGE));
    let run = env.run_with_env(&["check"], SECRET_ENV).ok();
    assert!(run.line_for("mfa").contains("watch recovered"), "{run:?}");
    assert_eq!(events(&server, "ops"), ["failing", "recovered"]);
    assert!(events(&server, "edits").is_empty());
    let status = env.run(&["status"]).ok();
    assert!(status.stdout.contains("failing: 0"), "{status:?}");
}

#[test]
fn match_and_changes_triggers_filter_alerts_not_history() {
    let server = Server::start();
    server.set("/statement", Route::html(PAGE));
    for hook in ["taiwan", "additions", "removals", "all"] {
        server.set(&format!("/hook/{hook}"), Route::status(204, ""));
    }
    let env = with_hooks(
        &server,
        "",
        &[
            ("taiwan", "match = [\"Taiwan\", \"台湾\"]"),
            ("additions", "changes = \"additions\""),
            ("removals", "changes = \"removals\""),
            ("all", ""),
        ],
    );
    env.run_with_env(&["check"], SECRET_ENV).ok();

    // A sentence added that names Taiwan.
    let added = PAGE.replace(
        "<p>Both sides",
        "<p>The agreement does not concern Taiwan.</p><p>Both sides",
    );
    server.set("/statement", Route::html(added.clone()));
    env.run_with_env(&["check"], SECRET_ENV).ok();
    // A sentence removed that does not.
    let removed = added.replace(
        "<p>The text of the agreement will be published in full.</p>",
        "",
    );
    server.set("/statement", Route::html(removed));
    env.run_with_env(&["check"], SECRET_ENV).ok();

    assert_eq!(events(&server, "taiwan"), ["edited"]);
    assert_eq!(events(&server, "additions"), ["edited"]);
    assert_eq!(events(&server, "removals"), ["edited"]);
    assert_eq!(events(&server, "all"), ["edited", "edited"]);
    let taiwan = &server.requests("/hook/taiwan")[0];
    let body: serde_json::Value = serde_json::from_slice(&taiwan.body).expect("JSON");
    assert!(
        body["diff"]
            .as_str()
            .unwrap_or("")
            .contains("+The agreement does not concern Taiwan.")
    );
    let removals = &server.requests("/hook/removals")[0];
    let body: serde_json::Value = serde_json::from_slice(&removals.body).expect("JSON");
    assert!(
        body["diff"]
            .as_str()
            .unwrap_or("")
            .contains("-The text of the agreement")
    );
    // Both edits are in the history whatever the triggers said.
    assert_eq!(change_kinds(&env), ["edited", "edited", "first-seen"]);
}
