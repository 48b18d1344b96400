//! The core pipeline end to end: the real binary, a real HTTP server on
//! loopback, the real SQLite file.

use std::time::Duration;

use crate::support::{Behavior, Env, Route, Server, change_kinds, count, edit_once, fixture};

fn one_watch(server: &Server, name: &str, path: &str, extra: &str) -> String {
    format!(
        "[[watch]]\nname = \"{name}\"\nurl = \"{}\"\n{extra}\n",
        server.url(path)
    )
}

fn bmz() -> String {
    String::from_utf8(fixture("bmz-wfp-statement.html")).expect("fixture is UTF-8")
}

#[test]
fn lifecycle_first_seen_unchanged_edited_removed_restored() {
    let server = Server::start();
    let page = bmz();
    server.set("/statement", Route::html(page.clone()));
    let env = Env::new(
        "",
        &one_watch(&server, "bmz", "/statement", "select = [\"main\"]"),
    );

    let run = env.run(&["check"]).ok();
    assert!(run.line_for("bmz").starts_with("bmz first-seen"), "{run:?}");
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("bmz").starts_with("bmz unchanged"), "{run:?}");

    let edited = edit_once(&page, "mit 1,2 Milliarden Euro", "mit 1,4 Milliarden Euro");
    server.set("/statement", Route::html(edited.clone()));
    let run = env.run(&["check"]).ok();
    let line = run.line_for("bmz");
    assert!(line.starts_with("bmz edited +1 -1"), "{run:?}");

    // The diff shows exactly the changed sentence, old and new.
    let diff = env.run(&["diff", "bmz", "--color", "never"]).ok();
    let minus: Vec<&str> = diff
        .stdout
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .collect();
    let plus: Vec<&str> = diff
        .stdout
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    assert_eq!(minus.len(), 1, "{diff:?}");
    assert_eq!(plus.len(), 1, "{diff:?}");
    assert!(
        minus[0].starts_with("-Die Bundesregierung war 2021 mit 1,2 Milliarden Euro"),
        "{diff:?}"
    );
    assert!(
        plus[0].starts_with("+Die Bundesregierung war 2021 mit 1,4 Milliarden Euro"),
        "{diff:?}"
    );

    server.set(
        "/statement",
        Route::status(404, "<html><body><h1>Not found</h1></body></html>"),
    );
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("bmz").starts_with("bmz removed"), "{run:?}");
    assert!(run.line_for("bmz").contains("HTTP 404"), "{run:?}");
    // Still gone: no second removal.
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("bmz").starts_with("bmz unchanged"), "{run:?}");

    server.set("/statement", Route::html(edited.clone()));
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("bmz").starts_with("bmz restored"), "{run:?}");

    let history = env.run(&["history", "bmz", "--json"]).ok().json();
    let kinds = change_kinds(&history);
    assert_eq!(kinds, ["restored", "removed", "edited", "first-seen"]);
    // Restored to the text it had before the removal: the snapshot is reused.
    let changes = history["changes"].as_array().expect("changes");
    assert_eq!(changes[0]["to"], changes[2]["to"], "{history:#}");
    assert_eq!(history["snapshots"].as_array().expect("snapshots").len(), 2);

    // The latest snapshot's text and its raw body, byte for byte.
    let show = env.run(&["show", "bmz"]).ok();
    assert!(show.stdout.contains("mit 1,4 Milliarden Euro"), "{show:?}");
    assert!(!show.stdout.contains("<p>"), "{show:?}");
    let raw = env.run(&["show", "bmz", "--raw"]).ok();
    assert_eq!(raw.raw_stdout, edited.as_bytes());

    let list = env.run(&["list", "--json"]).ok().json();
    assert_eq!(list[0]["name"], "bmz");
    assert_eq!(list[0]["n_changes"], 3, "{list:#}");
    assert_eq!(list[0]["n_checks"], 6, "{list:#}");
    assert_eq!(list[0]["last_outcome"], "restored", "{list:#}");
}

#[test]
fn counter_outside_select_never_produces_a_change() {
    let server = Server::start();
    let page = edit_once(
        &bmz(),
        "</main>",
        // Unlabelled, so the built-in counter masking leaves it alone.
        "</main><div class=\"stats\">{{COUNTER}} readers so far</div>",
    );
    server.set("/counted", Route::html(page.clone()).with_counter());
    server.set("/control", Route::html(page).with_counter());
    let watches = format!(
        "{}{}",
        one_watch(&server, "with-select", "/counted", "select = [\"main\"]"),
        // `select = ["body"]` keeps the whole page: without it, `content =
        // "auto"` would drop the counter as page chrome on its own.
        one_watch(&server, "no-select", "/control", "select = [\"body\"]")
    );
    let env = Env::new("", &watches);
    env.run(&["check"]).ok();
    for _ in 0..2 {
        let run = env.run(&["check"]).ok();
        assert!(
            run.line_for("with-select")
                .starts_with("with-select unchanged"),
            "{run:?}"
        );
        // The control proves the counter really changes the page.
        assert!(
            run.line_for("no-select").starts_with("no-select edited"),
            "{run:?}"
        );
    }
}

#[test]
fn ignore_regex_removes_a_counter() {
    let server = Server::start();
    let page = edit_once(
        &bmz(),
        "</main>",
        "</main><div class=\"stats\">Visits: {{COUNTER}}</div>",
    );
    server.set("/p", Route::html(page).with_counter());
    let env = Env::new(
        "",
        &one_watch(&server, "p", "/p", "ignore = ['Visits: \\d+']"),
    );
    env.run(&["check"]).ok();
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("p").starts_with("p unchanged"), "{run:?}");
}

#[test]
fn gbk_page_with_meta_only_charset_decodes_and_diffs() {
    let server = Server::start();
    let bytes = fixture("normalize/traf-archive.org.he.xinhuanet.com.25340717.html");
    server.set("/gbk", Route::html_unlabelled(bytes.clone()));
    let env = Env::new("", &one_watch(&server, "hebei", "/gbk", ""));
    env.run(&["check"]).ok();
    let show = env.run(&["show", "hebei"]).ok();
    assert!(
        show.stdout
            .contains("一个约定，信守15年，感人至深；一段真情，延续15年"),
        "{show:?}"
    );
    assert!(
        show.stdout.contains("话剧《约定无期限》河北各市巡演结束"),
        "{show:?}"
    );

    // Edit the statement in GBK bytes, as the site would.
    let (text, _, had_errors) = encoding_rs::GBK.decode(&bytes);
    assert!(!had_errors);
    let edited = edit_once(&text, "感人至深", "令人动容");
    let (edited_bytes, _, unmappable) = encoding_rs::GBK.encode(&edited);
    assert!(!unmappable);
    server.set("/gbk", Route::html_unlabelled(edited_bytes.into_owned()));
    let run = env.run(&["check"]).ok();
    assert!(
        run.line_for("hebei").starts_with("hebei edited +1 -1"),
        "{run:?}"
    );
    let diff = env.run(&["diff", "hebei", "--color", "never"]).ok();
    assert!(
        diff.stdout
            .lines()
            .any(|l| l.starts_with('-') && l.contains("感人至深")),
        "{diff:?}"
    );
    assert!(
        diff.stdout
            .lines()
            .any(|l| l.starts_with('+') && l.contains("令人动容")),
        "{diff:?}"
    );
}

#[test]
fn chinese_sentence_edit_gives_a_word_level_diff() {
    let server = Server::start();
    let page = String::from_utf8(fixture("xinhua-wuhan.html")).expect("UTF-8 fixture");
    server.set("/zh", Route::html(page.clone()));
    let env = Env::new("", &one_watch(&server, "wuhan", "/zh", ""));
    env.run(&["check"]).ok();
    let edited = edit_once(
        &page,
        "在抗击新冠肺炎疫情的日子里",
        "在抗击新冠肺炎疫情的那些日子里",
    );
    server.set("/zh", Route::html(edited));
    env.run(&["check"]).ok();

    let diff = env
        .run(&["diff", "wuhan", "--format", "word", "--color", "never"])
        .ok();
    let line = diff
        .stdout
        .lines()
        .find(|l| l.contains("{+"))
        .unwrap_or_else(|| panic!("no insertion marked:\n{diff:?}"));
    // Only the inserted words are marked; the rest of the sentence is plain.
    assert!(line.contains("{+那些+}"), "{line}");
    assert!(line.contains("在抗击新冠肺炎疫情的"), "{line}");
    assert!(line.contains("日子里"), "{line}");
    assert!(!line.contains("[-"), "nothing was deleted: {line}");

    let json = env.run(&["diff", "wuhan", "--format", "json"]).ok().json();
    assert_eq!(json["summary"]["lines_added"], 1, "{json:#}");
    assert_eq!(json["summary"]["lines_removed"], 1, "{json:#}");
}

#[test]
fn conditional_request_gets_304_and_adds_no_blob() {
    let server = Server::start();
    server.set("/etag", Route::html(bmz()).with_etag("\"v1\""));
    let env = Env::new("", &one_watch(&server, "etag", "/etag", ""));
    env.run(&["check"]).ok();
    let (bodies, texts, checks) = (
        count(&env.db_path(), "bodies"),
        count(&env.db_path(), "texts"),
        count(&env.db_path(), "checks"),
    );
    let run = env.run(&["check"]).ok();
    assert!(
        run.line_for("etag").starts_with("etag unchanged"),
        "{run:?}"
    );
    assert!(run.line_for("etag").contains("HTTP 304"), "{run:?}");

    let seen = server.requests("/etag");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].headers.get("if-none-match"), None);
    assert_eq!(
        seen[1].headers.get("if-none-match").map(String::as_str),
        Some("\"v1\"")
    );
    assert_eq!(seen[1].status, 304);
    assert_eq!(
        count(&env.db_path(), "bodies"),
        bodies,
        "a 304 stores no body"
    );
    assert_eq!(
        count(&env.db_path(), "texts"),
        texts,
        "a 304 stores no text"
    );
    assert_eq!(
        count(&env.db_path(), "checks"),
        checks + 1,
        "but the check is recorded"
    );
}

#[test]
fn unchanged_full_fetch_adds_one_row_and_no_blob() {
    let server = Server::start();
    // A noisy raw body (the counter) with the same statement text.
    let page = edit_once(&bmz(), "</main>", "</main><!-- visit {{COUNTER}} -->");
    server.set("/p", Route::html(page).with_counter());
    let env = Env::new("", &one_watch(&server, "p", "/p", ""));
    env.run(&["check"]).ok();
    let before =
        ["bodies", "texts", "snapshots", "changes", "checks"].map(|t| count(&env.db_path(), t));
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("p").starts_with("p unchanged"), "{run:?}");
    let after =
        ["bodies", "texts", "snapshots", "changes", "checks"].map(|t| count(&env.db_path(), t));
    assert_eq!(
        after,
        [before[0], before[1], before[2], before[3], before[4] + 1]
    );
}

#[test]
fn hostile_pages_fail_cleanly_and_others_still_get_checked() {
    let server = Server::start();
    let big = vec![b'a'; 512 * 1024];
    server.set("/big", Route::html(big));
    server.set(
        "/endless",
        Route::html(Vec::new()).with_behavior(Behavior::Endless {
            bytes: 64 * 1024 * 1024,
        }),
    );
    server.set(
        "/slow",
        Route::html(Vec::new()).with_behavior(Behavior::Slow {
            gap: Duration::from_millis(200),
            bytes: 100,
        }),
    );
    server.set(
        "/loop",
        Route::html(Vec::new()).with_behavior(Behavior::RedirectLoop),
    );
    server.set(
        "/bomb",
        Route::html(gzip_bomb(32 * 1024 * 1024)).with_header("Content-Encoding", "gzip"),
    );
    server.set("/ok", Route::html(bmz()));
    let watches: String = ["big", "endless", "slow", "loop", "bomb", "ok"]
        .iter()
        .map(|n| one_watch(&server, n, &format!("/{n}"), ""))
        .collect();
    // The Env's timeout is 5 s; the slow page needs 20 s.
    let env = Env::new("max_body = \"256KiB\"\nmax_redirects = 5", &watches);
    let run = env.run(&["check"]);
    assert_eq!(run.code, 1, "a failed check exits 1:\n{run:?}");
    assert!(run.line_for("ok").starts_with("ok first-seen"), "{run:?}");
    for (name, reason) in [
        ("big", "max_body"),
        ("endless", "max_body"),
        ("bomb", "max_body"),
        ("slow", "timed out"),
        ("loop", "too many redirects"),
    ] {
        let line = run.line_for(name);
        assert!(line.starts_with(&format!("{name} error")), "{run:?}");
        assert!(line.contains(reason), "{name}: {line}");
    }
    // Cut off after the headers had arrived, the checks keep the status
    // the server sent (it is evidence too); a redirect loop has none.
    for (name, status) in [
        ("big", Some(200u16)),
        ("endless", Some(200)),
        ("bomb", Some(200)),
        ("slow", Some(200)),
        ("loop", None),
    ] {
        let line = run.line_for(name);
        match status {
            Some(s) => assert!(line.contains(&format!("[HTTP {s}]")), "{name}: {line}"),
            None => assert!(!line.contains("[HTTP"), "{name}: {line}"),
        }
        let history = env
            .run(&["history", name, "--checks", "1", "--json"])
            .ok()
            .json();
        assert_eq!(
            history["checks"][0]["http_status"].as_u64(),
            status.map(u64::from),
            "{name}: {history:#}"
        );
    }
    // The redirect loop stopped at the limit (first request + 5 redirects).
    assert_eq!(server.requests("/loop").len(), 6);
    // Failed checks are recorded, with no snapshot.
    assert_eq!(count(&env.db_path(), "snapshots"), 1);
    assert_eq!(count(&env.db_path(), "checks"), 6);
}

fn gzip_bomb(expanded: usize) -> Vec<u8> {
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..expanded / zeros.len() {
        encoder.write_all(&zeros).expect("gzip");
    }
    encoder.finish().expect("gzip")
}

#[test]
fn an_error_never_replaces_the_last_good_snapshot() {
    let server = Server::start();
    server.set("/p", Route::html(bmz()));
    let env = Env::new("", &one_watch(&server, "p", "/p", ""));
    env.run(&["check"]).ok();
    server.set(
        "/p",
        Route::status(
            503,
            "<html><body><h1>Service Unavailable</h1></body></html>",
        ),
    );
    let run = env.run(&["check"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.line_for("p").starts_with("p error"), "{run:?}");
    assert!(run.line_for("p").contains("HTTP 503"), "{run:?}");
    server.set("/p", Route::html(bmz()));
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("p").starts_with("p unchanged"), "{run:?}");
    let show = env.run(&["show", "p"]).ok();
    assert!(show.stdout.contains("Milliarden Euro"), "{show:?}");
}

#[test]
fn select_that_stops_matching_means_the_statement_is_gone() {
    let server = Server::start();
    server.set(
        "/p",
        Route::html(
            "<html><body><div id=\"statement\"><p>We regret the incident.</p></div></body></html>",
        ),
    );
    let env = Env::new(
        "",
        &one_watch(&server, "p", "/p", "select = [\"#statement\"]"),
    );
    env.run(&["check"]).ok();
    server.set(
        "/p",
        Route::html("<html><body><div id=\"other\"><p>Welcome</p></div></body></html>"),
    );
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("p").starts_with("p removed"), "{run:?}");
    let diff = env.run(&["diff", "p", "--color", "never"]).ok();
    assert!(diff.stdout.contains("-We regret the incident."), "{diff:?}");
}

#[test]
fn gzip_encoded_pages_are_decoded() {
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;
    let server = Server::start();
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bmz().as_bytes()).expect("gzip");
    server.set(
        "/gz",
        Route::html(encoder.finish().expect("gzip")).with_header("Content-Encoding", "gzip"),
    );
    let env = Env::new("", &one_watch(&server, "gz", "/gz", ""));
    env.run(&["check"]).ok();
    let show = env.run(&["show", "gz"]).ok();
    assert!(show.stdout.contains("Milliarden Euro"), "{show:?}");
    let seen = server.requests("/gz");
    assert!(
        seen[0]
            .headers
            .get("accept-encoding")
            .is_some_and(|v| v.contains("gzip"))
    );
}

#[test]
fn changing_a_filter_rebaselines_instead_of_reporting_an_edit() {
    let server = Server::start();
    let page = "<html><body><div id=\"statement\"><p>We regret the incident.</p></div>\
                <div class=\"share\">Share on social media</div></body></html>";
    server.set("/p", Route::html(page));
    let url = server.url("/p");
    let env = Env::new("", &one_watch(&server, "p", "/p", ""));
    env.run(&["check"]).ok();

    // The user narrows the watch to the statement: no edit is reported.
    env.write_config(
        "",
        &format!("[[watch]]\nname = \"p\"\nurl = \"{url}\"\nexclude = [\".share\"]\n"),
    );
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("p").starts_with("p unchanged"), "{run:?}");
    let history = env.run(&["history", "p", "--json"]).ok().json();
    let kinds = change_kinds(&history);
    assert_eq!(kinds, ["rebaselined", "first-seen"], "{history:#}");
    let show = env.run(&["show", "p"]).ok();
    assert_eq!(show.stdout, "We regret the incident.\n");

    // A filter change and a real edit at once: the edit is still reported,
    // measured against the re-normalized baseline.
    server.set("/p", Route::html(page.replace("regret", "deeply regret")));
    env.write_config("", &format!("[[watch]]\nname = \"p\"\nurl = \"{url}\"\nexclude = [\".share\"]\nignore = [\"social\"]\n"));
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("p").starts_with("p edited +1 -1"), "{run:?}");
    let list = env.run(&["list", "--json"]).ok().json();
    assert_eq!(
        list[0]["n_changes"], 1,
        "baselines are not changes: {list:#}"
    );
}

#[test]
fn switching_content_mode_rebaselines_instead_of_reporting_an_edit() {
    let server = Server::start();
    let page = bmz();
    server.set("/statement", Route::html(page.clone()));
    let url = server.url("/statement");
    let env = Env::new(
        "content = \"full\"",
        &format!("[[watch]]\nname = \"bmz\"\nurl = \"{url}\"\n"),
    );
    env.run(&["check"]).ok();
    let full = env.run(&["show", "bmz"]).ok().stdout;

    // The default becomes auto: the main text is re-made from the stored
    // raw body; nothing is reported as an edit.
    env.write_config("", &format!("[[watch]]\nname = \"bmz\"\nurl = \"{url}\"\n"));
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("bmz").starts_with("bmz unchanged"), "{run:?}");
    let history = env.run(&["history", "bmz", "--json"]).ok().json();
    assert_eq!(
        change_kinds(&history),
        ["rebaselined", "first-seen"],
        "{history:#}"
    );
    let auto = env.run(&["show", "bmz"]).ok().stdout;
    assert!(
        auto.len() < full.len(),
        "auto keeps less than the whole page"
    );
    assert!(auto.contains("Milliarden Euro"), "{auto}");

    // A watch can ask for the whole page again.
    env.write_config(
        "",
        &format!("[[watch]]\nname = \"bmz\"\nurl = \"{url}\"\ncontent = \"full\"\n"),
    );
    env.run(&["check"]).ok();
    assert_eq!(env.run(&["show", "bmz"]).ok().stdout, full);
}

/// A body served as `text/html` that is not text (compressed without
/// `Content-Encoding`, or random bytes) fails the check with reason
/// `binary`: never an `edited` with a garbage first line, never an alert.
#[test]
fn binary_bodies_served_as_html_fail_instead_of_editing() {
    let server = Server::start();
    server.set("/p", Route::html(bmz()));
    let env = Env::new("", &one_watch(&server, "p", "/p", ""));
    env.run(&["check"]).ok();

    let mut x: u32 = 7;
    let noise: Vec<u8> = (0..20_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    for body in [gzip_bomb(1024 * 1024), noise] {
        server.set("/p", Route::html(body));
        let run = env.run(&["check"]);
        assert_eq!(run.code, 1, "{run:?}");
        let line = run.line_for("p");
        assert!(
            line.starts_with("p error [HTTP 200] (binary): the body is binary ("),
            "{line}"
        );
    }
    let history = env.run(&["history", "p", "--json"]).ok().json();
    assert_eq!(change_kinds(&history), ["first-seen"], "{history:#}");
}

/// A page built to make the parser slow (100,000 ruby tags and as many
/// stray `</p>`: seconds of CPU) fails its check `too-complex` after
/// `normalize_timeout`, with the status the server sent, and the run ends
/// without waiting for the abandoned work.
#[test]
fn a_page_too_complex_to_normalize_in_time_fails_too_complex() {
    let server = Server::start();
    let soup = format!(
        "<html><body>{}{}x</body></html>",
        "<rb>".repeat(100_000),
        "</p>".repeat(100_000)
    );
    server.set("/soup", Route::html(soup));
    server.set("/ok", Route::html(bmz()));
    let watches = format!(
        "{}{}",
        one_watch(&server, "soup", "/soup", ""),
        one_watch(&server, "ok", "/ok", "")
    );
    let env = Env::new("normalize_timeout = \"1s\"", &watches);
    let run = env.run(&["check"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.line_for("soup"),
        "soup error [HTTP 200] (too-complex): the page took longer than normalize_timeout (1s) to read as text"
    );
    assert!(run.line_for("ok").starts_with("ok first-seen"), "{run:?}");
}

/// A page whose reading would take more memory than the whole
/// `memory_budget` (70,000 paragraphs: about 18 MiB of parsed tree against
/// a 16 MiB budget) fails its check `too-complex` at once, with the status
/// the server sent, and is never parsed; the other watches are read.
#[test]
fn a_page_over_the_memory_budget_fails_too_complex_unread() {
    let server = Server::start();
    let paragraphs = format!("<html><body>{}</body></html>", "<p>x".repeat(70_000));
    server.set("/many", Route::html(paragraphs));
    server.set("/ok", Route::html(bmz()));
    let watches = format!(
        "{}{}",
        one_watch(&server, "many", "/many", ""),
        one_watch(&server, "ok", "/ok", "")
    );
    let env = Env::new("memory_budget = \"16MiB\"", &watches);
    let run = env.run(&["check"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.line_for("many"),
        "many error [HTTP 200] (too-complex): reading the page would take about 19 MiB, more than memory_budget (16 MiB)"
    );
    assert!(run.line_for("ok").starts_with("ok first-seen"), "{run:?}");
    // Under a budget that holds it, the same page is read.
    let env = Env::new("memory_budget = \"32MiB\"", &watches);
    let run = env.run(&["check", "many"]);
    assert!(
        run.line_for("many").starts_with("many first-seen"),
        "{run:?}"
    );
}

/// `chancery check` reads the states of all its watches before the first
/// fetch. When another run records one of them meanwhile (the same edit,
/// seen first), the stale state's record is refused and the watch is
/// judged again from the store: one edit stays one change.
#[test]
fn a_state_read_ahead_that_another_run_moved_on_is_read_again() {
    use crate::seed::{SHORT, TITLE, page_en};
    let server = Server::start();
    server.set("/s", Route::html(page_en(TITLE, &SHORT[..2], 1)));
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &format!("[[watch]]\nname = \"s\"\nurl = \"{}\"\n", server.url("/s")),
    );
    env.run(&["check"]).ok();
    // The edit, answered after 2 s to the first run, at once to the second.
    let edited = page_en(TITLE, &SHORT[..3], 2);
    server.set(
        "/s",
        Route::html(edited.clone()).with_behavior(Behavior::Hang(Duration::from_secs(2))),
    );
    let slow = env.spawn(&["check", "--json"]);
    std::thread::sleep(Duration::from_millis(700));
    server.set("/s", Route::html(edited));
    let fast = env.run(&["check"]).ok();
    assert!(fast.line_for("s").contains("edited"), "{fast:?}");
    let status = slow.wait_with_output().expect("the first run ends").status;
    let out = std::fs::read(env.dir.path().join("spawned.out")).expect("its output");
    let err = std::fs::read_to_string(env.dir.path().join("spawned.err")).unwrap_or_default();
    assert!(status.success(), "{status:?}\n{err}");
    assert!(
        err.contains("recorded by another process meanwhile"),
        "{err}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
    assert_eq!(report[0]["outcome"], "unchanged", "{report:#}");
    let history = env.run(&["history", "s", "--json"]).ok().json();
    assert_eq!(
        change_kinds(&history),
        ["edited", "first-seen"],
        "{history:#}"
    );
}
