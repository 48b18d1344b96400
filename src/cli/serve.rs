//! `chancery serve`: the read-only web view (see `crate::web`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::Exit;
use crate::cli::output::load_config_readonly;
use crate::web;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free one [default: [web] listen, else 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Require this token (bearer, or as the basic-auth password) on every
    /// request, read from a file [default: [web] token_file, else $CHANCERY_WEB_TOKEN]
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let config = load_config_readonly(config_path)?;
    let settings = config.web.clone().unwrap_or_default();
    let listen = args
        .listen
        .or(settings.listen)
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
    let token_file = args.token_file.as_ref().or(settings.token_file.as_ref());
    let auth = web::auth_for(listen, token_file.map(PathBuf::as_path))?;
    let runtime = crate::runtime::runtime().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {}", listen))?;
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
