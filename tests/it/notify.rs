//! Alerts through the outbox: signed webhooks to a receiver the test starts
//! on 127.0.0.1, retries, permanent failures, a daemon killed with alerts
//! pending, and secrets kept out of every log.

use std::time::Duration;

use crate::support::{
    Behavior, Env, Route, Seen, Server, assert_webhook_schema, verify_signature, wait_until,
};

const SECRET: &str = "s3cr3t-webhook-key-do-not-log";
const PAGE: &str = "<html><body><h1>Statement</h1><p>The ministry notes the report.</p><p>Second paragraph.</p></body></html>";

fn config(server: &Server, extra_daemon: &str, subscriber_extra: &str) -> (String, String) {
    let daemon = format!("per_host_delay = \"0s\"\nalert_retry = \"1s\"\n{extra_daemon}");
    let rest = format!(
        "[[watch]]\nname = \"mfa\"\nurl = \"{}\"\ninterval = \"1h\"\nnotify = [\"hook\"]\n\n\
         [[subscriber]]\nname = \"hook\"\nwebhook = \"{}\"\nsecret_env = \"CHANCERY_TEST_WEBHOOK_SECRET\"\n{subscriber_extra}\n",
        server.url("/page"),
        server.url("/hook")
    );
    (daemon, rest)
}

const ENV: &[(&str, &str)] = &[("CHANCERY_TEST_WEBHOOK_SECRET", SECRET)];

fn posts(server: &Server) -> Vec<Seen> {
    server.posts("/hook")
}

fn edit(server: &Server) {
    server.set(
        "/page",
        Route::html(PAGE.replace("notes the report", "rejects the report")),
    );
}

#[test]
fn an_edit_sends_a_signed_webhook_with_the_documented_fields() {
    let server = Server::start();
    server.set("/page", Route::html(PAGE));
    server.set("/hook", Route::status(204, ""));
    let (daemon, rest) = config(&server, "", "");
    let env = Env::new(&daemon, &rest);
    env.run_with_env(&["check"], ENV).ok();
    assert!(
        posts(&server).is_empty(),
        "a first-seen baseline alerts nobody"
    );

    edit(&server);
    let run = env.run_with_env(&["check"], ENV).ok();
    assert!(run.stderr.contains("1 delivered"), "{run:?}");
    let got = posts(&server);
    assert_eq!(got.len(), 1);
    let post = &got[0];
    verify_signature(post, SECRET);
    assert_eq!(
        post.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    assert_eq!(
        post.headers.get("x-chancery-event").map(String::as_str),
        Some("edited")
    );
    let body: serde_json::Value = serde_json::from_slice(&post.body).expect("JSON body");
    assert_webhook_schema(&body);
    assert_eq!(
        post.headers.get("x-chancery-delivery").map(String::as_str),
        body["id"].as_str()
    );
    assert_eq!(body["event"], "edited");
    assert_eq!(body["watch"]["name"], "mfa");
    assert_eq!(body["watch"]["url"], server.url("/page"));
    assert_eq!(body["current"]["status"], 200);
    assert_eq!(body["summary"]["lines_added"], 1);
    assert_eq!(body["summary"]["lines_removed"], 1);
    assert_eq!(body["summary"]["first_change"], "\"notes\" → \"rejects\"");
    assert_eq!(body["changes_total"], 1);
    assert_eq!(body["changes"][0]["before"], "notes");
    assert_eq!(body["changes"][0]["after"], "rejects");
    assert_eq!(
        body["changes"][0]["context"],
        "The ministry [-notes-]{+rejects+} the report."
    );
    let diff = body["diff"].as_str().expect("diff");
    assert!(diff.contains("-The ministry notes the report."), "{diff}");
    assert!(diff.contains("+The ministry rejects the report."), "{diff}");
    // The hashes are those of the stored snapshots.
    let history = env.run(&["history", "mfa", "--json"]).ok().json();
    let snapshots = history["snapshots"].as_array().expect("snapshots");
    assert_eq!(body["current"]["sha256"], snapshots[0]["sha256"]);
    assert_eq!(body["previous"]["sha256"], snapshots[1]["sha256"]);
    assert_eq!(body["current"]["snapshot"], snapshots[0]["id"]);
    assert_eq!(body["previous"]["snapshot"], snapshots[1]["id"]);

    let outbox = env.run(&["outbox", "--all", "--json"]).ok().json();
    assert_eq!(outbox[0]["status"], "delivered", "{outbox:#}");
    assert_eq!(outbox[0]["attempts"], 1);
    assert_eq!(env.run(&["outbox"]).ok().stdout.trim(), "no alerts");
}

#[test]
fn a_failing_endpoint_is_retried_until_it_accepts_exactly_once() {
    let server = Server::start();
    server.set("/page", Route::html(PAGE));
    server.set("/hook", Route::status(200, "ok").then_status(&[500, 503]));
    let (daemon, rest) = config(&server, "", "");
    let env = Env::new(&daemon, &rest);
    env.run_with_env(&["check"], ENV).ok();
    edit(&server);
    let run = env.run_with_env(&["check"], ENV).ok();
    assert!(
        run.stderr.contains("1 pending"),
        "the first attempt failed: {run:?}"
    );

    let daemon = env.daemon_with_env("run", ENV);
    assert!(
        wait_until(Duration::from_secs(20), || posts(&server).len() >= 3),
        "retried: {}",
        daemon.log()
    );
    std::thread::sleep(Duration::from_secs(3));
    let got = posts(&server);
    assert_eq!(
        got.len(),
        3,
        "exactly one success and no more attempts after it"
    );
    let statuses: Vec<u16> = got.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [500, 503, 200]);
    let ids: Vec<&str> = got
        .iter()
        .map(|s| s.headers["x-chancery-delivery"].as_str())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "same delivery id on every attempt: {ids:?}"
    );
    assert_eq!(got[0].body, got[2].body, "the same body on every attempt");
    let outbox = env.run(&["outbox", "--all", "--json"]).ok().json();
    assert_eq!(outbox[0]["status"], "delivered");
    assert_eq!(outbox[0]["attempts"], 3);
}

#[test]
fn a_410_fails_the_alert_without_retrying_forever() {
    let server = Server::start();
    server.set("/page", Route::html(PAGE));
    server.set("/hook", Route::status(410, "gone"));
    let (daemon, rest) = config(&server, "", "");
    let env = Env::new(&daemon, &rest);
    env.run_with_env(&["check"], ENV).ok();
    edit(&server);
    let run = env.run_with_env(&["check"], ENV).ok();
    assert!(run.stderr.contains("1 failed"), "{run:?}");
    let _daemon = env.daemon_with_env("run", ENV);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        posts(&server).len(),
        1,
        "a permanent failure is not retried"
    );
    let outbox = env.run(&["outbox", "--json"]).ok().json();
    assert_eq!(outbox[0]["status"], "failed");
    assert!(
        outbox[0]["last_error"]
            .as_str()
            .expect("error")
            .contains("HTTP 410"),
        "{outbox:#}"
    );

    // A person can send it again once the endpoint is fixed.
    server.set("/hook", Route::status(200, "ok"));
    let retry = env.run_with_env(&["outbox", "retry"], ENV).ok();
    assert!(retry.stdout.contains("1 delivered"), "{retry:?}");
    assert_eq!(posts(&server).len(), 2);
}

#[test]
fn alerts_pending_when_the_daemon_is_killed_are_delivered_after_restart() {
    let server = Server::start();
    server.set("/page", Route::html(PAGE));
    // The receiver hangs: the delivery is in flight when the daemon dies.
    server.set(
        "/hook",
        Route::status(200, "ok").with_behavior(Behavior::Hang(Duration::from_secs(8))),
    );
    let (daemon, rest) = config(&server, "", "");
    let env = Env::new(
        &daemon,
        &rest.replace("interval = \"1h\"", "interval = \"1s\""),
    );
    let mut first = env.daemon_with_env("first", ENV);
    assert!(wait_until(Duration::from_secs(10), || !server
        .requests("/page")
        .is_empty()));
    edit(&server);
    assert!(
        wait_until(Duration::from_secs(15), || !posts(&server).is_empty()),
        "delivery started: {}",
        first.log()
    );
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(5)).expect("killed");

    server.set("/hook", Route::status(200, "ok"));
    let second = env.daemon_with_env("second", ENV);
    assert!(
        wait_until(Duration::from_secs(20), || posts(&server)
            .iter()
            .any(|s| s.status == 200 && s.at > posts(&server)[0].at)),
        "delivered after the restart: {}",
        second.log()
    );
    let got = posts(&server);
    assert_eq!(
        got[0].headers["x-chancery-delivery"],
        got[got.len() - 1].headers["x-chancery-delivery"]
    );
    verify_signature(&got[got.len() - 1], SECRET);
    wait_until(Duration::from_secs(5), || {
        env.run(&["outbox", "--all", "--json"]).json()[0]["status"] == "delivered"
    });
    let outbox = env.run(&["outbox", "--all", "--json"]).ok().json();
    assert_eq!(
        outbox.as_array().expect("alerts").len(),
        1,
        "one alert, not one per restart: {outbox:#}"
    );
    assert_eq!(outbox[0]["status"], "delivered");
}

#[test]
fn subscribers_choose_events_and_a_minimum_change() {
    let server = Server::start();
    server.set("/page", Route::html(PAGE));
    server.set("/hook", Route::status(200, "ok"));
    let (daemon, rest) = config(&server, "", "events = [\"removed\"]\n");
    let env = Env::new(&daemon, &rest);
    env.run_with_env(&["check"], ENV).ok();
    edit(&server);
    env.run_with_env(&["check"], ENV).ok();
    assert!(posts(&server).is_empty(), "edits are not wanted");
    server.set(
        "/page",
        Route::status(404, "<html><body>Not found</body></html>"),
    );
    env.run_with_env(&["check"], ENV).ok();
    let got = posts(&server);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].headers["x-chancery-event"], "removed");
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).expect("JSON");
    assert_webhook_schema(&body);
    assert!(body["current"]["sha256"].is_null());
    assert_eq!(body["current"]["status"], 404);

    let (daemon, rest) = config(&server, "", "min_change = 0.9\n");
    let env = Env::new(&daemon, &rest);
    server.set("/page", Route::html(PAGE));
    env.run_with_env(&["check"], ENV).ok();
    edit(&server);
    env.run_with_env(&["check"], ENV).ok();
    assert_eq!(
        posts(&server).len(),
        1,
        "an edit of 1 line in 3 is below min_change 0.9"
    );
}

#[test]
fn notify_test_sends_through_the_real_path() {
    let server = Server::start();
    server.set("/hook", Route::status(200, "ok"));
    let (daemon, rest) = config(&server, "", "");
    let env = Env::new(&daemon, &rest);
    let run = env.run_with_env(&["notify", "test", "hook"], ENV).ok();
    assert!(run.stdout.contains("sent to hook"), "{run:?}");
    let got = posts(&server);
    assert_eq!(got[0].headers["x-chancery-event"], "test");
    verify_signature(&got[0], SECRET);

    server.set("/hook", Route::status(500, "down"));
    let run = env.run_with_env(&["notify", "test", "hook"], ENV);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("HTTP 500"), "{run:?}");
    let run = env.run_with_env(&["notify", "test", "nobody"], ENV);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn secrets_never_appear_in_logs_or_errors() {
    let server = Server::start();
    server.set("/page", Route::html(PAGE));
    server.set("/hook", Route::status(500, "down"));
    let smtp_password = "smtp-password-never-in-logs";
    let daemon_extra = "";
    let rest = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = 9\ntls = \"none\"\nusername = \"u\"\npassword_env = \"CHANCERY_TEST_SMTP_PASSWORD\"\nfrom = \"a@example.org\"\n\n\
         [[watch]]\nname = \"mfa\"\nurl = \"{}\"\ninterval = \"1s\"\nnotify = [\"hook\", \"desk\"]\n\n\
         [[subscriber]]\nname = \"hook\"\nwebhook = \"{}\"\nsecret_env = \"CHANCERY_TEST_WEBHOOK_SECRET\"\n\n\
         [[subscriber]]\nname = \"desk\"\nemail = [\"desk@example.org\"]\n",
        server.url("/page"),
        server.url("/hook")
    );
    let env = Env::new(
        &format!("per_host_delay = \"0s\"\nalert_retry = \"1s\"\n{daemon_extra}"),
        &rest,
    );
    let vars = [
        ("CHANCERY_TEST_WEBHOOK_SECRET", SECRET),
        ("CHANCERY_TEST_SMTP_PASSWORD", smtp_password),
        ("RUST_LOG", "debug"),
    ];
    let mut outputs = Vec::new();
    let check = env.run_with_env(&["check"], &vars);
    outputs.push(format!("{}{}", check.stdout, check.stderr));
    let config_check = env.run_with_env(&["config", "check"], &vars).ok();
    outputs.push(format!("{}{}", config_check.stdout, config_check.stderr));
    edit(&server);
    let mut daemon = env.daemon_with_env("run", &vars);
    assert!(
        wait_until(Duration::from_secs(20), || posts(&server).len() >= 2),
        "{}",
        daemon.log()
    );
    daemon.signal("TERM");
    daemon.wait_exit(Duration::from_secs(15));
    outputs.push(daemon.log());
    let outbox = env.run_with_env(&["outbox", "--all"], &vars).ok();
    outputs.push(outbox.stdout.clone());
    let test = env.run_with_env(&["notify", "test", "desk"], &vars);
    outputs.push(format!("{}{}", test.stdout, test.stderr));
    assert!(
        outbox.stdout.contains("HTTP 500"),
        "the failures were logged: {outbox:?}"
    );
    for text in &outputs {
        assert!(!text.contains(SECRET), "webhook secret leaked:\n{text}");
        assert!(
            !text.contains(smtp_password),
            "SMTP password leaked:\n{text}"
        );
    }
}

#[test]
fn an_alert_failing_past_its_max_age_is_given_up_loudly() {
    let server = Server::start();
    server.set("/page", Route::html(PAGE));
    server.set("/hook", Route::status(503, "down"));
    let (daemon, rest) = config(&server, "alert_max_age = \"3s\"", "");
    let env = Env::new(&daemon, &rest);
    env.run_with_env(&["check"], ENV).ok();
    edit(&server);
    env.run_with_env(&["check"], ENV).ok();
    let mut daemon = env.daemon_with_env("run", ENV);
    assert!(
        wait_until(Duration::from_secs(20), || {
            env.run(&["outbox", "--json"]).json()[0]["status"] == "failed"
        }),
        "{}",
        daemon.log()
    );
    let outbox = env.run(&["outbox", "--json"]).ok().json();
    let error = outbox[0]["last_error"].as_str().expect("error");
    assert!(error.starts_with("gave up after"), "{error}");
    assert!(error.contains("HTTP 503"), "{error}");
    let attempts = posts(&server).len();
    assert!(attempts >= 2, "it was retried before giving up: {attempts}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        posts(&server).len(),
        attempts,
        "no attempts after giving up"
    );
    daemon.signal("TERM");
    daemon.wait_exit(Duration::from_secs(15));
    let log = daemon.log();
    let line = log
        .lines()
        .find(|l| l.contains("FAILED"))
        .expect("a loud log line");
    assert!(line.contains("ERROR"), "{line}");
}

/// `chancery check` beside a running daemon: every alert the checks queue
/// reaches the receiver exactly once (the daemon delivers; `check` says it
/// leaves delivery to it), and none is marked failed after it was
/// delivered.
#[test]
fn check_beside_the_daemon_delivers_every_alert_once() {
    let server = Server::start();
    server.set("/page", Route::html(PAGE));
    server.set("/hook", Route::status(200, ""));
    let (daemon_conf, rest) = config(&server, "", "");
    let env = Env::new(&daemon_conf, &rest);
    env.run_with_env(&["check"], ENV).ok();
    let daemon = env.daemon_with_env("run", ENV);
    daemon.wait_log("chancery started", Duration::from_secs(10));

    const EDITS: usize = 6;
    for n in 0..EDITS {
        server.set(
            "/page",
            Route::html(PAGE.replace("notes the report", &format!("notes report number {n}"))),
        );
        let run = env.run_with_env(&["check"], ENV).ok();
        assert!(run.line_for("mfa").contains("edited"), "{run:?}");
        assert!(
            run.stderr.contains("left to the running daemon (pid "),
            "{run:?}"
        );
    }
    assert!(
        wait_until(Duration::from_secs(30), || posts(&server).len() >= EDITS),
        "{} of {EDITS} delivered\n{}",
        posts(&server).len(),
        daemon.log()
    );
    // Give a duplicate the time to arrive, if one were coming.
    std::thread::sleep(Duration::from_millis(500));
    let mut ids: Vec<String> = posts(&server)
        .iter()
        .map(|p| {
            p.headers
                .get("x-chancery-delivery")
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "an alert was posted twice: {ids:?}");
    assert_eq!(ids.len(), EDITS);
    let outbox = env.run(&["outbox", "--all", "--json"]).ok().json();
    let statuses: Vec<&str> = outbox
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|a| a["status"].as_str())
        .collect();
    assert_eq!(statuses, vec!["delivered"; EDITS], "{outbox:#}");
}
