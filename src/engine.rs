//! Runs checks on the [`Schedule`]: starts what may start, collects what
//! finished, feeds the results back. The daemon and the one-shot
//! `chancery check` both use it, so politeness (global and per-host limits,
//! per-host gaps, `Retry-After`) is the same for both.
//!
//! This is the edge where the clock lives: the schedule itself is pure.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::check::{CheckError, CheckReport, Pipeline};
use crate::config::Watch;
use crate::schedule::{Completion, Politeness, Schedule, Timing};

/// A check that ended.
#[derive(Debug)]
pub struct Finished {
    pub watch: String,
    pub result: Result<CheckReport, CheckError>,
}

/// The scheduler key of a watch: its host (without port), so that every
/// watch on one site shares that site's limits, the same key the fetch
/// stage's host gate spaces requests by.
pub fn host_key(watch: &Watch) -> String {
    crate::fetch::gate::host_key(&watch.url)
}

/// How a finished check moves its watch's schedule. A check the store
/// could not record (a full disk, a locked or broken database) is not the
/// page's failure: the watch keeps its interval rather than backing off,
/// so it is recorded again as soon as the store can take it.
fn completion(result: &Result<CheckReport, CheckError>) -> Completion {
    match result {
        Ok(report) => Completion {
            failed: report.outcome == crate::model::Outcome::Error,
            retry_after: report.retry_after,
            next_in: None,
        },
        Err(CheckError::Store { .. }) => Completion {
            failed: false,
            retry_after: None,
            next_in: None,
        },
        Err(CheckError::Skipped { .. }) => Completion {
            failed: true,
            retry_after: None,
            next_in: None,
        },
        // Another node has it: ask again when it is next due there.
        Err(CheckError::Elsewhere { next_due, .. }) => Completion {
            failed: false,
            retry_after: None,
            next_in: Some(crate::model::Timestamp::now().until(*next_due)),
        },
    }
}

/// Checks in flight plus the schedule they came from.
pub struct Engine {
    pipeline: Pipeline,
    schedule: Schedule,
    watches: HashMap<String, Arc<Watch>>,
    tasks: JoinSet<Finished>,
    /// Host of each running check, for the completion bookkeeping (the
    /// watch may have been removed or moved meanwhile).
    running: HashMap<String, String>,
}

impl Engine {
    pub fn new(pipeline: Pipeline, politeness: Politeness, timing: Timing) -> Engine {
        Engine {
            pipeline,
            schedule: Schedule::new(politeness, timing),
            watches: HashMap::new(),
            tasks: JoinSet::new(),
            running: HashMap::new(),
        }
    }

    /// The schedule, for start-up planning and status.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The pipeline new checks use.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Replaces the pipeline (a reload changed fetch settings); running
    /// checks finish with the old one.
    pub fn set_pipeline(&mut self, pipeline: Pipeline) {
        self.pipeline = pipeline;
    }

    /// Changes the politeness limits and timing.
    pub fn set_limits(&mut self, politeness: Politeness, timing: Timing) {
        self.schedule.set_limits(politeness, timing);
    }

    /// The watches scheduled, by name.
    pub fn watches(&self) -> &HashMap<String, Arc<Watch>> {
        &self.watches
    }

    /// Adds or replaces a watch; a new one is first due at `due`. The
    /// engine shares the config's watches rather than copying them.
    pub fn upsert(&mut self, watch: impl Into<Arc<Watch>>, due: Instant, failures: u32) {
        let watch = watch.into();
        let host = host_key(&watch);
        self.schedule
            .upsert(&watch.name, &host, watch.interval, due, failures);
        self.watches.insert(watch.name.clone(), watch);
    }

    /// Makes a follow watch's children exactly `active`: new ones are
    /// scheduled (first due at `due(child)`), children no longer active
    /// (retired) stop being checked. Returns how many it added.
    pub fn set_children(
        &mut self,
        parent: &str,
        active: &[(String, url::Url)],
        mut due: impl FnMut(&Watch) -> (Instant, u32),
    ) -> usize {
        let Some(parent_watch) = self.watches.get(parent).cloned() else {
            return 0;
        };
        let stale: Vec<String> = self
            .watches
            .values()
            .filter(|w| {
                w.parent.as_deref() == Some(parent) && !active.iter().any(|(n, _)| n == &w.name)
            })
            .map(|w| w.name.clone())
            .collect();
        for name in stale {
            self.remove(&name);
        }
        let mut added = 0;
        for (name, url) in active {
            if !self.watches.contains_key(name) {
                let child = parent_watch.child(name.clone(), url.clone());
                let (at, failures) = due(&child);
                self.upsert(child, at, failures);
                added += 1;
            }
        }
        added
    }

    /// Stops scheduling a watch; a running check of it still finishes.
    pub fn remove(&mut self, name: &str) {
        self.schedule.remove(name);
        self.watches.remove(name);
    }

    /// Checks in flight.
    pub fn in_flight(&self) -> usize {
        self.tasks.len()
    }

    /// Starts every check the schedule allows now.
    pub fn start_ready(&mut self) {
        let now = Instant::now();
        while let Some(name) = self.schedule.pop_ready(now) {
            let Some(watch) = self.watches.get(&name).cloned() else {
                continue;
            };
            self.running.insert(name.clone(), host_key(&watch));
            let pipeline = self.pipeline.clone();
            self.tasks.spawn(async move {
                // A check's future holds every stage's state (kilobytes):
                // boxed, so starting the task moves a pointer, not the
                // state (callgrind: a third of a 304 pass was memcpy of
                // task cells).
                let result = Box::pin(pipeline.check(&watch)).await;
                Finished {
                    watch: watch.name.clone(),
                    result,
                }
            });
        }
    }

    /// When the schedule next has something to start.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.schedule.next_wakeup()
    }

    /// Waits for the next check to finish (`None` when none is running) and
    /// reschedules its watch.
    pub async fn join_next(&mut self) -> Option<Finished> {
        let finished = match self.tasks.join_next().await? {
            Ok(finished) => finished,
            // A panicking check is a bug; surface it rather than lose it.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("check task cancelled: {e}"),
        };
        self.finish(&finished);
        Some(finished)
    }

    fn finish(&mut self, finished: &Finished) {
        let completion = completion(&finished.result);
        let host = self.running.remove(&finished.watch).unwrap_or_default();
        self.schedule
            .complete(&finished.watch, &host, completion, Instant::now());
    }

    /// Stops starting checks and waits up to `grace` for running ones;
    /// the rest are abandoned (their store transaction, if any, either
    /// committed or never will). Returns how many were abandoned.
    pub async fn drain(&mut self, grace: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + grace;
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                Ok(Some(Ok(finished))) => self.finish(&finished),
                Ok(Some(Err(_))) => {}
                Ok(None) => break,
                Err(_) => {
                    let left = self.tasks.len();
                    self.tasks.abort_all();
                    return left;
                }
            }
        }
        0
    }

    /// Checks `watches` once each, politely, calling `on_report` as each
    /// finishes, and returns when all have. A host that asks (via
    /// `Retry-After`) for a pause longer than `max_wait` has its remaining
    /// watches reported as skipped instead of waited for.
    pub async fn run_once(
        pipeline: Pipeline,
        politeness: Politeness,
        watches: Vec<Arc<Watch>>,
        max_wait: Duration,
        mut on_report: impl FnMut(Result<CheckReport, CheckError>, Option<&Watch>),
    ) {
        let timing = Timing {
            jitter: 0.0,
            ..Timing::default()
        };
        let mut engine = Engine::new(pipeline, politeness, timing);
        let now = Instant::now();
        // Each watch once: a child a listing names after it was checked in
        // this run is not checked again.
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        for watch in watches {
            seen.insert(watch.name.clone());
            engine.upsert(watch, now, 0);
        }
        loop {
            engine.start_ready();
            if engine.tasks.is_empty() && engine.watches.is_empty() {
                break;
            }
            let finished = if engine.tasks.is_empty() {
                // Everything left waits for a host pause to end.
                if let Some(at) = engine.next_wakeup() {
                    tokio::time::sleep_until(at.into()).await;
                }
                continue;
            } else {
                match engine.join_next().await {
                    Some(f) => f,
                    None => continue,
                }
            };
            if let Ok(CheckReport {
                listing: Some(listing),
                ..
            }) = &finished.result
            {
                // Children checked already in this run are gone from the
                // engine; keep them gone, but schedule new ones and drop
                // the ones the listing retired.
                let active: Vec<(String, url::Url)> = listing
                    .active
                    .iter()
                    .filter(|(name, _)| {
                        seen.insert(name.clone()) || engine.watches.contains_key(name)
                    })
                    .cloned()
                    .collect();
                engine.set_children(&finished.watch, &active, |_| (Instant::now(), 0));
            }
            let watch = engine.watches.get(&finished.watch).cloned();
            engine.remove(&finished.watch);
            let pause = finished.result.as_ref().ok().and_then(|r| r.retry_after);
            on_report(finished.result, watch.as_deref());
            if let (Some(pause), Some(watch)) = (pause, watch)
                && pause > max_wait
            {
                let host = host_key(&watch);
                let skipped: Vec<Arc<Watch>> = engine
                    .watches
                    .values()
                    .filter(|w| host_key(w) == host)
                    .cloned()
                    .collect();
                for w in skipped {
                    engine.remove(&w.name);
                    on_report(Err(CheckError::skipped(&w.name, &host, pause)), Some(&w));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn a_check_the_store_could_not_record_does_not_back_the_watch_off() {
        let full = Err(CheckError::Store {
            watch: "a".into(),
            source: StoreError::DiskFull {
                path: "/var/lib/chancery/chancery.db".into(),
                free: 0,
            },
        });
        assert_eq!(
            completion(&full),
            Completion {
                failed: false,
                retry_after: None,
                next_in: None,
            }
        );
        let skipped = Err(CheckError::skipped(
            "a",
            "a.example",
            Duration::from_secs(60),
        ));
        assert!(completion(&skipped).failed);
    }
}
