//! Alerts one can trust on pages shaped like real statement pages
//! (`seed.rs`): re-edits never silenced and `show` never stale, every
//! not-found wording a removal, unlabelled legacy Chinese decoded.

use crate::seed::{self, SHORT, ZH};
use crate::support::{Env, Route, Server, assert_webhook_schema, edit_once};

const SECRET: &[(&str, &str)] = &[("TRUST_SECRET", "trust-secret")];

fn env_with_hook(server: &Server, extra: &str) -> Env {
    let watches = format!(
        "[[watch]]\nname = \"mfa\"\nurl = \"{}\"\nnotify = [\"desk\"]\n{extra}\n\n\
         [[subscriber]]\nname = \"desk\"\nwebhook = \"{}\"\nsecret_env = \"TRUST_SECRET\"\n",
        server.url("/statement"),
        server.url("/hook"),
    );
    Env::new("per_host_delay = \"0s\"", &watches)
}

/// The webhook bodies received so far.
fn hooks(server: &Server) -> Vec<serde_json::Value> {
    server
        .requests("/hook")
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| serde_json::from_slice(&r.body).expect("JSON body"))
        .inspect(assert_webhook_schema)
        .collect()
}

/// The `event` of each webhook body received so far.
fn events(server: &Server) -> Vec<String> {
    hooks(server)
        .iter()
        .map(|h| h["event"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn check(env: &Env) -> String {
    env.run_with_env(&["check"], SECRET).ok().line_for("mfa")
}

fn show(env: &Env) -> String {
    env.run(&["show", "mfa"]).ok().stdout
}

#[test]
fn a_walk_back_and_its_re_application_are_both_alerted_and_shown() {
    let server = Server::start();
    server.set("/hook", Route::status(204, ""));
    let a = seed::page_en(seed::TITLE, &SHORT[..3], 1);
    let b = edit_once(&a, "stop interfering", "cease interfering");
    let env = env_with_hook(&server, "");

    let mut lines = Vec::new();
    for page in [&a, &a, &b, &b, &a, &a, &b] {
        server.set("/statement", Route::html(page.clone()));
        lines.push(check(&env));
        let shown = show(&env);
        let expected = if *page == b {
            "cease interfering"
        } else {
            "stop interfering"
        };
        assert!(
            shown.contains(expected),
            "show is stale after {lines:?}:\n{shown}"
        );
    }
    assert!(lines[0].starts_with("mfa first-seen"), "{lines:?}");
    assert!(lines[2].starts_with("mfa edited"), "{lines:?}");
    // Back to A after B settled: an edit that says where it returns.
    assert!(lines[4].starts_with("mfa edited"), "{lines:?}");
    assert!(lines[4].contains("(reverted)"), "{lines:?}");
    assert!(
        lines[4].contains("returns to the version first seen"),
        "{lines:?}"
    );
    // B re-applied after the walk-back settled: alerted too.
    assert!(lines[6].starts_with("mfa edited"), "{lines:?}");
    assert!(lines[6].contains("(reverted)"), "{lines:?}");
    for i in [1, 3, 5] {
        assert!(lines[i].starts_with("mfa unchanged"), "{lines:?}");
    }

    assert_eq!(events(&server), ["edited", "edited", "edited"]);
    let received = hooks(&server);
    assert!(received[0].get("returns_to").is_none(), "{:#}", received[0]);
    for hook in &received[1..] {
        assert!(hook["returns_to"].is_string(), "{hook:#}");
    }
}

#[test]
fn versions_alternating_without_settling_flap_quietly_but_show_follows_the_page() {
    let server = Server::start();
    server.set("/hook", Route::status(204, ""));
    let a = seed::page_en(seed::TITLE, &SHORT[..3], 1);
    let b = edit_once(&a, "stop interfering", "cease interfering");
    let env = env_with_hook(&server, "");
    server.set("/statement", Route::html(a.clone()));
    check(&env);

    let mut lines = Vec::new();
    for page in [&b, &a, &b, &a] {
        server.set("/statement", Route::html(page.clone()));
        lines.push(check(&env));
        let shown = show(&env);
        let expected = if *page == b {
            "cease interfering"
        } else {
            "stop interfering"
        };
        assert!(shown.contains(expected), "show is stale after {lines:?}");
    }
    assert!(lines[0].starts_with("mfa edited"), "{lines:?}");
    assert!(lines[1].starts_with("mfa flapping"), "{lines:?}");
    assert!(
        lines[2].starts_with("mfa unchanged") && lines[2].contains("(flapping)"),
        "{lines:?}"
    );
    assert!(
        lines[3].starts_with("mfa unchanged") && lines[3].contains("(flapping)"),
        "{lines:?}"
    );
    assert_eq!(events(&server), ["edited", "flapping"]);

    // A higher flap_settle keeps a two-check walk-back in the flapping.
    let env = env_with_hook(&server, "flap_settle = 3");
    for page in [&a, &a, &b, &b] {
        server.set("/statement", Route::html(page.clone()));
        check(&env);
    }
    server.set("/statement", Route::html(a.clone()));
    assert!(check(&env).starts_with("mfa flapping"));
}

#[test]
fn every_not_found_wording_under_the_sites_own_title_is_a_removal() {
    let server = Server::start();
    let statement_en = seed::page_en(seed::TITLE, &SHORT[..3], 1);
    let statement_zh = seed::page_zh("驻英国使馆发言人答记者问", &ZH, 1);
    let pages = [
        (
            &statement_en,
            seed::not_found_en("Sorry, the page you requested cannot be found."),
        ),
        (
            &statement_en,
            seed::not_found_en(
                "The page you are looking for has been removed or is temporarily unavailable.",
            ),
        ),
        (
            &statement_zh,
            seed::not_found_zh("对不起，您要访问的页面已被删除或不存在。"),
        ),
        (
            &statement_zh,
            seed::not_found_zh("抱歉！您访问的页面不存在或已被删除"),
        ),
        (
            &statement_en,
            seed::not_found_en("Désolé, la page que vous recherchez est introuvable."),
        ),
        (
            &statement_en,
            seed::not_found_en("Lo sentimos, la página que busca no existe."),
        ),
        (
            &statement_en,
            seed::not_found_en("Извините, страница не найдена."),
        ),
        (&statement_en, seed::not_found_en("عذراً، الصفحة غير موجودة")),
        (
            &statement_en,
            seed::not_found_en("Die angeforderte Seite wurde nicht gefunden."),
        ),
        (
            &statement_en,
            seed::not_found_en("お探しのページは見つかりませんでした。"),
        ),
        (
            &statement_zh,
            seed::not_found_zh("很抱歉，您訪問的頁面不存在。"),
        ),
    ];
    for (i, (statement, gone)) in pages.iter().enumerate() {
        let watches = format!(
            "[[watch]]\nname = \"mfa\"\nurl = \"{}\"\n",
            server.url(&format!("/s{i}"))
        );
        let env = Env::new("per_host_delay = \"0s\"", &watches);
        server.set(&format!("/s{i}"), Route::html((*statement).clone()));
        let first = env.run(&["check"]).ok().line_for("mfa");
        assert!(first.starts_with("mfa first-seen"), "{first}");
        server.set(&format!("/s{i}"), Route::html(gone.clone()));
        let line = env.run(&["check"]).ok().line_for("mfa");
        assert!(
            line.starts_with("mfa removed") && line.contains("(soft-404)"),
            "{i}: {line}"
        );
    }
}

#[test]
fn an_unlabelled_gbk_page_with_a_long_head_and_a_stray_byte_is_read_as_chinese() {
    let server = Server::start();
    let mut head = String::from("<style>\n");
    while head.len() < 6 * 1024 {
        head.push_str(".nav li a { color: #a80000; font-family: SimSun, Arial, sans-serif; }\n");
    }
    head.push_str("</style>");
    let page = seed::page_zh("驻英国使馆发言人答记者问", &ZH, 1)
        .replace(
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\" />",
            "",
        )
        .replacen("<head>", &format!("<head>{head}"), 1);
    assert!(!page.to_lowercase().contains("charset"));
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&page);
    assert!(!unmappable);
    // A character cut in half by the template, near the end.
    let end = gbk.len() - "</body>\n</html>\n".len();
    let mut body = gbk[..end].to_vec();
    body.extend_from_slice(b"<p>\xD6</p>");
    body.extend_from_slice(&gbk[end..]);
    assert!(body.iter().position(|b| !b.is_ascii()).expect("Chinese") > 6 * 1024);
    server.set("/statement", Route::html_unlabelled(body));
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &format!(
            "[[watch]]\nname = \"mfa\"\nurl = \"{}\"\n",
            server.url("/statement")
        ),
    );
    let line = env.run(&["check"]).ok().line_for("mfa");
    assert!(line.starts_with("mfa first-seen"), "{line}");
    let shown = show(&env);
    assert!(shown.contains(ZH[1]), "{shown}");
}

/// The main text `chancery extract` gives for `page`.
fn extract(server: &Server, path: &str, page: String) -> String {
    server.set(path, Route::html(page));
    let env = Env::new("", "");
    env.run(&["extract", &server.url(path)]).ok().stdout
}

#[test]
fn the_statement_region_does_not_move_when_a_short_statement_grows() {
    let server = Server::start();
    server.set("/hook", Route::status(204, ""));
    let watches = format!(
        "[[watch]]\nname = \"mfa\"\nurl = \"{}\"\nnotify = [\"taiwan\", \"hongkong\"]\n\n\
         [[subscriber]]\nname = \"taiwan\"\nwebhook = \"{}\"\nsecret_env = \"TRUST_SECRET\"\nmatch = [\"Taiwan\"]\n\n\
         [[subscriber]]\nname = \"hongkong\"\nwebhook = \"{}\"\nsecret_env = \"TRUST_SECRET\"\nmatch = [\"Hong Kong\"]\n",
        server.url("/statement"),
        server.url("/hook/taiwan"),
        server.url("/hook/hongkong"),
    );
    let env = Env::new("per_host_delay = \"0s\"", &watches);
    let versions = [
        // Two paragraphs; a third added; the second edited; the third removed.
        (vec![SHORT[0], SHORT[1]], None),
        (vec![SHORT[0], SHORT[1], SHORT[2]], Some((1, 0))),
        (
            vec![SHORT[0], "We urge the UK to stop interfering.", SHORT[2]],
            Some((1, 1)),
        ),
        (
            vec![SHORT[0], "We urge the UK to stop interfering."],
            Some((0, 1)),
        ),
    ];
    for (n, (paragraphs, lines)) in versions.iter().enumerate() {
        let page = seed::page_en(seed::TITLE, paragraphs, 4000 + n as u32);
        server.set("/statement", Route::html(page));
        let run = env.run_with_env(&["check", "--json"], SECRET).ok();
        let report = &run.json()[0];
        let shown = show(&env);
        for chrome in [
            "Taiwan Question",
            "Suggest to a Friend",
            "All Rights Reserved",
            "WeChat",
        ] {
            assert!(!shown.contains(chrome), "{chrome:?} in the text:\n{shown}");
        }
        assert!(shown.starts_with(seed::TITLE), "{shown}");
        if let Some((added, removed)) = lines {
            assert_eq!(report["outcome"], "edited", "{run:?}");
            assert_eq!(report["summary"]["lines_added"], *added, "{run:?}");
            assert_eq!(report["summary"]["lines_removed"], *removed, "{run:?}");
        }
    }
    // The menu says "Taiwan Question"; no statement line mentions Taiwan.
    let posts = |hook: &str| {
        server
            .requests(hook)
            .iter()
            .filter(|r| r.method == "POST")
            .count()
    };
    assert_eq!(posts("/hook/taiwan"), 0);
    // The added paragraph and, later, its removal mention Hong Kong; the
    // edit of the second paragraph does not.
    assert_eq!(posts("/hook/hongkong"), 2);
}

#[test]
fn the_footer_share_bar_and_menu_stay_out_of_the_statement() {
    let server = Server::start();
    let paragraphs = seed::paragraphs();
    let paragraphs: Vec<&str> = paragraphs.iter().map(String::as_str).collect();
    assert!(paragraphs.len() >= 20, "{}", paragraphs.len());
    for n in [1, 2, 3, paragraphs.len()] {
        let text = extract(
            &server,
            "/en",
            seed::page_en(seed::TITLE, &paragraphs[..n], 7),
        );
        let expected: Vec<&str> = [seed::TITLE, "2020/07/30"]
            .into_iter()
            .chain(paragraphs[..n].iter().copied())
            .collect();
        assert_eq!(
            text.trim_end().lines().collect::<Vec<_>>(),
            expected,
            "{n} paragraphs"
        );
    }
    for n in [1, 2, ZH.len()] {
        let text = extract(
            &server,
            "/zh",
            seed::page_zh("驻英国使馆发言人答记者问", &ZH[..n], 7),
        );
        let expected: Vec<&str> = ["驻英国使馆发言人答记者问"]
            .into_iter()
            .chain(ZH[..n].iter().copied())
            .collect();
        assert_eq!(
            text.trim_end().lines().collect::<Vec<_>>(),
            expected,
            "{n} paragraphs"
        );
    }
}

#[test]
fn a_redesign_that_moves_the_statement_rebaselines_instead_of_alerting() {
    let server = Server::start();
    server.set("/hook", Route::status(204, ""));
    let env = env_with_hook(&server, "");
    let v1 = seed::page_en(seed::TITLE, &SHORT[..3], 1);
    server.set("/statement", Route::html(v1.clone()));
    check(&env);
    // The redesign: a new wrapper around the statement, the date written
    // out; the statement's paragraphs are what they were.
    let v2 = edit_once(
        &edit_once(
            &v1,
            "<table width=\"94%\"",
            "<div class=\"article-wrap\"><table width=\"94%\"",
        ),
        "2020/07/30",
        "30 July 2020",
    )
    .replace(
        "</table>\n    </td>\n  </tr>\n</table>",
        "</table></div>\n    </td>\n  </tr>\n</table>",
    );
    server.set("/statement", Route::html(v2.clone()));
    let line = check(&env);
    assert!(
        line.starts_with("mfa rebaselined") && line.contains("(region-moved)"),
        "{line}"
    );
    assert!(show(&env).contains("30 July 2020"));
    // Settled in the new region: unchanged, then a real edit is an edit.
    assert!(check(&env).starts_with("mfa unchanged"));
    server.set(
        "/statement",
        Route::html(edit_once(&v2, "stop interfering", "cease interfering")),
    );
    let line = check(&env);
    assert!(line.starts_with("mfa edited +1 -1"), "{line}");
    assert_eq!(events(&server), ["edited"], "the redesign alerted nobody");
}

/// A statement taken down and put back as it was: the `restored` alert
/// carries the time of the fetch that saw it again (and when its text was
/// first seen, apart), and `diff` says the text is the one it had before
/// instead of printing nothing.
#[test]
fn a_restore_is_dated_by_the_fetch_that_saw_the_page_again() {
    let server = Server::start();
    server.set("/hook", Route::status(204, ""));
    let page = seed::page_en(seed::TITLE, &SHORT[..3], 1);
    server.set("/statement", Route::html(page.clone()));
    let env = env_with_hook(&server, "");
    check(&env);
    server.set(
        "/statement",
        Route::status(404, &seed::not_found_en("Page not found")),
    );
    assert!(check(&env).starts_with("mfa removed"));
    // Timestamps have whole seconds: let one pass so the times differ.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    server.set("/statement", Route::html(page));
    assert_eq!(
        check(&env),
        "mfa restored with the text it had before [HTTP 200]"
    );

    let hooks = hooks(&server);
    let restored = hooks.last().expect("a restored alert");
    assert_eq!(restored["event"], "restored");
    let current = &restored["current"];
    assert_eq!(
        current["fetched_at"], restored["detected_at"],
        "{restored:#}"
    );
    assert_ne!(
        current["fetched_at"], current["first_seen_at"],
        "{restored:#}"
    );
    let history = env.run(&["history", "mfa", "--json"]).ok().json();
    let first_seen = history["snapshots"][0]["fetched_at"].clone();
    assert_eq!(current["first_seen_at"], first_seen, "{history:#}");

    let diff = env.run(&["diff", "mfa"]).ok();
    assert!(
        diff.stdout
            .starts_with("mfa: no difference: the latest change (restored, "),
        "{diff:?}"
    );
    assert!(diff.stdout.contains("the text it had before"), "{diff:?}");
}

/// `chancery check` beside another checker of the same watch (the daemon,
/// or a second `check`): both see the same removal and the same edit, both
/// wait out the confirmation, and still each is one change with one alert.
/// The second to record finds the watch moved on and judges again.
#[test]
fn two_checkers_at_once_record_one_change_and_send_one_alert() {
    let server = Server::start();
    server.set("/hook", Route::status(204, ""));
    let page = seed::page_en(seed::TITLE, &SHORT[..3], 1);
    server.set("/statement", Route::html(page.clone()));
    let env = env_with_hook(&server, "confirm_delay = \"2s\"");
    assert!(check(&env).starts_with("mfa first-seen"));

    let both = |env: &Env| {
        let mut a = env.background(&["check", "mfa"], "a", SECRET);
        let mut b = env.background(&["check", "mfa"], "b", SECRET);
        for p in [&mut a, &mut b] {
            let code = p.wait_exit(std::time::Duration::from_secs(30));
            assert!(matches!(code, Some(0 | 1)), "{code:?}: {}", p.log());
        }
    };
    // A removal, confirmed by both after 2 s.
    server.set(
        "/statement",
        Route::status(404, &seed::not_found_en("Sorry, the page was not found.")),
    );
    both(&env);
    // The page back with an edit (a large one: confirmed too).
    let edited = edit_once(&page, "stop interfering", "cease interfering");
    server.set("/statement", Route::html(edited));
    both(&env);

    let history = env.run(&["history", "mfa", "--json"]).ok().json();
    let kinds = crate::support::change_kinds(&history);
    assert_eq!(
        kinds.iter().filter(|k| *k == "removed").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.len(),
        3,
        "first-seen, removed, then one restore: {kinds:?}"
    );
    assert_eq!(events(&server), ["removed", kinds[0].as_str()], "{kinds:?}");
}
