//! The command line as a user meets it: config errors, unknown names,
//! listings, formats, and `extract`.

use crate::support::{Env, Route, Server, edit_once, fixture, run_binary};

#[test]
fn bad_config_errors_name_file_line_and_key() {
    let env = Env::new(
        "",
        "[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\ninterval = \"5x\"\n",
    );
    let run = env.run(&["config", "check"]);
    assert_eq!(run.code, 2, "{run:?}");
    let config = env.config_path().display().to_string();
    // The [daemon] header and its 4 lines, a blank line, then the watch: line 11.
    assert!(run.stderr.contains(&format!("{config}:11:")), "{run:?}");
    assert!(run.stderr.contains("watch[0].interval"), "{run:?}");
    assert!(run.stderr.contains("\"5x\" is not a duration"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "one clear line: {run:?}");

    env.write_config(
        "",
        "[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\nselector = [\"p\"]\n",
    );
    let run = env.run(&["check"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains(":11:"), "{run:?}");
    assert!(run.stderr.contains("selector"), "{run:?}");

    env.write_config("", "[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\n\n[[watch]]\nname = \"a\"\nurl = \"notaurl\"\n");
    let run = env.run(&["config", "check"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(":13:") && run.stderr.contains("watch[1].name"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains(":14:") && run.stderr.contains("watch[1].url"),
        "{run:?}"
    );
}

/// One run reports every problem of the file, in file order, each on one
/// line with file:line:column, the key as written and a plain message: no
/// internal names, no multi-line parser dumps.
#[test]
fn config_check_reports_every_problem_at_once() {
    let env = Env::new(
        "per_host_dely = \"1s\"\nmax_body = 5",
        "[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\ninterval = \"5x\"\n\n\
         [[watch]]\nname = \"a\"\nurl = \"https://b.example/\"\nselect = [\"div >\"]\nignore = [\"(unclosed\"]\nfollow = { link = \"a\", feed = true }\n\n\
         [[watch]]\nurl = \"https://c.example/\"\n\n\
         [[watch]]\nname = \"d\"\nurl = \"https://d.example/\"\nselector = [\"p\"]\n",
    );
    let run = env.run(&["config", "check"]);
    assert_eq!(run.code, 2, "{run:?}");
    let config = env.config_path().display().to_string();
    let stderr = run.stderr.strip_prefix("chancery: ").unwrap_or(&run.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let expected = [
        // The [daemon] header and its 4 lines, then the two bad ones.
        ":6:1: daemon.per_host_dely: unknown key \"per_host_dely\" (did you mean \"per_host_delay\"?)",
        ":7:12: daemon.max_body: expected a size in quotes, e.g. \"10MiB\"; found integer 5",
        ":12:12: watch[0].interval: \"5x\" is not a duration; use e.g. \"30s\", \"15m\", \"2h\", \"1d\"",
        ":15:8: watch[1].name: duplicate watch name \"a\" (first used by watch[0])",
        ":17:11: watch[1].select[0]: invalid CSS selector \"div >\": a combinator (>, +, ~ or a space) with nothing after it",
        ":18:11: watch[1].ignore[0]: invalid regex \"(unclosed\": unclosed group",
        ":19:12: watch[1].follow.link: unknown key \"link\" (did you mean \"links\"?)",
        ":21:1: watch[2]: missing key \"name\"",
        ":27:1: watch[3].selector: unknown key \"selector\" (did you mean \"select\"?)",
    ];
    assert_eq!(lines.len(), expected.len(), "{}", run.stderr);
    for (line, want) in lines.iter().zip(expected) {
        assert_eq!(*line, format!("{config}{want}"), "{}", run.stderr);
    }
    assert!(!run.stderr.contains("serde"), "{}", run.stderr);
    assert!(!run.stderr.contains("report this"), "{}", run.stderr);
}

#[test]
fn config_check_prints_one_line_per_watch() {
    let env = Env::new(
        "",
        "[[watch]]\nname = \"a\"\nurl = \"https://a.example/x\"\ninterval = \"10m\"\nselect = [\"#content\"]\n\n[[watch]]\nname = \"b\"\nurl = \"https://b.example/\"\n",
    );
    let run = env.run(&["config", "check"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{run:?}");
    assert!(lines[0].contains("ok, 2 watches"), "{run:?}");
    assert!(
        lines[1].starts_with("a  https://a.example/x  every 10m; select #content"),
        "{run:?}"
    );
    assert!(
        lines[2].starts_with("b  https://b.example/  every 15m"),
        "{run:?}"
    );
}

#[test]
fn example_config_validates_through_the_binary() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/chancery.example.toml");
    let dir = tempfile::tempdir().expect("tmp");
    let run = run_binary(
        &[
            "config".into(),
            "check".into(),
            "--config".into(),
            example.display().to_string(),
        ],
        dir.path(),
    )
    .ok();
    assert!(run.stdout.contains("fmprc-spokesperson-index"), "{run:?}");
}

#[test]
fn missing_config_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = run_binary(&["list".into()], dir.path());
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no config file"), "{run:?}");
}

#[test]
fn unknown_watch_and_missing_history_are_usage_errors() {
    let server = Server::start();
    server.set("/p", Route::html("<p>Hello</p>"));
    let env = Env::new(
        "",
        &format!("[[watch]]\nname = \"p\"\nurl = \"{}\"\n", server.url("/p")),
    );
    let run = env.run(&["history", "p"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("run `chancery check` first"), "{run:?}");
    env.run(&["check"]).ok();
    for args in [
        &["check", "nope"][..],
        &["history", "nope"],
        &["diff", "nope"],
        &["show", "nope"],
    ] {
        let run = env.run(args);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("no watch named \"nope\""), "{run:?}");
    }
    let run = env.run(&["show", "p", "999"]);
    assert_eq!(run.code, 2, "{run:?}");
    let run = env.run(&["diff", "p"]).ok();
    assert!(
        run.stdout.contains("+Hello"),
        "the first-seen change diffs from nothing: {run:?}"
    );
}

#[test]
fn listings_and_diff_formats() {
    let server = Server::start();
    let page = "<html><body><h1>Statement</h1><p>The ministry regrets the incident.</p><p>Second paragraph.</p></body></html>";
    server.set("/p", Route::html(page));
    let env = Env::new(
        "",
        &format!("[[watch]]\nname = \"p\"\nurl = \"{}\"\n", server.url("/p")),
    );
    env.run(&["check"]).ok();
    server.set(
        "/p",
        Route::html(edit_once(page, "regrets", "deeply regrets")),
    );
    let check = env.run(&["check", "--json"]).ok().json();
    assert_eq!(check[0]["watch"], "p");
    assert_eq!(check[0]["outcome"], "edited");
    assert_eq!(check[0]["summary"]["lines_added"], 1);

    let list = env.run(&["list"]).ok();
    assert!(
        list.stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("p ") && l.contains("edited")),
        "{list:?}"
    );

    let history = env.run(&["history", "p", "--checks", "5"]).ok();
    assert!(history.stdout.contains("edited"), "{history:?}");
    assert!(history.stdout.contains("first-seen"), "{history:?}");
    assert!(history.stdout.contains("checks:"), "{history:?}");

    let snapshots = env.run(&["history", "p", "--json"]).ok().json();
    let ids: Vec<i64> = snapshots["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .map(|s| s["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids.len(), 2);
    let (new, old) = (ids[0].to_string(), ids[1].to_string());
    // Explicit FROM and TO give the same diff as the default.
    let default = env.run(&["diff", "p", "--color", "never"]).ok();
    let explicit = env.run(&["diff", "p", &old, &new, "--color", "never"]).ok();
    assert_eq!(default.stdout, explicit.stdout);
    let reverse = env.run(&["diff", "p", &new, &old, "--color", "never"]).ok();
    assert!(
        reverse
            .stdout
            .contains("-The ministry deeply regrets the incident."),
        "{reverse:?}"
    );

    let word = env
        .run(&["diff", "p", "--format", "word", "--color", "never"])
        .ok();
    assert!(
        word.stdout.contains("{+deeply +}") || word.stdout.contains("{+deeply+}"),
        "{word:?}"
    );
    let side = env
        .run(&[
            "diff",
            "p",
            "--format",
            "side-by-side",
            "--color",
            "never",
            "--width",
            "80",
        ])
        .ok();
    assert!(
        side.stdout.lines().all(|l| l.chars().count() <= 80),
        "{side:?}"
    );
    assert!(side.stdout.contains("deeply"), "{side:?}");
    let colored = env.run(&["diff", "p", "--color", "always"]).ok();
    assert!(colored.stdout.contains('\u{1b}'), "{colored:?}");
    let plain = env.run(&["diff", "p"]).ok();
    assert!(
        !plain.stdout.contains('\u{1b}'),
        "piped output is plain: {plain:?}"
    );
}

#[test]
fn extract_runs_the_same_normalize_as_checks() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("bmz.html");
    std::fs::write(&path, fixture("bmz-wfp-statement.html")).expect("write");
    let run = run_binary(
        &[
            "extract".into(),
            path.display().to_string(),
            "--select".into(),
            "main".into(),
            "--ignore".into(),
            "Milliarden".into(),
        ],
        dir.path(),
    )
    .ok();
    assert!(
        run.stdout
            .contains("Die Bundesregierung war 2021 mit 1,2 Euro"),
        "{run:?}"
    );

    // The same page through a check gives the same text.
    let server = Server::start();
    server.set("/p", Route::html(fixture("bmz-wfp-statement.html")));
    let env = Env::new(
        "",
        &format!(
            "[[watch]]\nname = \"p\"\nurl = \"{}\"\nselect = [\"main\"]\nignore = [\"Milliarden\"]\n",
            server.url("/p")
        ),
    );
    env.run(&["check"]).ok();
    let show = env.run(&["show", "p"]).ok();
    assert_eq!(show.stdout, run.stdout);

    let url = server.url("/p");
    let live_args = [
        "extract",
        &url,
        "--select",
        "main",
        "--ignore",
        "Milliarden",
    ];
    let live = env.run(&live_args).ok();
    assert_eq!(live.stdout, run.stdout);
    // --json carries the same text, and the hash a check stores.
    let json = env.run(&[&live_args[..], &["--json"]].concat()).ok().json();
    assert_eq!(
        format!("{}\n", json["text"].as_str().unwrap_or("")),
        run.stdout
    );
    let stored = env.run(&["show", "p", "--json"]).ok().json();
    assert_eq!(json["sha256"], stored["sha256"], "{json:#}");

    let bad = run_binary(
        &[
            "extract".into(),
            path.display().to_string(),
            "--select".into(),
            "div[[".into(),
        ],
        dir.path(),
    );
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("invalid CSS selector"), "{bad:?}");
}

/// `chancery show p | head` must end quietly: the reader closing the pipe
/// is not an error. Every output here is larger than a pipe buffer, so the
/// write that finds the pipe closed happens mid-output.
#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    let server = Server::start();
    let paragraphs: String = (0..4000)
        .map(|i| format!("<p>Paragraph {i} of the statement on the incident.</p>"))
        .collect();
    let page = format!("<html><body><h1>Statement</h1>{paragraphs}</body></html>");
    server.set("/p", Route::html(page.clone()));
    let mut watches = format!("[[watch]]\nname = \"p\"\nurl = \"{}\"\n", server.url("/p"));
    for i in 0..1500 {
        watches.push_str(&format!(
            "\n[[watch]]\nname = \"idle-{i}\"\nurl = \"https://idle.example/{i}\"\n"
        ));
    }
    let env = Env::new("", &watches);
    env.run(&["check", "p"]).ok();
    server.set(
        "/p",
        Route::html(page.replace("of the statement", "of the amended statement")),
    );
    env.run(&["check", "p"]).ok();
    let saved = env.dir.path().join("page.html");
    std::fs::write(&saved, &page).expect("write page");
    let saved = saved.display().to_string();

    let commands: [&[&str]; 10] = [
        &["show", "p"],
        &["history", "p"],
        &["diff", "p", "--color", "never"],
        &["diff", "p", "--format", "word", "--color", "never"],
        &["diff", "p", "--format", "side-by-side", "--color", "never"],
        &["list"],
        &["list", "--json"],
        &["config", "check"],
        &["extract", &saved],
        &["status"],
    ];
    for args in commands {
        let (code, stderr) = env.run_into_closed_pipe(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} said: {stderr}");
    }

    // A check whose reader went away still finishes and stores its result.
    server.set("/p", Route::html(page.replace("incident", "events")));
    let (code, stderr) = env.run_into_closed_pipe(&["check", "p"]);
    assert_eq!(code, Some(0), "{stderr}");
    let history = env.run(&["history", "p", "--json"]).ok().json();
    assert_eq!(history["snapshots"].as_array().map(Vec::len), Some(3));
}

/// On a terminal, `check` shows a progress line while it waits out
/// `confirm_delay` (it no longer looks hung); `--quiet` and a non-terminal
/// stderr get none, and the result line is the same in all three.
#[test]
fn check_shows_progress_on_a_terminal_while_it_waits_to_confirm() {
    let server = Server::start();
    server.set(
        "/statement",
        Route::html(
            "<html><body><h1>Statement</h1><p>The ministry notes the report.</p></body></html>",
        ),
    );
    let closed = crate::support::closed_port();
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &format!(
            "[[watch]]\nname = \"mfa\"\nurl = \"{}\"\nconfirm_delay = \"2s\"\n\n\
             [[watch]]\nname = \"down\"\nurl = \"http://127.0.0.1:{closed}/\"\n",
            server.url("/statement")
        ),
    );
    env.run(&["check", "mfa"]).ok();
    server.set(
        "/statement",
        Route::status(404, "<html><body>Not Found</body></html>"),
    );
    // As a person runs it: a terminal, and no RUST_LOG.
    let screen = env.run_on_terminal(&["check"]);
    assert!(
        screen.contains(" of 2 done; waiting 2s to confirm mfa removed with a second fetch"),
        "{screen:?}"
    );
    assert!(screen.contains("mfa removed"), "{screen:?}");
    // The failed check is said once, by its result line, not again by a
    // log line among the results.
    assert!(screen.contains("down error (network)"), "{screen:?}");
    assert!(!screen.contains("WARN"), "{screen:?}");

    // Back, then gone again: quiet on a terminal, and piped.
    server.set(
        "/statement",
        Route::html(
            "<html><body><h1>Statement</h1><p>The ministry notes the report.</p></body></html>",
        ),
    );
    env.run(&["check", "mfa"]).ok();
    server.set(
        "/statement",
        Route::status(404, "<html><body>Not Found</body></html>"),
    );
    let quiet = env.run_on_terminal(&["check", "mfa", "--quiet"]);
    assert!(!quiet.contains("checking:"), "{quiet:?}");
    assert!(quiet.contains("mfa removed"), "{quiet:?}");
    let piped = env.run(&["check", "mfa"]);
    assert!(!piped.stderr.contains("checking:"), "{piped:?}");
    assert!(piped.stdout.starts_with("mfa "), "{piped:?}");
}

/// `status` names every watch in trouble (text and JSON) and what state it
/// is in; `list` shows each watch's state now apart from its last change.
#[test]
fn status_and_list_name_the_watches_in_trouble() {
    let server = Server::start();
    let page = "<html><body><h1>Statement</h1><p>The ministry notes the report.</p></body></html>";
    server.set("/ok", Route::html(page));
    server.set("/gone", Route::html(page));
    server.set("/blocked", Route::html(page));
    let closed = crate::support::closed_port();
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &format!(
            "[[watch]]\nname = \"ok\"\nurl = \"{}\"\n\n[[watch]]\nname = \"gone\"\nurl = \"{}\"\n\n\
             [[watch]]\nname = \"blocked\"\nurl = \"{}\"\n\n[[watch]]\nname = \"down\"\nurl = \"http://127.0.0.1:{closed}/\"\n\n\
             [[watch]]\nname = \"later\"\nurl = \"{}\"\n",
            server.url("/ok"),
            server.url("/gone"),
            server.url("/blocked"),
            server.url("/later"),
        ),
    );
    env.run(&["check", "ok", "gone", "blocked"]).ok();
    server.set(
        "/gone",
        Route::status(404, "<html><body>Not Found</body></html>"),
    );
    server.set("/blocked", Route::status(429, "Too Many Requests"));
    env.run(&["check", "ok", "gone", "blocked", "down"]);

    let status = env.run(&["status"]);
    assert_eq!(status.code, 0, "nothing is failing yet: {status:?}");
    let text = status.stdout;
    assert!(
        text.starts_with("watches: 5 in the config, 0 follow children (1 blocked, 1 error, 1 new, 1 ok, 1 removed)\n"),
        "{text}"
    );
    assert!(
        text.contains("last check failed (not failing yet): 2\n"),
        "{text}"
    );
    let named = |name: &str, state: &str| {
        text.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.len() > 2 && words[0] == name && words[1] == state && words[2] == "since"
        })
    };
    assert!(named("blocked", "blocked"), "{text}");
    assert!(named("down", "error"), "{text}");
    // The space left for the history (a full disk stops recording).
    let state_dir = env.dir.path().join("state").display().to_string();
    assert!(
        text.lines()
            .any(|l| l.starts_with("disk: ") && l.ends_with(&format!(" free for {state_dir}"))),
        "{text}"
    );

    let json = env.run(&["status", "--json"]).ok().json();
    assert!(
        json["disk"]["free_bytes"].as_u64().is_some_and(|b| b > 0),
        "{json:#}"
    );
    assert_eq!(json["disk"]["low"], false, "{json:#}");
    let erroring: Vec<(String, String)> = json["erroring"]
        .as_array()
        .expect("a list of watches")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or("").to_owned(),
                e["state"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        erroring,
        [
            ("blocked".to_owned(), "blocked".to_owned()),
            ("down".to_owned(), "error".to_owned())
        ]
    );
    assert!(
        json["erroring"][1]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("refused")),
        "{json:#}"
    );

    let list = env.run(&["list", "--json"]).ok().json();
    let states: Vec<(String, String, serde_json::Value)> = list
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("").to_owned(),
                r["state"].as_str().unwrap_or("").to_owned(),
                r["last_change"].clone(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("ok".to_owned(), "ok".to_owned(), serde_json::Value::Null),
            ("gone".to_owned(), "removed".to_owned(), "removed".into()),
            (
                "blocked".to_owned(),
                "blocked".to_owned(),
                serde_json::Value::Null
            ),
            (
                "down".to_owned(),
                "error".to_owned(),
                serde_json::Value::Null
            ),
            (
                "later".to_owned(),
                "new".to_owned(),
                serde_json::Value::Null
            ),
        ]
    );
    // Nothing to compare yet is not a usage error.
    let diff = env.run(&["diff", "later"]);
    assert_eq!(diff.code, 0, "{diff:?}");
    assert_eq!(
        diff.stdout,
        "later: nothing to compare yet: no check has recorded its text\n"
    );

    let history = env.run(&["history", "later"]).ok();
    assert_eq!(
        history.stdout,
        "later\nchanges:\n  (none)\nsnapshots:\n  (none)\n"
    );
    let show = env.run(&["show", "later"]);
    assert_eq!(show.code, 1, "{show:?}");
    assert!(show.stderr.contains("has not been checked yet"), "{show:?}");

    // A removed page that is then blocked is blocked now; its last change
    // is still the removal.
    server.set("/gone", Route::status(429, "Too Many Requests"));
    env.run(&["check", "gone"]);
    let list = env.run(&["list"]).ok().stdout;
    let row: Vec<&str> = list
        .lines()
        .find(|l| l.starts_with("gone "))
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(row[..2], ["gone", "blocked"], "{list}");
    assert_eq!(row[4], "removed", "last change kind after its time: {list}");
}

/// `--json` on the commands that print data: `show`, `config check` (its
/// problems too), `notify test`; ids are integers everywhere.
#[test]
fn json_on_show_config_check_and_notify_test() {
    let server = Server::start();
    server.set(
        "/p",
        Route::html(
            "<html><body><h1>Statement</h1><p>The ministry notes the report.</p></body></html>",
        ),
    );
    server.set("/hook", Route::status(204, ""));
    server.set("/broken", Route::status(500, "down"));
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &format!(
            "[[watch]]\nname = \"p\"\nurl = \"{}\"\nselect = [\"p\"]\n\n\
             [[subscriber]]\nname = \"hook\"\nwebhook = \"{}\"\n\n\
             [[subscriber]]\nname = \"broken\"\nwebhook = \"{}\"\n",
            server.url("/p"),
            server.url("/hook"),
            server.url("/broken"),
        ),
    );
    env.run(&["check"]).ok();

    let show = env.run(&["show", "p", "--json"]).ok().json();
    assert_eq!(show["text"], "The ministry notes the report.", "{show:#}");
    assert!(show["snapshot"].is_u64(), "{show:#}");
    let history = env.run(&["history", "p", "--json"]).ok().json();
    assert_eq!(show["sha256"], history["snapshots"][0]["sha256"]);

    let checked = env.run(&["config", "check", "--json"]).ok().json();
    assert_eq!(checked["valid"], true, "{checked:#}");
    assert_eq!(checked["watches"][0]["name"], "p");
    assert_eq!(checked["watches"][0]["select"][0], "p");
    assert_eq!(checked["watches"][0]["interval_secs"], 900, "{checked:#}");

    let sent = env.run(&["notify", "test", "hook", "--json"]).ok().json();
    assert_eq!(sent["delivered"], true, "{sent:#}");
    assert_eq!(sent["channel"], "webhook");
    let failed = env.run(&["notify", "test", "broken", "--json"]);
    assert_eq!(failed.code, 1, "{failed:?}");
    let failed = failed.json();
    assert_eq!(failed["delivered"], false, "{failed:#}");
    // The failure says where (without the path, which may hold a secret),
    // the status and what the receiver answered.
    let port = server
        .url("/")
        .split(':')
        .nth(2)
        .unwrap_or("")
        .trim_end_matches('/')
        .to_owned();
    assert_eq!(
        failed["error"],
        format!(
            "webhook http://127.0.0.1:{port}/… answered HTTP 500 Internal Server Error: \"down\""
        ),
        "{failed:#}"
    );

    env.write_config(
        "",
        "[[watch]]\nname = \"p\"\nurl = \"https://p.example/\"\ninterval = \"5x\"\nselect = [\"div >\"]\n",
    );
    let bad = env.run(&["config", "check", "--json"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    let bad = bad.json();
    assert_eq!(bad["valid"], false, "{bad:#}");
    let keys: Vec<&str> = bad["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["key"].as_str())
        .collect();
    assert_eq!(keys, ["watch[0].interval", "watch[0].select[0]"], "{bad:#}");
    assert_eq!(bad["problems"][0]["line"], 11, "{bad:#}");
}

/// `gc` deletes what `[retention] checks` lets it, dry run first, and
/// keeps the evidence; without `[retention]` it deletes nothing.
#[test]
fn gc_deletes_old_routine_checks_after_a_dry_run() {
    let server = Server::start();
    server.set(
        "/p",
        Route::html(
            "<html><body><h1>Statement</h1><p>The ministry notes the report.</p></body></html>",
        ),
    );
    let watches = format!("[[watch]]\nname = \"p\"\nurl = \"{}\"\n", server.url("/p"));
    let env = Env::new("per_host_delay = \"0s\"", &watches);
    for _ in 0..3 {
        env.run(&["check"]).ok();
    }
    let none = env.run(&["gc"]);
    assert_eq!(none.code, 2, "{none:?}");
    assert!(none.stderr.contains("sets no [retention]"), "{none:?}");

    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.write_config(
        "per_host_delay = \"0s\"",
        &format!("{watches}\n[retention]\nchecks = \"1s\"\n"),
    );
    env.run(&["check"]).ok();
    let dry = env.run(&["gc", "--dry-run"]).ok();
    assert!(
        dry.stdout
            .starts_with("would delete 2 check rows older than 1s"),
        "{dry:?}"
    );
    assert_eq!(crate::support::count(&env.db_path(), "checks"), 4);
    let done = env.run(&["gc", "--json"]).ok().json();
    assert_eq!(done["checks"], 2, "{done:#}");
    // Left: the first look (the baseline's evidence) and the latest check.
    assert_eq!(crate::support::count(&env.db_path(), "checks"), 2);
    assert_eq!(
        env.run(&["show", "p"]).ok().stdout,
        "Statement\nThe ministry notes the report.\n"
    );
}
