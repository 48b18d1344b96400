//! Follow mode end to end: an index page or a feed on the scripted server,
//! the real binary, children with their own history, `published`,
//! `delisted`, `removed` and `max`.

use crate::support::{Env, Route, Server, assert_webhook_schema};

fn statement(n: usize, extra: &str) -> String {
    format!(
        "<html><head><title>Statement {n}</title></head><body><nav><a href=\"/\">Home</a></nav>\
         <h1>Statement {n} by the spokesperson</h1>\
         <p>Paragraph one of statement number {n}.</p><p>Paragraph two.{extra}</p></body></html>"
    )
}

/// A press-room listing linking statements `ids`, newest first, with
/// navigation links the selector must not pick up.
fn index(ids: &[usize]) -> String {
    let items: String = ids
        .iter()
        .map(|n| format!("<li><a href=\"/press/s{n}.html?utm_source=list#top\">Statement {n}</a> <span>2026-11-{n:02}</span></li>"))
        .collect();
    format!(
        "<html><head><title>Press room</title></head><body>\
         <nav><a href=\"/\">Home</a><a href=\"/about\">About</a></nav>\
         <ul class=\"list\">{items}</ul><footer><a href=\"/contact\">Contact</a></footer></body></html>"
    )
}

fn serve_statements(server: &Server, ids: impl IntoIterator<Item = usize>) {
    for n in ids {
        server.set(&format!("/press/s{n}.html"), Route::html(statement(n, "")));
    }
}

/// A follow watch and a webhook subscriber with the default events: every
/// event, `published` and `delisted` included.
fn config(server: &Server, follow: &str) -> String {
    format!(
        "[[watch]]\nname = \"press\"\nurl = \"{}\"\nfollow = {follow}\nnotify = [\"desk\"]\n\n\
         [[subscriber]]\nname = \"desk\"\nwebhook = \"{}\"\n",
        server.url("/press/"),
        server.url("/hook")
    )
}

fn events(server: &Server) -> Vec<(String, String)> {
    server
        .requests("/hook")
        .into_iter()
        .filter(|s| s.method == "POST")
        .map(|s| {
            let body: serde_json::Value = serde_json::from_slice(&s.body).expect("JSON");
            assert_webhook_schema(&body);
            (
                body["event"].as_str().unwrap_or("").to_owned(),
                body["watch"]["name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn line_starting(run: &crate::support::Run, prefix: &str) -> String {
    run.stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?}:\n{run:?}"))
        .to_owned()
}

#[test]
fn an_index_page_drives_children_published_edited_delisted_removed() {
    let server = Server::start();
    server.set("/hook", Route::status(204, ""));
    serve_statements(&server, 1..=6);
    server.set("/press/", Route::html(index(&[5, 4, 3, 2, 1])));
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &config(&server, "{ links = \"ul.list a\" }"),
    );

    // First look: the index and 5 children, all baselines.
    let run = env.run(&["check"]).ok();
    let parent = run.line_for("press");
    assert!(
        parent.contains("listing: 5 children, 0 published, 0 delisted"),
        "{run:?}"
    );
    let children: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("press/"))
        .collect();
    assert_eq!(children.len(), 5, "{run:?}");
    assert!(
        children.iter().all(|l| l.contains(" first-seen ")),
        "{run:?}"
    );
    assert!(events(&server).is_empty(), "baselines alert nobody");
    // Tracking parameters and fragments are not part of a child's URL.
    let list = env.run(&["list", "--json"]).ok().json();
    let rows = list.as_array().expect("rows");
    assert_eq!(rows.len(), 6, "{list:#}");
    assert_eq!(rows[0]["name"], "press");
    assert_eq!(rows[0]["children"]["listed"], 5, "{list:#}");
    for row in &rows[1..] {
        assert_eq!(row["parent"], "press");
        let url = row["url"].as_str().expect("url");
        assert!(!url.contains("utm_") && !url.contains('#'), "{url}");
    }
    let text = env.run(&["list"]).ok();
    assert!(
        text.stdout.contains("\n  press/"),
        "children indented: {text:?}"
    );
    // `status` counts the children it watches besides the config's watch.
    let status = env.run(&["status", "--json"]).ok().json();
    assert_eq!(
        (status["watches"].clone(), status["children"].clone()),
        (1.into(), 5.into()),
        "{status:#}"
    );
    assert_eq!(status["states"]["ok"], 6, "{status:#}");
    let status = env.run(&["status"]).ok().stdout;
    assert!(
        status.starts_with("watches: 1 in the config, 5 follow children (6 ok)\n"),
        "{status}"
    );

    // A sixth statement appears on top: `published`, with its text.
    server.set("/press/", Route::html(index(&[6, 5, 4, 3, 2, 1])));
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("press").contains("1 published"), "{run:?}");
    let six = line_starting(&run, "press/s6");
    assert!(six.contains(" first-seen "), "{run:?}");
    let child6 = six.split(' ').next().expect("name").to_owned();
    assert_eq!(events(&server), [("published".to_owned(), child6.clone())]);

    // One statement edited: `edited` on that child only.
    server.set(
        "/press/s3.html",
        Route::html(statement(3, " A sentence was added quietly.")),
    );
    let run = env.run(&["check"]).ok();
    let edited: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains(" edited "))
        .collect();
    assert_eq!(edited.len(), 1, "{run:?}");
    assert!(edited[0].starts_with("press/s3"), "{run:?}");
    let s3 = edited[0].split(' ').next().expect("name").to_owned();
    let diff = env.run(&["diff", &s3, "--color", "never"]).ok();
    assert!(
        diff.stdout
            .contains("+Paragraph two. A sentence was added quietly."),
        "{diff:?}"
    );
    // One child can be checked by its name.
    let run = env.run(&["check", &s3]).ok();
    assert_eq!(run.stdout.lines().count(), 1, "{run:?}");
    assert!(
        run.line_for(&s3).starts_with(&format!("{s3} unchanged")),
        "{run:?}"
    );
    // The child is also reachable by its URL.
    let by_url = env
        .run(&["history", &server.url("/press/s3.html"), "--json"])
        .ok()
        .json();
    assert_eq!(by_url["watch"], s3.as_str());

    // A link taken off the middle of the listing: `delisted`.
    server.set("/press/", Route::html(index(&[6, 5, 3, 2, 1])));
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("press").contains("1 delisted"), "{run:?}");
    let got = events(&server);
    let delisted: Vec<&(String, String)> = got.iter().filter(|(e, _)| e == "delisted").collect();
    assert_eq!(delisted.len(), 1, "{got:?}");
    assert!(delisted[0].1.starts_with("press/s4"), "{got:?}");
    // The alert names the statement by its title, says where it was
    // listed and that its page still answers; no diff of a text that did
    // not change.
    let body: serde_json::Value = server
        .requests("/hook")
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| serde_json::from_slice(&r.body).expect("JSON"))
        .find(|b: &serde_json::Value| b["event"] == "delisted")
        .expect("the delisted webhook");
    assert_eq!(
        body["summary"]["first_change"], "\"Statement 4\"",
        "{body:#}"
    );
    assert_eq!(body["delisting"]["title"], "Statement 4", "{body:#}");
    assert_eq!(
        body["delisting"]["listing_url"],
        server.url("/press/"),
        "{body:#}"
    );
    assert_eq!(body["delisting"]["page_status"], 200, "{body:#}");
    assert_eq!(body["diff"], "", "{body:#}");
    assert_eq!(
        body["current"]["sha256"], body["previous"]["sha256"],
        "{body:#}"
    );
    let list = env.run(&["list", "--json"]).ok().json();
    let s4 = list
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| {
            r["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("press/s4"))
        })
        .expect("s4 row")
        .clone();
    assert_eq!(s4["listing_state"], "delisted");

    // The delisted statement's page then goes: `removed` on the child.
    server.set("/press/s4.html", Route::status(404, "<h1>Not Found</h1>"));
    let run = env.run(&["check"]).ok();
    assert!(
        line_starting(&run, "press/s4").contains(" removed "),
        "{run:?}"
    );
    assert!(
        events(&server)
            .iter()
            .any(|(e, w)| e == "removed" && w.starts_with("press/s4"))
    );
    // The index's own edits are history, not alerts.
    assert!(!events(&server).iter().any(|(_, w)| w == "press"));
}

#[test]
fn max_retires_the_oldest_children_and_keeps_their_history() {
    let server = Server::start();
    server.set("/hook", Route::status(204, ""));
    serve_statements(&server, 1..=5);
    server.set("/press/", Route::html(index(&[3, 2, 1])));
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &config(&server, "{ links = \"ul.list a\", max = 3 }"),
    );
    env.run(&["check"]).ok();
    server.set("/press/", Route::html(index(&[5, 4, 3, 2, 1])));
    let run = env.run(&["check"]).ok();
    assert!(
        run.line_for("press")
            .contains("listing: 3 children, 2 published"),
        "{run:?}"
    );
    assert!(run.line_for("press").contains("2 retired"), "{run:?}");
    let list = env.run(&["list", "--json"]).ok().json();
    let rows = list.as_array().expect("rows");
    assert_eq!(rows[0]["children"]["listed"], 3, "{list:#}");
    assert_eq!(rows[0]["children"]["retired"], 2, "{list:#}");
    // Retired children are no longer checked, but their history stays.
    let before = server.requests("/press/s1.html").len();
    env.run(&["check"]).ok();
    assert_eq!(server.requests("/press/s1.html").len(), before);
    let s1 = rows
        .iter()
        .find(|r| {
            r["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("press/s1"))
        })
        .expect("s1");
    let history = env
        .run(&["history", s1["name"].as_str().expect("name"), "--json"])
        .ok()
        .json();
    assert_eq!(history["changes"][0]["kind"], "first-seen");
}

fn rss(server: &Server, ids: &[usize]) -> String {
    let items: String = ids
        .iter()
        .map(|n| {
            format!(
                "<item><title>Statement {n}</title><link>{}</link>\
                 <pubDate>Sat, {n:02} Nov 2026 10:00:00 +0000</pubDate>\
                 <description>Summary of statement {n}.</description></item>",
                server.url(&format!("/press/s{n}.html"))
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Press</title>\
         <link>{}</link><description>Statements</description>{items}</channel></rss>",
        server.url("/")
    )
}

fn atom(server: &Server, ids: &[usize]) -> String {
    let entries: String = ids
        .iter()
        .map(|n| {
            format!(
                "<entry><title>Statement {n}</title><link href=\"{}\"/>\
                 <id>urn:statement:{n}</id><updated>2026-11-{n:02}T10:00:00Z</updated>\
                 <summary>Summary of statement {n}.</summary></entry>",
                server.url(&format!("/press/s{n}.html"))
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><feed xmlns=\"http://www.w3.org/2005/Atom\">\
         <title>Press</title><id>urn:press</id><updated>2026-11-28T10:00:00Z</updated>{entries}</feed>"
    )
}

#[test]
fn rss_and_atom_feeds_drive_children() {
    for (kind, content_type) in [
        ("rss", "application/rss+xml"),
        ("atom", "application/atom+xml"),
    ] {
        let server = Server::start();
        server.set("/hook", Route::status(204, ""));
        serve_statements(&server, 1..=4);
        let feed = |ids: &[usize]| match kind {
            "rss" => rss(&server, ids),
            _ => atom(&server, ids),
        };
        let route = |body: String| Route {
            headers: vec![("Content-Type".into(), content_type.into())],
            ..Route::html(body)
        };
        server.set("/press/", route(feed(&[3, 2, 1])));
        let env = Env::new(
            "per_host_delay = \"0s\"",
            &config(&server, "{ feed = true }"),
        );
        let run = env.run(&["check"]).ok();
        assert!(
            run.line_for("press").contains("listing: 3 children"),
            "{kind}: {run:?}"
        );
        assert_eq!(
            run.stdout
                .lines()
                .filter(|l| l.starts_with("press/") && l.contains(" first-seen "))
                .count(),
            3,
            "{kind}: {run:?}"
        );
        server.set("/press/", route(feed(&[4, 3, 2, 1])));
        let run = env.run(&["check"]).ok();
        assert!(
            run.line_for("press").contains("1 published"),
            "{kind}: {run:?}"
        );
        assert!(
            events(&server)
                .iter()
                .any(|(e, w)| e == "published" && w.starts_with("press/s4")),
            "{kind}: {:?}",
            events(&server)
        );
        // A feed-only edit of an entry is seen on the feed watch.
        let edited = feed(&[4, 3, 2, 1]).replace(
            "Summary of statement 2.",
            "Summary of statement 2, corrected.",
        );
        server.set("/press/", route(edited));
        let run = env.run(&["check"]).ok();
        assert!(
            run.line_for("press").starts_with("press edited"),
            "{kind}: {run:?}"
        );
        assert!(
            events(&server)
                .iter()
                .any(|(e, w)| e == "edited" && w == "press"),
            "{kind}"
        );
    }
}

#[test]
fn pages_follow_next_links_and_a_failed_page_changes_nothing() {
    let server = Server::start();
    server.set("/hook", Route::status(204, ""));
    serve_statements(&server, 1..=6);
    let page = |ids: &[usize], next: Option<&str>| {
        let mut html = index(ids);
        if let Some(next) = next {
            html = html.replace(
                "</ul>",
                &format!("</ul><a class=\"next\" href=\"{next}\">Next</a>"),
            );
        }
        Route::html(html)
    };
    server.set("/press/", page(&[6, 5, 4], Some("/press/page2.html")));
    server.set("/press/page2.html", page(&[3, 2, 1], Some("/press/")));
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &config(
            &server,
            "{ links = \"ul.list a\", pages = 3, next = \"a.next\" }",
        ),
    );
    let run = env.run(&["check"]).ok();
    // Page 2 links back to page 1: read once, not looped.
    assert!(
        run.line_for("press").contains("listing: 6 children"),
        "{run:?}"
    );
    assert_eq!(server.requests("/press/page2.html").len(), 1);

    // Page 2 fails: the listing is not read, nothing is delisted.
    server.set("/press/page2.html", Route::status(500, "oops"));
    server.set("/press/", page(&[6, 5], Some("/press/page2.html")));
    let run = env.run(&["check"]).ok();
    assert!(!run.line_for("press").contains("listing:"), "{run:?}");
    assert!(events(&server).is_empty(), "{:?}", events(&server));
    let list = env.run(&["list", "--json"]).ok().json();
    assert_eq!(list[0]["children"]["listed"], 6, "{list:#}");
}

#[test]
fn the_daemon_schedules_children_and_picks_up_new_statements() {
    use std::time::Duration;

    use crate::support::wait_until;

    let server = Server::start();
    server.set("/hook", Route::status(204, ""));
    serve_statements(&server, 1..=3);
    server.set("/press/", Route::html(index(&[2, 1])));
    let text = config(&server, "{ links = \"ul.list a\" }").replace(
        "notify = [\"desk\"]",
        "notify = [\"desk\"]\ninterval = \"1s\"\nchild_interval = \"1s\"",
    );
    let env = Env::new("per_host_delay = \"0s\"", &text);
    let mut daemon = env.daemon("run");
    daemon.wait_log("chancery started", Duration::from_secs(10));
    assert!(
        wait_until(Duration::from_secs(15), || {
            server.requests("/press/s1.html").len() >= 2
                && server.requests("/press/s2.html").len() >= 2
        }),
        "children checked repeatedly\n{}",
        daemon.log()
    );
    server.set("/press/", Route::html(index(&[3, 2, 1])));
    assert!(
        wait_until(Duration::from_secs(15), || events(&server)
            .iter()
            .any(|(e, w)| e == "published" && w.starts_with("press/s3"))),
        "published reached the webhook: {:?}\n{}",
        events(&server),
        daemon.log()
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(15)), Some(0));

    // A restart schedules the stored children without a new listing look.
    let before = server.requests("/press/s3.html").len();
    server.set("/press/", Route::status(500, "down"));
    let mut daemon = env.daemon("run");
    assert!(
        wait_until(Duration::from_secs(15), || server
            .requests("/press/s3.html")
            .len()
            > before),
        "stored children checked after a restart\n{}",
        daemon.log()
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(15)), Some(0));
}
