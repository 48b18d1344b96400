//! `render = "browser"`: a statement page whose text is put in place by a
//! script from a JSON endpoint, read through headless Chromium (Debian's
//! `chromium`, installed by `.ci/run`; a run without it skips with a
//! notice, CI fails). The page is the seed embassy page with its statement
//! replaced by a script; everything is served on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::browser::chromium;
use crate::seed;
use crate::support::{Behavior, Env, Route, Server, wait_until};

/// The embassy page as a script shell: the statement arrives from
/// `/api/statement.json` (`{"paragraphs": [...]}`); a 404 there makes the
/// script say the statement is gone. Either way it marks the box loaded.
fn shell() -> String {
    let script = r#"<div id="statement">Loading…</div>
<script>
fetch('/api/statement.json').then(function (r) {
  if (!r.ok) { throw new Error('gone'); }
  return r.json();
}).then(function (j) {
  var box = document.getElementById('statement');
  box.textContent = '';
  j.paragraphs.forEach(function (text) {
    var p = document.createElement('p');
    p.textContent = text;
    box.appendChild(p);
  });
}).catch(function () {
  document.getElementById('statement').innerHTML =
    '<h2>Sorry, the page you requested does not exist.</h2>';
}).then(function () {
  document.getElementById('statement').setAttribute('data-loaded', '1');
});
</script>"#;
    seed::shell_en(seed::TITLE, script)
}

fn statement(paragraphs: &[&str]) -> Route {
    let json = serde_json::json!({ "paragraphs": paragraphs }).to_string();
    Route::html(json).with_header("Content-Type", "application/json")
}

/// A wrapper around Chromium that leaves a mark each time it is started,
/// so a test can tell whether a browser ran at all.
fn marked_browser(env: &Env, chromium: &Path) -> (PathBuf, PathBuf) {
    let mark = env.dir.path().join("browser-started");
    let wrapper = env.dir.path().join("chromium-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho started >> '{}'\nexec '{}' \"$@\"\n",
            mark.display(),
            chromium.display()
        ),
    )
    .expect("write wrapper");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (wrapper, mark)
}

/// `[browser]` for tests: the wrapper, no Chromium sandbox (CI runs as
/// root, where it cannot start), a short timeout and idle close.
fn browser_section(executable: &Path, timeout: &str, idle: &str) -> String {
    format!(
        "[browser]\nexecutable = \"{}\"\nsandbox = false\ntimeout = \"{timeout}\"\nidle = \"{idle}\"\n",
        executable.display()
    )
}

/// A `[[watch]]` of the script-filled page at `url`, read once its script
/// has marked the statement's box loaded; `extra`: more keys, a line each.
fn spa_watch(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[watch]]\nname = \"{name}\"\nurl = \"{url}\"\nrender = \"browser\"\nwait_for = \"#statement[data-loaded]\"\n{extra}\n"
    )
}

fn check_json(env: &Env) -> serde_json::Value {
    let run = env.run(&["check", "--json"]);
    let json = run.json();
    json.as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_else(|| panic!("no report:\n{run:?}"))
}

#[test]
fn a_statement_put_in_place_by_script_is_seen_edited_and_removed() {
    let Some(chromium) = chromium() else { return };
    let server = Server::start();
    server.set("/eng/statement.html", Route::html(shell()));
    server.set("/api/statement.json", statement(&seed::SHORT));
    let env = Env::new("", "");
    let (wrapper, mark) = marked_browser(&env, &chromium);
    let watches = spa_watch(
        "spa",
        &server.url("/eng/statement.html"),
        "settle = \"0s\"\n",
    ) + &browser_section(&wrapper, "20s", "5s");
    env.write_config("", &watches);

    // What plain HTTP sees: the shell, without the statement.
    let extracted = env
        .run(&["extract", &server.url("/eng/statement.html")])
        .ok();
    assert!(!extracted.stdout.contains(seed::SHORT[0]), "{extracted:?}");

    let first = check_json(&env);
    assert_eq!(first["outcome"], "first-seen", "{first}");
    let shown = env.run(&["show", "spa"]).ok();
    for p in seed::SHORT {
        assert!(
            shown.stdout.contains(p),
            "rendered text lacks {p:?}:\n{shown:?}"
        );
    }
    assert!(!shown.stdout.contains("Loading"), "{shown:?}");
    assert!(mark.exists(), "the browser wrapper never ran");
    // The image in the page's chrome is refused, the data is fetched.
    assert_eq!(server.requests("/api/statement.json").len(), 1);

    // The JSON changes: an edit, with what changed.
    let edited_text = "The Embassy has lodged solemn representations with the Foreign Office.";
    let mut edited = seed::SHORT.to_vec();
    edited[3] = edited_text;
    server.set("/api/statement.json", statement(&edited));
    let second = check_json(&env);
    assert_eq!(second["outcome"], "edited", "{second}");
    let diff = env.run(&["diff", "spa"]).ok();
    assert!(diff.stdout.contains("solemn"), "{diff:?}");

    // Unchanged data: unchanged, although nothing is conditional.
    let third = check_json(&env);
    assert_eq!(third["outcome"], "unchanged", "{third}");

    // The data is gone and the page says so: removed (confirmed by a
    // second render).
    server.set("/api/statement.json", Route::status(404, "not found"));
    let fourth = check_json(&env);
    assert_eq!(fourth["outcome"], "removed", "{fourth}");

    // It comes back: restored.
    server.set("/api/statement.json", statement(&edited));
    let fifth = check_json(&env);
    assert_eq!(fifth["outcome"], "restored", "{fifth}");

    // The page itself is taken down: a 404 is read as it loaded (no
    // waiting for an element it will never have) and is a removal.
    server.set(
        "/eng/statement.html",
        Route::status(404, &seed::not_found_en("Page Not Found")),
    );
    let sixth = check_json(&env);
    assert_eq!(sixth["outcome"], "removed", "{sixth}");

    // The evidence export says the body was rendered, and by what.
    let warc = env.dir.path().join("spa.warc.gz");
    env.run(&["export", "spa", "--warc", &warc.display().to_string()])
        .ok();
    let mut text = String::new();
    use std::io::Read;
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&warc).expect("warc"))
        .read_to_string(&mut text)
        .expect("gunzip");
    assert!(text.contains("WARC-Type: resource"), "{text:.2000}");
    assert!(
        text.contains("Chancery-Rendered-By: Chrome/")
            || text.contains("Chancery-Rendered-By: HeadlessChrome/"),
        "{text:.2000}"
    );
    assert!(text.contains("WARC-Type: metadata"), "{text:.2000}");
    assert!(!text.contains("WARC-Type: response"), "{text:.2000}");
}

#[test]
fn a_script_that_never_finishes_fails_render_timeout_in_time() {
    let Some(chromium) = chromium() else { return };
    let server = Server::start();
    let hang = seed::shell_en(seed::TITLE, "<p>Loading</p><script>for (;;) {}</script>");
    server.set("/eng/hang.html", Route::html(hang));
    server.set("/eng/ok.html", Route::html(shell()));
    server.set("/api/statement.json", statement(&seed::SHORT));
    let env = Env::new("", "");
    let watches = format!(
        "[[watch]]\nname = \"hang\"\nurl = \"{}\"\nrender = \"browser\"\n\n{}{}",
        server.url("/eng/hang.html"),
        spa_watch("ok", &server.url("/eng/ok.html"), ""),
        browser_section(&chromium, "4s", "5s")
    );
    env.write_config("", &watches);
    let started = Instant::now();
    let run = env.run(&["check", "--json"]);
    let took = started.elapsed();
    let reports = run.json();
    let by_name = |name: &str| {
        reports
            .as_array()
            .and_then(|a| a.iter().find(|r| r["watch"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no report for {name}:\n{run:?}"))
    };
    let hang = by_name("hang");
    assert_eq!(hang["outcome"], "error", "{hang}");
    assert_eq!(hang["reason"], "render-timeout", "{hang}");
    // The hung tab did not take the browser down with it.
    assert_eq!(by_name("ok")["outcome"], "first-seen", "{run:?}");
    // Bounded by the timeout (4 s), plus starting the browser and the
    // other page, with room for a loaded machine.
    assert!(took < Duration::from_secs(25), "took {took:?}");
    assert_eq!(run.code, 1, "a failed check exits 1:\n{run:?}");
}

#[test]
fn no_browser_starts_for_http_watches_and_a_missing_one_is_a_config_error() {
    let Some(chromium) = chromium() else { return };
    let server = Server::start();
    server.set("/eng/statement.html", Route::html(shell()));
    let env = Env::new("", "");
    let (wrapper, mark) = marked_browser(&env, &chromium);
    env.write_config(
        "",
        &format!(
            "[[watch]]\nname = \"plain\"\nurl = \"{}\"\n\n{}",
            server.url("/eng/statement.html"),
            browser_section(&wrapper, "10s", "5s")
        ),
    );
    env.run(&["check"]).ok();
    assert!(!mark.exists(), "a browser was started for an http watch");

    // A browser watch with no browser to be found: config check names the
    // package, and so does a check.
    env.write_config(
        "",
        &format!(
            "[[watch]]\nname = \"spa\"\nurl = \"{}\"\nrender = \"browser\"\n",
            server.url("/eng/statement.html")
        ),
    );
    let bare_path = [("PATH", "/nonexistent")];
    let checked = env.run_with_env(&["config", "check"], &bare_path);
    assert_eq!(checked.code, 2, "{checked:?}");
    assert!(checked.stderr.contains("watch[0].render"), "{checked:?}");
    assert!(
        checked.stderr.contains("apt install chromium"),
        "{checked:?}"
    );
    // The file's five [daemon] lines, a blank, then the watch: line 11.
    assert!(
        checked.stderr.contains(":11:"),
        "names the line: {checked:?}"
    );
    let check = env.run_with_env(&["check"], &bare_path);
    assert_eq!(check.code, 2, "{check:?}");
    assert!(check.stderr.contains("apt install chromium"), "{check:?}");
}

#[test]
fn a_browser_that_dies_fails_its_page_and_the_next_page_gets_a_new_one() {
    let Some(chromium) = chromium() else { return };
    let server = Server::start();
    server.set("/eng/statement.html", Route::html(shell()));
    // The data takes its time: the browser is killed meanwhile.
    server.set(
        "/api/statement.json",
        statement(&seed::SHORT).with_behavior(Behavior::Hang(Duration::from_secs(3))),
    );
    let env = Env::new("", "");
    let (wrapper, mark) = marked_browser(&env, &chromium);
    env.write_config(
        "",
        &(spa_watch(
            "spa",
            &server.url("/eng/statement.html"),
            "interval = \"2s\"\nsettle = \"0s\"\n",
        ) + &browser_section(&wrapper, "20s", "5s")),
    );
    let mut daemon = env.daemon("daemon.log");
    let daemon_pid = daemon.pid();
    // Kill the browser's main process while the first page waits for its data.
    assert!(
        wait_until(Duration::from_secs(30), || !server
            .requests("/api/statement.json")
            .is_empty()),
        "the page never asked for its data:\n{}",
        daemon.log()
    );
    let pids = std::process::Command::new("pgrep")
        .args(["-f", "-o", &format!("chancery-browser-{daemon_pid}-")])
        .output()
        .expect("pgrep");
    let pid = String::from_utf8_lossy(&pids.stdout).trim().to_owned();
    assert!(!pid.is_empty(), "no browser process found");
    std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill");
    daemon.wait_log("reason=\"browser\"", Duration::from_secs(30));
    // The next check starts a new browser and sees the statement.
    let db = env.db_path();
    assert!(
        wait_until(Duration::from_secs(60), || crate::support::count(
            &db,
            "snapshots"
        ) >= 1),
        "no snapshot after the restart:\n{}",
        daemon.log()
    );
    let starts = std::fs::read_to_string(&mark).unwrap_or_default();
    assert!(starts.lines().count() >= 2, "started {starts:?}");
    daemon.signal("TERM");
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        daemon.log()
    );
    // The browser went with the daemon.
    let left = std::process::Command::new("pgrep")
        .args(["-f", &format!("chancery-browser-{daemon_pid}-")])
        .output()
        .expect("pgrep");
    assert!(
        left.stdout.is_empty(),
        "browser processes left: {:?}",
        String::from_utf8_lossy(&left.stdout)
    );
}

/// Processes of the browser a chancery process started (its profile is
/// named after the chancery pid).
fn browser_processes(chancery_pid: u32) -> usize {
    let out = std::process::Command::new("pgrep")
        .args(["-f", &format!("chancery-browser-{chancery_pid}-")])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn a_browser_over_memory_max_is_restarted_between_pages() {
    let Some(chromium) = chromium() else { return };
    let server = Server::start();
    // The test server routes by path and query.
    for i in 1..=2 {
        server.set(&format!("/eng/statement.html?v={i}"), Route::html(shell()));
    }
    server.set("/api/statement.json", statement(&seed::SHORT));
    let env = Env::new("", "");
    let (wrapper, mark) = marked_browser(&env, &chromium);
    let config = |memory_max: &str| {
        let watches: String = (1..=2)
            .map(|i| {
                spa_watch(
                    &format!("spa-{i}"),
                    &format!("{}?v={i}", server.url("/eng/statement.html")),
                    "settle = \"0s\"\n",
                )
            })
            .collect();
        format!(
            "{watches}{}max_tabs = 1\nmemory_max = \"{memory_max}\"\n",
            browser_section(&wrapper, "20s", "5s")
        )
    };
    // Two pages, one tab: under the default ceiling, one browser serves both.
    env.write_config("", &config("1GiB"));
    let run = env.run(&["check"]).ok();
    assert_eq!(run.stdout.matches("first-seen").count(), 2, "{run:?}");
    let starts = |mark: &Path| {
        std::fs::read_to_string(mark)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(starts(&mark), 1);
    // A headless Chromium takes more than 64 MiB: restarted after each page.
    env.write_config("", &config("64MiB"));
    let run = env
        .run_with_env(&["check"], &[("RUST_LOG", "chancery=info")])
        .ok();
    assert_eq!(starts(&mark), 3, "{run:?}");
    assert!(run.stderr.contains("over memory_max"), "{run:?}");
}

#[test]
fn an_idle_browser_is_closed_and_the_daemon_goes_on() {
    let Some(chromium) = chromium() else { return };
    let server = Server::start();
    server.set("/eng/statement.html", Route::html(shell()));
    server.set("/api/statement.json", statement(&seed::SHORT));
    let env = Env::new("", "");
    env.write_config(
        "",
        &(spa_watch(
            "spa",
            &server.url("/eng/statement.html"),
            "interval = \"20s\"\n",
        ) + &browser_section(&chromium, "20s", "2s")),
    );
    let mut daemon = env.daemon("daemon.log");
    let pid = daemon.pid();
    // The first check comes within the interval (start-up spread).
    daemon.wait_log("browser started", Duration::from_secs(40));
    let db = env.db_path();
    assert!(
        wait_until(Duration::from_secs(30), || crate::support::count(
            &db,
            "snapshots"
        ) == 1),
        "{}",
        daemon.log()
    );
    assert!(
        wait_until(Duration::from_secs(20), || browser_processes(pid) == 0),
        "the browser is still running after idle:\n{}",
        daemon.log()
    );
    daemon.signal("TERM");
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        daemon.log()
    );
}
