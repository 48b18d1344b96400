//! The web view in a real browser: headless Chromium (Debian's `chromium`,
//! installed by `.ci/run`) renders the watch list and a change page from
//! `chancery serve`; the test reads the DOM it built and takes screenshots.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::seed;
use crate::support::{Env, Route, Server};
use crate::web::{get, serve};

/// Chromium, from `CHANCERY_CHROMIUM` or `chromium` on `PATH`. Under CI a
/// missing one fails the test; a local run without it skips with a notice.
pub(crate) fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("CHANCERY_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("chromium"))
                    .find(|p| p.is_file())
            })
        });
    match found {
        Some(path) => Some(path),
        None if std::env::var_os("CI").is_some() => {
            panic!("chromium is missing: .ci/run installs Debian's chromium package")
        }
        None => {
            eprintln!(
                "NOTICE: skipping the browser test: install chromium or set CHANCERY_CHROMIUM"
            );
            None
        }
    }
}

/// Runs headless Chromium on `url` with `args` (no network beyond
/// loopback: background services off, a fresh profile).
fn browse(chromium: &Path, profile: &Path, args: &[&str], url: &str) -> std::process::Output {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--window-size=1100,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start chromium");
    // Bounded: a browser that hangs fails the test instead of the run.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish with {url} in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("chromium output")
}

#[test]
fn a_browser_renders_the_watch_list_and_a_change_with_its_words_marked() {
    let Some(chromium) = chromium() else {
        return;
    };
    let server = Server::start();
    let paragraphs = [
        "The Embassy firmly opposes the remarks made on Tuesday by the spokesperson.",
        "We urge the parties concerned to respect the facts and stop interfering.",
    ];
    server.set(
        "/remarks",
        Route::html(seed::page_en("Remarks on the statement", &paragraphs, 1)),
    );
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &format!(
            "[[watch]]\nname = \"embassy\"\nurl = \"{}\"\n",
            server.url("/remarks")
        ),
    );
    env.run(&["check"]).ok();
    let edited = [
        "The Embassy strongly opposes the remarks made on Wednesday by the spokesperson.",
        "<script>document.title='pwned'</script> We urge the parties concerned to respect the facts.",
    ];
    server.set(
        "/remarks",
        Route::html(seed::page_en("Remarks on the statement", &edited, 2)),
    );
    env.run(&["check", "--no-confirm"]).ok();
    let (_serve, base) = serve(&env, &[]);
    assert_eq!(get(&base, "/w/embassy/changes/2", None).status, 200);

    let profile = env.dir.path().join("chromium-profile");
    let dom = |path: &str| {
        let out = browse(
            &chromium,
            &profile,
            &["--dump-dom"],
            &format!("{base}{path}"),
        );
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let index = dom("/");
    assert!(
        index.contains("<a href=\"/w/embassy\">embassy</a>"),
        "{index}"
    );
    assert!(
        index.contains("<span class=\"state ok\">ok</span>"),
        "{index}"
    );

    let change = dom("/w/embassy/changes/2");
    // The rendered DOM: deleted and inserted words marked, the page's
    // markup as text, and no script ran (the title is the view's own).
    for marked in [
        "<del>firmly</del>",
        "<ins>strongly</ins>",
        "<del>Tuesday</del>",
        "<ins>Wednesday</ins>",
        "&lt;script&gt;document.title='pwned'&lt;/script&gt;",
    ] {
        assert!(
            change.contains(marked),
            "{marked} not in the DOM:\n{change}"
        );
    }
    assert!(
        change.contains("<title>embassy · edited · chancery</title>"),
        "{change}"
    );
    assert!(!change.contains("pwned</title>"), "{change}");
    assert!(!change.contains("<script"), "{change}");

    // Screenshots: PNGs of both pages (kept for the README when asked).
    let keep = std::env::var_os("CHANCERY_SCREENSHOTS").map(PathBuf::from);
    for (name, path) in [("index", "/"), ("change", "/w/embassy/changes/2")] {
        let file = keep.as_ref().map_or_else(
            || env.dir.path().join(format!("{name}.png")),
            |d| d.join(format!("web-{name}.png")),
        );
        let out = browse(
            &chromium,
            &profile,
            &[&format!("--screenshot={}", file.display())],
            &format!("{base}{path}"),
        );
        assert!(out.status.success(), "{out:?}");
        let png = std::fs::read(&file).expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}: not a PNG");
        assert!(
            png.len() > 10_000,
            "{name}: {} bytes, a blank page?",
            png.len()
        );
    }
}
