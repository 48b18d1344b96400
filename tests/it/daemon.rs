//! `chancery run` as a service: repeated checks, reload, shutdown,
//! politeness, restarts, single instance. Real binary, real signals, a real
//! HTTP server on 127.0.0.1 that records when each request arrived.

use std::time::{Duration, Instant};

use crate::support::{Behavior, Env, Route, Server, count, wait_until};

fn watch(name: &str, url: &str, interval: &str) -> String {
    format!("[[watch]]\nname = \"{name}\"\nurl = \"{url}\"\ninterval = \"{interval}\"\n\n")
}

const PAGE: &str =
    "<html><body><h1>Statement</h1><p>The embassy notes the report.</p></body></html>";

#[test]
fn checks_repeatedly_records_an_edit_and_stops_on_sigterm() {
    let server = Server::start();
    server.set("/a", Route::html(PAGE));
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &watch("a", &server.url("/a"), "1s"),
    );
    let mut daemon = env.daemon("run");
    daemon.wait_log("chancery started", Duration::from_secs(10));
    let log = daemon.log();
    assert!(
        log.contains("watches=1") && log.contains("state_dir="),
        "{log}"
    );
    assert!(
        wait_until(Duration::from_secs(15), || server.requests("/a").len() >= 3),
        "checked repeatedly: {} requests\n{}",
        server.requests("/a").len(),
        daemon.log()
    );

    server.set("/a", Route::html(PAGE.replace("notes", "welcomes")));
    daemon.wait_log("outcome=edited", Duration::from_secs(15));
    let list = env.run(&["list", "--json"]).ok().json();
    assert_eq!(list[0]["n_changes"], 1, "{list:#}");
    let diff = env.run(&["diff", "a", "--color", "never"]).ok();
    assert!(
        diff.stdout.contains("+The embassy welcomes the report."),
        "{diff:?}"
    );

    let sent = Instant::now();
    daemon.signal("TERM");
    let code = daemon
        .wait_exit(Duration::from_secs(15))
        .expect("exits after SIGTERM");
    assert_eq!(code, 0, "{}", daemon.log());
    assert!(
        sent.elapsed() < Duration::from_secs(12),
        "within the 10 s grace"
    );
    assert!(daemon.log().contains("stopped"), "{}", daemon.log());
}

#[test]
fn sigterm_lets_a_running_check_finish() {
    let server = Server::start();
    server.set(
        "/slow",
        Route::html(Vec::new()).with_behavior(Behavior::Slow {
            gap: Duration::from_millis(100),
            bytes: 20,
        }),
    );
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &watch("slow", &server.url("/slow"), "1s"),
    );
    let mut daemon = env.daemon("run");
    assert!(wait_until(Duration::from_secs(10), || !server
        .requests("/slow")
        .is_empty()));
    daemon.signal("TERM");
    let code = daemon.wait_exit(Duration::from_secs(15)).expect("exits");
    assert_eq!(code, 0, "{}", daemon.log());
    // The check in flight (2 s of body) was finished and recorded, not cut.
    assert_eq!(count(&env.db_path(), "checks"), 1, "{}", daemon.log());
}

/// A page that takes a debug build far longer than the 10 s grace to
/// read: 20 MB of 400,000 links (about 40 s on a loaded 2-core machine;
/// half of that, 10 MB, took only 10 s on an idle one, which let the check
/// finish at the grace's end).
fn slow_to_read() -> String {
    let mut page = String::from("<html><body><article><h1>Statement</h1><ul>");
    for i in 0..400_000 {
        page.push_str(&format!(
            "<li><a href=\"/a/{i:07}.htm\">Item {i:07}</a></li>\n"
        ));
    }
    page.push_str("</ul></article></body></html>");
    page
}

#[test]
fn sigterm_stops_within_the_grace_while_a_page_is_still_being_read() {
    let server = Server::start();
    server.set("/big", Route::html(slow_to_read()));
    let env = Env::new(
        "per_host_delay = \"0s\"\nnormalize_timeout = \"10m\"\nmax_body = \"32MiB\"\nmemory_budget = \"1GiB\"",
        &watch("big", &server.url("/big"), "1s"),
    );
    let mut daemon = env.daemon("run");
    assert!(
        wait_until(Duration::from_secs(10), || !server
            .requests("/big")
            .is_empty()),
        "{}",
        daemon.log()
    );
    // The body is on loopback: it arrives at once, then parsing starts.
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    daemon.signal("TERM");
    let code = daemon.wait_exit(Duration::from_secs(30)).expect("exits");
    let took = sent.elapsed();
    assert_eq!(code, 0, "{}", daemon.log());
    assert!(
        took < Duration::from_secs(12),
        "stopped {took:?} after SIGTERM, past the 10 s grace\n{}",
        daemon.log()
    );
    // The page was still being read: abandoned, nothing recorded.
    let log = daemon.log();
    assert!(log.contains("abandoned=1"), "{log}");
    assert_eq!(count(&env.db_path(), "checks"), 0, "{log}");
}

#[test]
fn sighup_adds_and_removes_watches_and_rejects_an_invalid_config() {
    let server = Server::start();
    server.set("/a", Route::html(PAGE));
    server.set("/b", Route::html(PAGE));
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &watch("a", &server.url("/a"), "1s"),
    );
    let daemon = env.daemon("run");
    assert!(wait_until(Duration::from_secs(10), || server
        .requests("/a")
        .len()
        >= 2));

    // Checks of a go on (after a rejected reload, the running config stays).
    let keeps_checking_a = || {
        let before = server.requests("/a").len();
        assert!(wait_until(Duration::from_secs(10), || server
            .requests("/a")
            .len()
            >= before + 2));
    };

    // An invalid config is rejected; a keeps being checked.
    std::fs::write(
        env.config_path(),
        "[daemon]\nstate_dir = \"state\"\nbogus = 1\n",
    )
    .expect("write");
    daemon.signal("HUP");
    daemon.wait_log("reload rejected", Duration::from_secs(10));
    assert!(
        daemon.log().contains("bogus"),
        "the error names the key: {}",
        daemon.log()
    );
    keeps_checking_a();

    // A value that once passed validation and then overflowed (a delay of
    // 2^64 seconds) is rejected the same way: the daemon lives on.
    env.write_config(
        "per_host_delay = \"18446744073709551615s\"",
        &watch("a", &server.url("/a"), "1s"),
    );
    daemon.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(10), || daemon
            .log()
            .matches("reload rejected")
            .count()
            >= 2),
        "{}",
        daemon.log()
    );
    assert!(
        daemon.log().contains("daemon.per_host_delay"),
        "{}",
        daemon.log()
    );
    keeps_checking_a();

    // Replace a by b.
    env.write_config(
        "per_host_delay = \"0s\"",
        &watch("b", &server.url("/b"), "1s"),
    );
    daemon.signal("HUP");
    daemon.wait_log("config reloaded", Duration::from_secs(10));
    assert!(
        wait_until(Duration::from_secs(10), || server.requests("/b").len() >= 2),
        "{}",
        daemon.log()
    );
    let a_after_reload = server.requests("/a").len();
    std::thread::sleep(Duration::from_secs(3));
    // At most one check of a that was already in flight at the reload.
    assert!(
        server.requests("/a").len() <= a_after_reload + 1,
        "a is no longer checked"
    );
    assert!(
        server.requests("/b").len() >= 4,
        "b is checked every second"
    );
}

#[test]
fn per_host_delay_and_concurrency_are_respected() {
    let server = Server::start();
    let mut watches = String::new();
    for i in 0..4 {
        let path = format!("/p{i}");
        server.set(
            &path,
            Route::html(PAGE).with_behavior(Behavior::Slow {
                gap: Duration::from_millis(15),
                bytes: 20,
            }),
        );
        watches.push_str(&watch(&format!("p{i}"), &server.url(&path), "1s"));
    }
    let env = Env::new(
        "per_host_delay = \"400ms\"\nper_host_concurrency = 1\nconcurrency = 8",
        &watches,
    );
    let _daemon = env.daemon("run");
    assert!(wait_until(Duration::from_secs(20), || server
        .all_requests()
        .len()
        >= 10));
    let seen = server.all_requests();
    for pair in seen.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap >= Duration::from_millis(380),
            "two requests to one host {gap:?} apart"
        );
    }
    assert_eq!(server.max_concurrent(), 1, "per_host_concurrency = 1");
}

#[test]
fn the_one_shot_check_is_polite_too() {
    let server = Server::start();
    let mut watches = String::new();
    for i in 0..5 {
        let path = format!("/p{i}");
        server.set(&path, Route::html(PAGE));
        watches.push_str(&watch(&format!("p{i}"), &server.url(&path), "1h"));
    }
    let env = Env::new(
        "per_host_delay = \"300ms\"\nper_host_concurrency = 1",
        &watches,
    );
    env.run(&["check"]).ok();
    let seen = server.all_requests();
    assert_eq!(seen.len(), 5);
    for pair in seen.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(gap >= Duration::from_millis(280), "{gap:?}");
    }
}

#[test]
fn retry_after_is_honoured() {
    let server = Server::start();
    server.set(
        "/busy",
        Route::status(503, "<html><body>Busy</body></html>").with_header("Retry-After", "3"),
    );
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &watch("busy", &server.url("/busy"), "1s"),
    );
    let daemon = env.daemon("run");
    assert!(
        wait_until(Duration::from_secs(20), || server.requests("/busy").len()
            >= 3),
        "{}",
        daemon.log()
    );
    let seen = server.requests("/busy");
    for pair in seen.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap >= Duration::from_millis(2900),
            "Retry-After: 3 but the next request came {gap:?} later"
        );
    }
}

#[test]
fn a_second_instance_is_refused() {
    let server = Server::start();
    server.set("/a", Route::html(PAGE));
    let env = Env::new("", &watch("a", &server.url("/a"), "1h"));
    let first = env.daemon("first");
    first.wait_log("chancery started", Duration::from_secs(10));
    let mut second = env.daemon("second");
    let code = second
        .wait_exit(Duration::from_secs(10))
        .expect("second exits");
    assert_ne!(code, 0);
    assert!(second.log().contains("already running"), "{}", second.log());
    // The CLI still works beside the daemon.
    env.run(&["list"]).ok();
}

#[test]
fn a_restart_does_not_recheck_what_was_just_checked() {
    let server = Server::start();
    server.set("/fresh", Route::html(PAGE));
    server.set("/overdue", Route::html(PAGE));
    let watches = format!(
        "{}{}",
        watch("fresh", &server.url("/fresh"), "1h"),
        watch("overdue", &server.url("/overdue"), "2s")
    );
    let env = Env::new("per_host_delay = \"0s\"", &watches);
    env.run(&["check"]).ok();
    std::thread::sleep(Duration::from_secs(3));
    let _daemon = env.daemon("run");
    // The overdue one is checked soon; the fresh one (checked seconds ago,
    // interval 1 h) is not checked again.
    assert!(wait_until(Duration::from_secs(10), || server
        .requests("/overdue")
        .len()
        >= 2));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(server.requests("/fresh").len(), 1);
}

#[test]
fn systemd_readiness_status_watchdog_and_journal_priorities() {
    use std::os::unix::net::UnixDatagram;
    let server = Server::start();
    server.set("/a", Route::html(PAGE));
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &watch("a", &server.url("/a"), "1s"),
    );
    let socket_path = env.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let vars = [
        ("NOTIFY_SOCKET", socket_path.to_str().expect("utf-8 path")),
        ("WATCHDOG_USEC", "1000000"),
        ("JOURNAL_STREAM", "8:12345"),
    ];
    let mut daemon = env.daemon_with_env("run", &vars);
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline
        && !(seen.contains("READY=1")
            && seen.contains("WATCHDOG=1")
            && seen.contains("checks since start; last: a"))
    {
        if let Ok(n) = socket.recv(&mut buf) {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            seen.push('\n');
        }
    }
    assert!(seen.contains("READY=1"), "{seen}");
    assert!(seen.contains("STATUS=1 watches"), "{seen}");
    assert!(
        seen.contains("WATCHDOG=1"),
        "pings at half of WatchdogSec: {seen}"
    );
    assert!(
        seen.contains("last: a first-seen") || seen.contains("last: a unchanged"),
        "{seen}"
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(15)), Some(0));
    let log = daemon.log();
    let start = log
        .lines()
        .find(|l| l.contains("chancery started"))
        .expect("start line");
    assert!(
        start.starts_with("<6>"),
        "journald priority prefix: {start}"
    );
}

#[test]
fn robots_txt_is_respected_when_asked() {
    let server = Server::start();
    server.set(
        "/robots.txt",
        Route::html("User-agent: *\nDisallow: /private/\n")
            .with_header("Content-Type", "text/plain"),
    );
    server.set("/private/statement", Route::html(PAGE));
    server.set("/public/statement", Route::html(PAGE));
    let watches = format!(
        "{}{}",
        watch("private", &server.url("/private/statement"), "1h"),
        watch("public", &server.url("/public/statement"), "1h")
    );
    let env = Env::new("per_host_delay = \"0s\"\nrespect_robots = true", &watches);
    let run = env.run(&["check"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.line_for("private").contains("disallowed by robots.txt"),
        "{run:?}"
    );
    assert!(
        run.line_for("public").starts_with("public first-seen"),
        "{run:?}"
    );
    assert!(
        server.requests("/private/statement").is_empty(),
        "never fetched"
    );
    assert_eq!(
        server.requests("/robots.txt").len(),
        1,
        "fetched once per host"
    );
}

/// `chancery backup` while the daemon checks every second: the copy is a
/// whole, checked database with the history so far, and copied into a
/// state dir (the documented restore) it is that history again.
#[test]
fn a_backup_taken_while_the_daemon_runs_restores_the_history() {
    let server = Server::start();
    server.set("/a", Route::html(PAGE));
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &watch("a", &server.url("/a"), "1s"),
    );
    let daemon = env.daemon("run");
    daemon.wait_log("outcome=first-seen", Duration::from_secs(10));
    server.set("/a", Route::html(PAGE.replace("notes", "welcomes")));
    daemon.wait_log("outcome=edited", Duration::from_secs(15));

    let file = env.dir.path().join("backup.db");
    let run = env.run(&["backup", &file.display().to_string()]).ok();
    assert!(run.stdout.starts_with("backed up "), "{run:?}");
    assert!(run.stdout.contains("integrity checked"), "{run:?}");
    // Never over an existing file.
    let again = env.run(&["backup", &file.display().to_string()]);
    assert_eq!(again.code, 2, "{again:?}");
    drop(daemon);

    // Restore: the backup becomes the state dir's database.
    let env2 = Env::new(
        "per_host_delay = \"0s\"",
        &watch("a", &server.url("/a"), "1s"),
    );
    std::fs::create_dir_all(env2.db_path().parent().expect("state dir")).expect("mkdir");
    std::fs::copy(&file, env2.db_path()).expect("copy");
    let history = env2.run(&["history", "a", "--json"]).ok().json();
    assert_eq!(
        crate::support::change_kinds(&history),
        ["edited", "first-seen"],
        "{history:#}"
    );
    let show = env2.run(&["show", "a"]).ok().stdout;
    assert!(show.contains("welcomes"), "{show}");
}
