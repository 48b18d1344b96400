//! The not-found prober: each host's answer to a path that cannot exist.
//! A site that serves its "page not found" with 200 makes a taken-down
//! statement look like an edit; comparing the new text with that answer
//! ([`crate::classify::removal::like_not_found`]) tells them apart.
//!
//! A host is probed at most once per [`NOT_FOUND_TTL`], and only when a
//! check sees a new text. The probe is an ordinary request through the
//! fetch stage, so the host gate spaces it from the check's own request.
//! Nodes sharing a store probe a host once per TTL between them: the
//! store leases the probe to one node and keeps its answer for the others
//! ([`crate::store::Store::claim_probe`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use url::Url;

use crate::fetch::{Fetcher, Validators};
use crate::hash::sha256_hex;
use crate::store::ProbeAnswer;

/// How long a host's probe result is trusted.
pub const NOT_FOUND_TTL: Duration = Duration::from_secs(24 * 3600);

/// Each host's answer to a path that cannot exist: `Some` body when the
/// host answers it with 2xx, `None` when it answers properly.
#[derive(Default)]
pub struct NotFoundPages {
    hosts: Mutex<HashMap<String, Probed>>,
}

/// When a host was probed, and its not-found page if it answers with 2xx
/// (as fetched, and as nodes sharing a store keep it).
type Probed = (Instant, Option<Arc<ProbeAnswer>>);

impl NotFoundPages {
    /// Probes the not-found page of `page`'s origin and remembers the
    /// answer. `Err` when the probe failed (it says nothing: tried again
    /// next time); `Ok(None)` when the host answers a missing path
    /// properly.
    pub async fn probe(
        &self,
        fetcher: &Fetcher,
        page: &Url,
    ) -> Result<Option<Arc<ProbeAnswer>>, crate::fetch::FetchError> {
        let origin = page.origin().ascii_serialization();
        let token = sha256_hex(format!("{origin} {:?}", SystemTime::now()).as_bytes());
        let probe_url = Url::parse(&format!(
            "{origin}/chancery-not-found-probe-{}",
            &token[..16]
        ))
        .map_err(|e| crate::fetch::FetchError::Request(format!("probe URL: {e}")))?;
        let response = fetcher.fetch(&probe_url, &Validators::default()).await?;
        let probed = (200..300).contains(&response.status).then(|| {
            Arc::new(ProbeAnswer {
                body: response.body,
                content_type: response.content_type,
                url: response.final_url.to_string(),
            })
        });
        tracing::debug!(host = %origin, soft_404 = probed.is_some(), "probed the not-found page");
        self.remember(page, Duration::ZERO, probed.clone());
        Ok(probed)
    }

    /// Remembers `answer` for `page`'s origin, as it was `age` ago (a probe
    /// another node made).
    pub fn remember(&self, page: &Url, age: Duration, answer: Option<Arc<ProbeAnswer>>) {
        let origin = page.origin().ascii_serialization();
        let at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        self.lock().insert(origin, (at, answer));
    }

    /// The probe result of `page`'s origin, if it is fresh (`Some(None)`:
    /// the host answers a missing path properly).
    pub fn cached(&self, page: &Url) -> Option<Option<Arc<ProbeAnswer>>> {
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
    /// The not-found page of `page`'s origin with nodes sharing the store:
    /// one node probes an origin per [`NOT_FOUND_TTL`] and stores the
    /// answer, which the others read instead of probing; a node that finds
    /// another probing waits for its answer. The probe is a request to the
    /// host like any other: it waits for a turn at the host too. A store
    /// that cannot be asked is logged and the node probes on its own.
    async fn probe_shared(&self, claims: &super::Claims, page: &Url) -> Option<Arc<ProbeAnswer>> {
        use crate::model::Timestamp;
        use crate::store::ProbeClaim;
        let origin = page.origin().ascii_serialization();
        loop {
            let (o, node, lease) = (origin.clone(), claims.node.clone(), claims.lease);
            let asked = self
                .store
                .run(move |s| {
                    let now = Timestamp::now();
                    s.claim_probe(&o, &node, now, NOT_FOUND_TTL, now.plus(lease))
                })
                .await;
            match asked {
                Ok(ProbeClaim::Known { probed_at, answer }) => {
                    let answer = answer.map(Arc::new);
                    let age = probed_at.until(Timestamp::now());
                    self.not_found.remember(page, age, answer.clone());
                    return answer;
                }
                Ok(ProbeClaim::Wait { until }) => {
                    let wait = Timestamp::now()
                        .until(until)
                        .clamp(Duration::from_millis(50), Duration::from_millis(500));
                    tokio::time::sleep(wait).await;
                }
                Ok(ProbeClaim::Probe) => {
                    let probed = self.probe_in_turn(page).await;
                    let found = probed.as_ref().ok().cloned();
                    let (o, node) = (origin.clone(), claims.node.clone());
                    let recorded = self
                        .store
                        .run(move |s| {
                            s.record_probe(
                                &o,
                                &node,
                                Timestamp::now(),
                                found.as_ref().map(Option::as_deref),
                            )
                        })
                        .await;
                    if let Err(e) = recorded {
                        tracing::warn!(host = %origin, error = %e, "cannot share the not-found probe's answer");
                    }
                    return probed.ok().flatten();
                }
                Err(e) => {
                    tracing::warn!(host = %origin, error = %e, "cannot ask the shared store about the not-found probe; probing on this node");
                    return self.probe_in_turn(page).await.ok().flatten();
                }
            }
        }
    }

    /// Probes `page`'s origin in a turn at its host.
    async fn probe_in_turn(
        &self,
        page: &Url,
    ) -> Result<Option<Arc<ProbeAnswer>>, crate::fetch::FetchError> {
        let turn = self.take_turn(page).await;
        let probed = self.not_found.probe(&self.fetcher, page).await;
        self.hand_back(turn, page, None).await;
        probed
    }

    /// The host's not-found page as text under `watch`'s filters, with the
    /// host's name, when the host answers a missing path with 2xx.
    pub(super) async fn not_found_page(
        &self,
        watch: &crate::config::Watch,
        response: &crate::fetch::Response,
    ) -> Option<(String, String)> {
        let probe = match self.not_found.cached(&response.final_url) {
            Some(cached) => cached,
            None => match &self.claims {
                Some(claims) => self.probe_shared(claims, &response.final_url).await,
                None => self
                    .not_found
                    .probe(&self.fetcher, &response.final_url)
                    .await
                    .ok()
                    .flatten(),
            },
        }?;
        let url = Url::parse(&probe.url).ok()?;
        let filters = watch.filters.clone();
        let cost = crate::normalize::memory_estimate(&probe.body, probe.content_type.as_deref());
        self.cpu
            .run(cost, move || {
                let input = crate::normalize::Input {
                    body: &probe.body,
                    content_type: probe.content_type.as_deref(),
                    url: Some(&url),
                };
                let text = crate::normalize::normalize(&input, &filters).ok()?.text;
                let host = url.host_str().unwrap_or("the host").to_owned();
                Some((host, text))
            })
            .await
            .ok()
            .flatten()
    }
}
