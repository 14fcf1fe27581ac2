//! Reading a lease another run holds: who, since when, and whether it has stopped being
//! renewed — judged on this machine's monotonic clock, as client-go's leader election does.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::LEASE_SECONDS;
use crate::clock;

/// What a waiting run is told about the lock it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    pub holder: String,
    pub command: String,
    pub acquired: String,
    /// Microseconds since the last renewal, if known.
    pub idle_micros: Option<i64>,
    pub duration_seconds: u64,
}

impl LeaseView {
    pub(super) fn of(lease: &Value, now: i64) -> LeaseView {
        let spec = &lease["spec"];
        let renewed = spec["renewTime"]
            .as_str()
            .or(spec["acquireTime"].as_str())
            .and_then(clock::parse_micros);
        LeaseView {
            holder: spec["holderIdentity"].as_str().unwrap_or("?").to_string(),
            command: lease["metadata"]["annotations"]["esk.io/command"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            acquired: spec["acquireTime"].as_str().unwrap_or("?").to_string(),
            idle_micros: renewed.map(|r| now - r),
            duration_seconds: spec["leaseDurationSeconds"]
                .as_u64()
                .unwrap_or(LEASE_SECONDS),
        }
    }

    /// Whether the lease's own renew time is so old that no clock skew explains it: ten
    /// lease durations (5 minutes). Younger leases are judged by watching them instead (see
    /// `Watch`), so a waiter whose clock runs ahead never takes a live lock.
    pub fn long_dead(&self) -> bool {
        let limit = i64::try_from(self.duration_seconds).unwrap_or(i64::MAX) * 10_000_000;
        self.idle_micros.is_some_and(|idle| idle > limit)
    }

    pub(super) fn describe(&self) -> String {
        let cmd = if self.command.is_empty() {
            String::new()
        } else {
            format!(" running `{}`", self.command)
        };
        format!("{}{cmd} since {}", self.holder, self.acquired)
    }
}

/// What a waiting run saw of the lease, on its own monotonic clock: as client-go's leader
/// election does, a lease is expired once its resourceVersion has not changed for its whole
/// duration while this run watched.
#[derive(Default)]
pub(super) struct Watch {
    seen: Option<(String, Instant)>,
}

impl Watch {
    /// Notes the lease's resourceVersion; true once it has stood still for `duration`.
    pub(super) fn stale(&mut self, rv: &str, duration: Duration) -> bool {
        match &self.seen {
            Some((seen, since)) if seen == rv => since.elapsed() >= duration,
            _ => {
                self.seen = Some((rv.to_string(), Instant::now()));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leases_expire_only_after_standing_still_on_this_machines_clock() {
        let now = clock::now_micros();
        let lease = |renewed: i64| {
            json!({"spec": {"holderIdentity": "a@b pid 1", "leaseDurationSeconds": 30,
                "acquireTime": clock::format_micros(renewed),
                "renewTime": clock::format_micros(renewed)}})
        };
        // A renew time a minute "old" may be a clock that runs ahead: not dead yet.
        assert!(!LeaseView::of(&lease(now - 60_000_000), now).long_dead());
        assert!(LeaseView::of(&lease(now - 301_000_000), now).long_dead());
        assert!(
            !LeaseView::of(&json!({"spec": {}}), now).long_dead(),
            "fails closed"
        );
        let mut w = Watch::default();
        assert!(!w.stale("7", Duration::from_millis(20)));
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            w.stale("7", Duration::from_millis(20)),
            "unchanged for its duration"
        );
        assert!(
            !w.stale("8", Duration::from_millis(20)),
            "renewed: watched anew"
        );
    }
}
