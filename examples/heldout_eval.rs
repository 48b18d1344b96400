//! Scores `content = "auto"` and `"full"` on the held-out set in
//! `eval/heldout/`: real pages never used to tune the extractor.
//!
//! `cargo run --release --example heldout_eval -- [DIR] [--markdown] [--dump NAME] [--explain NAME]`
//!
//! DIR defaults to `eval/heldout` in the crate. Each page is `NAME.html`
//! with one reference beside it:
//!
//! - `NAME.expected.txt`: the page's main text, one paragraph a line,
//!   scored as scrapinghub/article-extraction-benchmark's `evaluate.py`
//!   scores an extractor's `articleBody` (see [`benchmark_counts`]);
//! - `NAME.expected.json`: trafilatura's `with` / `without` snippets, scored
//!   as `docs/extraction.md` says (the same definition as
//!   `examples/extract_eval.rs`; see [`snippet_score`]).
//!
//! The language group of a page (English and other Latin-script pages
//! against Chinese) comes from the `language` column of `MANIFEST.tsv`.
//! `--dump NAME` prints the auto and full texts of one page; `--explain NAME`
//! prints the lines `auto` keeps that the reference does not have and the
//! reference lines `auto` misses.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use chancery::normalize::{Content, Filters, Input, is_cjk, normalize};
use regex::Regex;

/// Shingle length, in tokens, of both scorings.
const SHINGLE: usize = 4;

fn main() {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("eval/heldout");
    let mut markdown = false;
    let mut dump: Option<String> = None;
    let mut explain: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--markdown" => markdown = true,
            "--dump" => dump = args.next(),
            "--explain" => explain = args.next(),
            _ => dir = PathBuf::from(arg),
        }
    }
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("heldout_eval: no held-out set at {}", dir.display());
        std::process::exit(2);
    };
    let mut pages: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".html").map(str::to_owned))
        .collect();
    pages.sort();

    if let Some(name) = dump {
        let name = name.trim_end_matches(".html");
        for content in [Content::Auto, Content::Full] {
            let text = extract(&dir.join(format!("{name}.html")), content);
            println!("===== {} =====\n{text}", content.as_str());
        }
        return;
    }
    if let Some(name) = explain {
        explain_page(&dir, name.trim_end_matches(".html"));
        return;
    }

    let languages = manifest_languages(&dir);
    let mut rows = Vec::new();
    for stem in &pages {
        let Some(reference) = Reference::load(&dir, stem) else {
            eprintln!("heldout_eval: {stem}.html has no expected.txt or expected.json, skipped");
            continue;
        };
        let group = match languages.get(stem.as_str()) {
            Some(lang) if lang.starts_with("zh") => Group::Chinese,
            Some(_) => Group::Latin,
            None => {
                eprintln!("heldout_eval: {stem} is not in MANIFEST.tsv, grouped by its reference");
                reference.guess_group()
            }
        };
        let auto = reference.score(&extract(&dir.join(format!("{stem}.html")), Content::Auto));
        let full = reference.score(&extract(&dir.join(format!("{stem}.html")), Content::Full));
        rows.push(Row {
            name: stem.clone(),
            group,
            kind: reference.kind(),
            auto,
            full,
        });
    }
    print_table(&rows, markdown);
}

/// The text of `path` under `content`, as chancery's checks see it.
fn extract(path: &Path, content: Content) -> String {
    let body = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let filters = Filters {
        content,
        ..Filters::default()
    };
    let input = Input {
        body: &body,
        content_type: Some("text/html"),
        url: None,
    };
    normalize(&input, &filters)
        .expect("held-out pages are HTML")
        .text
}

/// `file` → `language` from the set's `MANIFEST.tsv`.
fn manifest_languages(dir: &Path) -> HashMap<String, String> {
    let Ok(manifest) = std::fs::read_to_string(dir.join("MANIFEST.tsv")) else {
        return HashMap::new();
    };
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    let file = header.iter().position(|h| *h == "file");
    let language = header.iter().position(|h| *h == "language");
    let (Some(file), Some(language)) = (file, language) else {
        return HashMap::new();
    };
    lines
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let name = cols.get(file)?.trim_end_matches(".html");
            Some((name.to_owned(), (*cols.get(language)?).to_owned()))
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Latin,
    Chinese,
}

impl Group {
    fn label(self) -> &'static str {
        match self {
            Group::Latin => "English/Latin",
            Group::Chinese => "Chinese",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `expected.txt`, benchmark scoring.
    Text,
    /// `expected.json`, trafilatura snippet scoring.
    Snippets,
}

/// What a page is scored against.
enum Reference {
    Text(String),
    Snippets {
        with: Vec<String>,
        without: Vec<String>,
    },
}

/// One page's precision and recall. `precision` / `recall` are `None` where
/// `evaluate.py` leaves the page out of that mean (nothing predicted, or
/// nothing expected).
#[derive(Debug, Clone, Copy)]
struct Score {
    precision: Option<f64>,
    recall: Option<f64>,
}

impl Score {
    fn f1(self) -> f64 {
        let (p, r) = (self.precision.unwrap_or(0.0), self.recall.unwrap_or(0.0));
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

struct Row {
    name: String,
    group: Group,
    kind: Kind,
    auto: Score,
    full: Score,
}

impl Reference {
    fn load(dir: &Path, stem: &str) -> Option<Reference> {
        if let Ok(text) = std::fs::read_to_string(dir.join(format!("{stem}.expected.txt"))) {
            return Some(Reference::Text(text));
        }
        let json = std::fs::read_to_string(dir.join(format!("{stem}.expected.json"))).ok()?;
        let (with, without) = snippets(&json);
        Some(Reference::Snippets { with, without })
    }

    fn kind(&self) -> Kind {
        match self {
            Reference::Text(_) => Kind::Text,
            Reference::Snippets { .. } => Kind::Snippets,
        }
    }

    /// Chinese when most letters of the reference are CJK.
    fn guess_group(&self) -> Group {
        let text = match self {
            Reference::Text(t) => t.clone(),
            Reference::Snippets { with, .. } => with.join(" "),
        };
        let letters = text.chars().filter(|c| c.is_alphabetic()).count();
        let cjk = text.chars().filter(|&c| is_cjk(c)).count();
        if cjk * 2 > letters {
            Group::Chinese
        } else {
            Group::Latin
        }
    }

    fn score(&self, output: &str) -> Score {
        match self {
            Reference::Text(expected) => {
                let (tp, fp, fn_) = benchmark_counts(expected, output);
                benchmark_score(tp, fp, fn_)
            }
            Reference::Snippets { with, without } => snippet_score(with, without, output),
        }
    }
}

// ---------------------------------------------------------------------------
// article-extraction-benchmark scoring
//
// A reimplementation of scrapinghub/article-extraction-benchmark `evaluate.py`
// (commit 11b407d4), which the reference measurement used:
//
// - `_tokenize`: `re.findall(r'\w+', text)` with Python's Unicode `\w`:
//   letters (Lu Ll Lt Lm Lo), numbers (Nd Nl No) and `_`. Case is kept, no
//   other normalisation. A run of Han characters without punctuation is one
//   token (the script's comment: "will work ok for any language, even if
//   several words will be clumped together"), so Chinese shingles are four
//   consecutive clauses.
// - `_ngrams`: the 4-token windows `tokens[i:i+4]` for `i` in
//   `0..max(1, len-3)`; a text of fewer than 4 tokens is one shorter
//   shingle, an empty text none.
// - `string_shingle_matching`: the shingles are counted (a multiset, not a
//   set); over every shingle, TP += min(true, pred), FP += max(0, pred -
//   true), FN += max(0, true - pred); then the three are divided by their sum
//   so that long pages weigh no more than short ones.
// - `precision_score` / `recall_score`: 1 if FP == FN == 0; 0 if TP == FP == 0
//   (precision) or TP == FN == 0 (recall); else TP/(TP+FP), TP/(TP+FN).
// - `metrics_from_tp_fp_fns`: precision is the mean over pages with
//   TP + FP > 0, recall the mean over pages with TP + FN > 0, and F1 is the
//   harmonic mean of those two means (not the mean of per-page F1s).
// ---------------------------------------------------------------------------

/// Python's `\w+` on `str` (Unicode).
static WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\p{L}\p{N}_]+").expect("word pattern compiles"));

fn benchmark_tokens(text: &str) -> Vec<&str> {
    WORD.find_iter(text).map(|m| m.as_str()).collect()
}

fn benchmark_shingles(text: &str) -> HashMap<Vec<&str>, usize> {
    let tokens = benchmark_tokens(text);
    let mut counts = HashMap::new();
    if tokens.is_empty() {
        return counts;
    }
    let windows = tokens.len().saturating_sub(SHINGLE - 1).max(1);
    for i in 0..windows {
        let end = (i + SHINGLE).min(tokens.len());
        *counts.entry(tokens[i..end].to_vec()).or_insert(0) += 1;
    }
    counts
}

/// `string_shingle_matching(true=expected, pred=output)`: normalised
/// (TP, FP, FN).
fn benchmark_counts(expected: &str, output: &str) -> (f64, f64, f64) {
    let truth = benchmark_shingles(expected);
    let pred = benchmark_shingles(output);
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    let keys: HashSet<&Vec<&str>> = truth.keys().chain(pred.keys()).collect();
    for key in keys {
        let t = truth.get(key).copied().unwrap_or(0);
        let p = pred.get(key).copied().unwrap_or(0);
        tp += t.min(p);
        fp += p.saturating_sub(t);
        fn_ += t.saturating_sub(p);
    }
    let sum = (tp + fp + fn_) as f64;
    if sum > 0.0 {
        (tp as f64 / sum, fp as f64 / sum, fn_ as f64 / sum)
    } else {
        (0.0, 0.0, 0.0)
    }
}

fn benchmark_score(tp: f64, fp: f64, fn_: f64) -> Score {
    let precision = if fp == 0.0 && fn_ == 0.0 {
        1.0
    } else if tp == 0.0 && fp == 0.0 {
        0.0
    } else {
        tp / (tp + fp)
    };
    let recall = if fp == 0.0 && fn_ == 0.0 {
        1.0
    } else if tp == 0.0 && fn_ == 0.0 {
        0.0
    } else {
        tp / (tp + fn_)
    };
    Score {
        precision: (tp + fp > 0.0).then_some(precision),
        recall: (tp + fn_ > 0.0).then_some(recall),
    }
}

// ---------------------------------------------------------------------------
// trafilatura snippet scoring, as defined in docs/extraction.md
// ---------------------------------------------------------------------------

/// Lower-cased tokens: runs of letters and digits, and each CJK character
/// on its own (the dev-set tokenizer of `docs/extraction.md`).
fn dev_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if is_cjk(c) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(c.to_string());
        } else if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// A snippet's shingles as patterns to find in the page's token stream
/// joined by spaces: the outer edges of a snippet longer than a shingle may
/// fall inside a word (trafilatura cut snippets out of longer text), every
/// other edge is a word boundary. Snippets are normalised like pages first.
fn snippet_patterns(snippet: &str) -> HashSet<String> {
    let input = Input {
        body: snippet.as_bytes(),
        content_type: Some("text/plain; charset=utf-8"),
        url: None,
    };
    let text = normalize(&input, &Filters::default())
        .expect("text is supported")
        .text;
    let tokens = dev_tokens(&text);
    if tokens.is_empty() {
        return HashSet::new();
    }
    if tokens.len() <= SHINGLE {
        return std::iter::once(format!(" {} ", tokens.join(" "))).collect();
    }
    let last = tokens.len() - SHINGLE;
    tokens
        .windows(SHINGLE)
        .enumerate()
        .map(|(i, w)| {
            let open = if i == 0 { "" } else { " " };
            let close = if i == last { "" } else { " " };
            format!("{open}{}{close}", w.join(" "))
        })
        .collect()
}

/// TP = `with` shingles found, FN = not found, FP = `without` shingles
/// found (unless also a `with` shingle); P = TP/(TP+FP), R = TP/(TP+FN).
fn snippet_score(with: &[String], without: &[String], output: &str) -> Score {
    let haystack = format!(" {} ", dev_tokens(output).join(" "));
    let present = |pattern: &String| haystack.contains(pattern.as_str());
    let good: HashSet<String> = with.iter().flat_map(|s| snippet_patterns(s)).collect();
    let bad: HashSet<String> = without
        .iter()
        .flat_map(|s| snippet_patterns(s))
        .filter(|s| !good.contains(s))
        .collect();
    let tp = good.iter().filter(|s| present(s)).count();
    let fp = bad.iter().filter(|s| present(s)).count();
    let ratio = |num: usize, den: usize| {
        if den == 0 {
            1.0
        } else {
            num as f64 / den as f64
        }
    };
    Score {
        precision: Some(ratio(tp, tp + fp)),
        recall: Some(ratio(tp, good.len())),
    }
}

fn snippets(json: &str) -> (Vec<String>, Vec<String>) {
    let value: serde_json::Value = serde_json::from_str(json).expect("expected.json parses");
    let entry = value
        .as_object()
        .and_then(|o| o.values().next())
        .expect("one page per expected.json");
    let list = |key: &str| -> Vec<String> {
        entry[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    (list("with"), list("without"))
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// `evaluate.py`'s aggregate over `scores`: mean P (pages with a
/// prediction), mean R (pages with a reference), F1 of the two means.
fn aggregate(scores: &[Score]) -> (f64, f64, f64) {
    let mean = |values: Vec<f64>| {
        if values.is_empty() {
            0.0
        } else {
            values.iter().sum::<f64>() / values.len() as f64
        }
    };
    let p = mean(scores.iter().filter_map(|s| s.precision).collect());
    let r = mean(scores.iter().filter_map(|s| s.recall).collect());
    let f1 = if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    };
    (p, r, f1)
}

fn fmt(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

fn print_table(rows: &[Row], markdown: bool) {
    for group in [Group::Latin, Group::Chinese] {
        let subset: Vec<&Row> = rows.iter().filter(|r| r.group == group).collect();
        if subset.is_empty() {
            continue;
        }
        if markdown {
            println!("\n### {} ({} pages)\n", group.label(), subset.len());
            println!("| page | ref | auto P | auto R | **auto F1** | full P | full R | full F1 |");
            println!("|---|---|---:|---:|---:|---:|---:|---:|");
        } else {
            println!("\n== {} ({} pages) ==", group.label(), subset.len());
            println!(
                "{:<46} {:<4} {:>6} {:>6} {:>6}   {:>6} {:>6} {:>6}",
                "page", "ref", "aP", "aR", "aF1", "fP", "fR", "fF1"
            );
        }
        for row in &subset {
            let kind = match row.kind {
                Kind::Text => "text",
                Kind::Snippets => "snip",
            };
            let cells = [
                fmt(row.auto.precision),
                fmt(row.auto.recall),
                format!("{:.3}", row.auto.f1()),
                fmt(row.full.precision),
                fmt(row.full.recall),
                format!("{:.3}", row.full.f1()),
            ];
            if markdown {
                println!(
                    "| {} | {kind} | {} | {} | **{}** | {} | {} | {} |",
                    row.name, cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]
                );
            } else {
                println!(
                    "{:<46} {kind:<4} {:>6} {:>6} {:>6}   {:>6} {:>6} {:>6}",
                    row.name, cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]
                );
            }
        }
        for (label, filter) in [
            ("text refs, benchmark scoring", Some(Kind::Text)),
            ("snippet refs, trafilatura scoring", Some(Kind::Snippets)),
            ("all pages", None),
        ] {
            let part: Vec<&&Row> = subset
                .iter()
                .filter(|r| filter.is_none_or(|k| r.kind == k))
                .collect();
            if part.is_empty() {
                continue;
            }
            let auto: Vec<Score> = part.iter().map(|r| r.auto).collect();
            let full: Vec<Score> = part.iter().map(|r| r.full).collect();
            let (ap, ar, af) = aggregate(&auto);
            let (fp, fr, ff) = aggregate(&full);
            let page_mean = auto.iter().map(|s| s.f1()).sum::<f64>() / auto.len() as f64;
            if markdown {
                println!(
                    "| **{label} ({})** | | {ap:.3} | {ar:.3} | **{af:.3}** | {fp:.3} | {fr:.3} | {ff:.3} |",
                    part.len()
                );
            } else {
                println!(
                    "{:<51} {ap:>6.3} {ar:>6.3} {af:>6.3}   {fp:>6.3} {fr:>6.3} {ff:>6.3}   (mean page F1 auto {page_mean:.3})",
                    format!("{label} ({})", part.len())
                );
            }
        }
        let mut worst: Vec<&&Row> = subset.iter().collect();
        worst.sort_by(|a, b| a.auto.f1().total_cmp(&b.auto.f1()));
        let names: Vec<String> = worst
            .iter()
            .take(5)
            .map(|r| format!("{} {:.3}", r.name, r.auto.f1()))
            .collect();
        if markdown {
            println!("\nWorst auto F1: {}", names.join(", "));
        } else {
            println!("worst auto F1: {}", names.join(", "));
        }
    }
}

/// For `--explain`: the 1- to 4-token windows of a text, counted, so that a
/// window matched for one line is not matched again for another (a phrase
/// that recurs in the chrome cannot hide a missed body line).
fn window_pool(tokens: &[&str]) -> HashMap<String, usize> {
    let mut pool = HashMap::new();
    for size in 1..=SHINGLE {
        for window in tokens.windows(size) {
            *pool.entry(window.join("\u{1}")).or_insert(0) += 1;
        }
    }
    pool
}

/// For `--explain`: each line's share of 4-token windows (the whole line
/// when it is shorter; a Han run is one token, so Chinese lines often are)
/// found in `pool`, which they are taken from. Lines found whole are taken
/// first, so that a line that is really there keeps its windows from a
/// missing line that shares a phrase with it. `None` for a line without
/// tokens.
fn line_shares(text: &str, pool: &mut HashMap<String, usize>) -> Vec<(String, Option<f64>)> {
    let lines: Vec<Vec<String>> = text
        .lines()
        .map(|line| {
            let tokens = benchmark_tokens(line);
            let size = SHINGLE.min(tokens.len()).max(1);
            tokens.windows(size).map(|w| w.join("\u{1}")).collect()
        })
        .collect();
    let mut shares: Vec<Option<f64>> = vec![None; lines.len()];
    for (i, windows) in lines.iter().enumerate() {
        if windows.is_empty() {
            continue;
        }
        let mut need: HashMap<&str, usize> = HashMap::new();
        for window in windows {
            *need.entry(window.as_str()).or_insert(0) += 1;
        }
        if need
            .iter()
            .all(|(window, n)| pool.get(*window).is_some_and(|left| left >= n))
        {
            for (window, n) in need {
                if let Some(left) = pool.get_mut(window) {
                    *left -= n;
                }
            }
            shares[i] = Some(1.0);
        }
    }
    for (i, windows) in lines.iter().enumerate() {
        if windows.is_empty() || shares[i].is_some() {
            continue;
        }
        let mut hits = 0u32;
        for window in windows {
            if let Some(left) = pool.get_mut(window)
                && *left > 0
            {
                *left -= 1;
                hits += 1;
            }
        }
        shares[i] = Some(f64::from(hits) / windows.len() as f64);
    }
    text.lines().map(str::to_owned).zip(shares).collect()
}

/// What `auto` gets wrong on one page: its lines of which at most a quarter
/// of the windows are in the reference (kept wrongly), and the reference
/// lines of which `auto` has less than three quarters (missed), each with
/// that share. For snippet references, the snippets found or missing.
fn explain_page(dir: &Path, stem: &str) {
    let auto = extract(&dir.join(format!("{stem}.html")), Content::Auto);
    let Some(reference) = Reference::load(dir, stem) else {
        eprintln!("heldout_eval: {stem} has no reference");
        std::process::exit(2);
    };
    match reference {
        Reference::Text(expected) => {
            let mut expected_pool = window_pool(&benchmark_tokens(&expected));
            let mut auto_pool = window_pool(&benchmark_tokens(&auto));
            println!("== kept by auto, not in the reference ==");
            for (line, share) in line_shares(&auto, &mut expected_pool) {
                if let Some(share) = share
                    && share <= 0.25
                {
                    println!("+ {:>3.0}% {line}", share * 100.0);
                }
            }
            println!("== in the reference, missed by auto ==");
            for (line, share) in line_shares(&expected, &mut auto_pool) {
                if let Some(share) = share
                    && share < 0.75
                {
                    println!("- {:>3.0}% {line}", share * 100.0);
                }
            }
        }
        Reference::Snippets { with, without } => {
            let haystack = format!(" {} ", dev_tokens(&auto).join(" "));
            for (label, list) in [("with", &with), ("without", &without)] {
                for snippet in list.iter() {
                    let patterns = snippet_patterns(snippet);
                    let found = patterns
                        .iter()
                        .filter(|p| haystack.contains(p.as_str()))
                        .count();
                    println!("{label:<7} {found}/{} {snippet}", patterns.len());
                }
            }
        }
    }
}

/// The binary's allocator (src/main.rs), so the library runs as it does in
/// the daemon.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
