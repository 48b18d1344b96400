//! `chancery run`: start the daemon (see `crate::daemon`).

use std::path::Path;

use anyhow::Context;

use crate::cli::Exit;
use crate::config;

pub fn run(config_path: Option<&Path>) -> anyhow::Result<Exit> {
    let path = config::locate(config_path)?;
    let config = config::load(&path)?;
    let runtime = crate::runtime::runtime().context("cannot start the async runtime")?;
    runtime.block_on(crate::daemon::run(path, config))?;
    Ok(Exit::Success)
}
