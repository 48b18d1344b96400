//! `chancery watch add|remove`: the config file edited in place (the rest
//! kept byte for byte, nothing written when the result is invalid), the
//! dry run's fetch through the extract code, and a running daemon told to
//! reload.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::support::{Env, Route, Server, wait_until};

/// A config with comments and layout that an edit must keep.
const CONFIG: &str = "\
# chancery test config: keep this comment
[daemon]
state_dir = \"state\"      # aligned comment
user_agent = \"chancery-test\"
timeout = \"5s\"
per_host_delay = \"0s\"

# --- watches ---

# The first statement.
[[watch]]
name = \"first\"
url = \"https://first.example/a\"
interval = \"1h\"

# The second one, with a sub-table.
[[watch]]
name = \"second\"
url = \"https://second.example/list\"
interval = \"1h\"
[watch.follow]
links = \"a.statement\"

[[watch]]
name = 'third'   # literal string
url = \"https://third.example/\"
interval = \"1h\"
";

fn env_with(text: &str) -> Env {
    let env = Env::new("", "");
    std::fs::write(env.config_path(), text).expect("write config");
    env
}

fn config_text(env: &Env) -> String {
    std::fs::read_to_string(env.config_path()).expect("read config")
}

#[test]
fn add_appends_a_table_and_keeps_the_file_byte_for_byte() {
    let env = env_with(CONFIG);
    std::fs::set_permissions(env.config_path(), std::fs::Permissions::from_mode(0o640))
        .expect("chmod");
    // A lock left by a daemon that is gone: no daemon is running.
    std::fs::create_dir_all(env.dir.path().join("state")).expect("state dir");
    std::fs::write(env.dir.path().join("state/chancery.lock"), "999999\n").expect("lock");

    let url = "https://news.example.gov/Statements/2024-05-30.html";
    let run = env
        .run(&[
            "watch",
            "add",
            url,
            "--name",
            "mfa",
            "--select",
            "main p",
            "--select",
            "h1",
            "--interval",
            "30m",
        ])
        .ok();
    let path = env.config_path().display().to_string();
    assert_eq!(
        run.stdout,
        format!(
            "added watch mfa ({url}) to {path}; no daemon running; it will read the change at start\n"
        ),
        "{run:?}"
    );
    let text = config_text(&env);
    let added = text
        .strip_prefix(CONFIG)
        .unwrap_or_else(|| panic!("the old text is a prefix:\n{text}"));
    assert_eq!(
        added,
        format!(
            "\n[[watch]]\nname = \"mfa\"\nurl = \"{url}\"\nselect = [\"main p\", \"h1\"]\ninterval = \"30m\"\n"
        )
    );
    let mode = std::fs::metadata(env.config_path())
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640, "permissions kept");
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .expect("list dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");

    let check = env.run(&["config", "check"]).ok();
    assert!(check.stdout.contains("ok, 4 watches"), "{check:?}");
    assert!(
        check
            .stdout
            .contains(&format!("mfa  {url}  every 30m; select main p, h1")),
        "{check:?}"
    );

    // Without --name: host and last path segment, made unique.
    let url = "https://www.Example.gov/en/Statement%201/";
    env.run(&["watch", "add", url]).ok();
    let run = env.run(&["watch", "add", url]).ok();
    assert!(
        run.stdout
            .starts_with("added watch www.example.gov-statement-1-2 ("),
        "{run:?}"
    );
    let check = env.run(&["config", "check"]).ok();
    assert!(check.stdout.contains("ok, 6 watches"), "{check:?}");
    assert!(
        check.stdout.contains("\nwww.example.gov-statement-1  "),
        "{check:?}"
    );
    assert!(config_text(&env).starts_with(CONFIG));
}

#[test]
fn add_writes_nothing_when_the_result_is_invalid() {
    let env = env_with(CONFIG);
    // The appended table: a blank line, then `[[watch]]`, name, url, and
    // the optional keys.
    let header = CONFIG.lines().count() + 2;
    let cases: [(&[&str], usize, &str); 4] = [
        (
            &["--interval", "5x"],
            header + 3,
            "watch[3].interval: \"5x\" is not a duration",
        ),
        (
            &["--select", "p[[["],
            header + 3,
            "watch[3].select[0]: invalid CSS selector",
        ),
        (&["--name", "second"], header + 1, "watch[3].name"),
        (&["--name", "Not A Name"], header + 1, "watch[3].name"),
    ];
    let path = env.config_path().display().to_string();
    for (extra, line, expected) in cases {
        let mut args = vec!["watch", "add", "https://new.example/x"];
        args.extend_from_slice(extra);
        let run = env.run(&args);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stdout.is_empty(), "{run:?}");
        // The parser's location: file, line of the appended table, key.
        assert!(run.stderr.contains(&format!("{path}:{line}:")), "{run:?}");
        assert!(run.stderr.contains(expected), "{run:?}");
        assert!(run.stderr.contains("not added"), "{run:?}");
        assert_eq!(config_text(&env), CONFIG, "unchanged after {extra:?}");
    }
    let run = env.run(&["watch", "add", "not a url"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(config_text(&env), CONFIG);
}

#[test]
fn remove_takes_out_exactly_one_table() {
    let env = env_with(CONFIG);
    let run = env.run(&["watch", "remove", "second"]).ok();
    let path = env.config_path().display().to_string();
    assert_eq!(
        run.stdout,
        format!(
            "removed watch second from {path}; its history is kept; no daemon running; it will read the change at start\n"
        ),
        "{run:?}"
    );
    let removed = "\n# The second one, with a sub-table.\n[[watch]]\nname = \"second\"\nurl = \"https://second.example/list\"\ninterval = \"1h\"\n[watch.follow]\nlinks = \"a.statement\"\n";
    assert_eq!(config_text(&env), CONFIG.replacen(removed, "", 1));
    let check = env.run(&["config", "check"]).ok();
    assert!(check.stdout.contains("ok, 2 watches"), "{check:?}");

    env.run(&["watch", "remove", "first"]).ok();
    env.run(&["watch", "remove", "third"]).ok();
    let text = config_text(&env);
    assert!(
        text.starts_with("# chancery test config: keep this comment\n[daemon]\nstate_dir = \"state\"      # aligned comment\n"),
        "{text}"
    );
    assert!(text.ends_with("\n# --- watches ---\n"), "{text}");
    assert!(!text.contains("[[watch]]"), "{text}");
    let check = env.run(&["config", "check"]).ok();
    assert!(check.stdout.contains("ok, 0 watches"), "{check:?}");
}

#[test]
fn removing_an_unknown_watch_is_a_usage_error() {
    let env = env_with(CONFIG);
    let run = env.run(&["watch", "remove", "secnod"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("no watch named \"secnod\" in ")
            && run.stderr.contains("did you mean \"second\"?")
            && run.stderr.contains("(watches: first, second, third)"),
        "{run:?}"
    );
    assert_eq!(config_text(&env), CONFIG);
}

#[test]
fn dry_run_prints_the_table_and_the_text_and_writes_nothing() {
    let server = Server::start();
    server.set(
        "/statement",
        Route::html(
            "<html><head><title>Statement</title></head><body>\
             <nav>Home | News | Contact</nav>\
             <div id=\"main\"><h1>On the harbour agreement</h1>\
             <p>The ministry welcomes the agreement.</p></div>\
             <footer>Copyright ministry</footer></body></html>",
        ),
    );
    let env = env_with(CONFIG);
    let url = server.url("/statement");
    let run = env
        .run(&["watch", "add", &url, "--select", "#main", "--dry-run"])
        .ok();
    assert!(
        run.stdout.contains(&format!(
            "[[watch]]\nname = \"127.0.0.1-statement\"\nurl = \"{url}\"\nselect = [\"#main\"]\n"
        )),
        "{run:?}"
    );
    let text_at = run
        .stdout
        .find("as the watch would see it now")
        .expect("text heading");
    let text = &run.stdout[text_at..];
    assert!(
        text.contains("On the harbour agreement\nThe ministry welcomes the agreement."),
        "{run:?}"
    );
    assert!(
        !text.contains("Home | News") && !text.contains("Copyright"),
        "{run:?}"
    );
    assert_eq!(server.requests("/statement").len(), 1);
    assert_eq!(config_text(&env), CONFIG, "a dry run writes nothing");

    // An invalid watch is reported before anything is fetched.
    let run = env.run(&["watch", "add", &url, "--interval", "soon", "--dry-run"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(server.requests("/statement").len(), 1);
}

#[test]
fn a_running_daemon_reloads_after_add_and_remove() {
    let server = Server::start();
    server.set(
        "/a",
        Route::html("<html><body><p>Page a.</p></body></html>"),
    );
    server.set(
        "/b",
        Route::html("<html><body><p>Page b.</p></body></html>"),
    );
    let env = env_with(&format!(
        "# the daemon's config\n[daemon]\nstate_dir = \"state\"\nuser_agent = \"chancery-test\"\ntimeout = \"5s\"\nper_host_delay = \"0s\"\n\n[[watch]]\nname = \"a\"\nurl = \"{}\"\ninterval = \"1h\"\n",
        server.url("/a")
    ));
    let daemon = env.daemon("run");
    daemon.wait_log("chancery started", Duration::from_secs(10));

    // Never checked, so its first check is spread over its first
    // interval: 1 s keeps the test short.
    let run = env
        .run(&[
            "watch",
            "add",
            &server.url("/b"),
            "--name",
            "b",
            "--interval",
            "1s",
        ])
        .ok();
    assert!(
        run.stdout
            .ends_with(&format!("; daemon (pid {}) reloading\n", daemon.pid())),
        "{run:?}"
    );
    daemon.wait_log("config reloaded", Duration::from_secs(10));
    assert!(daemon.log().contains("added=1"), "{}", daemon.log());
    assert!(
        wait_until(Duration::from_secs(15), || !server
            .requests("/b")
            .is_empty()),
        "the added watch was never checked:\n{}",
        daemon.log()
    );
    let list = env.run(&["list", "--json"]).ok().json();
    let names: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|w| w["name"].as_str())
        .collect();
    assert!(names.contains(&"b"), "{list:#}");

    let run = env.run(&["watch", "remove", "b"]).ok();
    assert!(run.stdout.contains("reloading"), "{run:?}");
    assert!(
        wait_until(Duration::from_secs(10), || daemon
            .log()
            .contains("removed=1")),
        "{}",
        daemon.log()
    );
}

/// A default name never hands a removed watch's history to another page:
/// the same page added back resumes its history, another page whose name
/// would be the same gets the next free one.
#[test]
fn a_default_name_does_not_inherit_the_history_of_another_page() {
    let server = Server::start();
    server.set("/en/statement", Route::html("<p>The first statement.</p>"));
    let env = env_with("[daemon]\nstate_dir = \"state\"\nper_host_delay = \"0s\"\n");
    let url = server.url("/en/statement");
    let added = env.run(&["watch", "add", &url]).ok();
    assert!(
        added
            .stdout
            .starts_with("added watch 127.0.0.1-statement ("),
        "{added:?}"
    );
    env.run(&["check"]).ok();
    env.run(&["watch", "remove", "127.0.0.1-statement"]).ok();

    // The same page comes back under its old name, with its history.
    let again = env.run(&["watch", "add", &url]).ok();
    assert!(
        again
            .stdout
            .starts_with("added watch 127.0.0.1-statement ("),
        "{again:?}"
    );
    let history = env.run(&["history", "127.0.0.1-statement"]).ok();
    assert!(history.stdout.contains("first-seen"), "{history:?}");
    env.run(&["watch", "remove", "127.0.0.1-statement"]).ok();

    // Another page with the same host and last segment does not take it.
    let other = server.url("/fr/statement");
    let run = env.run(&["watch", "add", &other]).ok();
    assert!(
        run.stdout
            .starts_with("added watch 127.0.0.1-statement-2 ("),
        "{run:?}"
    );
}
