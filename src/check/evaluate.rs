//! What a fetched response is, before any comparison with history: the
//! body normalized and hashed, the page judged ([`page::judge`]: content,
//! removed, blocked, failed), a failed fetch given its reason. Also the one
//! header rule the schedule needs from a response (`Retry-After`).
//!
//! Pure over plain data (a [`Response`] or a [`FetchError`]); the driver
//! runs it on the CPU pool because normalizing a page is the expensive part
//! of a check.

use std::time::{Duration, SystemTime};

use crate::classify::Observation;
use crate::classify::page::{self, Page, Verdict};
use crate::config::Watch;
use crate::fetch::{FetchError, Response};
use crate::hash::sha256_hex;
use crate::normalize::{self, Input};

/// What the fetched body became after normalization and judging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluated {
    pub observation: Kind,
    /// The normalized text, for a page with content.
    pub text: Option<String>,
    pub text_sha256: Option<String>,
    /// The encoding the body was decoded with.
    pub charset: Option<String>,
    /// Why it failed or was judged removed, in a sentence.
    pub error: Option<String>,
    /// The rule behind it (`blocked`, `not-found`, `timeout`, …).
    pub reason: Option<&'static str>,
    /// Where `content = "auto"` found the statement (`None`: the whole
    /// page, or not HTML), for a response that was read.
    pub region: Option<String>,
    /// The remembered region is gone or outgrown: chosen again.
    pub region_moved: bool,
}

/// An owned [`Observation`], so the hash can live beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NotModified,
    Gone(u16),
    Empty,
    Text,
    Failed,
}

impl Evaluated {
    /// The observation classification works on.
    pub fn observation(&self) -> Observation<'_> {
        match self.observation {
            Kind::NotModified => Observation::NotModified,
            Kind::Gone(status) => Observation::Gone { status },
            Kind::Empty => Observation::Empty,
            Kind::Failed => Observation::Failed,
            Kind::Text => match &self.text_sha256 {
                Some(sha) => Observation::Text { text_sha256: sha },
                None => Observation::Failed,
            },
        }
    }

    /// A page whose normalizing took longer than `limit`: a failed check
    /// with reason `too-complex`.
    pub fn too_complex(limit: std::time::Duration) -> Evaluated {
        let error = FetchError::TooComplex { after: limit };
        Evaluated::bare(
            Kind::Failed,
            Some(error.to_string()),
            Some(fetch_reason(&error)),
        )
    }

    /// A page whose reading would take more than the whole
    /// `memory_budget`: failed `too-complex`, the response kept.
    pub fn over_budget(over: crate::runtime::OverBudget) -> Evaluated {
        Evaluated::bare(Kind::Failed, Some(over.to_string()), Some("too-complex"))
    }

    fn bare(observation: Kind, error: Option<String>, reason: Option<&'static str>) -> Evaluated {
        Evaluated {
            observation,
            text: None,
            text_sha256: None,
            charset: None,
            error,
            reason,
            region: None,
            region_moved: false,
        }
    }
}

/// The reason stored for a fetch that produced no response.
pub fn fetch_reason(error: &FetchError) -> &'static str {
    match error.cause() {
        FetchError::Timeout { .. } => "timeout",
        FetchError::TooLarge { .. } => "too-large",
        FetchError::TooManyRedirects { .. } => "redirect-loop",
        FetchError::DisallowedByRobots => "robots",
        FetchError::TooComplex { .. } => "too-complex",
        FetchError::RenderTimeout { .. } => "render-timeout",
        FetchError::Browser(_) => "browser",
        FetchError::Client(_)
        | FetchError::Connect(_)
        | FetchError::Request(_)
        | FetchError::Body(_) => "network",
        FetchError::AfterHeaders { error, .. } => fetch_reason(error),
    }
}

/// Whether `response` has a body for [`evaluate`] to read (decode, parse,
/// normalize): not a failed fetch, and not a 304 to the validators sent.
/// Without one, evaluating is a few comparisons.
pub fn has_body_to_read(response: &Result<Response, FetchError>, sent_validators: bool) -> bool {
    match response {
        Ok(r) => !(r.status == 304 && sent_validators),
        Err(_) => false,
    }
}

/// Normalizes and judges one fetch of `watch`. `sent_validators`: the
/// request was conditional, so a 304 means "as it was"; `sticky`: the
/// main-content region found last time.
pub fn evaluate(
    watch: &Watch,
    response: &Result<Response, FetchError>,
    sent_validators: bool,
    sticky: Option<&str>,
) -> Evaluated {
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            return Evaluated::bare(Kind::Failed, Some(e.to_string()), Some(fetch_reason(e)));
        }
    };
    if response.status == 304 && sent_validators {
        return Evaluated::bare(Kind::NotModified, None, None);
    }
    let input = Input {
        body: &response.body,
        content_type: response.content_type.as_deref(),
        url: Some(&response.final_url),
    };
    let success = (200..300).contains(&response.status);
    let normalized = match normalize::normalize_sticky(&input, &watch.filters, sticky) {
        Ok(n) => Some(n),
        Err(e) if success => {
            let reason = match e {
                normalize::NormalizeError::Binary { .. } => "binary",
                _ => "content",
            };
            return Evaluated::bare(Kind::Failed, Some(e.to_string()), Some(reason));
        }
        // An error page that is not text still has a status to judge.
        Err(_) => None,
    };
    let (text, title) = normalized
        .as_ref()
        .map_or(("", None), |n| (n.text.as_str(), n.title.as_deref()));
    let verdict = page::judge(&Page {
        status: response.status,
        requested: &watch.url,
        final_url: &response.final_url,
        title,
        text,
    });
    let charset = normalized.as_ref().map(|n| n.encoding.to_owned());
    let with_charset = |e: Evaluated| Evaluated {
        charset: charset.clone(),
        ..e
    };
    match verdict {
        Verdict::Blocked(why) => {
            with_charset(Evaluated::bare(Kind::Failed, Some(why), Some("blocked")))
        }
        Verdict::Failed(why) => {
            with_charset(Evaluated::bare(Kind::Failed, Some(why), Some("http")))
        }
        Verdict::Removed(removal) => with_charset(Evaluated::bare(
            Kind::Gone(response.status),
            Some(removal.describe()),
            Some(removal.reason()),
        )),
        Verdict::Content => match normalized {
            Some(n) if n.text.is_empty() => with_charset(Evaluated::bare(
                Kind::Empty,
                Some(if watch.select.is_empty() {
                    "the page has no text".to_owned()
                } else {
                    "the statement text is gone: select matches nothing".to_owned()
                }),
                Some("empty"),
            )),
            Some(n) => Evaluated {
                observation: Kind::Text,
                text_sha256: Some(sha256_hex(n.text.as_bytes())),
                text: Some(n.text),
                charset,
                error: None,
                reason: None,
                region: n.region,
                region_moved: n.region_moved,
            },
            None => Evaluated::bare(Kind::Failed, Some("no text".to_owned()), Some("content")),
        },
    }
}

/// Longest `Retry-After` honoured; a server asking for more gets this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(6 * 3600);

/// `Retry-After` as seconds or an HTTP date, for 429 and 503 only.
pub fn retry_after(response: &Response, now: SystemTime) -> Option<Duration> {
    if !matches!(response.status, 429 | 503) {
        return None;
    }
    let value = response.retry_after.as_deref()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .unwrap_or(Duration::ZERO),
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests;
