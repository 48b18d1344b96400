//! The not-found prober: each host's answer to a path that cannot exist.
//! A site that serves its "page not found" with 200 makes a taken-down
//! statement look like an edit; comparing the new text with that answer
//! ([`crate::classify::removal::like_not_found`]) tells them apart.
//!
//! A host is probed at most once per [`NOT_FOUND_TTL`], and only when a
//! check sees a new text. The probe is an ordinary request through the
//! fetch stage, so the host gate spaces it from the check's own request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use url::Url;

use crate::fetch::{Fetcher, Validators};
use crate::hash::sha256_hex;

/// How long a host's probe result is trusted.
pub const NOT_FOUND_TTL: Duration = Duration::from_secs(24 * 3600);

/// Each host's answer to a path that cannot exist: `Some` body when the
/// host answers it with 2xx, `None` when it answers properly.
#[derive(Default)]
pub struct NotFoundPages {
    hosts: Mutex<HashMap<String, Probed>>,
}

/// When a host was probed, and its not-found page if it answers with 2xx.
type Probed = (Instant, Option<Arc<ProbeBody>>);

/// A host's not-found page as fetched.
#[derive(Debug)]
pub struct ProbeBody {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub url: Url,
}

impl NotFoundPages {
    /// The not-found page of `page`'s origin, probing it if it was not
    /// probed within [`NOT_FOUND_TTL`]. `None` when the host answers a
    /// missing path properly (or the probe failed: tried again next time).
    pub async fn get(&self, fetcher: &Fetcher, page: &Url) -> Option<Arc<ProbeBody>> {
        if let Some(cached) = self.cached(page) {
            return cached;
        }
        let origin = page.origin().ascii_serialization();
        let token = sha256_hex(format!("{origin} {:?}", SystemTime::now()).as_bytes());
        let probe_url = Url::parse(&format!(
            "{origin}/chancery-not-found-probe-{}",
            &token[..16]
        ))
        .ok()?;
        let probed = match fetcher.fetch(&probe_url, &Validators::default()).await {
            Ok(r) if (200..300).contains(&r.status) => Some(Arc::new(ProbeBody {
                body: r.body,
                content_type: r.content_type,
                url: r.final_url,
            })),
            Ok(_) => None,
            // A failed probe says nothing: try again next time.
            Err(_) => return None,
        };
        tracing::debug!(host = %origin, soft_404 = probed.is_some(), "probed the not-found page");
        self.lock().insert(origin, (Instant::now(), probed.clone()));
        probed
    }

    /// The probe result of `page`'s origin, if it is fresh (`Some(None)`:
    /// the host answers a missing path properly).
    pub fn cached(&self, page: &Url) -> Option<Option<Arc<ProbeBody>>> {
        let origin = page.origin().ascii_serialization();
        match self.lock().get(&origin) {
            Some((at, cached)) if at.elapsed() < NOT_FOUND_TTL => Some(cached.clone()),
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Probed>> {
        self.hosts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl super::Pipeline {
    /// The host's not-found page as text under `watch`'s filters, with the
    /// host's name, when the host answers a missing path with 2xx.
    pub(super) async fn not_found_page(
        &self,
        watch: &crate::config::Watch,
        response: &crate::fetch::Response,
    ) -> Option<(String, String)> {
        let probe = match self.not_found.cached(&response.final_url) {
            Some(cached) => cached,
            // A probe is a request to the host like any other: with nodes
            // sharing a store, it waits for a turn at the host too.
            None => {
                let turn = self.take_turn(&response.final_url).await;
                let probed = self.not_found.get(&self.fetcher, &response.final_url).await;
                self.hand_back(turn, &response.final_url, None).await;
                probed
            }
        }?;
        let filters = watch.filters.clone();
        let cost = crate::normalize::memory_estimate(&probe.body, probe.content_type.as_deref());
        self.cpu
            .run(cost, move || {
                let input = crate::normalize::Input {
                    body: &probe.body,
                    content_type: probe.content_type.as_deref(),
                    url: Some(&probe.url),
                };
                let text = crate::normalize::normalize(&input, &filters).ok()?.text;
                let host = probe.url.host_str().unwrap_or("the host").to_owned();
                Some((host, text))
            })
            .await
            .ok()
            .flatten()
    }
}
