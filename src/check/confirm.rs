//! The confirming fetch: a removal or a large edit waits the watch's
//! `confirm_delay`, is fetched again, and is decided a second time with the
//! first fetch as evidence ([`crate::classify::confirm::settle`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Pipeline, Seen};
use crate::classify::confirm::First;
use crate::config::Watch;
use crate::model::Outcome;
use crate::store::{StoreError, WatchState};

/// The watches waiting out their `confirm_delay` right now, for a progress
/// display (`chancery check` on a terminal).
#[derive(Debug, Default)]
pub struct Waiting(Mutex<Vec<(String, Outcome, Instant)>>);

impl Waiting {
    /// Each waiting watch, what it would be recorded as, and how long until
    /// its second fetch.
    pub fn now(&self) -> Vec<(String, Outcome, Duration)> {
        let now = Instant::now();
        self.lock()
            .iter()
            .map(|(name, outcome, until)| {
                (name.clone(), *outcome, until.saturating_duration_since(now))
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, Outcome, Instant)>> {
        // A poisoned list only ever held names and times: keep using it.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Takes a watch off [`Waiting`] when its wait ends, however it ends.
struct Waits<'a>(Option<&'a Waiting>, &'a str);

impl Drop for Waits<'_> {
    fn drop(&mut self) {
        if let Some(waiting) = self.0 {
            waiting.lock().retain(|(name, _, _)| name != self.1);
        }
    }
}

impl Pipeline {
    /// Fetches `watch` again after its `confirm_delay` and decides with
    /// `first` as the fetch being confirmed. The host gate spaces the
    /// second request from the first like any other.
    pub(super) async fn confirm(
        &self,
        watch: &Watch,
        state: &Arc<WatchState>,
        filters_changed: bool,
        first: Seen,
    ) -> Result<Seen, StoreError> {
        tracing::info!(
            watch = %watch.name,
            outcome = %first.decision.outcome,
            delay = %humantime::format_duration(watch.confirm_delay),
            "confirming with a second fetch"
        );
        let waits = Waits(self.waiting.as_deref(), &watch.name);
        if let Some(waiting) = waits.0 {
            waiting.lock().push((
                watch.name.clone(),
                first.decision.outcome,
                Instant::now() + watch.confirm_delay,
            ));
        }
        tokio::time::sleep(watch.confirm_delay).await;
        drop(waits);
        let text_sha256 = first
            .eval
            .text_sha256
            .as_deref()
            .filter(|_| !first.decision.text_rejected);
        let error = first
            .decision
            .detail
            .as_deref()
            .or(first.eval.error.as_deref());
        let first = First {
            outcome: first.decision.outcome,
            text_sha256,
            error,
            delay: watch.confirm_delay,
        };
        self.observe(watch, state, filters_changed, Some(first))
            .await
    }
}
