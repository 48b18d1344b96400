//! `chancery serve`: a read-only web view of the history.
//!
//! Plain server-rendered HTML (maud: templates checked at compile time,
//! every interpolation escaped), no scripts. The store is opened read-only
//! ([`crate::store::Location::open_read_only`]): the database itself refuses any write, so
//! the view runs beside the daemon and can never change the evidence.
//!
//! Every stored text is hostile input: it is escaped, every response
//! carries a `Content-Security-Policy` that forbids scripts, frames and
//! plugins, and raw bodies are served as `text/plain` with `nosniff`, never
//! as the page they were. Names and ids are validated before any query.

mod auth;
mod feed;
mod pages;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::config::Config;
use crate::store::SharedStore;

pub use self::auth::Auth;

/// What the pages read: the config (which watches are current) and the
/// store (their history).
#[derive(Clone)]
pub(crate) struct View {
    config: Arc<Config>,
    store: SharedStore,
}

/// The policy of every response: nothing runs, nothing is framed, styles
/// come only from this server.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The token guarding the view: read from `token_file` (a flag or
/// `[web] token_file`), else `$CHANCERY_WEB_TOKEN`; none when neither is
/// set. An address beyond loopback without a token is refused.
pub fn auth_for(
    listen: SocketAddr,
    token_file: Option<&std::path::Path>,
) -> anyhow::Result<Option<Auth>> {
    let token = match token_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("cannot read the web token file {}: {e}", path.display())
        })?),
        None => std::env::var("CHANCERY_WEB_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
    };
    let auth = token
        .map(|t| Auth::new(&t))
        .transpose()
        .map_err(|e| anyhow::Error::new(crate::cli::UsageError(e)))?;
    if auth.is_none() && !is_loopback(&listen) {
        return Err(crate::cli::UsageError(format!(
            "refusing to serve the history on {listen} without a token: set CHANCERY_WEB_TOKEN or a token file, or listen on 127.0.0.1"
        ))
        .into());
    }
    Ok(auth)
}

/// Serves the web view of `config`'s history on `listener` until the
/// future is dropped.
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    auth: Option<Auth>,
) -> anyhow::Result<()> {
    let location = config.store_location();
    let store = location
        .open_read_only()
        .map_err(|e| anyhow::anyhow!("cannot open history {location}: {e}"))?;
    let view = View {
        config: Arc::new(config),
        store: SharedStore::new(store),
    };
    let app = router(view, auth);
    axum::serve(listener, app).await?;
    Ok(())
}

fn router(view: View, auth: Option<Auth>) -> Router {
    let auth = Arc::new(auth);
    Router::new()
        .route("/", get(pages::index))
        .route("/style.css", get(pages::style))
        .route(
            "/feed.atom",
            get(
                |State(view): State<View>, headers: axum::http::HeaderMap| async move {
                    feed::feed(view, None, headers).await
                },
            ),
        )
        .route("/w/{*path}", get(pages::under_watch))
        .fallback(pages::not_found)
        .with_state(view)
        .layer(middleware::from_fn(move |request, next| {
            let auth = auth.clone();
            async move { auth::guard(auth.as_ref().as_ref(), request, next).await }
        }))
        // A bug in a page is a logged 500 with the same headers, not a
        // dropped connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                tracing::error!("web view: a page panicked; answered 500");
                (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the server log says where\n",
                )
                    .into_response()
            },
        ))
        .layer(middleware::from_fn(secure_headers))
}

/// Headers every response carries, errors and 401s included.
async fn secure_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let mut set = |name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(header::CONTENT_SECURITY_POLICY, CSP);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::CACHE_CONTROL, "no-store");
    response
}

/// The path of a watch's page, `/w/<name>`, its name percent-encoded
/// where needed (alerts link to pages under it).
pub fn watch_path(name: &str) -> String {
    pages::watch_href(name)
}

/// Whether `addr` is reachable only from this machine.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}
