//! Scores `content = "auto"` and `"full"` against the shared corpus's
//! expected extractions, as word 4-gram shingle precision / recall / F1.
//!
//! `cargo run --release --example extract_eval [-- DIR] [--markdown] [--dump NAME] [--external DIR]`
//!
//! `--external DIR` scores another extractor's output instead of `full`:
//! `DIR/NAME` (HTML, turned into text by `full`) or `DIR/NAME.txt` (text)
//! for each corpus page `NAME`; the last columns are then that extractor.
//!
//! DIR defaults to `$CHANCERY_CORPUS_DIR`, else `../shared/corpus/real-pages`.
//! The scoring is defined in `docs/extraction.md`; this file is its only
//! implementation, so the figures there come from here.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chancery::normalize::{Content, Filters, Input, is_cjk, normalize};

const SHINGLE: usize = 4;

fn main() {
    let mut dir = std::env::var_os("CHANCERY_CORPUS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/real-pages"),
        PathBuf::from,
    );
    let mut markdown = false;
    let mut dump: Option<String> = None;
    let mut external: Option<PathBuf> = None;
    let mut time_rounds: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--markdown" => markdown = true,
            "--dump" => dump = args.next(),
            "--external" => external = args.next().map(PathBuf::from),
            "--time" => time_rounds = args.next().and_then(|n| n.parse().ok()),
            _ => dir = PathBuf::from(arg),
        }
    }
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("extract_eval: no corpus at {}", dir.display());
        std::process::exit(2);
    };
    let mut pages: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            (n.starts_with("moz-") || n.starts_with("traf-"))
                && n.ends_with(".html")
                && !n.ends_with(".expected.html")
        })
        .collect();
    pages.sort();

    if let Some(rounds) = time_rounds {
        time_modes(&dir, rounds);
        return;
    }

    if let Some(name) = dump {
        for content in [Content::Auto, Content::Full] {
            let text = extract(&dir.join(&name), content);
            println!("===== {} =====\n{text}", content.as_str());
        }
        return;
    }

    let mut rows = Vec::new();
    for name in &pages {
        let stem = name.trim_end_matches(".html");
        let reference = if stem.starts_with("moz-") {
            let expected = dir.join(format!("{stem}.expected.html"));
            Reference::Text(extract(&expected, Content::Full))
        } else {
            let json = std::fs::read_to_string(dir.join(format!("{stem}.expected.json")))
                .expect("every traf page has its expected.json");
            Reference::Snippets(snippets(&json))
        };
        let auto = reference.score(&extract(&dir.join(name), Content::Auto));
        let full = match &external {
            None => reference.score(&extract(&dir.join(name), Content::Full)),
            Some(other) => reference.score(&external_text(other, name)),
        };
        rows.push((stem.to_owned(), auto, full));
    }
    print_table(&rows, markdown);
}

/// Best-of-`rounds` wall time of normalizing every `*.html` page in `dir`
/// (the bench's set) in each mode, the modes alternating so that load from
/// other processes hits both alike; the minimum is the least disturbed run.
fn time_modes(dir: &Path, rounds: usize) {
    let mut pages: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("corpus dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "html"))
        .filter_map(|p| std::fs::read(p).ok())
        .collect();
    pages.sort();
    let bytes: usize = pages.iter().map(Vec::len).sum();
    let mut best = [f64::INFINITY; 2];
    for _ in 0..rounds {
        for (slot, content) in [Content::Full, Content::Auto].into_iter().enumerate() {
            let filters = Filters {
                content,
                ..Filters::default()
            };
            let start = std::time::Instant::now();
            for body in &pages {
                let input = Input {
                    body,
                    content_type: Some("text/html"),
                    url: None,
                };
                let out = normalize(&input, &filters).expect("corpus pages are HTML");
                std::hint::black_box(chancery::hash::sha256_hex(out.text.as_bytes()));
            }
            best[slot] = best[slot].min(start.elapsed().as_secs_f64());
        }
    }
    let mib = bytes as f64 / (1024.0 * 1024.0);
    println!(
        "{} pages, {bytes} bytes, best of {rounds}: full {:.1} ms = {:.1} MiB/s; auto {:.1} ms = {:.1} MiB/s; auto/full time {:.2}",
        pages.len(),
        best[0] * 1e3,
        mib / best[0],
        best[1] * 1e3,
        mib / best[1],
        best[1] / best[0]
    );
}

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
        .expect("corpus pages are HTML")
        .text
}

/// Another extractor's output for page `name`, as text.
fn external_text(dir: &Path, name: &str) -> String {
    let html = dir.join(name);
    if html.exists() {
        return extract(&html, Content::Full);
    }
    let text = std::fs::read(dir.join(format!("{name}.txt"))).unwrap_or_default();
    let input = Input {
        body: &text,
        content_type: Some("text/plain; charset=utf-8"),
        url: None,
    };
    normalize(&input, &Filters::default())
        .expect("text is supported")
        .text
}

/// What a page is scored against.
enum Reference {
    /// Readability's expected article, as text.
    Text(String),
    /// trafilatura's `with` (must appear) and `without` (must not) lists.
    Snippets((Vec<String>, Vec<String>)),
}

#[derive(Debug, Clone, Copy)]
struct Score {
    precision: f64,
    recall: f64,
}

impl Score {
    fn f1(self) -> f64 {
        if self.precision + self.recall == 0.0 {
            0.0
        } else {
            2.0 * self.precision * self.recall / (self.precision + self.recall)
        }
    }
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

impl Reference {
    fn score(&self, output: &str) -> Score {
        let out_tokens = tokens(output);
        match self {
            Reference::Text(expected) => {
                let expected = shingles(&tokens(expected));
                let got = shingles(&out_tokens);
                let common = got.intersection(&expected).count();
                Score {
                    precision: ratio(common, got.len()),
                    recall: ratio(common, expected.len()),
                }
            }
            Reference::Snippets((with, without)) => {
                // Presence of a pattern (see `snippet_shingles`) in the
                // joined token stream.
                let haystack = format!(" {} ", out_tokens.join(" "));
                let present = |pattern: &String| haystack.contains(pattern.as_str());
                let good: HashSet<String> = with.iter().flat_map(|s| snippet_shingles(s)).collect();
                let bad: HashSet<String> = without
                    .iter()
                    .flat_map(|s| snippet_shingles(s))
                    .filter(|s| !good.contains(s))
                    .collect();
                let tp = good.iter().filter(|s| present(s)).count();
                let fp = bad.iter().filter(|s| present(s)).count();
                Score {
                    precision: ratio(tp, tp + fp),
                    recall: ratio(tp, good.len()),
                }
            }
        }
    }
}

/// Lower-cased tokens: runs of letters and digits, and each CJK character
/// on its own.
fn tokens(text: &str) -> Vec<String> {
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

fn shingles(tokens: &[String]) -> HashSet<String> {
    if tokens.len() < SHINGLE {
        return std::iter::once(tokens.join(" "))
            .filter(|s| !s.is_empty())
            .collect();
    }
    tokens.windows(SHINGLE).map(|w| w.join(" ")).collect()
}

/// A snippet's shingles as patterns to find in the page's token stream
/// joined by spaces (with a space at both ends). trafilatura cut its
/// snippets out of longer text, often mid-word ("orteile von KI-Systemen"),
/// and matches them as substrings; so the first shingle may start and the
/// last may end inside a word, all other edges must be word boundaries. A
/// snippet shorter than a shingle is one whole-word pattern ("Aktuell" must
/// not match "aktuelle").
///
/// Snippets go through the same text normalization as pages (NFC, soft
/// hyphens and zero-width characters removed), so "Klima\u{AD}wandel"
/// matches the page's "Klimawandel".
fn snippet_shingles(snippet: &str) -> HashSet<String> {
    let input = Input {
        body: snippet.as_bytes(),
        content_type: Some("text/plain; charset=utf-8"),
        url: None,
    };
    let text = normalize(&input, &Filters::default())
        .expect("text is supported")
        .text;
    let tokens = tokens(&text);
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

fn print_table(rows: &[(String, Score, Score)], markdown: bool) {
    if markdown {
        println!("| page | auto P | auto R | auto F1 | full P | full R | full F1 |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
    } else {
        println!(
            "{:<48} {:>6} {:>6} {:>6}   {:>6} {:>6} {:>6}",
            "page", "aP", "aR", "aF1", "fP", "fR", "fF1"
        );
    }
    let mut sums = [0.0f64; 6];
    for (name, auto, full) in rows {
        let values = [
            auto.precision,
            auto.recall,
            auto.f1(),
            full.precision,
            full.recall,
            full.f1(),
        ];
        for (sum, v) in sums.iter_mut().zip(values) {
            *sum += v;
        }
        if markdown {
            println!(
                "| {name} | {:.3} | {:.3} | **{:.3}** | {:.3} | {:.3} | {:.3} |",
                values[0], values[1], values[2], values[3], values[4], values[5]
            );
        } else {
            println!(
                "{name:<48} {:>6.3} {:>6.3} {:>6.3}   {:>6.3} {:>6.3} {:>6.3}",
                values[0], values[1], values[2], values[3], values[4], values[5]
            );
        }
    }
    let n = rows.len().max(1) as f64;
    let mean: Vec<f64> = sums.iter().map(|s| s / n).collect();
    for (label, filter) in [("moz-", "moz-"), ("traf-", "traf-"), ("all", "")] {
        let subset: Vec<_> = rows.iter().filter(|r| r.0.starts_with(filter)).collect();
        let k = subset.len().max(1) as f64;
        let a = subset.iter().map(|r| r.1.f1()).sum::<f64>() / k;
        let f = subset.iter().map(|r| r.2.f1()).sum::<f64>() / k;
        let worst = subset
            .iter()
            .map(|r| r.1.f1())
            .fold(f64::INFINITY, f64::min);
        if markdown {
            println!(
                "| **mean {label} ({})** | | | **{a:.3}** | | | {f:.3} |",
                subset.len()
            );
        } else {
            println!(
                "mean {label:<6} n={:<3} auto F1 {a:.3} (worst {worst:.3})   full F1 {f:.3}",
                subset.len()
            );
        }
    }
    let _ = mean;
}

/// The binary's allocator (src/main.rs), so timings are the daemon's.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
