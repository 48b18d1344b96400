//! `chancery serve`: the read-only web view (see `crate::web`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::output::load_config_readonly;
use crate::cli::{Exit, UsageError};
use crate::web::{self, Auth};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free one
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Require this token (bearer, or as the basic-auth password) on every
    /// request, read from a file [default: $CHANCERY_WEB_TOKEN]
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let config = load_config_readonly(config_path)?;
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the web token file {}", path.display()))?,
        ),
        None => std::env::var("CHANCERY_WEB_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
    };
    let auth = token
        .map(|t| Auth::new(&t))
        .transpose()
        .map_err(UsageError)?;
    if auth.is_none() && !web::is_loopback(&args.listen) {
        return Err(UsageError(format!(
            "refusing to serve the history on {} without a token: set CHANCERY_WEB_TOKEN or --token-file, or listen on 127.0.0.1",
            args.listen
        ))
        .into());
    }
    let runtime = crate::runtime::runtime().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let local = listener.local_addr()?;
        tracing::info!(
            url = %format!("http://{local}/"),
            auth = if auth.is_some() { "token" } else { "none" },
            "serving the web view (read-only)"
        );
        tokio::select! {
            served = web::serve(config, listener, auth) => served,
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = terminate() => Ok(()),
        }
    })?;
    Ok(Exit::Success)
}

/// Resolves on SIGTERM.
async fn terminate() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
