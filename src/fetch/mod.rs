//! Fetches a page over HTTP(S): rustls, gzip/brotli/deflate, bounded
//! redirects, a whole-request timeout, and a body cap enforced on the
//! decompressed bytes while streaming (so a gzip bomb is cut off early).
//! Conditional requests (ETag / Last-Modified) make an unchanged page a 304.
//!
//! Content decoding is done here, not by reqwest: reqwest's decoder drops
//! `Content-Encoding` and `Content-Length` from the headers it hands back,
//! and the evidence export must show the headers as the server sent them.
//! [`Exchange`] keeps those headers, the status line and the request
//! headers chancery set.
//!
//! Every request waits its turn at the [`gate::HostGate`], so requests to
//! one host are spaced by `per_host_delay` whoever makes them.
//!
//! Returns plain data ([`Response`]) or a [`FetchError`] whose message is one
//! sentence a person can act on. Nothing here decides whether a status is a
//! change: that is `classify`'s job.

pub mod browser;
pub mod gate;
pub mod robots;

use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderMap, HeaderValue};
use url::Url;

use crate::model::Timestamp;

/// What chancery accepts in `Accept`, sent with every request.
const ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,text/plain;q=0.8,*/*;q=0.5";

/// The content codings [`BodyDecoder`] can undo, sent as `Accept-Encoding`
/// so the request record lists exactly what was offered.
const ACCEPT_ENCODING: &str = "gzip, deflate, br";

/// How every request is made; the config builds it from `[daemon]`
/// (`config::Daemon::fetch_options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    pub user_agent: String,
    /// Bound on the whole request, connection to last byte.
    pub timeout: Duration,
    /// Bodies beyond this many (decompressed) bytes fail the fetch.
    pub max_body_bytes: u64,
    pub max_redirects: usize,
    /// Minimum time between the starts of two requests to one host.
    pub per_host_delay: Duration,
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
    /// The request and response heads, for the evidence export.
    pub exchange: Exchange,
}

/// One HTTP request and the head of its response, as an archive needs them.
///
/// The response headers are the ones the HTTP library handed over, in its
/// order (repeated names adjacent, names lowercased), values as bytes. The
/// request headers are the ones chancery set; the library adds only
/// connection framing (`Host` is listed here; HTTP/2 sends it as
/// `:authority`). Redirect hops before the final response are not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// When the request was sent (wall clock).
    pub requested_at: Timestamp,
    pub remote_ip: Option<IpAddr>,
    /// `HTTP/1.1`, `HTTP/2.0`, ...
    pub version: String,
    /// The reason phrase as received over HTTP/1, else the standard one.
    pub reason: String,
    pub request_headers: Vec<(String, Vec<u8>)>,
    pub response_headers: Vec<(String, Vec<u8>)>,
    /// The browser that rendered the body (`Chrome/148.0.7778.167`), when
    /// the body is the DOM after the page's scripts ran rather than the
    /// bytes the server sent (`render = "browser"`).
    pub rendered_by: Option<String>,
}

impl Exchange {
    /// The request line and headers as HTTP/1 text, for a WARC `request`
    /// record: `GET /path HTTP/1.1`, headers, blank line.
    pub fn request_head(&self, url: &Url) -> Vec<u8> {
        let mut target = url.path().to_owned();
        if let Some(query) = url.query() {
            target.push('?');
            target.push_str(query);
        }
        // hyper speaks HTTP/1.1 on an HTTP/1 connection whatever version
        // the server answers with (an HTTP/1.0 server still gets 1.1).
        let version = if self.version.starts_with("HTTP/2") {
            self.version.as_str()
        } else {
            "HTTP/1.1"
        };
        let mut head = format!("GET {target} {version}\r\n").into_bytes();
        push_headers(&mut head, &self.request_headers);
        head
    }

    /// The status line and headers as HTTP/1 text, for a WARC `response`
    /// record.
    pub fn response_head(&self, status: u16) -> Vec<u8> {
        let mut head = format!("{} {status} {}\r\n", self.version, self.reason).into_bytes();
        push_headers(&mut head, &self.response_headers);
        head
    }
}

fn push_headers(head: &mut Vec<u8>, headers: &[(String, Vec<u8>)]) {
    for (name, value) in headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
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
    /// `render = "browser"`: the page was not ready within `[browser]
    /// timeout` (its tab is closed).
    #[error("the page did not finish rendering within {} ([browser] timeout)", humantime::format_duration(*.after))]
    RenderTimeout { after: Duration },
    /// `render = "browser"`: the browser is missing, would not start, or
    /// died during the page.
    #[error("{0}")]
    Browser(String),
    #[error("disallowed by robots.txt (respect_robots = true)")]
    DisallowedByRobots,
    /// Not a fetch failure: the page was fetched but turning it into text
    /// took longer than `normalize_timeout` (recorded like one, with the
    /// status the server sent).
    #[error("the page took longer than normalize_timeout ({}) to read as text", humantime::format_duration(*.after))]
    TooComplex { after: Duration },
    /// One of the above, after the response's headers had arrived: the
    /// status and where the request ended are known and recorded.
    #[error("{error}")]
    AfterHeaders {
        status: u16,
        final_url: Url,
        error: Box<FetchError>,
    },
}

impl FetchError {
    /// The failure itself, whether or not the headers had arrived.
    pub fn cause(&self) -> &FetchError {
        match self {
            FetchError::AfterHeaders { error, .. } => error.cause(),
            other => other,
        }
    }

    /// The HTTP status of the response, if its headers arrived before the
    /// failure (a body cut off at `max_body`, a timeout mid-body).
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::AfterHeaders { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Where the request ended (after redirects), if the headers arrived.
    pub fn final_url(&self) -> Option<&Url> {
        match self {
            FetchError::AfterHeaders { final_url, .. } => Some(final_url),
            _ => None,
        }
    }

    /// This failure, as one that happened after headers with `status` had
    /// arrived from `final_url` (unchanged if it already says so).
    pub fn after_headers(self, status: u16, final_url: &Url) -> FetchError {
        match self {
            already @ FetchError::AfterHeaders { .. } => already,
            error => FetchError::AfterHeaders {
                status,
                final_url: final_url.clone(),
                error: Box::new(error),
            },
        }
    }
}

/// An HTTP client with chancery's limits. Cheap to clone; clones share
/// the connection pool and the host gate.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    options: FetchOptions,
    gate: Arc<gate::HostGate>,
}

impl Fetcher {
    /// Builds the client. Installs the `ring` TLS provider if no provider is
    /// installed yet (reqwest would panic without one).
    pub fn new(options: FetchOptions) -> Result<Fetcher, FetchError> {
        // Ignoring the result is right: an error only means a provider is
        // already installed, which is all we need.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static(ACCEPT_ENCODING),
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
        let gate = Arc::new(gate::HostGate::new(options.per_host_delay));
        Ok(Fetcher {
            client,
            options,
            gate,
        })
    }

    /// The host gate this client's requests wait at, for the browser's
    /// page loads to wait at too.
    pub fn gate(&self) -> &gate::HostGate {
        &self.gate
    }

    /// The limits this fetcher enforces.
    pub fn options(&self) -> &FetchOptions {
        &self.options
    }

    /// Fetches `url`, sending `validators` if any, once the host gate lets
    /// it start (the wait does not count against the timeout).
    pub async fn fetch(&self, url: &Url, validators: &Validators) -> Result<Response, FetchError> {
        self.gate.wait(url).await;
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        // Set once the headers are in, so a timeout mid-body still knows
        // the status.
        let headers = std::sync::Mutex::new(None);
        match tokio::time::timeout_at(
            deadline,
            self.fetch_inner(url, validators, started, &headers),
        )
        .await
        {
            Ok(result) => result,
            // reqwest's own timeout covers the request; this bounds the whole
            // body read as well, whatever the server's pace.
            Err(_) => {
                let timeout = FetchError::Timeout {
                    after: self.options.timeout,
                };
                let seen = headers
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                Err(match seen {
                    Some((status, final_url)) => timeout.after_headers(status, &final_url),
                    None => timeout,
                })
            }
        }
    }

    async fn fetch_inner(
        &self,
        url: &Url,
        validators: &Validators,
        started: Instant,
        headers: &std::sync::Mutex<Option<(u16, Url)>>,
    ) -> Result<Response, FetchError> {
        let mut request = self.client.get(url.clone());
        if let Some(etag) = &validators.etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(last_modified) = &validators.last_modified {
            request = request.header(header::IF_MODIFIED_SINCE, last_modified);
        }
        let requested_at = Timestamp::now();
        let sent = request.send().await;
        if !self.options.per_host_delay.is_zero() {
            self.gate.answered(&gate::host_key(url), Instant::now());
        }
        let response = sent.map_err(|e| self.classify_error(&e))?;
        let (status, final_url) = (response.status().as_u16(), response.url().clone());
        *headers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((status, final_url.clone()));
        self.read_response(response, validators, requested_at, started)
            .await
            .map_err(|e| e.after_headers(status, &final_url))
    }

    /// Everything after the headers: the body, decoded and capped.
    async fn read_response(
        &self,
        mut response: reqwest::Response,
        validators: &Validators,
        requested_at: Timestamp,
        started: Instant,
    ) -> Result<Response, FetchError> {
        let limit = self.options.max_body_bytes;
        let coding = ContentCoding::of(response.headers())?;
        if let Some(len) = response.content_length() {
            // Only a plain body's length is known up front; a compressed one
            // is counted while it is decoded below.
            if coding == ContentCoding::Identity && len > limit {
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
        let exchange = self.exchange(&response, &final_url, validators, requested_at);

        // A plain body of known length is read into one buffer of its size,
        // not a doubling one that may hold up to twice the body.
        let size_hint = match (coding, response.content_length()) {
            (ContentCoding::Identity, Some(len)) => usize::try_from(len).unwrap_or(0),
            _ => 0,
        };
        let mut decoder = BodyDecoder::new(coding, limit, size_hint);
        let mut received_nothing = true;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.classify_error(&e))?
        {
            received_nothing &= chunk.is_empty();
            decoder.write(&chunk)?;
        }
        // A 304 (or any empty body) may still name a coding: there is
        // nothing to decode.
        let body = if received_nothing {
            Vec::new()
        } else {
            // Checks wait holding their bodies: none keeps spare capacity.
            let mut body = decoder.finish()?;
            body.shrink_to_fit();
            body
        };
        Ok(Response {
            final_url,
            status,
            content_type,
            etag,
            last_modified,
            retry_after,
            body,
            elapsed: started.elapsed(),
            exchange,
        })
    }

    /// Captures the heads of `response` and of the request that got it.
    fn exchange(
        &self,
        response: &reqwest::Response,
        final_url: &Url,
        validators: &Validators,
        requested_at: Timestamp,
    ) -> Exchange {
        let mut request_headers = Vec::new();
        if let Some(host) = final_url.host_str() {
            let host = match final_url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            };
            request_headers.push(("Host".to_owned(), host.into_bytes()));
        }
        let mut add = |name: &str, value: &str| {
            request_headers.push((name.to_owned(), value.as_bytes().to_vec()));
        };
        add("User-Agent", &self.options.user_agent);
        add("Accept", ACCEPT);
        add("Accept-Encoding", ACCEPT_ENCODING);
        if let Some(etag) = &validators.etag {
            add("If-None-Match", etag);
        }
        if let Some(last_modified) = &validators.last_modified {
            add("If-Modified-Since", last_modified);
        }
        let status = response.status();
        let reason = response
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .or_else(|| status.canonical_reason().map(str::to_owned))
            .unwrap_or_default();
        Exchange {
            requested_at,
            remote_ip: response.remote_addr().map(|a| a.ip()),
            version: format!("{:?}", response.version()),
            reason,
            request_headers,
            response_headers: response
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
                .collect(),
            rendered_by: None,
        }
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

/// A `Content-Encoding` chancery can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContentCoding {
    Identity,
    Gzip,
    /// HTTP's "deflate" is the zlib format (RFC 9110 8.4.1.2).
    Deflate,
    Brotli,
}

impl ContentCoding {
    /// The coding of a response. Several codings stacked, or one we did not
    /// offer, are an error: the bytes would not be the page.
    fn of(headers: &HeaderMap) -> Result<ContentCoding, FetchError> {
        let mut codings = Vec::new();
        for value in headers.get_all(header::CONTENT_ENCODING) {
            let text = String::from_utf8_lossy(value.as_bytes());
            for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                let coding = match token.to_ascii_lowercase().as_str() {
                    "identity" => continue,
                    "gzip" | "x-gzip" => ContentCoding::Gzip,
                    "deflate" => ContentCoding::Deflate,
                    "br" => ContentCoding::Brotli,
                    _ => {
                        return Err(FetchError::Body(format!(
                            "unsupported Content-Encoding {token:?}"
                        )));
                    }
                };
                codings.push(coding);
            }
        }
        match codings.as_slice() {
            [] => Ok(ContentCoding::Identity),
            [one] => Ok(*one),
            _ => Err(FetchError::Body(format!(
                "unsupported stacked Content-Encoding {:?}",
                String::from_utf8_lossy(
                    headers
                        .get(header::CONTENT_ENCODING)
                        .map_or(&b""[..], |v| v.as_bytes())
                )
            ))),
        }
    }
}

/// A sink that refuses to grow past `limit` bytes. Decoders write their
/// output here in small pieces, so a bomb stops within one buffer of the cap.
#[derive(Debug)]
struct CappedBody {
    bytes: Vec<u8>,
    limit: u64,
    /// Set when a write would have passed the limit: the size it would have had.
    over: Option<u64>,
}

impl Write for CappedBody {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let would_be = (self.bytes.len() + data.len()) as u64;
        if would_be > self.limit {
            self.over = Some(would_be);
            return Err(std::io::Error::other("body over max_body"));
        }
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Undoes the response's content coding while the body streams in.
enum BodyDecoder {
    Identity(CappedBody),
    Gzip(flate2::write::MultiGzDecoder<CappedBody>),
    Deflate(flate2::write::ZlibDecoder<CappedBody>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<CappedBody>>),
}

/// Output buffer of the brotli decoder: also the most it writes past the cap.
const BROTLI_BUFFER_BYTES: usize = 32 * 1024;

impl BodyDecoder {
    fn new(coding: ContentCoding, limit: u64, size_hint: usize) -> BodyDecoder {
        let sink = CappedBody {
            bytes: Vec::with_capacity(size_hint),
            limit,
            over: None,
        };
        match coding {
            ContentCoding::Identity => BodyDecoder::Identity(sink),
            ContentCoding::Gzip => BodyDecoder::Gzip(flate2::write::MultiGzDecoder::new(sink)),
            ContentCoding::Deflate => BodyDecoder::Deflate(flate2::write::ZlibDecoder::new(sink)),
            ContentCoding::Brotli => BodyDecoder::Brotli(Box::new(
                brotli_decompressor::DecompressorWriter::new(sink, BROTLI_BUFFER_BYTES),
            )),
        }
    }

    fn sink(&self) -> &CappedBody {
        match self {
            BodyDecoder::Identity(sink) => sink,
            BodyDecoder::Gzip(d) => d.get_ref(),
            BodyDecoder::Deflate(d) => d.get_ref(),
            BodyDecoder::Brotli(d) => d.get_ref(),
        }
    }

    /// Feeds one chunk of the body as received.
    fn write(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        let result = match self {
            BodyDecoder::Identity(sink) => sink.write_all(chunk),
            BodyDecoder::Gzip(d) => d.write_all(chunk),
            BodyDecoder::Deflate(d) => d.write_all(chunk),
            BodyDecoder::Brotli(d) => d.write_all(chunk),
        };
        result.map_err(|e| self.error(&e))
    }

    /// The decoded body; an error if the encoded stream was cut short.
    fn finish(self) -> Result<Vec<u8>, FetchError> {
        let limit = self.sink().limit;
        let too_large = |sink: &CappedBody| {
            sink.over
                .map(|received| FetchError::TooLarge { limit, received })
        };
        let decode_error =
            |e: std::io::Error| FetchError::Body(format!("cannot decode the body: {e}"));
        match self {
            BodyDecoder::Identity(sink) => Ok(sink.bytes),
            BodyDecoder::Gzip(mut d) => match d.try_finish() {
                Ok(()) => d.finish().map(|s| s.bytes).map_err(decode_error),
                Err(e) => Err(too_large(d.get_ref()).unwrap_or_else(|| decode_error(e))),
            },
            BodyDecoder::Deflate(mut d) => match d.try_finish() {
                Ok(()) => d.finish().map(|s| s.bytes).map_err(decode_error),
                Err(e) => Err(too_large(d.get_ref()).unwrap_or_else(|| decode_error(e))),
            },
            BodyDecoder::Brotli(mut d) => {
                if let Err(e) = d.close() {
                    return Err(too_large(d.get_ref()).unwrap_or_else(|| decode_error(e)));
                }
                match d.into_inner() {
                    Ok(sink) => Ok(sink.bytes),
                    Err(_) => Err(FetchError::Body(
                        "cannot decode the body: brotli stream is incomplete".to_owned(),
                    )),
                }
            }
        }
    }

    /// A write error is either the cap or damaged data.
    fn error(&self, e: &std::io::Error) -> FetchError {
        match self.sink().over {
            Some(received) => FetchError::TooLarge {
                limit: self.sink().limit,
                received,
            },
            None => FetchError::Body(format!("cannot decode the body: {e}")),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).expect("gzip");
        encoder.finish().expect("gzip")
    }

    fn decode(coding: ContentCoding, limit: u64, encoded: &[u8]) -> Result<Vec<u8>, FetchError> {
        let mut decoder = BodyDecoder::new(coding, limit, 0);
        // Small chunks, as a slow network would deliver them.
        for chunk in encoded.chunks(7) {
            decoder.write(chunk)?;
        }
        decoder.finish()
    }

    fn coding_of(value: &str) -> Result<ContentCoding, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_str(value).expect("header"),
        );
        ContentCoding::of(&headers)
    }

    #[test]
    fn gzip_and_zlib_bodies_are_decoded() {
        let page = "<p>外交部发言人</p>".repeat(100);
        let body = decode(ContentCoding::Gzip, 1 << 20, &gzip(page.as_bytes())).expect("gzip");
        assert_eq!(body, page.as_bytes());
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(page.as_bytes()).expect("zlib");
        let body = decode(
            ContentCoding::Deflate,
            1 << 20,
            &zlib.finish().expect("zlib"),
        )
        .expect("deflate");
        assert_eq!(body, page.as_bytes());
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap() {
        let bomb = gzip(&vec![0u8; 8 << 20]);
        let err = decode(ContentCoding::Gzip, 1 << 20, &bomb).expect_err("over the cap");
        match err {
            FetchError::TooLarge { limit, received } => {
                assert_eq!(limit, 1 << 20);
                // Stopped within one decoder buffer of the cap, not at 8 MiB.
                assert!(
                    received > limit && received < limit + (64 << 10),
                    "{received}"
                );
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn a_truncated_or_damaged_stream_is_a_body_error() {
        let encoded = gzip(&b"statement ".repeat(1000));
        let cut = &encoded[..encoded.len() / 2];
        let err = decode(ContentCoding::Gzip, 1 << 20, cut).expect_err("truncated");
        assert!(matches!(err, FetchError::Body(_)), "{err:?}");
        let err = decode(ContentCoding::Brotli, 1 << 20, b"not brotli at all").expect_err("bad");
        assert!(matches!(err, FetchError::Body(_)), "{err:?}");
    }

    #[test]
    fn content_codings_are_parsed_strictly() {
        assert_eq!(coding_of("gzip").expect("gzip"), ContentCoding::Gzip);
        assert_eq!(coding_of("X-GZIP").expect("x-gzip"), ContentCoding::Gzip);
        assert_eq!(coding_of("br").expect("br"), ContentCoding::Brotli);
        assert_eq!(
            coding_of("identity").expect("identity"),
            ContentCoding::Identity
        );
        assert_eq!(
            ContentCoding::of(&HeaderMap::new()).expect("none"),
            ContentCoding::Identity
        );
        let err = coding_of("zstd").expect_err("not offered");
        assert!(err.to_string().contains("\"zstd\""), "{err}");
        assert!(coding_of("gzip, br").is_err());
    }

    #[test]
    fn heads_are_http1_text() {
        let exchange = Exchange {
            requested_at: Timestamp(0),
            remote_ip: None,
            version: "HTTP/1.1".to_owned(),
            reason: "OK".to_owned(),
            request_headers: vec![("Host".to_owned(), b"example.org".to_vec())],
            response_headers: vec![
                ("content-type".to_owned(), b"text/html".to_vec()),
                ("set-cookie".to_owned(), b"a=1".to_vec()),
                ("set-cookie".to_owned(), b"b=2".to_vec()),
            ],
            rendered_by: None,
        };
        let url = Url::parse("https://example.org/news/1?lang=zh#top").expect("url");
        assert_eq!(
            exchange.request_head(&url),
            b"GET /news/1?lang=zh HTTP/1.1\r\nHost: example.org\r\n\r\n"
        );
        assert_eq!(
            exchange.response_head(200),
            b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\n"
        );
    }
}
