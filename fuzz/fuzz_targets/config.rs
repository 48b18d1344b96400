//! The config loader on arbitrary text: every input is either a `Config` or
//! a `ConfigError` (never a panic), and an error renders as text.
//!
//! Secrets are skipped (`Secrets::Skip`): with `Read`, a fuzzed
//! `password_file` would read whatever file it names on this machine.
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use chancery::config::{self, Secrets};
use libfuzzer_sys::fuzz_target;

/// A path in a scratch directory; the file itself is never read or
/// written, it only names the config in messages and anchors a relative
/// `state_dir`.
static PATH: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join("chancery-fuzz-config");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join("chancery.toml")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match config::parse_with(&PATH, text, None, Secrets::Skip) {
        Ok(config) => {
            for watch in &config.watches {
                let _ = watch.filters_sha256();
            }
            let _ = config.store_location();
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
