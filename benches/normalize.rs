//! Throughput of normalize + SHA-256 over the shared real-page corpus
//! (`../shared/corpus/real-pages/*.html`), the work every check does, in
//! both `content` modes: `full` (the walk alone) and `auto` (the default:
//! the main-content scorer, then the walk).
//! Skips with a message when the corpus is not beside the checkout;
//! `CHANCERY_CORPUS_DIR` points elsewhere (e.g. from a git worktree).

use std::hint::black_box;
use std::path::PathBuf;

use chancery::normalize::{Content, Filters, Input, normalize};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = std::env::var_os("CHANCERY_CORPUS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/real-pages"),
        PathBuf::from,
    );
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("normalize bench: no corpus at {}, skipping", dir.display());
        return Vec::new();
    };
    let mut pages: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "html"))
        .filter_map(|path| {
            let body = std::fs::read(&path).ok()?;
            Some((path.file_name()?.to_string_lossy().into_owned(), body))
        })
        .collect();
    pages.sort();
    pages
}

fn bench(c: &mut Criterion) {
    let pages = corpus();
    if pages.is_empty() {
        return;
    }
    let total_bytes: usize = pages.iter().map(|(_, body)| body.len()).sum();
    let mut group = c.benchmark_group("normalize");
    group.throughput(Throughput::Bytes(total_bytes as u64));
    group.sample_size(20);
    for content in [Content::Full, Content::Auto] {
        let filters = Filters {
            content,
            ..Filters::default()
        };
        group.bench_function(format!("{} {} pages", content.as_str(), pages.len()), |b| {
            b.iter(|| {
                for (_, body) in &pages {
                    let input = Input {
                        body,
                        content_type: Some("text/html"),
                        url: None,
                    };
                    let out =
                        normalize(black_box(&input), &filters).expect("corpus pages are HTML");
                    black_box(chancery::hash::sha256_hex(out.text.as_bytes()));
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

/// The allocator the binary uses (src/main.rs), so the figure is the daemon's.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
