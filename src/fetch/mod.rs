//! Fetches a page over HTTP(S): rustls, gzip/brotli/deflate, bounded
//! redirects, a whole-request timeout, and a body cap enforced on the
//! decompressed bytes while streaming (so a gzip bomb is cut off early).
//! Conditional requests (ETag / Last-Modified) make an unchanged page a 304.
//!
//! Returns plain data ([`Response`]) or a [`FetchError`] whose message is one
//! sentence a person can act on. Nothing here decides whether a status is a
//! change: that is `classify`'s job.

pub mod robots;

use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderMap, HeaderValue};
use url::Url;

/// How every request is made; taken from `[daemon]`.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub user_agent: String,
    /// Bound on the whole request, connection to last byte.
    pub timeout: Duration,
    /// Bodies beyond this many (decompressed) bytes fail the fetch.
    pub max_body_bytes: u64,
    pub max_redirects: usize,
}

impl FetchOptions {
    /// The fetch settings of a config.
    pub fn from_config(daemon: &crate::config::Daemon) -> FetchOptions {
        FetchOptions {
            user_agent: daemon.user_agent.clone(),
            timeout: daemon.timeout,
            max_body_bytes: daemon.max_body_bytes,
            max_redirects: daemon.max_redirects,
        }
    }
}

/// Validators from an earlier response, sent back as `If-None-Match` /
/// `If-Modified-Since`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    /// True when there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// A response as received. The body is empty for a 304.
#[derive(Debug, Clone)]
pub struct Response {
    /// The URL after redirects.
    pub final_url: Url,
    pub status: u16,
    /// The headers chancery records and acts on.
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub retry_after: Option<String>,
    /// The body after content decoding (gzip etc.), at most `max_body_bytes`.
    pub body: Vec<u8>,
    pub elapsed: Duration,
}

impl Response {
    /// 304 Not Modified: the validators matched.
    pub fn is_not_modified(&self) -> bool {
        self.status == 304
    }
}

/// A fetch that produced no usable response.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("timed out after {}", humantime::format_duration(*.after))]
    Timeout { after: Duration },
    #[error("body exceeds max_body ({limit} bytes); cut off after {received} bytes")]
    TooLarge { limit: u64, received: u64 },
    #[error("too many redirects (more than {max})")]
    TooManyRedirects { max: usize },
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Request(String),
    #[error("reading the body failed: {0}")]
    Body(String),
    #[error("disallowed by robots.txt (respect_robots = true)")]
    DisallowedByRobots,
}

/// An HTTP client with chancery's limits. Cheap to clone; share one.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    options: FetchOptions,
}

impl Fetcher {
    /// Builds the client. Installs the `ring` TLS provider if no provider is
    /// installed yet (reqwest would panic without one).
    pub fn new(options: FetchOptions) -> Result<Fetcher, FetchError> {
        // Ignoring the result is right: an error only means a provider is
        // already installed, which is all we need.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "text/html,application/xhtml+xml,application/xml;q=0.9,text/plain;q=0.8,*/*;q=0.5",
            ),
        );
        let client = reqwest::Client::builder()
            .user_agent(options.user_agent.clone())
            .default_headers(headers)
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(options.max_redirects))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| FetchError::Client(error_chain(&e)))?;
        Ok(Fetcher { client, options })
    }

    /// The limits this fetcher enforces.
    pub fn options(&self) -> &FetchOptions {
        &self.options
    }

    /// Fetches `url`, sending `validators` if any.
    pub async fn fetch(&self, url: &Url, validators: &Validators) -> Result<Response, FetchError> {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        match tokio::time::timeout_at(deadline, self.fetch_inner(url, validators, started)).await {
            Ok(result) => result,
            // reqwest's own timeout covers the request; this bounds the whole
            // body read as well, whatever the server's pace.
            Err(_) => Err(FetchError::Timeout {
                after: self.options.timeout,
            }),
        }
    }

    async fn fetch_inner(
        &self,
        url: &Url,
        validators: &Validators,
        started: Instant,
    ) -> Result<Response, FetchError> {
        let mut request = self.client.get(url.clone());
        if let Some(etag) = &validators.etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(last_modified) = &validators.last_modified {
            request = request.header(header::IF_MODIFIED_SINCE, last_modified);
        }
        let mut response = request.send().await.map_err(|e| self.classify_error(&e))?;
        let limit = self.options.max_body_bytes;
        if let Some(len) = response.content_length() {
            // Only a plain body's length is known up front; a compressed one
            // is counted while it is decoded below.
            if len > limit {
                return Err(FetchError::TooLarge { limit, received: 0 });
            }
        }
        let header = |name: header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(header::CONTENT_TYPE);
        let etag = header(header::ETAG);
        let last_modified = header(header::LAST_MODIFIED);
        let retry_after = header(header::RETRY_AFTER);
        let status = response.status().as_u16();
        let final_url = response.url().clone();

        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.classify_error(&e))?
        {
            let received = (body.len() + chunk.len()) as u64;
            if received > limit {
                return Err(FetchError::TooLarge { limit, received });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            final_url,
            status,
            content_type,
            etag,
            last_modified,
            retry_after,
            body,
            elapsed: started.elapsed(),
        })
    }

    fn classify_error(&self, e: &reqwest::Error) -> FetchError {
        if e.is_timeout() {
            FetchError::Timeout {
                after: self.options.timeout,
            }
        } else if e.is_redirect() {
            FetchError::TooManyRedirects {
                max: self.options.max_redirects,
            }
        } else if e.is_connect() {
            FetchError::Connect(root_cause(e))
        } else if e.is_body() || e.is_decode() {
            FetchError::Body(root_cause(e))
        } else {
            FetchError::Request(root_cause(e))
        }
    }
}

/// The innermost cause: reqwest's outer messages repeat the URL, which the
/// caller already names. Shared with the webhook client.
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        parts.push(c.to_string());
        cause = c.source();
    }
    parts.join(": ")
}
