//! Parsing and validation of config files: what is accepted, with which
//! defaults, and the message (file, line, key) for what is not.

use super::validate::{DEFAULT_INTERVAL, DEFAULT_MAX_BODY_BYTES, DEFAULT_MEMORY_BUDGET};
use super::*;

fn parse_str(text: &str) -> Result<Config, ConfigError> {
    parse(Path::new("conf/test.toml"), text, None)
}

fn problems(text: &str) -> Vec<Problem> {
    match parse_str(text) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("config was accepted:\n{text}"),
    }
}

const GOOD: &str = r##"
[daemon]
state_dir = "state"
user_agent = "chancery-test"
timeout = "20s"
max_body = "2MiB"
memory_budget = "1GiB"
default_interval = "1h"

[[watch]]
name = "uk-embassy.remarks_1"
url = "https://example.gov/eng/remarks/"
interval = "10m"
select = ["#content"]
exclude = [".share", "nav"]
ignore = ['Visits: \d+']
notify = ["desk"]

[[watch]]
name = "mfa"
url = "http://example.org/"

[[subscriber]]
name = "desk"
webhook = "https://hooks.example.org/chancery"
"##;

#[test]
fn full_config_parses_with_units() {
    let c = parse_str(GOOD).expect("valid");
    assert_eq!(c.daemon.state_dir, Path::new("conf/state"));
    assert_eq!(c.daemon.timeout, Duration::from_secs(20));
    assert_eq!(c.daemon.max_body_bytes, 2 * 1024 * 1024);
    assert_eq!(c.daemon.memory_budget, 1 << 30);
    assert_eq!(c.watches.len(), 2);
    let w = &c.watches[0];
    assert_eq!(w.interval, Duration::from_secs(600));
    assert_eq!(w.filters.select.len(), 1);
    assert_eq!(w.filters.exclude.len(), 2);
    assert_eq!(w.filters.ignore.len(), 1);
    assert_eq!(w.notify, vec!["desk".to_owned()]);
    assert_eq!(
        c.watches[1].interval,
        Duration::from_secs(3600),
        "default_interval applies"
    );
}

#[test]
fn defaults_and_state_directory_env() {
    let c = parse(
        Path::new("x.toml"),
        "",
        Some(Path::new("/var/lib/chancery")),
    )
    .expect("empty is valid");
    assert_eq!(c.daemon.state_dir, Path::new("/var/lib/chancery"));
    assert_eq!(c.daemon.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    assert_eq!(c.daemon.memory_budget, DEFAULT_MEMORY_BUDGET);
    assert_eq!(c.daemon.default_interval, DEFAULT_INTERVAL);
    let c = parse(Path::new("x.toml"), "", None).expect("empty is valid");
    assert_eq!(c.daemon.state_dir, Path::new("chancery-state"));
}

#[test]
fn unknown_key_names_line_and_key() {
    let p = problems(
        "[daemon]\ntimeout = \"5s\"\n\n[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\nintervall = \"5m\"\n",
    );
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].line, 7);
    assert!(p[0].key.starts_with("watch[0]"), "{:?}", p[0]);
    assert!(p[0].message.contains("intervall"), "{:?}", p[0]);
}

#[test]
fn bad_duration_names_line_and_key() {
    let p = problems("[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\ninterval = \"5x\"\n");
    assert_eq!((p[0].line, p[0].key.as_str()), (4, "watch[0].interval"));
    assert!(
        p[0].message.contains("\"5x\" is not a duration"),
        "{:?}",
        p[0]
    );
}

#[test]
fn bad_size_names_key() {
    let p = problems("[daemon]\nmax_body = \"lots\"\n");
    assert_eq!((p[0].line, p[0].key.as_str()), (2, "daemon.max_body"));
}

#[test]
fn duplicate_names_bad_urls_regexes_selectors_all_reported() {
    let text = r#"
[[watch]]
name = "a"
url = "https://a.example/"

[[watch]]
name = "a"
url = "ftp://a.example/"

[[watch]]
name = "Bad Name"
url = "not a url"
ignore = ["ok", "(unclosed"]
select = ["div[["]
"#;
    let p = problems(text);
    let summary: Vec<(usize, &str)> = p.iter().map(|p| (p.line, p.key.as_str())).collect();
    assert!(summary.contains(&(7, "watch[1].name")), "{summary:?}");
    assert!(summary.contains(&(8, "watch[1].url")), "{summary:?}");
    assert!(summary.contains(&(11, "watch[2].name")), "{summary:?}");
    assert!(summary.contains(&(12, "watch[2].url")), "{summary:?}");
    assert!(summary.contains(&(14, "watch[2].select[0]")), "{summary:?}");
    let dup = p
        .iter()
        .find(|p| p.key == "watch[1].name")
        .expect("dup reported");
    assert!(dup.message.contains("duplicate"), "{dup:?}");
}

#[test]
fn bad_regex_points_at_the_element() {
    let p = problems(
        "[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\nignore = [\n  \"ok\",\n  \"(unclosed\",\n]\n",
    );
    assert_eq!((p[0].line, p[0].key.as_str()), (6, "watch[0].ignore[1]"));
}

#[test]
fn bad_exclude_selector_is_attributed_to_exclude() {
    let p = problems(
        "[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\nselect = [\"p\"]\nexclude = [\"nav\", \"::\"]\n",
    );
    assert_eq!((p[0].line, p[0].key.as_str()), (5, "watch[0].exclude[1]"));
}

#[test]
fn syntax_error_has_a_line() {
    let p = problems("[daemon\n");
    assert_eq!(p[0].line, 1);
    let err =
        parse_str("[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\ninterval = \"5x\"\n")
            .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("conf/test.toml:4:"), "{msg}");
    assert!(msg.contains("watch[0].interval"), "{msg}");
}

#[test]
fn notification_config_and_its_errors() {
    let text = r#"
[smtp]
host = "smtp.example.org"
tls = "starttls"
username = "alerts@example.org"
password_file = "no-such-password-file"
from = "Chancery <alerts@example.org>"

[[subscriber]]
name = "desk"
email = ["desk@example.org", "not-an-address"]
events = ["edited", "removed"]
min_change = 0.05

[[subscriber]]
name = "hook"
webhook = "https://hooks.example.org/chancery"
secret_env = "CHANCERY_TEST_SURELY_UNSET_VARIABLE"

[[watch]]
name = "a"
url = "https://a.example/"
notify = ["desk", "nobody"]
"#;
    let p = problems(text);
    let keys: Vec<(usize, &str)> = p.iter().map(|p| (p.line, p.key.as_str())).collect();
    assert!(keys.contains(&(6, "smtp.password_file")), "{p:?}");
    assert!(keys.contains(&(11, "subscriber[0].email[1]")), "{p:?}");
    assert!(keys.contains(&(18, "subscriber[1].secret_env")), "{p:?}");
    assert!(keys.contains(&(23, "watch[0].notify[1]")), "{p:?}");
    let unset = p
        .iter()
        .find(|p| p.key == "subscriber[1].secret_env")
        .expect("reported");
    assert!(
        unset
            .message
            .contains("CHANCERY_TEST_SURELY_UNSET_VARIABLE is not set"),
        "{unset:?}"
    );

    let p = problems("[[subscriber]]\nname = \"desk\"\nemail = [\"desk@example.org\"]\n");
    assert_eq!(
        (p[0].line, p[0].key.as_str()),
        (2, "subscriber[0].email"),
        "{p:?}"
    );
    assert!(p[0].message.contains("[smtp]"), "{p:?}");
}

#[test]
fn secrets_come_from_files_and_never_print() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("smtp.pw"), "hunter2-secret\n").expect("write");
    let text = "[smtp]\nhost = \"h\"\nusername = \"u\"\npassword_file = \"smtp.pw\"\nfrom = \"a@b.example\"\n";
    let c = parse(&dir.path().join("c.toml"), text, None).expect("valid");
    let smtp = c.smtp.expect("smtp");
    assert_eq!(smtp.port, 587, "starttls by default");
    assert!(!format!("{smtp:?}").contains("hunter2"));
    let password = smtp.password.expect("password");
    assert_eq!(password.expose(), "hunter2-secret");
    assert_eq!(password.to_string(), "***");
}

#[test]
fn subscriber_filters() {
    let c = parse_str(GOOD).expect("valid");
    let desk = &c.subscribers[0];
    assert!(desk.wants(Event::Edited, 0.0));
    let picky = Subscriber {
        events: vec![Event::Edited],
        min_change: 0.1,
        ..desk.clone()
    };
    assert!(!picky.wants(Event::Edited, 0.05));
    assert!(picky.wants(Event::Edited, 0.2));
    assert!(!picky.wants(Event::Removed, 1.0));
}

#[test]
fn triggers_confirm_and_health_keys() {
    let text = r#"
[daemon]
confirm_delay = "0s"
failing_after = "6h"
flap_window = "2h"

[[watch]]
name = "a"
url = "https://a.example/"
notify = ["hook"]
confirm_delay = "2m"

[[watch]]
name = "b"
url = "https://b.example/"

[[subscriber]]
name = "hook"
webhook = "https://hooks.example.org/"
match = ["Taiwan", "台湾"]
changes = "additions"
"#;
    let c = parse_str(text).expect("valid");
    assert_eq!(c.daemon.content, Content::Auto, "auto by default");
    let c2 = parse_str(
        &text
            .replace("[daemon]\n", "[daemon]\ncontent = \"full\"\n")
            .replace(
                "confirm_delay = \"2m\"",
                "confirm_delay = \"2m\"\ncontent = \"auto\"",
            ),
    )
    .expect("valid");
    assert_eq!(c2.watches[0].filters.content, Content::Auto);
    assert_eq!(
        c2.watches[1].filters.content,
        Content::Full,
        "daemon default"
    );
    assert_ne!(
        c2.watches[0].filters_sha256(),
        c2.watches[1].filters_sha256(),
        "the content mode is part of the fingerprint"
    );
    assert_eq!(c.daemon.flap_window, Duration::from_secs(7200));
    assert_eq!(c.watches[0].confirm_delay, Duration::from_secs(120));
    assert_eq!(c.watches[1].confirm_delay, Duration::ZERO);
    assert_eq!(c.watches[1].failing_after, Duration::from_secs(6 * 3600));
    let hook = &c.subscribers[0];
    assert_eq!(hook.events, Event::DEFAULT, "default: every event");
    assert_eq!(hook.changes, Changes::Additions);
    // Only added lines count, and one of them must match.
    assert!(hook.triggered_by(&["Remarks on 台湾 affairs"], &[]));
    assert!(!hook.triggered_by(&["Remarks on trade"], &["Taiwan"]));
    assert!(!hook.triggered_by(&[], &["Taiwan"]));
    let any = Subscriber {
        patterns: Vec::new(),
        changes: Changes::Any,
        ..hook.clone()
    };
    assert!(any.triggered_by(&[], &["anything"]));
    assert!(
        !any.triggered_by(&[], &[]),
        "no changed line, nothing to alert"
    );

    // Both problems at once, in file order.
    let p = problems(
        "[[subscriber]]\nname = \"h\"\nwebhook = \"https://h.example/\"\nmatch = [\"ok\", \"(\"]\nchanges = \"some\"\n",
    );
    let found: Vec<(usize, &str)> = p.iter().map(|p| (p.line, p.key.as_str())).collect();
    assert_eq!(
        found,
        [(4, "subscriber[0].match[1]"), (5, "subscriber[0].changes")],
        "{p:?}"
    );
    let p = problems(
        "[[subscriber]]\nname = \"h\"\nwebhook = \"https://h.example/\"\nmatch = [\"ok\", \"(\"]\n",
    );
    assert_eq!(
        (p[0].line, p[0].key.as_str()),
        (4, "subscriber[0].match[1]"),
        "{p:?}"
    );
    let p = problems("[daemon]\nfailing_after = \"soon\"\n");
    assert_eq!(
        (p[0].line, p[0].key.as_str()),
        (2, "daemon.failing_after"),
        "{p:?}"
    );
}

#[test]
fn example_config_is_valid() {
    let text = include_str!("../../config/chancery.example.toml");
    let c = parse(Path::new("config/chancery.example.toml"), text, None)
        .expect("example config must be valid");
    assert!(c.watches.len() >= 3);
}

/// Every value that used to be accepted and then panic, loop or fail far
/// from its line is refused with its key, and none panics.
#[test]
fn values_out_of_range_are_refused_with_their_key() {
    let watch =
        |extra: &str| format!("[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\n{extra}\n");
    let daemon = |extra: &str| format!("[daemon]\n{extra}\n\n{}", watch(""));
    for (text, key, words) in [
        (
            watch("interval = \"18446744073709551615s\""),
            "watch[0].interval",
            "out of range",
        ),
        (
            watch("interval = \"0s\""),
            "watch[0].interval",
            "out of range: from 1s to 365d",
        ),
        (
            watch("interval = \"400d\""),
            "watch[0].interval",
            "out of range",
        ),
        (
            daemon("timeout = \"100000000h\""),
            "daemon.timeout",
            "out of range: from 1s to 10m",
        ),
        (
            daemon("per_host_delay = \"2d\""),
            "daemon.per_host_delay",
            "out of range: from 0s to 1d",
        ),
        (
            daemon("alert_retry = \"0s\""),
            "daemon.alert_retry",
            "out of range",
        ),
        (
            daemon("concurrency = 9223372036854775807"),
            "daemon.concurrency",
            "from 1 to 1024",
        ),
        (
            daemon("max_body = \"16EiB\""),
            "daemon.max_body",
            "out of range: from 1KiB to 1GiB",
        ),
        (
            daemon("memory_budget = \"1MiB\""),
            "daemon.memory_budget",
            "out of range: from 16MiB to 1TiB",
        ),
        (
            daemon("user_agent = \"bot\\r\\nX-Evil: 1\""),
            "daemon.user_agent",
            "one line",
        ),
        (
            watch("").replace("https://a.example/", "http:///path"),
            "watch[0].url",
            "no host",
        ),
    ] {
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{text}\n{p:?}");
        assert_eq!(p[0].key, key, "{text}\n{p:?}");
        assert!(p[0].message.contains(words), "{text}\n{p:?}");
    }
}

#[test]
fn a_state_dir_that_is_a_file_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("state"), "not a dir").expect("write");
    let text = "[daemon]\nstate_dir = \"state\"\n";
    match super::parse(&dir.path().join("chancery.toml"), text, None) {
        Err(ConfigError::Invalid { problems, .. }) => {
            assert_eq!(problems[0].key, "daemon.state_dir", "{problems:?}");
            assert!(
                problems[0].message.contains("is not a directory"),
                "{problems:?}"
            );
        }
        other => panic!("accepted: {other:?}"),
    }
}

#[test]
fn an_empty_file_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("chancery.toml");
    std::fs::write(&path, "# nothing yet\n\n").expect("write");
    match super::load(&path) {
        Err(ConfigError::Invalid { problems, .. }) => {
            assert!(problems[0].message.contains("sets nothing"), "{problems:?}");
        }
        other => panic!("accepted: {other:?}"),
    }
}

/// Type errors name TOML things, never Rust types, and one mistake is one
/// problem (a required key of the wrong type is not also "missing").
#[test]
fn type_errors_speak_the_config_language() {
    let p = problems("daemon = 5\n[[watch]]\nname = 1\nurl = \"https://a.example/\"\nfollow = 3\n");
    let found: Vec<(&str, &str)> = p
        .iter()
        .map(|p| (p.key.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("daemon", "invalid type: integer `5`, expected a table"),
            (
                "watch[0].name",
                "invalid type: integer `1`, expected a string"
            ),
            (
                "watch[0].follow",
                "invalid type: integer `3`, expected a table"
            ),
        ],
        "{p:?}"
    );
    let p = problems("watch = 5\n");
    assert_eq!(
        p[0].message,
        "must be an array of tables ([[watch]]), not an integer"
    );
}

#[test]
fn the_web_table_reads_its_address_base_url_and_token_file() {
    let c = parse_str("[web]\nlisten = \"127.0.0.1:8081\"\nbase_url = \"https://chancery.example.org/\"\ntoken_file = \"web-token\"\n")
        .expect("valid");
    let web = c.web.expect("[web]");
    assert_eq!(web.listen, Some("127.0.0.1:8081".parse().expect("addr")));
    assert_eq!(web.token_file.as_deref(), Some(Path::new("conf/web-token")));
    assert_eq!(
        web.change_url("mfa/statement-1", 7).as_deref(),
        Some("https://chancery.example.org/w/mfa/statement-1/changes/7")
    );
    let p = problems("[web]\nlisten = \"localhost\"\nbase_url = \"ftp://x.example/\"\nport = 1\n");
    let keys: Vec<(usize, &str)> = p.iter().map(|p| (p.line, p.key.as_str())).collect();
    assert_eq!(
        keys,
        [(2, "web.listen"), (3, "web.base_url"), (4, "web.port")],
        "{p:?}"
    );
}

#[test]
fn browser_watches_and_the_browser_section_parse_with_defaults() {
    let text = r#"
[browser]
executable = "/bin/sh"
sandbox = false
block = ["image", "stylesheet"]
memory_max = "512MiB"

[[watch]]
name = "spa"
url = "https://mfa.example/app/"
render = "browser"
wait_for = "article.statement"

[[watch]]
name = "plain"
url = "https://mfa.example/news/1.html"
"#;
    let c = parse_str(text).expect("valid");
    assert!(c.watches.iter().any(|w| w.render.is_browser()));
    assert_eq!(
        c.watches[0].render,
        Render::Browser(crate::fetch::browser::PageWait {
            wait_for: Some("article.statement".to_owned()),
            settle: Duration::from_secs(1),
        })
    );
    assert_eq!(c.watches[1].render, Render::Http);
    let options = &c.browser;
    assert_eq!(options.executable.as_deref(), Some(Path::new("/bin/sh")));
    assert!(!options.sandbox);
    assert_eq!(options.max_tabs, 2);
    assert_eq!(options.timeout, Duration::from_secs(30));
    assert_eq!(
        options.block,
        vec![
            crate::fetch::browser::Block::Image,
            crate::fetch::browser::Block::Stylesheet
        ]
    );
    assert_eq!(options.memory_max, 512 << 20);
    // Only the mode is in the fingerprint, and only for browser watches:
    // http watches keep the fingerprints they had.
    let spa = &c.watches[0];
    let mut as_http = (**spa).clone();
    as_http.render = Render::Http;
    assert_ne!(spa.filters_sha256(), as_http.filters_sha256());
    assert!(spa.render_switched_from(&as_http.filters_sha256()));
    assert!(!spa.render_switched_from(&spa.filters_sha256()));
}

#[test]
fn browser_keys_are_checked_where_they_are_written() {
    let found = problems(
        r#"
[browser]
executable = "/bin/sh"
max_tabs = 0
block = ["script"]

[[watch]]
name = "plain"
url = "https://mfa.example/news/1.html"
wait_for = "article"

[[watch]]
name = "spa"
url = "https://mfa.example/app/"
render = "brwoser"

[[watch]]
name = "spa2"
url = "https://mfa.example/app/2"
render = "browser"
wait_for = "div >"
settle = "2m"
"#,
    );
    let said: Vec<String> = found
        .iter()
        .map(|p| format!("{}:{}: {}", p.line, p.key, p.message))
        .collect();
    let has = |line: usize, key: &str, words: &str| {
        assert!(
            found
                .iter()
                .any(|p| p.line == line && p.key == key && p.message.contains(words)),
            "no {key} problem on line {line} saying {words:?}: {said:#?}"
        );
    };
    has(4, "browser.max_tabs", "from 1 to 16");
    has(5, "browser.block[0]", "script");
    has(
        10,
        "watch[0].wait_for",
        "only used with render = \"browser\"",
    );
    has(15, "watch[1].render", "brwoser");
    has(21, "watch[2].wait_for", "invalid CSS selector");
    has(22, "watch[2].settle", "out of range");
}

#[test]
fn a_browser_watch_without_a_browser_names_the_package() {
    let found = problems(
        r#"
[browser]
executable = "/nonexistent/chromium"

[[watch]]
name = "spa"
url = "https://mfa.example/app/"
render = "browser"
"#,
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].key, "watch[0].render");
    assert_eq!(found[0].line, 8);
    assert!(
        found[0].message.contains("/nonexistent/chromium"),
        "{found:?}"
    );
    // Read-only commands (no secrets read) do not need the browser.
    let text = "[browser]\nexecutable = \"/nonexistent/chromium\"\n[[watch]]\nname = \"spa\"\nurl = \"https://mfa.example/app/\"\nrender = \"browser\"\n";
    parse_with(Path::new("conf/test.toml"), text, None, Secrets::Skip)
        .expect("valid without secrets");
}

/// `n` watches of about 100 bytes each: a file read in several pieces.
fn many_watches(n: usize) -> String {
    let mut text = String::from("[daemon]\nstate_dir = \"state\"\ndefault_interval = \"2h\"\n");
    for i in 0..n {
        text.push_str(&format!(
            "[[watch]]\nname = \"page-{i}\"\nurl = \"http://127.0.0.1:9/page/{i}.html\"\nignore = ['visits: \\d+']\n"
        ));
    }
    text
}

/// The line of `needle` in `text`, 1-based.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).expect("needle in text");
    text[..at].matches('\n').count() + 1
}

#[test]
fn a_large_file_is_read_in_pieces_as_one() {
    let text = many_watches(6000);
    assert!(
        super::pieces::pieces(&text, 256 * 1024).len() > 2,
        "the file must span pieces for this test"
    );
    let c = parse_str(&text).expect("valid");
    assert_eq!(c.watches.len(), 6000);
    assert_eq!(c.watches[5999].name, "page-5999");
    // [daemon] in the first piece applies to watches in the last.
    assert_eq!(c.watches[5999].interval, Duration::from_secs(7200));
}

#[test]
fn problems_in_later_pieces_name_their_line_and_table() {
    let mut text = many_watches(6000);
    text = text.replace(
        "name = \"page-4000\"\n",
        "name = \"page-4000\"\ninterval = \"soon\"\n",
    );
    text = text.replace(
        "name = \"page-4500\"\n",
        "name = \"page-4500\"\nselector = 1\n",
    );
    // A duplicate name across pieces, reported against the first use.
    text = text.replace("name = \"page-5999\"\n", "name = \"page-10\"\n");
    let found = problems(&text);
    let keys: Vec<(&str, usize)> = found.iter().map(|p| (p.key.as_str(), p.line)).collect();
    assert_eq!(
        keys,
        vec![
            (
                "watch[4000].interval",
                line_of(&text, "interval = \"soon\"")
            ),
            ("watch[4500].selector", line_of(&text, "selector = 1")),
            (
                "watch[5999].name",
                line_of(
                    &text,
                    "name = \"page-10\"\nurl = \"http://127.0.0.1:9/page/5999"
                )
            ),
        ],
        "{found:#?}"
    );
    assert!(
        found[2].message.contains("first used by watch[10]"),
        "{}",
        found[2].message
    );
}

/// The outcome of reading `text` in pieces of `piece_bytes`.
fn parse_in_pieces(text: &str, piece_bytes: usize) -> Result<Config, ConfigError> {
    parse_in(
        Path::new("conf/test.toml"),
        text,
        None,
        Secrets::Read,
        piece_bytes,
    )
}

#[test]
fn read_in_pieces_means_what_the_whole_file_means() {
    let cases = [
        // Valid: tables and arrays of tables across pieces, a subtable by
        // dotted header, [daemon] after the watches it sets defaults for.
        "[[watch]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/a\"\n\
         [watch.follow]\nlinks = \"a\"\n\
         [[subscriber]]\nname = \"desk\"\nwebhook = \"http://127.0.0.1:9/h\"\n\
         [[watch]]\nname = \"b\"\nurl = \"http://127.0.0.1:9/b\"\nnotify = [\"desk\"]\n\
         [daemon]\ndefault_interval = \"2h\"\n\
         [[subscriber]]\nname = \"desk2\"\nwebhook = \"http://127.0.0.1:9/h2\"\n",
        // Problems in several pieces: a bad value, an unknown key, a
        // duplicate name, a notify naming nobody, an unknown table.
        "[[watch]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/a\"\ninterval = \"soon\"\n\
         [[watch]]\nname = \"b\"\nurl = \"http://127.0.0.1:9/b\"\nselector = 1\n\
         [nonsense]\nx = 1\n\
         [[watch]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/c\"\nnotify = [\"nobody\"]\n",
        // A syntax error in a later piece: only syntax errors are told.
        "[[watch]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/a\"\ncolour = 1\n\
         [[watch]]\nname = \"b\nurl = \"http://127.0.0.1:9/b\"\n",
        // A table twice, far apart.
        "[retention]\nchecks = \"30d\"\n\
         [[watch]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/a\"\n\
         [retention]\nchecks = \"60d\"\n",
        // A table reopened by a dotted header further down.
        "[retention]\nchecks = \"30d\"\n\
         [[watch]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/a\"\n\
         [retention.more]\nx = 1\n",
        // Root keys, then the same array as tables.
        "watch = [{ name = \"a\", url = \"http://127.0.0.1:9/a\" }]\n\
         [[watch]]\nname = \"b\"\nurl = \"http://127.0.0.1:9/b\"\n",
        // A quoted header is no cut, and still the same table.
        "[\"daemon\"]\ndefault_interval = \"2h\"\n\
         [[watch]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/a\"\n",
        // [[watch]] then [watch]: an error either way.
        "[[watch]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/a\"\n[watch]\nname = \"b\"\n",
    ];
    for text in cases {
        let whole = parse_in_pieces(text, usize::MAX);
        for piece_bytes in [1, 40, 100] {
            let pieces = parse_in_pieces(text, piece_bytes);
            match (&whole, &pieces) {
                (Ok(w), Ok(p)) => {
                    assert_eq!(w.watches, p.watches, "{text}");
                    assert_eq!(w.subscribers, p.subscribers, "{text}");
                    assert_eq!(w.retention, p.retention, "{text}");
                    assert_eq!(
                        w.daemon.default_interval, p.daemon.default_interval,
                        "{text}"
                    );
                }
                (
                    Err(ConfigError::Invalid { problems: w, .. }),
                    Err(ConfigError::Invalid { problems: p, .. }),
                ) => assert_eq!(w, p, "{text}"),
                _ => panic!("{text}\nwhole: {whole:?}\npieces: {pieces:?}"),
            }
        }
    }
    // The cases above do what they say: the first and the quoted header
    // are valid, the rest not.
    let valid: Vec<bool> = cases
        .iter()
        .map(|t| parse_in_pieces(t, 1).is_ok())
        .collect();
    assert_eq!(
        valid,
        [true, false, false, false, false, false, true, false]
    );
}

#[test]
fn a_store_url_puts_the_history_in_postgres_and_its_password_comes_from_elsewhere() {
    let watch = "[[watch]]\nname = \"a\"\nurl = \"https://a.example/\"\n\n";
    let c = parse_str(&format!(
        "{watch}[store]\nurl = \"postgres://chancery@db.example.org/chancery?sslmode=require\"\n"
    ))
    .unwrap();
    assert_eq!(
        c.store_location(),
        crate::store::Location::Postgres {
            url: "postgres://chancery@db.example.org/chancery?sslmode=require".to_owned(),
            password: None,
        }
    );
    assert_eq!(
        parse_str(watch).unwrap().store_location(),
        crate::store::Location::Sqlite(PathBuf::from("chancery-state/chancery.db"))
    );

    let p = problems(&format!(
        "{watch}[store]\nurl = \"postgres://chancery:s3cret@db.example.org/chancery\"\n"
    ));
    assert_eq!((p[0].line, p[0].key.as_str()), (6, "store.url"));
    assert!(p[0].message.contains("password_env"), "{:?}", p[0]);
    assert!(!p[0].message.contains("s3cret"), "{:?}", p[0]);

    let p = problems(&format!(
        "{watch}[store]\nurl = \"mysql://db.example.org/chancery\"\n"
    ));
    assert_eq!(p[0].key, "store.url");
    assert!(p[0].message.contains("not a postgres:// URL"), "{:?}", p[0]);

    let p = problems(&format!(
        "{watch}[store]\nurl = \"postgres://chancery@db/c\"\npassword_env = \"CHANCERY_TEST_UNSET_STORE_PASSWORD\"\n"
    ));
    assert_eq!((p[0].line, p[0].key.as_str()), (7, "store.password_env"));
    assert!(p[0].message.contains("is not set"), "{:?}", p[0]);

    let p = problems(&format!(
        "{watch}[store]\nurl = \"postgres://chancery@db/c\"\npasword_file = \"x\"\n"
    ));
    assert_eq!(p[0].line, 7);
    assert!(p[0].message.contains("pasword_file"), "{:?}", p[0]);
}
