//! A watch's health: a run of failed checks lasting `failing_after` raises
//! one `failing` event; the first good check after it raises `recovered`.
//! A shorter run ends silently. Pure: the caller passes the clock.

use std::time::Duration;

use crate::model::{ChangeKind, Health, Outcome, Timestamp};

/// The health after a check with `outcome` at `now`, and the event it
/// raises, if any.
pub fn next(
    before: Health,
    outcome: Outcome,
    now: Timestamp,
    failing_after: Duration,
) -> (Health, Option<ChangeKind>) {
    if outcome != Outcome::Error {
        let event = before.reported.then_some(ChangeKind::Recovered);
        return (Health::default(), event);
    }
    let since = before.failing_since.unwrap_or(now);
    let after_ms = i64::try_from(failing_after.as_millis()).unwrap_or(i64::MAX);
    let due = now.as_millis().saturating_sub(since.as_millis()) >= after_ms;
    let event = (due && !before.reported).then_some(ChangeKind::Failing);
    (
        Health {
            failing_since: Some(since),
            reported: before.reported || due,
        },
        event,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);
    const HOUR_MS: i64 = 3_600_000;

    fn at(hours: i64) -> Timestamp {
        Timestamp(1_800_000_000_000 + hours * HOUR_MS)
    }

    #[test]
    fn failing_once_after_the_threshold_then_recovered_once() {
        let mut health = Health::default();
        let mut events = Vec::new();
        for hour in [0, 6, 12, 23, 24, 30, 48] {
            let (h, e) = next(health, Outcome::Error, at(hour), DAY);
            health = h;
            events.push((hour, e));
        }
        assert_eq!(health.failing_since, Some(at(0)));
        let raised: Vec<_> = events.iter().filter(|(_, e)| e.is_some()).collect();
        assert_eq!(raised, [&(24, Some(ChangeKind::Failing))]);
        let (h, e) = next(health, Outcome::Unchanged, at(49), DAY);
        assert_eq!((h, e), (Health::default(), Some(ChangeKind::Recovered)));
        let (_, e) = next(h, Outcome::Unchanged, at(50), DAY);
        assert_eq!(e, None);
    }

    #[test]
    fn a_short_run_ends_silently() {
        let (h, e) = next(Health::default(), Outcome::Error, at(0), DAY);
        assert_eq!(e, None);
        let (h, e) = next(h, Outcome::Error, at(5), DAY);
        assert_eq!(e, None);
        let (h, e) = next(h, Outcome::Edited, at(6), DAY);
        assert_eq!((h, e), (Health::default(), None));
    }

    #[test]
    fn zero_threshold_reports_the_first_failure() {
        let (h, e) = next(Health::default(), Outcome::Error, at(0), Duration::ZERO);
        assert_eq!(e, Some(ChangeKind::Failing));
        assert!(h.reported);
    }
}
