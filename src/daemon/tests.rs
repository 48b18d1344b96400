//! Reload applies every setting: for each key of every table (listed by
//! serde itself, so a new key cannot be missed), a config that changes only
//! that key must change what the daemon applies ([`Applied`]), unless the
//! key is one that needs a restart.

use std::collections::BTreeSet;
use std::path::Path;

use super::Applied;
use crate::config::{self, Config, keys};

/// Keys a reload cannot apply: the daemon warns and keeps the running value.
const RESTART_ONLY: &[(&str, &str)] = &[
    ("daemon", "state_dir"),
    ("web", "listen"),
    ("web", "token_file"),
    ("store", "url"),
    ("store", "password_env"),
    ("store", "password_file"),
    ("store", "lease"),
];

/// The config every case starts from: one of each table.
fn base() -> Vec<(&'static str, Vec<String>)> {
    let lines = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    vec![
        ("daemon", lines(&["state_dir = \"state\""])),
        (
            "store",
            lines(&["url = \"postgres://chancery@db.example.org/chancery\""]),
        ),
        (
            "smtp",
            lines(&[
                "host = \"mail.example.org\"",
                "from = \"Chancery <alerts@example.org>\"",
            ]),
        ),
        (
            "desk",
            lines(&[
                "name = \"desk\"",
                "webhook = \"https://hooks.example.org/a\"",
            ]),
        ),
        (
            "mail",
            lines(&["name = \"mail\"", "email = [\"desk@example.org\"]"]),
        ),
        (
            "watch",
            lines(&[
                "name = \"mfa\"",
                "url = \"https://mfa.example/news/1.html\"",
                "notify = [\"desk\"]",
            ]),
        ),
        (
            "listing",
            lines(&[
                "name = \"pressroom\"",
                "url = \"https://mfa.example/news/\"",
                "follow = { links = \"a\" }",
            ]),
        ),
        (
            "spa",
            lines(&[
                "name = \"spa\"",
                "url = \"https://mfa.example/app/\"",
                "render = \"browser\"",
            ]),
        ),
        ("web", lines(&["listen = \"127.0.0.1:8080\""])),
        // Any existing file passes for the browser here: none is started.
        (
            "browser",
            lines(&["executable = \"/bin/sh\"", "sandbox = false"]),
        ),
    ]
}

/// Renders sections as TOML.
fn render(sections: &[(&str, Vec<String>)]) -> String {
    let mut out = String::new();
    for (section, lines) in sections {
        out.push_str(match *section {
            "daemon" => "[daemon]\n",
            "smtp" => "[smtp]\n",
            "web" => "[web]\n",
            "browser" => "[browser]\n",
            "store" => "[store]\n",
            "desk" | "mail" => "[[subscriber]]\n",
            _ => "[[watch]]\n",
        });
        for line in lines {
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// One key set to a value unlike the base's: (table, key, section edited,
/// lines replacing the key's line or added).
fn changes() -> Vec<(&'static str, &'static str, &'static str, Vec<&'static str>)> {
    vec![
        (
            "store",
            "url",
            "store",
            vec!["url = \"postgres://chancery@db2.example.org/chancery\""],
        ),
        (
            "store",
            "password_env",
            "store",
            vec!["password_env = \"PATH\""],
        ),
        (
            "store",
            "password_file",
            "store",
            vec!["password_file = \"secret.txt\""],
        ),
        ("store", "lease", "store", vec!["lease = \"5m\""]),
        (
            "daemon",
            "state_dir",
            "daemon",
            vec!["state_dir = \"elsewhere\""],
        ),
        (
            "daemon",
            "user_agent",
            "daemon",
            vec!["user_agent = \"desk/2\""],
        ),
        ("daemon", "timeout", "daemon", vec!["timeout = \"5s\""]),
        ("daemon", "max_body", "daemon", vec!["max_body = \"1MiB\""]),
        (
            "daemon",
            "memory_budget",
            "daemon",
            vec!["memory_budget = \"64MiB\""],
        ),
        (
            "daemon",
            "max_redirects",
            "daemon",
            vec!["max_redirects = 3"],
        ),
        (
            "daemon",
            "default_interval",
            "daemon",
            vec!["default_interval = \"2h\""],
        ),
        ("daemon", "concurrency", "daemon", vec!["concurrency = 3"]),
        (
            "daemon",
            "per_host_concurrency",
            "daemon",
            vec!["per_host_concurrency = 1"],
        ),
        (
            "daemon",
            "per_host_delay",
            "daemon",
            vec!["per_host_delay = \"5s\""],
        ),
        (
            "daemon",
            "respect_robots",
            "daemon",
            vec!["respect_robots = true"],
        ),
        (
            "daemon",
            "alert_retry",
            "daemon",
            vec!["alert_retry = \"1m\""],
        ),
        (
            "daemon",
            "alert_max_age",
            "daemon",
            vec!["alert_max_age = \"1d\""],
        ),
        (
            "daemon",
            "confirm_delay",
            "daemon",
            vec!["confirm_delay = \"5m\""],
        ),
        (
            "daemon",
            "failing_after",
            "daemon",
            vec!["failing_after = \"2h\""],
        ),
        (
            "daemon",
            "flap_window",
            "daemon",
            vec!["flap_window = \"1h\""],
        ),
        ("daemon", "flap_settle", "daemon", vec!["flap_settle = 3"]),
        (
            "daemon",
            "normalize_timeout",
            "daemon",
            vec!["normalize_timeout = \"5s\""],
        ),
        ("daemon", "content", "daemon", vec!["content = \"full\""]),
        ("smtp", "host", "smtp", vec!["host = \"mail2.example.org\""]),
        ("smtp", "port", "smtp", vec!["port = 2525"]),
        ("smtp", "tls", "smtp", vec!["tls = \"tls\""]),
        ("smtp", "username", "smtp", vec!["username = \"alerts\""]),
        (
            "smtp",
            "password_env",
            "smtp",
            vec!["username = \"alerts\"", "password_env = \"PATH\""],
        ),
        (
            "smtp",
            "password_file",
            "smtp",
            vec!["username = \"alerts\"", "password_file = \"secret.txt\""],
        ),
        (
            "smtp",
            "from",
            "smtp",
            vec!["from = \"Desk <desk@example.org>\""],
        ),
        ("smtp", "timeout", "smtp", vec!["timeout = \"5s\""]),
        ("subscriber", "name", "mail", vec!["name = \"mail2\""]),
        (
            "subscriber",
            "email",
            "mail",
            vec!["email = [\"other@example.org\"]"],
        ),
        (
            "subscriber",
            "webhook",
            "desk",
            vec!["webhook = \"https://hooks.example.org/b\""],
        ),
        (
            "subscriber",
            "secret_env",
            "desk",
            vec!["secret_env = \"PATH\""],
        ),
        (
            "subscriber",
            "secret_file",
            "desk",
            vec!["secret_file = \"secret.txt\""],
        ),
        (
            "subscriber",
            "events",
            "desk",
            vec!["events = [\"removed\"]"],
        ),
        ("subscriber", "min_change", "desk", vec!["min_change = 0.5"]),
        ("subscriber", "match", "desk", vec!["match = [\"Taiwan\"]"]),
        (
            "subscriber",
            "changes",
            "desk",
            vec!["changes = \"additions\""],
        ),
        ("web", "listen", "web", vec!["listen = \"127.0.0.1:8081\""]),
        (
            "web",
            "base_url",
            "web",
            vec![
                "listen = \"127.0.0.1:8080\"",
                "base_url = \"https://chancery.example.org/\"",
            ],
        ),
        (
            "web",
            "token_file",
            "web",
            vec!["listen = \"127.0.0.1:8080\"", "token_file = \"web-token\""],
        ),
        ("watch", "name", "watch", vec!["name = \"mfa2\""]),
        (
            "watch",
            "url",
            "watch",
            vec!["url = \"https://mfa.example/news/2.html\""],
        ),
        ("watch", "interval", "watch", vec!["interval = \"1h\""]),
        ("watch", "select", "watch", vec!["select = [\"#content\"]"]),
        ("watch", "exclude", "watch", vec!["exclude = [\".share\"]"]),
        ("watch", "ignore", "watch", vec!["ignore = ['\\d+ views']"]),
        (
            "watch",
            "notify",
            "watch",
            vec!["notify = [\"desk\", \"mail\"]"],
        ),
        (
            "watch",
            "confirm_delay",
            "watch",
            vec!["confirm_delay = \"5m\""],
        ),
        (
            "watch",
            "failing_after",
            "watch",
            vec!["failing_after = \"1h\""],
        ),
        ("watch", "flap_settle", "watch", vec!["flap_settle = 4"]),
        ("watch", "follow", "watch", vec!["follow = { feed = true }"]),
        (
            "watch",
            "child_interval",
            "watch",
            vec!["child_interval = \"2h\""],
        ),
        ("watch", "content", "watch", vec!["content = \"full\""]),
        ("watch", "render", "watch", vec!["render = \"browser\""]),
        ("watch", "wait_for", "spa", vec!["wait_for = \"article\""]),
        ("watch", "settle", "spa", vec!["settle = \"3s\""]),
        (
            "browser",
            "executable",
            "browser",
            vec!["executable = \"/bin/bash\""],
        ),
        ("browser", "sandbox", "browser", vec!["sandbox = true"]),
        ("browser", "max_tabs", "browser", vec!["max_tabs = 4"]),
        ("browser", "timeout", "browser", vec!["timeout = \"10s\""]),
        ("browser", "block", "browser", vec!["block = [\"image\"]"]),
        (
            "browser",
            "memory_max",
            "browser",
            vec!["memory_max = \"512MiB\""],
        ),
        ("browser", "idle", "browser", vec!["idle = \"1m\""]),
        (
            "follow",
            "links",
            "listing",
            vec!["follow = { links = \"li a\" }"],
        ),
        (
            "follow",
            "feed",
            "listing",
            vec!["follow = { feed = true }"],
        ),
        (
            "follow",
            "same_host",
            "listing",
            vec!["follow = { links = \"a\", same_host = false }"],
        ),
        (
            "follow",
            "max",
            "listing",
            vec!["follow = { links = \"a\", max = 5 }"],
        ),
        (
            "follow",
            "pages",
            "listing",
            vec!["follow = { links = \"a\", pages = 3 }"],
        ),
        (
            "follow",
            "next",
            "listing",
            vec!["follow = { links = \"a\", next = \"a.next\" }"],
        ),
    ]
}

/// `sections` with `lines` set in `section` (replacing lines of the same keys).
fn with(
    mut sections: Vec<(&'static str, Vec<String>)>,
    section: &str,
    lines: &[&str],
) -> Vec<(&'static str, Vec<String>)> {
    let key_of = |line: &str| line.split('=').next().unwrap_or("").trim().to_owned();
    let (_, existing) = sections
        .iter_mut()
        .find(|(name, _)| *name == section)
        .expect("known section");
    for line in lines {
        let key = key_of(line);
        existing.retain(|l| key_of(l) != key);
        existing.push((*line).to_owned());
    }
    sections
}

fn load(dir: &Path, text: &str) -> Config {
    let path = dir.join("chancery.toml");
    config::parse(&path, text, None).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn every_setting_is_applied_by_a_reload() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("secret.txt"), "s3cret\n").expect("secret file");
    let base_config = load(dir.path(), &render(&base()));
    let before = Applied::of(&base_config);

    for (table, key, section, lines) in changes() {
        let text = render(&with(base(), section, &lines));
        let after = Applied::of(&load(dir.path(), &text));
        if RESTART_ONLY.contains(&(table, key)) {
            assert_eq!(
                before, after,
                "{table}.{key} is restart-only but changed what is applied"
            );
        } else {
            assert_ne!(
                before, after,
                "{table}.{key} changed, but a reload would not apply it:\n{text}"
            );
        }
    }
}

#[test]
fn the_reload_test_covers_every_key() {
    let covered: BTreeSet<(&str, &str)> = changes().iter().map(|(t, k, _, _)| (*t, *k)).collect();
    let tables = [
        ("daemon", keys::daemon()),
        ("smtp", keys::smtp()),
        ("subscriber", keys::subscriber()),
        ("watch", keys::watch()),
        ("follow", keys::follow()),
        ("web", keys::web()),
        ("browser", keys::browser()),
        ("store", keys::store()),
    ];
    for (table, keys) in tables {
        assert!(!keys.is_empty(), "no keys found for {table}");
        for key in keys {
            assert!(
                covered.contains(&(table, *key)),
                "{table}.{key} is a config key the reload test does not change: add it to changes()"
            );
        }
    }
    // The top level is the tables themselves. `[retention]` is read by
    // `chancery gc` only: the daemon has nothing to apply.
    let top: BTreeSet<&str> = keys::top().iter().copied().collect();
    assert_eq!(
        top,
        BTreeSet::from([
            "daemon",
            "watch",
            "smtp",
            "subscriber",
            "retention",
            "web",
            "browser",
            "store"
        ])
    );
}
