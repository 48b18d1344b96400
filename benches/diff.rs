//! Diff stage speed on a statement-page-sized text.
//!
//! Target (issue): two 200 KB texts with 1% of lines changed diff in at most
//! 20 ms, summary plus unified rendering. The text is generated, not read
//! from the corpus, so the figures are reproducible anywhere: paragraphs of
//! English and Chinese sentences like an embassy's statement page, built
//! from a fixed seed. Every hundredth line is edited (a word added, as a
//! correction would), and one line is inserted and one removed.
//!
//! Run: `cargo bench --bench diff`.

use std::hint::black_box;

use chancery::diff::{Format, RenderOptions, render, summarize};
use criterion::{Criterion, criterion_group, criterion_main};

const TARGET_BYTES: usize = 200 * 1024;

const EN_WORDS: &[&str] = &[
    "the",
    "embassy",
    "ministry",
    "foreign",
    "affairs",
    "spokesperson",
    "statement",
    "on",
    "regarding",
    "bilateral",
    "relations",
    "cooperation",
    "security",
    "trade",
    "visa",
    "consular",
    "services",
    "citizens",
    "travel",
    "advisory",
    "government",
    "minister",
    "meeting",
    "discussed",
    "welcomed",
    "condemned",
    "expressed",
    "concern",
    "about",
    "recent",
    "developments",
    "in",
    "the",
    "region",
    "and",
    "called",
    "for",
    "restraint",
    "dialogue",
    "support",
    "international",
    "law",
    "sovereignty",
    "partnership",
    "summit",
];

const ZH_WORDS: &[&str] = &[
    "外交部",
    "发言人",
    "就",
    "此事",
    "发表",
    "谈话",
    "中华人民共和国",
    "驻",
    "英国",
    "大使馆",
    "领事",
    "服务",
    "提醒",
    "中国公民",
    "注意",
    "安全",
    "双边",
    "关系",
    "合作",
    "贸易",
    "会见",
    "表示",
    "欢迎",
    "强烈",
    "谴责",
    "关切",
    "地区",
    "局势",
    "呼吁",
    "各方",
    "保持",
    "克制",
    "对话",
    "国际法",
    "主权",
    "伙伴",
    "峰会",
    "近期",
    "发展",
];

/// A small xorshift generator: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn english_line(rng: &mut Rng) -> String {
    let n = 12 + rng.below(16);
    let mut words: Vec<&str> = (0..n)
        .map(|_| EN_WORDS[rng.below(EN_WORDS.len())])
        .collect();
    let mut line = words.remove(0).to_owned();
    for w in words {
        line.push(' ');
        line.push_str(w);
    }
    line.push('.');
    line
}

fn chinese_line(rng: &mut Rng) -> String {
    let n = 8 + rng.below(16);
    let mut line: String = (0..n)
        .map(|_| ZH_WORDS[rng.below(ZH_WORDS.len())])
        .collect();
    line.push('。');
    line
}

/// The old text, and the new one with 1% of its lines changed.
fn texts() -> (String, String) {
    let mut rng = Rng(0x5eed_cafe_f00d_u64);
    let mut lines = Vec::new();
    let mut bytes = 0;
    while bytes < TARGET_BYTES {
        let line = if rng.below(2) == 0 {
            english_line(&mut rng)
        } else {
            chinese_line(&mut rng)
        };
        bytes += line.len() + 1;
        lines.push(line);
    }
    let mut new_lines = lines.clone();
    for line in new_lines.iter_mut().skip(50).step_by(100) {
        *line = if line.is_ascii() {
            line.replacen(' ', " notably ", 1)
        } else {
            format!("据悉，{line}")
        };
    }
    new_lines.insert(
        lines.len() / 3,
        "Update: the consular section is closed on Monday.".into(),
    );
    new_lines.remove(2 * lines.len() / 3);
    (lines.join("\n"), new_lines.join("\n"))
}

fn bench(c: &mut Criterion) {
    let (old, new) = texts();
    let summary = summarize(&old, &new);
    eprintln!(
        "old {} B, new {} B, {} lines; +{} -{} lines, changed ratio {:.4}",
        old.len(),
        new.len(),
        old.lines().count(),
        summary.lines_added,
        summary.lines_removed,
        summary.changed_ratio
    );
    let opts = RenderOptions::default();
    let mut group = c.benchmark_group("diff_200k_1pct");
    group.bench_function("summarize", |b| {
        b.iter(|| summarize(black_box(&old), black_box(&new)))
    });
    group.bench_function("summarize+unified", |b| {
        b.iter(|| {
            let summary = summarize(black_box(&old), black_box(&new));
            let unified = render(black_box(&old), black_box(&new), Format::Unified, &opts);
            (summary, unified)
        })
    });
    for (name, format) in [
        ("unified", Format::Unified),
        ("word", Format::Word),
        ("side_by_side", Format::SideBySide),
        ("json", Format::Json),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| render(black_box(&old), black_box(&new), format, &opts))
        });
    }
    group.finish();

    // Worst case for word refinement: every line changed, so every old line
    // is word-diffed against its candidates until the inline deadline.
    let rewritten: String = new
        .split('\n')
        .map(|l| format!("{l} (rev)"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut group = c.benchmark_group("diff_200k_every_line");
    group.sample_size(10);
    group.bench_function("summarize+unified", |b| {
        b.iter(|| {
            let summary = summarize(black_box(&old), black_box(&rewritten));
            let unified = render(
                black_box(&old),
                black_box(&rewritten),
                Format::Unified,
                &opts,
            );
            (summary, unified)
        })
    });
    group.bench_function("word", |b| {
        b.iter(|| render(black_box(&old), black_box(&rewritten), Format::Word, &opts))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
