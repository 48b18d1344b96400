//! The diff renderers, the summary and the change excerpts on two
//! arbitrary texts.
//!
//! Input: `old` 0xFF `new` (0xFF never occurs in UTF-8); both must be
//! UTF-8. Trailing newlines are dropped, since inputs are normalized texts
//! ("no trailing newline", src/diff/mod.rs).
//!
//! Checks, each documented in src/diff: no panic; text formats end with a
//! newline and are empty when the texts are equal; JSON is always a
//! complete document; `changed_ratio` is within 0..=1 and 0 for equal
//! texts, with no lines added or removed; `changes` gives at most `limit`
//! changes, no more than its total, none for equal texts, and each side is
//! at most `SIDE_MAX_CHARS` characters.
#![no_main]

use chancery::diff::{self, Format, RenderOptions, SIDE_MAX_CHARS};
use libfuzzer_sys::fuzz_target;

const FORMATS: [Format; 5] = [
    Format::Unified,
    Format::Word,
    Format::SideBySide,
    Format::Json,
    Format::Html,
];

fn check(old: &str, new: &str) {
    let equal = old == new;
    for (color, context_lines, width) in [(false, 3, 120), (true, 0, 1)] {
        let opts = RenderOptions {
            color,
            context_lines,
            width,
            ..RenderOptions::default()
        };
        for format in FORMATS {
            let out = diff::render(old, new, format, &opts);
            match format {
                Format::Json => {
                    serde_json::from_str::<serde_json::Value>(&out)
                        .unwrap_or_else(|e| panic!("JSON diff does not parse: {e}\n{out}"));
                }
                _ if equal => assert!(out.is_empty(), "{format:?} of equal texts: {out:?}"),
                Format::Html => {}
                _ => assert!(out.ends_with('\n'), "{format:?} ends without a newline"),
            }
        }
    }

    let summary = diff::summarize(old, new);
    assert!((0.0..=1.0).contains(&summary.changed_ratio), "{summary:?}");
    if equal {
        assert_eq!(summary.lines_added, 0);
        assert_eq!(summary.lines_removed, 0);
        assert_eq!(summary.changed_ratio, 0.0);
    }

    let limit = 3;
    let (changes, total) = diff::changes(old, new, limit);
    assert!(
        changes.len() <= limit && changes.len() <= total,
        "{} of {total}",
        changes.len()
    );
    if equal {
        assert_eq!(total, 0);
    }
    for change in &changes {
        assert!(change.before.chars().count() <= SIDE_MAX_CHARS);
        assert!(change.after.chars().count() <= SIDE_MAX_CHARS);
        let _ = change.context();
        let _ = change.headline();
    }
}

fuzz_target!(|data: &[u8]| {
    let (old, new) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[..0]),
    };
    let (Ok(old), Ok(new)) = (std::str::from_utf8(old), std::str::from_utf8(new)) else {
        return;
    };
    let (old, new) = (old.trim_end_matches('\n'), new.trim_end_matches('\n'));
    check(old, new);
    check(old, old);
});
