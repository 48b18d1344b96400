//! The delivery worker: sends queued alerts, records each attempt, retries
//! with exponential backoff, gives up after `alert_max_age`.
//!
//! Delivery is at-least-once: an alert is marked delivered only after the
//! receiver accepted it, so a crash between sending and marking sends it
//! again after the restart, with the same id for the receiver to
//! deduplicate. Between live workers it is once: each alert is claimed
//! (a lease in the store) before it is attempted, and a result is recorded
//! only under the claim that made it.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Channel, Config, Smtp, Subscriber};
use crate::model::{ChangeKind, Timestamp};
use crate::notify::email::{self, TlsExtras};
use crate::notify::{AlertData, Delisting, DeliveryError, SnapshotData, webhook};
use crate::store::{AlertRow, Attempt, SharedStore, Store, StoreError};

/// Alerts handled per pass; the next pass takes the rest.
const BATCH: usize = 100;
/// A claim's name: this worker's pid, a random part and this machine
/// (`pid:uuid@host`), so a worker on another machine sharing the store is
/// never taken for a dead process here.
fn claim_name() -> String {
    format!(
        "{}:{}@{}",
        std::process::id(),
        uuid::Uuid::new_v4(),
        crate::runtime::host_name()
    )
}

/// Whether the process named by a claim (`pid:uuid@host`) still runs. A
/// claim of another machine, in another form, or of a process we may not
/// signal counts as alive: it waits out its lease.
fn claim_holder_alive(claim: &str) -> bool {
    if let Some((_, host)) = claim.rsplit_once('@')
        && host != crate::runtime::host_name()
    {
        return true;
    }
    let Some(pid) = claim
        .split_once(':')
        .and_then(|(pid, _)| pid.parse::<i32>().ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true;
    };
    if pid.as_raw_nonzero().get() == std::process::id() as i32 {
        return true;
    }
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Added to twice the longest attempt to make a claim's lease.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// Longest wait between two attempts of one alert.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
}

impl Pass {
    /// Alerts attempted in this pass.
    pub fn attempted(&self) -> usize {
        self.delivered + self.retrying + self.failed
    }
}

/// Runs delivery passes until `shutdown` turns true: after each pass it
/// sleeps until the next alert is due (at most `idle`) or `wake` fires (a
/// check recorded a change). Takes the latest notifier from `config` each
/// pass, so a reload's subscribers apply at once.
pub async fn run(
    config: tokio::sync::watch::Receiver<Notifier>,
    wake: Arc<tokio::sync::Notify>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    idle: Duration,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let notifier = config.borrow().clone();
        if let Err(e) = notifier.deliver_due().await {
            tracing::error!(error = %e, "alert delivery pass failed; will try again");
        }
        let sleep = match notifier.next_due().await {
            Ok(Some(at)) => {
                let wait = at.as_millis().saturating_sub(Timestamp::now().as_millis());
                Duration::from_millis(u64::try_from(wait).unwrap_or(0)).min(idle)
            }
            Ok(None) | Err(_) => idle,
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// What the delivery worker takes from the config.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub subscribers: Vec<Subscriber>,
    pub smtp: Option<Smtp>,
    /// Sent with webhooks.
    pub user_agent: String,
    /// `alert_retry`: the first retry's wait, doubled after each failure.
    pub retry_base: Duration,
    /// `alert_max_age`: how long an alert is retried.
    pub max_age: Duration,
    /// `[web] base_url`: alerts link to their change page there.
    pub web_base: Option<url::Url>,
}

impl Settings {
    /// The delivery settings of `config`.
    pub fn of(config: &Config) -> Settings {
        Settings {
            subscribers: config.subscribers.clone(),
            smtp: config.smtp.clone(),
            user_agent: config.daemon.user_agent.clone(),
            retry_base: config.daemon.alert_retry,
            max_age: config.daemon.alert_max_age,
            web_base: config.web.as_ref().and_then(|w| w.base_url.clone()),
        }
    }
}

/// Sends alerts for one config. Cheap to clone; rebuilt on reload.
#[derive(Clone)]
pub struct Notifier {
    store: SharedStore,
    settings: Arc<Settings>,
    http: reqwest::Client,
    tls: TlsExtras,
}

impl Notifier {
    /// A notifier for `config`'s subscribers and retry policy.
    pub fn new(config: &Config, store: SharedStore) -> Result<Notifier, DeliveryError> {
        let settings = Settings::of(config);
        Ok(Notifier {
            store,
            http: webhook::client(&settings.user_agent)?,
            settings: Arc::new(settings),
            tls: TlsExtras::default(),
        })
    }

    /// Trusts an extra root certificate for SMTP (a test server's).
    pub fn with_tls(mut self, tls: TlsExtras) -> Notifier {
        self.tls = tls;
        self
    }

    /// The wait before attempt `attempts + 1`, after `attempts` failures:
    /// `alert_retry`, doubled each time, at most an hour.
    pub fn retry_delay(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        self.settings
            .retry_base
            .saturating_mul(factor)
            .min(MAX_RETRY_DELAY.max(self.settings.retry_base))
    }

    /// Sends one alert to one subscriber now, through the real transport.
    pub async fn send(
        &self,
        subscriber: &Subscriber,
        alert: &AlertData,
    ) -> Result<(), DeliveryError> {
        match &subscriber.channel {
            Channel::Webhook { url, secret } => {
                webhook::send(&self.http, url, secret.as_ref(), alert).await
            }
            Channel::Email(to) => match &self.settings.smtp {
                Some(smtp) => email::send(smtp, &self.tls, to, alert).await,
                None => Err(DeliveryError::permanent("email needs an [smtp] table")),
            },
        }
    }

    /// The subscriber named `name` in the current config.
    pub fn subscriber(&self, name: &str) -> Option<&Subscriber> {
        self.settings.subscribers.iter().find(|s| s.name == name)
    }

    /// How long a claim on an alert lasts: longer than any one attempt
    /// (the SMTP or webhook timeout, and reading the alert's texts), so a
    /// live worker never loses its claim mid-attempt, and a dead worker's
    /// alert is due again soon after.
    pub fn lease(&self) -> Duration {
        let send = self
            .settings
            .smtp
            .as_ref()
            .map_or(webhook::TIMEOUT, |s| s.timeout.max(webhook::TIMEOUT));
        send.saturating_mul(2).saturating_add(LEASE_MARGIN)
    }

    /// Attempts due alerts once each (up to a batch) and records the
    /// results. Each alert is claimed before its attempt and its result
    /// recorded only under that claim, so a daemon and a `chancery check`
    /// delivering beside it never attempt one alert twice.
    pub async fn deliver_due(&self) -> Result<Pass, StoreError> {
        self.release_dead_claims().await?;
        let claim = claim_name();
        let lease = self.lease();
        let mut pass = Pass::default();
        for _ in 0..BATCH {
            let now = Timestamp::now();
            let until = now.plus(lease);
            let token = claim.clone();
            let Some(alert) = self
                .store
                .run(move |s| s.claim_due_alert(now, &token, until))
                .await?
            else {
                break;
            };
            let attempt = self.attempt(&alert).await?;
            let (id, token, at) = (alert.id.clone(), claim.clone(), Timestamp::now());
            let recorded = {
                let attempt = attempt.clone();
                self.store
                    .run(move |s| s.record_attempt(&id, &token, at, &attempt))
                    .await?
            };
            if !recorded {
                tracing::warn!(
                    alert = %alert.id,
                    subscriber = %alert.subscriber,
                    "alert attempt outlived its claim; its result was not recorded (another worker has the alert)"
                );
                continue;
            }
            match &attempt {
                Attempt::Delivered => {
                    pass.delivered += 1;
                    tracing::info!(alert = %alert.id, watch = %alert.watch, subscriber = %alert.subscriber, "alert delivered");
                }
                Attempt::Retry {
                    error,
                    next_attempt_at,
                } => {
                    pass.retrying += 1;
                    tracing::warn!(
                        alert = %alert.id,
                        subscriber = %alert.subscriber,
                        attempts = alert.attempts + 1,
                        next = %next_attempt_at,
                        error = %error,
                        "alert delivery failed; will retry"
                    );
                }
                Attempt::Failed { error } => {
                    pass.failed += 1;
                    tracing::error!(
                        alert = %alert.id,
                        watch = %alert.watch,
                        subscriber = %alert.subscriber,
                        attempts = alert.attempts + 1,
                        error = %error,
                        "alert FAILED and will not be retried (see `chancery outbox`; `chancery outbox retry` to try again)"
                    );
                }
            }
        }
        Ok(pass)
    }

    /// Frees the alerts claimed by a worker on this machine that is no
    /// longer running (killed mid-attempt), so they need not wait for the
    /// lease to expire. A claim names its worker's pid (`pid:uuid`); a pid
    /// reused by another process only means waiting out the lease.
    async fn release_dead_claims(&self) -> Result<(), StoreError> {
        let now = Timestamp::now();
        let claims = self.store.run(move |s| s.live_claims(now)).await?;
        for claim in claims {
            if claim_holder_alive(&claim) {
                continue;
            }
            let released = {
                let claim = claim.clone();
                self.store.run(move |s| s.release_claim(&claim)).await?
            };
            tracing::info!(claim = %claim, alerts = released, "released the alerts of a delivery worker that is gone");
        }
        Ok(())
    }

    /// When the next pending alert is due, if any.
    pub async fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        self.store.run(|s| s.next_alert_due()).await
    }

    /// Delivers alerts until none is due now or `limit` has passed; returns
    /// the totals. Used by one-shot commands, which cannot wait for backoff.
    pub async fn deliver_within(&self, limit: Duration) -> Result<Pass, StoreError> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut total = Pass::default();
        loop {
            let pass = match tokio::time::timeout_at(deadline, self.deliver_due()).await {
                Ok(pass) => pass?,
                Err(_) => return Ok(total),
            };
            total.delivered += pass.delivered;
            total.retrying += pass.retrying;
            total.failed += pass.failed;
            // Stop when the pass found nothing or only retries remain.
            if pass.attempted() == 0 || pass.delivered == 0 {
                return Ok(total);
            }
        }
    }

    async fn attempt(&self, alert: &AlertRow) -> Result<Attempt, StoreError> {
        let result = match self.subscriber(&alert.subscriber) {
            None => Err(DeliveryError::permanent(format!(
                "subscriber {:?} is no longer in the config",
                alert.subscriber
            ))),
            Some(subscriber) => match self.load(alert).await? {
                Some(data) => self.send(subscriber, &data).await,
                None => Err(DeliveryError::permanent(format!(
                    "change {} is missing from the history",
                    alert.change_id
                ))),
            },
        };
        let now = Timestamp::now();
        Ok(match result {
            Ok(()) => Attempt::Delivered,
            Err(e) if e.permanent => Attempt::Failed { error: e.message },
            Err(e) => {
                let age = Duration::from_millis(
                    u64::try_from(now.as_millis() - alert.created_at.as_millis()).unwrap_or(0),
                );
                if age >= self.settings.max_age {
                    Attempt::Failed {
                        error: format!(
                            "gave up after {} attempts over {}: {}",
                            alert.attempts + 1,
                            humantime::format_duration(Duration::from_secs(age.as_secs())),
                            e.message
                        ),
                    }
                } else {
                    let delay = self.retry_delay(alert.attempts + 1);
                    Attempt::Retry {
                        error: e.message,
                        next_attempt_at: now.plus(delay),
                    }
                }
            }
        })
    }

    /// Renders the alert's data from the history.
    async fn load(&self, alert: &AlertRow) -> Result<Option<AlertData>, StoreError> {
        let row = alert.clone();
        let data = self.store.run(move |s| load_alert(s, &row)).await?;
        Ok(data.map(|mut data| {
            data.page_url = self
                .settings
                .web_base
                .as_ref()
                .map(|base| crate::config::change_url(base, &data.watch_name, alert.change_id));
            data
        }))
    }
}

/// The history behind one alert: its change, the texts on both sides.
pub fn load_alert(
    store: &mut dyn Store,
    alert: &AlertRow,
) -> Result<Option<AlertData>, StoreError> {
    let Some(detail) = store.change_detail(alert.change_id)? else {
        return Ok(None);
    };
    let side = |id: Option<i64>| -> Result<Option<SnapshotData>, StoreError> {
        let Some(id) = id else { return Ok(None) };
        Ok(store
            .snapshot(&detail.watch, Some(id))?
            .map(|s| SnapshotData {
                id: s.meta.id,
                sha256: s.meta.sha256,
                fetched_at: s.meta.fetched_at,
                first_seen_at: s.meta.fetched_at,
                text: s.text,
            }))
    };
    let previous = side(detail.change.from)?;
    let delisted = alert.event == ChangeKind::Delisted;
    // A health event is about the watch, not the text, and a delisting is
    // about the listing: both sides are the last good snapshot, so the
    // alert carries it with an empty diff.
    let current = if alert.event.is_health() || delisted {
        previous.clone()
    } else {
        // The text after the change was fetched by the check that found
        // the change, whenever that text was first seen.
        side(detail.change.to)?.map(|s| SnapshotData {
            fetched_at: detail.change.detected_at,
            ..s
        })
    };
    let mut summary = detail.change.summary;
    let delisting = if delisted {
        let d = delisting(store, &detail.watch)?;
        if let Some(title) = &d.title {
            summary.first_change = Some(format!("\"{}\"", crate::diff::one_line(title)));
        }
        Some(d)
    } else {
        None
    };
    Ok(Some(AlertData {
        id: alert.id.clone(),
        event: alert.event.as_str().to_owned(),
        watch_name: detail.watch,
        watch_url: detail.url,
        detected_at: detail.change.detected_at,
        previous,
        current,
        status: detail.change.http_status,
        summary,
        delisting,
        page_url: None,
    }))
}

/// A delisted child's listing, title and latest check.
fn delisting(store: &mut dyn Store, child: &str) -> Result<Delisting, StoreError> {
    let parent = child.split_once('/').map_or(child, |(p, _)| p);
    let listing_url = store
        .watch_state(parent)?
        .map(|w| w.url)
        .unwrap_or_default();
    let title = store
        .children(parent)?
        .into_iter()
        .find(|c| c.name == child)
        .and_then(|c| c.title);
    let latest = store.checks(child, Some(1))?.into_iter().next();
    Ok(Delisting {
        listing_url,
        title,
        page_checked_at: latest.as_ref().map(|c| c.started_at),
        page_status: latest.as_ref().and_then(|c| c.http_status),
        page_outcome: latest.map(|c| c.outcome),
    })
}

#[cfg(test)]
mod claim_tests {
    use super::{claim_holder_alive, claim_name};

    #[test]
    fn a_claim_of_a_process_that_ended_is_dead() {
        assert!(claim_holder_alive(&claim_name()));
        assert!(claim_holder_alive(&format!("{}:x", std::process::id())));
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(!claim_holder_alive(&format!("{pid}:x")));
        let here = crate::runtime::host_name();
        assert!(!claim_holder_alive(&format!("{pid}:x@{here}")));
        // The same pid on another machine sharing the store: not ours to
        // judge, whatever runs here under that number.
        assert!(claim_holder_alive(&format!("{pid}:x@elsewhere.example")));
        assert!(
            claim_holder_alive("not-a-pid"),
            "unknown forms wait out the lease"
        );
    }
}
