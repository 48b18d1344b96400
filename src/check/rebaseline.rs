//! A filter change is never an edit the page made. When a watch's filters
//! fingerprint differs from the one its last snapshot was made under, the
//! last snapshot's stored raw body is normalized again under the new
//! filters and recorded as the new baseline (`rebaselined`) before the
//! page is fetched.

use std::time::Duration;

use super::Pipeline;
use super::record::Record;
use crate::config::Watch;
use crate::diff;
use crate::hash::sha256_hex;
use crate::model::{ChangeKind, Health, Outcome, Presence, Timestamp};
use crate::normalize::{self, Input};
use crate::store::{NewChange, Store, StoreError, WatchState};

impl Pipeline {
    /// The watch's state to check against, after rebaselining it if its
    /// filters changed, and whether the filters changed without a stored
    /// body to rebaseline from (then a new text is a baseline, not an edit).
    pub(super) async fn rebaseline(
        &self,
        watch: &Watch,
        state: WatchState,
    ) -> Result<(WatchState, bool), StoreError> {
        let filters = watch.filters_sha256();
        let changed = state.presence == Presence::Present
            && state
                .filters_sha256
                .as_deref()
                .is_some_and(|old| old != filters);
        if !changed {
            return Ok((state, false));
        }
        // `render` alone switched: the stored body is of the other kind,
        // so the next text is the baseline.
        if state
            .filters_sha256
            .as_deref()
            .is_some_and(|old| watch.render_switched_from(old))
        {
            return Ok((state, true));
        }
        let w = watch.clone();
        self.store
            .run(move |s| match rebaselined(s, &w, &state, filters)? {
                Rebaseline::Impossible => Ok((state, true)),
                Rebaseline::NotNeeded => Ok((state, false)),
                Rebaseline::Done(record) => {
                    let recorded = s.record_check(&record.new_check())?;
                    record.report(recorded).log();
                    let updated = s.watch_state(&w.name)?.unwrap_or(state);
                    Ok((updated, false))
                }
            })
            .await
    }
}

/// What a filter change comes to.
enum Rebaseline {
    /// The new filters give a new text: this record makes it the baseline.
    Done(Box<Record>),
    /// The new filters give the same text: nothing to record.
    NotNeeded,
    /// No raw body to normalize again (or it yields no text).
    Impossible,
}

/// Normalizes the last snapshot's raw body under the watch's current
/// filters.
fn rebaselined(
    store: &mut dyn Store,
    watch: &Watch,
    state: &WatchState,
    filters_sha256: String,
) -> Result<Rebaseline, StoreError> {
    let Some(last) = &state.last_snapshot else {
        return Ok(Rebaseline::Impossible);
    };
    let Some(snapshot) = store.snapshot(&watch.name, Some(last.id))? else {
        return Ok(Rebaseline::Impossible);
    };
    let Some(raw_sha256) = snapshot.meta.raw_sha256.clone() else {
        return Ok(Rebaseline::Impossible);
    };
    let Some(raw) = store.raw_body(&raw_sha256)? else {
        return Ok(Rebaseline::Impossible);
    };
    let url = snapshot
        .meta
        .final_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok());
    let input = Input {
        body: &raw,
        content_type: snapshot.meta.content_type.as_deref(),
        url: url.as_ref(),
    };
    let normalized = match normalize::normalize(&input, &watch.filters) {
        Ok(n) if !n.text.is_empty() => n,
        _ => return Ok(Rebaseline::Impossible),
    };
    let text_sha256 = sha256_hex(normalized.text.as_bytes());
    if text_sha256 == last.sha256 {
        return Ok(Rebaseline::NotNeeded);
    }
    let summary = diff::summarize(&snapshot.text, &normalized.text);
    Ok(Rebaseline::Done(Box::new(Record {
        watch: watch.name.clone(),
        url: watch.url.to_string(),
        watch_id: state.watch_id,
        started_at: Timestamp::now(),
        duration: Duration::ZERO,
        outcome: Outcome::Rebaselined,
        reason: Some("filters-changed".to_owned()),
        error: None,
        http_status: None,
        final_url: snapshot.meta.final_url.clone(),
        content_type: snapshot.meta.content_type.clone(),
        charset: Some(normalized.encoding.to_owned()),
        bytes: 0,
        raw_sha256: Some(raw_sha256),
        body: None,
        text_sha256: Some(text_sha256),
        snapshot: Some(normalized.text),
        current: true,
        region: Some(normalized.region),
        validators: None,
        change: Some(NewChange {
            kind: ChangeKind::Rebaselined,
            from: Some(last.id),
            summary: summary.clone(),
        }),
        summary: Some(summary),
        alerts: Vec::new(),
        filters_sha256,
        health: Health {
            failing_since: state.failing_since,
            reported: state.failing_reported,
        },
        event: None,
        events: Vec::new(),
        follow: None,
        listing: None,
        heads: None,
        retry_after: None,
        basis: crate::store::Basis::of(state),
    })))
}
