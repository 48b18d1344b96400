//! The host gate: every request to one host (a check's fetch, its
//! confirming fetch, the not-found probe, listing pages, robots.txt) starts
//! at least `per_host_delay` after the previous one. The schedule decides
//! when a *check* may start; the gate spaces the *requests* a check makes,
//! so a check's extra requests are as polite as its first.
//!
//! "After the previous one" is measured from the later of its slot and the
//! moment its answer began to arrive: a request can leave well after its
//! slot (a new connection, a busy machine), and the server must still see
//! the gap. A request already waiting for its slot keeps it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use url::Url;

/// The key requests are spaced by: the host, lowercased, without port, so
/// every service on one machine shares its limits (the schedule uses the
/// same key).
pub fn host_key(url: &Url) -> String {
    url.host_str().unwrap_or("").to_ascii_lowercase()
}

/// When each host may next be asked. Shared by all clones of a fetcher.
#[derive(Debug)]
pub struct HostGate {
    delay: Duration,
    next: Mutex<HashMap<String, Instant>>,
}

impl HostGate {
    /// A gate spacing requests to one host by `delay` (zero: no spacing).
    pub fn new(delay: Duration) -> HostGate {
        HostGate {
            delay,
            next: Mutex::new(HashMap::new()),
        }
    }

    /// Takes the next slot for `host` at or after `now` and returns when it
    /// starts. Pure bookkeeping: the caller waits.
    pub fn reserve(&self, host: &str, now: Instant) -> Instant {
        if self.delay.is_zero() {
            return now;
        }
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        // Slots in the past say nothing any more: forget them, so the map
        // holds only hosts asked within the last `delay`.
        if next.len() > 64 {
            next.retain(|_, at| *at > now);
        }
        let start = next.get(host).map_or(now, |at| (*at).max(now));
        next.insert(host.to_owned(), start + self.delay);
        start
    }

    /// Records that the answer to a request to `host` began to arrive at
    /// `at`: the request left before, so the next one waits from here.
    pub fn answered(&self, host: &str, at: Instant) {
        if self.delay.is_zero() {
            return;
        }
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let after = at + self.delay;
        next.entry(host.to_owned())
            .and_modify(|t| *t = (*t).max(after))
            .or_insert(after);
    }

    /// Waits for the next slot of `url`'s host (without a timer when the
    /// slot is now: most requests, and every one with no delay).
    pub async fn wait(&self, url: &Url) {
        if self.delay.is_zero() {
            return;
        }
        let now = Instant::now();
        let start = self.reserve(&host_key(url), now);
        if start > now {
            tokio::time::sleep_until(start.into()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_to_one_host_are_spaced_others_are_not() {
        let gate = HostGate::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(gate.reserve("a.gov", t0), t0);
        assert_eq!(gate.reserve("a.gov", t0), t0 + Duration::from_secs(1));
        assert_eq!(gate.reserve("a.gov", t0), t0 + Duration::from_secs(2));
        assert_eq!(gate.reserve("b.gov", t0), t0);
        // Asked again long after: at once.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(gate.reserve("a.gov", later), later);
    }

    #[test]
    fn a_late_answer_pushes_the_next_slot() {
        let gate = HostGate::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(gate.reserve("a.gov", t0), t0);
        // Already reserved: keeps its slot.
        assert_eq!(gate.reserve("a.gov", t0), t0 + Duration::from_secs(1));
        gate.answered("a.gov", t0 + Duration::from_millis(1500));
        assert_eq!(gate.reserve("a.gov", t0), t0 + Duration::from_millis(2500));
        // An early answer never pulls a slot forward.
        gate.answered("a.gov", t0);
        assert_eq!(gate.reserve("a.gov", t0), t0 + Duration::from_millis(3500));
    }

    #[test]
    fn zero_delay_never_waits() {
        let gate = HostGate::new(Duration::ZERO);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(gate.reserve("a.gov", t0), t0);
        }
    }

    #[test]
    fn the_key_is_the_lowercase_host_without_port() {
        let url = Url::parse("https://WWW.Mfa.GOV.cn:8443/x").expect("url");
        assert_eq!(host_key(&url), "www.mfa.gov.cn");
    }
}
