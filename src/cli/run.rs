//! `chancery run`: start the daemon (see `crate::daemon`).

use std::path::Path;

use anyhow::Context;

use crate::cli::Exit;
use crate::config;

pub fn run(config_path: Option<&Path>) -> anyhow::Result<Exit> {
    let path = config::locate(config_path)?;
    let config = config::load(&path)?;
    let runtime = crate::runtime::runtime().context("cannot start the async runtime")?;
    let result = runtime.block_on(crate::daemon::run(path, config));
    // The daemon has given running checks their grace period; CPU work
    // still running on a blocking thread (a pathological page) cannot be
    // interrupted, and dropping the runtime would wait for it. Exit now.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    result?;
    Ok(Exit::Success)
}
