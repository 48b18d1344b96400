//! `content = "auto"` end to end: the labelled version pairs of the corpus
//! (`../shared/corpus/PAIRS.tsv`, copied to `tests/fixtures/pairs/`) go
//! through two real checks each and must come out as labelled; the charset
//! edge cases and the `extract` command run through the real binary.

use crate::support::{Env, Route, Server, fixture};

/// The two outcome lines and the unified diff of checking `v1`, then `v2`
/// of a pair under one watch with `extra` config.
struct PairRun {
    second: String,
    diff: String,
}

fn check_pair(series: &str, extra: &str) -> PairRun {
    let server = Server::start();
    let path = "/page";
    let watches = format!(
        "[[watch]]\nname = \"pair\"\nurl = \"{}\"\n{extra}\n",
        server.url(path)
    );
    let env = Env::new("", &watches);
    // The EDGI bodies were archived without their headers: the charset
    // must come from the bytes, as it would for a server that omits it.
    server.set(
        path,
        Route::html_unlabelled(fixture(&format!("pairs/{series}.v1.html"))),
    );
    let first = env.run(&["check"]).ok();
    assert!(
        first.line_for("pair").starts_with("pair first-seen"),
        "{first:?}"
    );
    server.set(
        path,
        Route::html_unlabelled(fixture(&format!("pairs/{series}.v2.html"))),
    );
    let second = env.run(&["check"]).ok().line_for("pair");
    let diff = env.run(&["diff", "pair", "--color", "never"]).ok().stdout;
    PairRun { second, diff }
}

/// Lines the diff removed (`-`) or added (`+`), without the file headers.
fn changed(diff: &str, sign: char) -> Vec<&str> {
    diff.lines()
        .filter(|l| l.starts_with(sign) && !l.starts_with("---") && !l.starts_with("+++"))
        .map(|l| &l[1..])
        .collect()
}

#[test]
fn falsepos_footer_pair_is_unchanged() {
    // EDGI falsepos-footer: ~100 lines of footer, share widget and featured
    // story differ; the mission statement does not.
    let run = check_pair("edgi-doi-mission-statement", "");
    assert!(run.second.starts_with("pair unchanged"), "{}", run.second);
}

#[test]
fn identical_pair_is_unchanged() {
    let run = check_pair("edgi-epa-hfstudy-wayback", "");
    assert!(run.second.starts_with("pair unchanged"), "{}", run.second);
}

#[test]
fn falsepos_counter_pair_is_unchanged() {
    // EDGI falsepos-num-views: the view counter sits in the news item
    // itself, so no extractor can call it chrome; the normalizer masks
    // labelled counters ("Number of views (#)"), so the pair is unchanged
    // without any watch setting, and the counter line stays in the text.
    let run = check_pair("edgi-noaa-cpo-news", "");
    assert!(run.second.starts_with("pair unchanged"), "{}", run.second);
    // With content = "full" the site header's date of the day is left,
    // and only it: the counter stays masked.
    let run = check_pair("edgi-noaa-cpo-news", "content = \"full\"");
    assert!(
        run.second.starts_with("pair edited +1 -1"),
        "{}",
        run.second
    );
    assert_eq!(
        changed(&run.diff, '+'),
        ["Thursday, February 02, 2017"],
        "{}",
        run.diff
    );
}

#[test]
fn truepos_dataset_removal_is_an_edit_showing_the_entry() {
    let run = check_pair("edgi-datagov-highlights", "");
    assert!(
        run.second.starts_with("pair edited +0 -1"),
        "{}",
        run.second
    );
    assert_eq!(
        changed(&run.diff, '-'),
        ["View this Dataset"],
        "{}",
        run.diff
    );
}

#[test]
fn truepos_major_rewrite_is_an_edit() {
    let run = check_pair("edgi-epa-climate-collaboration", "");
    assert!(run.second.starts_with("pair edited"), "{}", run.second);
    assert!(
        changed(&run.diff, '-').contains(&"Federal Partner Collaboration"),
        "{}",
        run.diff
    );
    assert!(
        changed(&run.diff, '+').contains(&"EPA Adaptation Collaboration"),
        "{}",
        run.diff
    );
}

#[test]
fn real_versions_index_page_shows_the_new_items() {
    // A home page of link lists has no article: auto falls back to full,
    // and the two news items added on 2017-09-29 are the edit.
    let run = check_pair("edgi-energy-gov-home", "");
    assert!(run.second.starts_with("pair edited"), "{}", run.second);
    let added = changed(&run.diff, '+');
    for item in [
        "Secretary Perry Announces Conditional Commitment to Support Continued Construction of Vogtle Advanced Nuclear Energy Project",
        "Secretary Perry Urges FERC to Take Swift Action to Address Threats to Grid Resiliency",
    ] {
        assert!(added.contains(&item), "missing {item:?}:\n{}", run.diff);
    }
}

#[test]
fn real_versions_double_encoded_page_is_a_deterministic_edit() {
    // v2 was stored double-encoded (UTF-8 read as windows-1252 and saved
    // again): it is valid UTF-8, so it decodes the same way every time and
    // the mojibake shows in the diff rather than being hidden.
    let run = check_pair("edgi-fema-hurricane-maria", "");
    assert!(run.second.starts_with("pair edited"), "{}", run.second);
    assert!(
        changed(&run.diff, '+')
            .iter()
            .any(|l| l.contains("All figures as of October 5, 2017")),
        "{}",
        run.diff
    );
    let env = Env::new("", "");
    let path = env.dir.path().join("fema.v2.html");
    std::fs::write(&path, fixture("pairs/edgi-fema-hurricane-maria.v2.html")).expect("write");
    let path = path.display().to_string();
    let first = env.run(&["extract", &path, "-v"]).ok();
    let second = env.run(&["extract", &path, "-v"]).ok();
    assert_eq!(first.stdout, second.stdout);
    assert!(first.stderr.contains("encoding: UTF-8"), "{first:?}");
}

/// Runs `chancery extract -v` on a fixture with an assumed Content-Type and
/// returns (text, encoding).
fn extract_fixture(name: &str, content_type: &str) -> (String, String) {
    let env = Env::new("", "");
    let path = env.dir.path().join("page.html");
    std::fs::write(&path, fixture(name)).expect("write fixture copy");
    let run = env
        .run(&[
            "extract",
            &path.display().to_string(),
            "--content-type",
            content_type,
            "-v",
        ])
        .ok();
    let encoding = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("encoding: "))
        .unwrap_or_else(|| panic!("no encoding line:\n{run:?}"))
        .to_owned();
    (run.stdout.trim_end().to_owned(), encoding)
}

const ZH: &str = "外交部发言人就此事发表谈话。中方对此表示坚决反对，并已向有关方面提出严正交涉。";

#[test]
fn encoding_meta_after_the_first_1024_bytes() {
    let (text, encoding) = extract_fixture("encoding/meta-after-1024-gb2312.html", "text/html");
    assert_eq!(encoding, "GBK");
    assert_eq!(text, format!("外交部声明\n{ZH}"));
}

#[test]
fn encoding_lying_legacy_header_loses_to_valid_utf8() {
    for header in [
        "text/html; charset=ISO-8859-1",
        "text/html; charset=GB2312",
        "text/html",
    ] {
        let (text, encoding) = extract_fixture("encoding/label-lies-utf8.html", header);
        assert_eq!(encoding, "UTF-8", "{header}");
        assert_eq!(
            text,
            format!(
                "Déclaration du ministère\nLe ministère a publié un communiqué à Genève.\n{ZH}"
            ),
            "{header}"
        );
    }
}

#[test]
fn encoding_unknown_labels_are_ignored() {
    for header in ["text/html; charset=who-knows-what-i-am", "text/html"] {
        let (text, encoding) = extract_fixture("encoding/unknown-label.html", header);
        assert_eq!(encoding, "UTF-8", "{header}");
        assert_eq!(
            text, "Statement\nNaïve café statement – “quoted” — in UTF-8.",
            "{header}"
        );
    }
}

#[test]
fn encoding_byte_order_marks_win_over_labels() {
    for (name, expected) in [
        ("encoding/bom-utf8.html", "UTF-8"),
        ("encoding/bom-utf16le.html", "UTF-16LE"),
        ("encoding/bom-utf16be.html", "UTF-16BE"),
    ] {
        // The meta says windows-1252 and the header says ISO-8859-1.
        let (text, encoding) = extract_fixture(name, "text/html; charset=iso-8859-1");
        assert_eq!(encoding, expected, "{name}");
        assert_eq!(text, "Erklärung zur Lage – 北京", "{name}");
    }
}

#[test]
fn encoding_gb2312_label_decodes_gb18030_bytes() {
    // 𠀀 (U+20000) exists only as a GB18030 four-byte sequence (95 32 82
    // 36); a strict GB2312 decoder would turn it into replacement
    // characters. WHATWG maps the gb2312 label to GBK, whose decoder is
    // GB18030's.
    for header in ["text/html; charset=gb2312", "text/html"] {
        let (text, encoding) = extract_fixture("encoding/gb2312-label-gb18030-bytes.html", header);
        assert_eq!(encoding, "GBK", "{header}");
        assert_eq!(text, "新闻发布会：𠀀字与€符号", "{header}");
    }
}

/// A statement page in the shape of the seed page: a `div` soup with no
/// `<article>`, a 20-link menu, the statement, then a share line and a
/// footer.
fn seed_like(menu_extra: &str, visits: u32) -> String {
    let menu: String = (1..=20)
        .map(|i| format!("<a href=\"/m{i}\">Menu item {i}</a><br>"))
        .collect();
    format!(
        "<html><head><title>Statement</title></head><body>\
         <div class=\"top\"><div>{menu}{menu_extra}</div></div>\
         <div class=\"c\"><div><b>Statement by the Spokesperson on the Situation</b></div>\
         <div>2026/11/29</div>\
         <div>The Ministry has taken note of the reports, and expresses its deep concern over the developments. \
         We call on all parties to exercise restraint, to resume dialogue, and to refrain from any action \
         that could further escalate tensions in the region.<br><br>\
         We will continue to follow the situation closely, in coordination with our partners, and stand ready \
         to support every effort towards a peaceful, lasting settlement.</div>\
         <div><a href=\"/suggest\">Suggest to a Friend</a> <a href=\"/print\">Print</a></div></div>\
         <div class=\"bottom\">Visits: {visits} | <a href=\"/a\">About</a> | <a href=\"/c\">Contact</a></div>\
         </body></html>"
    )
}

#[test]
fn extract_auto_keeps_the_statement_of_a_div_soup_page() {
    let server = Server::start();
    server.set("/statement", Route::html(seed_like("", 4099)));
    let env = Env::new("", "");
    let url = server.url("/statement");
    let auto = env.run(&["extract", &url]).ok().stdout;
    assert_eq!(
        auto.trim_end(),
        "Statement by the Spokesperson on the Situation\n2026/11/29\n\
         The Ministry has taken note of the reports, and expresses its deep concern over the developments. \
         We call on all parties to exercise restraint, to resume dialogue, and to refrain from any action \
         that could further escalate tensions in the region.\n\
         We will continue to follow the situation closely, in coordination with our partners, and stand ready \
         to support every effort towards a peaceful, lasting settlement."
    );
    let full = env.run(&["extract", &url, "--content", "full"]).ok().stdout;
    assert!(full.starts_with("Menu item 1\n"), "{full}");
    // The visit counter is masked in every mode.
    assert!(
        full.contains("Suggest to a Friend Print\nVisits: # |"),
        "{full}"
    );
    // select overrides content.
    let selected = env
        .run(&["extract", &url, "--content", "auto", "--select", ".bottom"])
        .ok()
        .stdout;
    assert_eq!(selected.trim_end(), "Visits: # | About | Contact");
    let bad = env.run(&["extract", &url, "--content", "main"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("auto or full"), "{bad:?}");
}

#[test]
fn auto_text_is_stable_across_menu_banner_and_counter_changes() {
    let server = Server::start();
    server.set("/statement", Route::html(seed_like("", 4099)));
    let env = Env::new(
        "",
        &format!(
            "[[watch]]\nname = \"seed\"\nurl = \"{}\"\n",
            server.url("/statement")
        ),
    );
    let run = env.run(&["check"]).ok();
    assert!(
        run.line_for("seed").starts_with("seed first-seen"),
        "{run:?}"
    );
    server.set(
        "/statement",
        Route::html(seed_like(
            "<a href=\"/new\">A new section</a><div class=\"banner\">Election day: read our guide</div>",
            4116,
        )),
    );
    let run = env.run(&["check"]).ok();
    assert!(
        run.line_for("seed").starts_with("seed unchanged"),
        "{run:?}"
    );
}
