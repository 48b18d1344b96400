//! The confirming fetch: a removal or a large edit waits the watch's
//! `confirm_delay`, is fetched again, and is decided a second time with the
//! first fetch as evidence ([`crate::classify::confirm::settle`]).

use std::sync::Arc;

use super::{Pipeline, Seen};
use crate::classify::confirm::First;
use crate::config::Watch;
use crate::store::{StoreError, WatchState};

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
        tokio::time::sleep(watch.confirm_delay).await;
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
