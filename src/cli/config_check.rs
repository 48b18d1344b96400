//! `chancery config check`: validate and summarise the config.

use crate::cli::output::outln;
use std::path::Path;

use crate::cli::Exit;
use crate::cli::output::load_config;

pub fn run(config_path: Option<&Path>) -> anyhow::Result<Exit> {
    let config = load_config(config_path)?;
    outln!(
        "{}: ok, {} watches, state in {}",
        config.path.display(),
        config.watches.len(),
        config.daemon.state_dir.display()
    )?;
    for w in &config.watches {
        let mut parts = vec![format!("every {}", humantime::format_duration(w.interval))];
        for (label, list) in [
            ("select", &w.select),
            ("exclude", &w.exclude),
            ("ignore", &w.ignore),
            ("notify", &w.notify),
        ] {
            if !list.is_empty() {
                parts.push(format!("{label} {}", list.join(", ")));
            }
        }
        outln!("{}  {}  {}", w.name, w.url, parts.join("; "))?;
    }
    Ok(Exit::Success)
}
