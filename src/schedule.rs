//! When each watch is checked next, and which check may start now.
//!
//! Pure bookkeeping: every method takes `now` as an argument and nothing
//! here sleeps, spawns or reads a clock, so the whole policy is unit-tested
//! with made-up instants. The engine owns the clock and the tasks; it asks
//! [`Schedule::pop_ready`] what to start and tells [`Schedule::complete`]
//! how it went.
//!
//! Politeness lives here too, because it decides *when* a check may start:
//! a global bound on checks in flight, a per-host bound, a minimum gap between
//! two checks of one host, and a host-wide pause when a server answers 429
//! or 503 with `Retry-After`. (Inside a check, the fetch stage's host gate
//! spaces every request the same way, a check's extra requests included.) Memory is one small entry per watch and one
//! per host; no task exists for a watch that is not running.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Politeness limits, from `[daemon]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Politeness {
    /// Checks in flight at once, over all hosts.
    pub concurrency: usize,
    /// Checks in flight at once against one host.
    pub per_host_concurrency: usize,
    /// Minimum time between the starts of two requests to one host.
    pub per_host_delay: Duration,
}

/// How intervals are spread and failures slowed down.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Relative spread of intervals, e.g. 0.1 for ±10%. Stable per watch.
    pub jitter: f64,
    /// Longest wait after repeated failures (never shorter than the interval).
    pub max_backoff: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            jitter: 0.1,
            max_backoff: MAX_BACKOFF,
        }
    }
}

/// The longest wait after repeated failures, by default.
pub const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);

/// The wait after `failures` failed checks in a row of a watch checked
/// every `base`: `base` after one, doubling with each further one, up to
/// `cap` (never below `base`). Nodes sharing a store apply it to the
/// store's count too ([`crate::store::Claim::decide`]).
pub fn backoff(base: Duration, failures: u32, cap: Duration) -> Duration {
    if failures <= 1 {
        return base;
    }
    let factor = 2u32.saturating_pow(failures - 1);
    let cap = cap.max(base);
    base.checked_mul(factor).map_or(cap, |d| d.min(cap))
}

/// How a check went, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Completion {
    /// The check failed (any reason): back off.
    pub failed: bool,
    /// The server asked to wait this long (429/503 `Retry-After`): pause the
    /// whole host, and do not check this watch sooner.
    pub retry_after: Option<Duration>,
    /// Not checked here (another node sharing the store has it): due again
    /// after exactly this long, its failures unchanged.
    pub next_in: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for its due time (a timer is queued).
    Waiting,
    /// Due, queued at its host.
    Ready,
    /// A check is in flight.
    Running,
}

#[derive(Debug)]
struct Entry {
    host: String,
    interval: Duration,
    /// Factor in [1 - jitter, 1 + jitter], derived from the name.
    spread: f64,
    /// Position in [0, 1), derived from the name: where in a window the
    /// watch's first check falls.
    phase: f64,
    failures: u32,
    state: State,
    due: Instant,
    /// Identifies the live timer; older heap items with another token are stale.
    token: u64,
}

#[derive(Debug, Default)]
struct Host {
    ready: VecDeque<String>,
    in_flight: usize,
    /// Watches scheduled at this host: at zero, with nothing queued or in
    /// flight, the host is forgotten.
    watches: usize,
    /// No request may start before this (gap and Retry-After).
    not_before: Option<Instant>,
}

/// The schedule of every watch.
#[derive(Debug)]
pub struct Schedule {
    politeness: Politeness,
    timing: Timing,
    entries: HashMap<String, Entry>,
    timers: BinaryHeap<Reverse<(Instant, u64, String)>>,
    hosts: HashMap<String, Host>,
    /// Hosts in round-robin order, so one busy host cannot starve others.
    /// A forgotten host's name stays until the round reaches it.
    host_order: VecDeque<String>,
    /// The names in `host_order`.
    ordered: std::collections::HashSet<String>,
    in_flight: usize,
    next_token: u64,
}

/// A stable number in [0, 1) for a name (a fixed hash, so it never changes
/// between builds or runs).
pub fn name_fraction(name: &str, salt: u8) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in std::iter::once(salt).chain(name.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // FNV alone mixes the last bytes poorly into the high bits (names often
    // differ only at the end); finish with the splitmix64 mixer.
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^= hash >> 31;
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

impl Schedule {
    pub fn new(politeness: Politeness, timing: Timing) -> Schedule {
        Schedule {
            politeness,
            timing,
            entries: HashMap::new(),
            timers: BinaryHeap::new(),
            hosts: HashMap::new(),
            host_order: VecDeque::new(),
            ordered: std::collections::HashSet::new(),
            in_flight: 0,
            next_token: 0,
        }
    }

    /// Changes the limits (on reload); running checks are not affected.
    pub fn set_limits(&mut self, politeness: Politeness, timing: Timing) {
        self.politeness = politeness;
        self.timing = timing;
    }

    /// Number of watches scheduled.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no watch is scheduled.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Whether `name` is scheduled.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The interval of a watch after its stable jitter.
    pub fn jittered(&self, name: &str, interval: Duration) -> Duration {
        interval.mul_f64(self.spread(name))
    }

    fn spread(&self, name: &str) -> f64 {
        let j = self.timing.jitter.clamp(0.0, 0.5);
        1.0 + j * (2.0 * name_fraction(name, 1) - 1.0)
    }

    /// When a watch should first be checked after start-up.
    ///
    /// - never checked: spread over its first interval, so hundreds of new
    ///   watches do not fire in the same second;
    /// - checked before: its last check plus its (jittered, backed-off)
    ///   interval, so a restart does not re-check what was just checked;
    /// - overdue: soon, spread over `min(interval, 30s)`.
    ///
    /// `since_last_check` is how long ago the last check ran, if ever, and
    /// `failures` how many failed in a row.
    pub fn first_due(
        &self,
        name: &str,
        interval: Duration,
        since_last_check: Option<Duration>,
        failures: u32,
        now: Instant,
    ) -> Instant {
        let phase = name_fraction(name, 2);
        match since_last_check {
            None => now + interval.mul_f64(phase),
            Some(ago) => {
                let wait = self.wait_after(name, interval, failures);
                match wait.checked_sub(ago) {
                    Some(left) if !left.is_zero() => now + left,
                    _ => now + interval.min(Duration::from_secs(30)).mul_f64(phase),
                }
            }
        }
    }

    /// The wait after a check: the jittered interval, doubled for each
    /// failure after the first, capped at `max(max_backoff, interval)`.
    fn wait_after(&self, name: &str, interval: Duration, failures: u32) -> Duration {
        backoff(
            self.jittered(name, interval),
            failures,
            self.timing.max_backoff,
        )
    }

    /// Adds a watch, or updates its host and interval. A new watch becomes
    /// due at `due`; an existing one keeps its due time unless it is
    /// waiting and `due` is sooner (an interval made shorter takes effect).
    pub fn upsert(
        &mut self,
        name: &str,
        host: &str,
        interval: Duration,
        due: Instant,
        failures: u32,
    ) {
        let spread = self.spread(name);
        let phase = name_fraction(name, 2);
        let Some(entry) = self.entries.get_mut(name) else {
            self.host_entry(host).watches += 1;
            self.entries.insert(
                name.to_owned(),
                Entry {
                    host: host.to_owned(),
                    interval,
                    spread,
                    phase,
                    failures,
                    state: State::Waiting,
                    due,
                    token: 0,
                },
            );
            let token = self.bump_token_of(name);
            self.push_timer(name, due, token);
            return;
        };
        entry.interval = interval;
        entry.spread = spread;
        let (state, current_due) = (entry.state, entry.due);
        let old_host =
            (entry.host != host).then(|| std::mem::replace(&mut entry.host, host.to_owned()));
        if let Some(old) = old_host {
            self.host_entry(host).watches += 1;
            if let Some(h) = self.hosts.get_mut(&old) {
                h.watches = h.watches.saturating_sub(1);
                if state == State::Ready {
                    h.ready.retain(|n| n != name);
                }
            }
            self.forget_if_unused(&old);
            if state == State::Ready {
                let token = self.bump_token_of(name);
                self.push_timer(name, due, token);
            }
        } else if state == State::Waiting && due < current_due {
            let token = self.bump_token_of(name);
            self.push_timer(name, due, token);
        }
    }

    /// Removes a watch. A running check finishes, but is not rescheduled.
    pub fn remove(&mut self, name: &str) {
        // A stale timer is skipped later because the entry is gone.
        let Some(entry) = self.entries.remove(name) else {
            return;
        };
        if let Some(h) = self.hosts.get_mut(&entry.host) {
            h.watches = h.watches.saturating_sub(1);
            if entry.state == State::Ready {
                h.ready.retain(|n| n != name);
            }
        }
        self.forget_if_unused(&entry.host);
    }

    /// Forgets `host` (its queue, pause and place in the round) once no
    /// watch uses it and nothing is queued or in flight there. Only the
    /// host concerned is looked at: removing every watch one by one (as
    /// `chancery check` does when each is done) stays linear.
    fn forget_if_unused(&mut self, host: &str) {
        if self
            .hosts
            .get(host)
            .is_some_and(|h| h.watches == 0 && h.in_flight == 0 && h.ready.is_empty())
        {
            self.hosts.remove(host);
        }
    }

    fn host_entry(&mut self, host: &str) -> &mut Host {
        if !self.hosts.contains_key(host) && self.ordered.insert(host.to_owned()) {
            self.host_order.push_back(host.to_owned());
        }
        self.hosts.entry(host.to_owned()).or_default()
    }

    fn bump_token_of(&mut self, name: &str) -> u64 {
        self.next_token += 1;
        let token = self.next_token;
        if let Some(entry) = self.entries.get_mut(name) {
            entry.token = token;
        }
        token
    }

    fn push_timer(&mut self, name: &str, due: Instant, token: u64) {
        if let Some(entry) = self.entries.get_mut(name) {
            entry.due = due;
            entry.state = State::Waiting;
        }
        self.timers.push(Reverse((due, token, name.to_owned())));
    }

    /// Moves every watch whose time has come to its host's queue.
    fn release_due(&mut self, now: Instant) {
        while let Some(Reverse((due, token, _))) = self.timers.peek() {
            if *due > now {
                break;
            }
            let token = *token;
            let Some(Reverse((_, _, name))) = self.timers.pop() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&name) else {
                continue;
            };
            if entry.token != token || entry.state != State::Waiting {
                continue;
            }
            entry.state = State::Ready;
            let host = entry.host.clone();
            self.host_entry(&host).ready.push_back(name);
        }
    }

    /// The next watch whose check may start now, if any. The caller must
    /// start it and later call [`Schedule::complete`].
    pub fn pop_ready(&mut self, now: Instant) -> Option<String> {
        self.release_due(now);
        if self.in_flight >= self.politeness.concurrency.max(1) {
            return None;
        }
        for _ in 0..self.host_order.len() {
            let host_name = self.host_order.pop_front()?;
            let Some(host) = self.hosts.get_mut(&host_name) else {
                // Forgotten: leaves the round here.
                self.ordered.remove(&host_name);
                continue;
            };
            self.host_order.push_back(host_name.clone());
            if host.ready.is_empty()
                || host.in_flight >= self.politeness.per_host_concurrency.max(1)
                || host.not_before.is_some_and(|t| t > now)
            {
                continue;
            }
            let Some(name) = host.ready.pop_front() else {
                continue;
            };
            host.in_flight += 1;
            host.not_before = Some(now + self.politeness.per_host_delay);
            self.in_flight += 1;
            if let Some(entry) = self.entries.get_mut(&name) {
                entry.state = State::Running;
            }
            return Some(name);
        }
        None
    }

    /// When something may next become startable: the earliest timer, or the
    /// earliest host pause ending for a host with queued watches and a free
    /// slot. `None` when nothing is waiting, or nothing can start before a
    /// running check finishes (every slot busy), which wakes the caller
    /// anyway: a queue longer than the slots must not wake it in a loop.
    pub fn next_wakeup(&self) -> Option<Instant> {
        if self.in_flight >= self.politeness.concurrency.max(1) {
            return None;
        }
        let per_host = self.politeness.per_host_concurrency.max(1);
        let timer = self.timers.peek().map(|Reverse((due, _, _))| *due);
        let host = self
            .hosts
            .values()
            .filter(|h| !h.ready.is_empty() && h.in_flight < per_host)
            .filter_map(|h| h.not_before)
            .min();
        match (timer, host) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Records that a check finished and schedules the watch's next one.
    /// Returns the next due time (none if the watch was removed meanwhile).
    pub fn complete(
        &mut self,
        name: &str,
        host: &str,
        completion: Completion,
        now: Instant,
    ) -> Option<Instant> {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(h) = self.hosts.get_mut(host) {
            h.in_flight = h.in_flight.saturating_sub(1);
            if let Some(pause) = completion.retry_after {
                let until = now + pause;
                h.not_before = Some(h.not_before.map_or(until, |t| t.max(until)));
            }
        }
        // The check of a watch removed while it ran was the host's last use.
        self.forget_if_unused(host);
        let entry = self.entries.get_mut(name)?;
        if let Some(next_in) = completion.next_in {
            let due = now + next_in;
            let token = self.bump_token_of(name);
            self.push_timer(name, due, token);
            return Some(due);
        }
        entry.failures = if completion.failed {
            entry.failures.saturating_add(1)
        } else {
            0
        };
        let (interval, failures) = (entry.interval, entry.failures);
        let mut wait = self.wait_after(name, interval, failures);
        if let Some(pause) = completion.retry_after {
            wait = wait.max(pause);
        }
        let due = now + wait;
        let token = self.bump_token_of(name);
        self.push_timer(name, due, token);
        Some(due)
    }

    /// Consecutive failures of a watch.
    pub fn failures(&self, name: &str) -> u32 {
        self.entries.get(name).map_or(0, |e| e.failures)
    }

    /// Where in its window a watch's first check falls, in [0, 1).
    pub fn phase(&self, name: &str) -> Option<f64> {
        self.entries.get(name).map(|e| e.phase)
    }

    /// The host a watch is scheduled under.
    pub fn host_of(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(|e| e.host.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polite(concurrency: usize, per_host: usize, delay_ms: u64) -> Politeness {
        Politeness {
            concurrency,
            per_host_concurrency: per_host,
            per_host_delay: Duration::from_millis(delay_ms),
        }
    }

    fn no_jitter() -> Timing {
        Timing {
            jitter: 0.0,
            max_backoff: Duration::from_secs(3600),
        }
    }

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn jitter_is_stable_and_bounded() {
        let s = Schedule::new(polite(4, 2, 0), Timing::default());
        let mut distinct = std::collections::HashSet::new();
        for i in 0..200 {
            let name = format!("watch-{i}");
            let j = s.jittered(&name, Duration::from_secs(1000));
            assert_eq!(j, s.jittered(&name, Duration::from_secs(1000)), "stable");
            assert!(
                j >= Duration::from_secs(900) && j <= Duration::from_secs(1100),
                "{j:?}"
            );
            distinct.insert(j.as_millis());
        }
        assert!(distinct.len() > 150, "spread out: {}", distinct.len());
    }

    #[test]
    fn first_checks_spread_over_the_first_interval() {
        let s = Schedule::new(polite(4, 2, 0), Timing::default());
        let now = Instant::now();
        let dues: Vec<Duration> = (0..100)
            .map(|i| s.first_due(&format!("w{i}"), 10 * MIN, None, 0, now) - now)
            .collect();
        assert!(dues.iter().all(|d| *d < 10 * MIN));
        let early = dues.iter().filter(|d| **d < 5 * MIN).count();
        assert!(
            (30..70).contains(&early),
            "about half in the first half: {early}"
        );
    }

    #[test]
    fn restart_respects_the_last_check() {
        let s = Schedule::new(polite(4, 2, 0), no_jitter());
        let now = Instant::now();
        // Checked 2 minutes ago with a 10-minute interval: due in 8.
        let due = s.first_due("a", 10 * MIN, Some(2 * MIN), 0, now);
        assert_eq!(due - now, 8 * MIN);
        // Overdue: within 30 s.
        let due = s.first_due("a", 10 * MIN, Some(20 * MIN), 0, now);
        assert!(due - now < Duration::from_secs(30));
        // Backed off after 3 failures: 4 × interval.
        let due = s.first_due("a", 10 * MIN, Some(2 * MIN), 3, now);
        assert_eq!(due - now, 38 * MIN);
    }

    #[test]
    fn global_and_per_host_limits_and_gap() {
        let mut s = Schedule::new(polite(3, 2, 1000), no_jitter());
        let now = Instant::now();
        for i in 0..4 {
            s.upsert(&format!("a{i}"), "a.example", MIN, now, 0);
        }
        s.upsert("b0", "b.example", MIN, now, 0);
        let first = s.pop_ready(now).expect("one starts");
        let second = s.pop_ready(now).expect("other host starts");
        assert_ne!(s.host_of(&first), s.host_of(&second));
        // Host a is within its 1 s gap, host b has nothing left.
        assert_eq!(s.pop_ready(now), None);
        let later = now + Duration::from_millis(1000);
        let third = s.pop_ready(later).expect("after the gap");
        assert_eq!(s.host_of(&third), Some("a.example"));
        // a has 2 in flight (its limit); the global limit is 3 anyway.
        assert_eq!(s.pop_ready(later + Duration::from_secs(5)), None);
        assert_eq!(s.in_flight(), 3);
        s.complete(&first, "a.example", Completion::default(), later);
        let fourth = s
            .pop_ready(later + Duration::from_secs(5))
            .expect("slot freed");
        assert_eq!(s.host_of(&fourth), Some("a.example"));
    }

    /// A check another node has is due again exactly when the store says,
    /// and neither backs off nor resets the watch's failures.
    #[test]
    fn a_check_held_elsewhere_is_due_when_the_store_says() {
        let mut s = Schedule::new(polite(4, 2, 0), no_jitter());
        let now = Instant::now();
        s.upsert("a", "h", 10 * MIN, now, 3);
        assert_eq!(s.pop_ready(now).as_deref(), Some("a"));
        let elsewhere = Completion {
            failed: false,
            retry_after: None,
            next_in: Some(Duration::from_secs(7)),
        };
        let due = now + Duration::from_secs(7);
        assert_eq!(s.complete("a", "h", elsewhere, now), Some(due));
        assert_eq!(s.failures("a"), 3);
        assert_eq!(s.pop_ready(due - Duration::from_millis(1)), None);
        assert_eq!(s.pop_ready(due).as_deref(), Some("a"));
    }

    #[test]
    fn success_reschedules_after_the_interval_and_failures_back_off() {
        let mut s = Schedule::new(polite(4, 2, 0), no_jitter());
        let now = Instant::now();
        s.upsert("a", "h", 10 * MIN, now, 0);
        assert_eq!(s.pop_ready(now).as_deref(), Some("a"));
        let failed = Completion {
            failed: true,
            retry_after: None,
            next_in: None,
        };
        assert_eq!(s.complete("a", "h", failed, now), Some(now + 10 * MIN));
        let t = now + 10 * MIN;
        assert_eq!(s.pop_ready(t).as_deref(), Some("a"));
        assert_eq!(s.complete("a", "h", failed, t), Some(t + 20 * MIN));
        let t = t + 20 * MIN;
        assert_eq!(s.pop_ready(t).as_deref(), Some("a"));
        assert_eq!(s.complete("a", "h", failed, t), Some(t + 40 * MIN));
        let t = t + 40 * MIN;
        assert_eq!(s.pop_ready(t).as_deref(), Some("a"));
        // Capped at max_backoff (1 h).
        assert_eq!(s.complete("a", "h", failed, t), Some(t + 60 * MIN));
        let t = t + 60 * MIN;
        assert_eq!(s.pop_ready(t).as_deref(), Some("a"));
        // One success: back to the normal interval.
        assert_eq!(
            s.complete("a", "h", Completion::default(), t),
            Some(t + 10 * MIN)
        );
        assert_eq!(s.failures("a"), 0);
    }

    #[test]
    fn retry_after_pauses_the_whole_host() {
        let mut s = Schedule::new(polite(4, 4, 0), no_jitter());
        let now = Instant::now();
        s.upsert("a", "h", MIN, now, 0);
        s.upsert("b", "h", MIN, now, 0);
        s.upsert("c", "other", MIN, now, 0);
        let first = s.pop_ready(now).expect("starts");
        let host = s.host_of(&first).expect("host").to_owned();
        let pause = Completion {
            failed: true,
            retry_after: Some(Duration::from_secs(120)),
            next_in: None,
        };
        let due = s.complete(&first, &host, pause, now).expect("rescheduled");
        assert!(due >= now + Duration::from_secs(120));
        // The other host's watch runs; the paused host's do not.
        let mut started = Vec::new();
        while let Some(n) = s.pop_ready(now + Duration::from_secs(1)) {
            started.push(n);
        }
        let paused_started = started
            .iter()
            .filter(|n| s.host_of(n) == Some(host.as_str()))
            .count();
        assert_eq!(paused_started, 0, "{started:?}");
        assert_eq!(s.next_wakeup(), Some(now + Duration::from_secs(120)));
        assert!(s.pop_ready(now + Duration::from_secs(121)).is_some());
    }

    #[test]
    fn a_queue_longer_than_the_slots_waits_for_a_check_to_finish() {
        // Every watch overdue, more than the slots allow: nothing to wake
        // for until a check finishes (the daemon's join wakes it), however
        // long ago the host's delay ended.
        let mut s = Schedule::new(polite(2, 1, 10), no_jitter());
        let now = Instant::now();
        for name in ["a", "b", "c"] {
            s.upsert(name, "h", MIN, now, 0);
        }
        s.upsert("d", "other", MIN, now, 0);
        let first = s.pop_ready(now).expect("starts");
        let second = s.pop_ready(now).expect("starts");
        assert_eq!(s.pop_ready(now), None, "both slots busy");
        assert_eq!(s.next_wakeup(), None, "every slot is busy");
        // One slot free, but only for the busy host's queue: still nothing.
        let other = [&first, &second]
            .into_iter()
            .find(|n| s.host_of(n) == Some("other"))
            .expect("each host got a slot")
            .clone();
        s.complete(&other, "other", Completion::default(), now);
        assert_eq!(s.pop_ready(now), None, "the host's one slot is busy");
        assert_eq!(
            s.next_wakeup(),
            Some(now + MIN),
            "only the finished watch's next check"
        );
        // The host's slot frees: its delay is what is waited for.
        let busy = if other == first { second } else { first };
        s.complete(&busy, "h", Completion::default(), now);
        assert_eq!(s.next_wakeup(), Some(now + Duration::from_millis(10)));
    }

    #[test]
    fn removed_watches_are_not_rescheduled() {
        let mut s = Schedule::new(polite(4, 2, 0), no_jitter());
        let now = Instant::now();
        s.upsert("a", "h", MIN, now, 0);
        s.upsert("b", "h", MIN, now + MIN, 0);
        assert_eq!(s.pop_ready(now).as_deref(), Some("a"));
        s.remove("a");
        s.remove("b");
        assert_eq!(s.complete("a", "h", Completion::default(), now), None);
        assert_eq!(s.pop_ready(now + 2 * MIN), None);
        assert!(s.is_empty());
        assert!(
            s.hosts.is_empty(),
            "the host is forgotten with its last watch"
        );
        assert_eq!(s.next_wakeup(), None, "nothing is waiting");
    }

    #[test]
    fn a_host_is_forgotten_with_its_last_watch_and_rejoins_the_round_once() {
        let mut s = Schedule::new(polite(4, 2, 0), no_jitter());
        let now = Instant::now();
        s.upsert("a", "h1", MIN, now, 0);
        s.upsert("b", "h2", MIN, now, 0);
        // A watch moving to another host leaves its old one unused.
        s.upsert("a", "h3", MIN, now, 0);
        assert!(!s.hosts.contains_key("h1"));
        s.remove("b");
        assert!(!s.hosts.contains_key("h2"));
        // Back before the round reached the forgotten names: one place each.
        s.upsert("c", "h1", MIN, now, 0);
        s.upsert("d", "h2", MIN, now, 0);
        assert_eq!(s.host_order.len(), 3, "{:?}", s.host_order);
        let mut started: Vec<String> = std::iter::from_fn(|| s.pop_ready(now)).collect();
        started.sort();
        assert_eq!(started, ["a", "c", "d"]);
    }

    #[test]
    fn a_shorter_interval_on_reload_takes_effect() {
        let mut s = Schedule::new(polite(4, 2, 0), no_jitter());
        let now = Instant::now();
        s.upsert("a", "h", 60 * MIN, now + 60 * MIN, 0);
        s.upsert("a", "h", MIN, now + MIN, 0);
        assert_eq!(s.pop_ready(now + MIN).as_deref(), Some("a"));
    }
}
