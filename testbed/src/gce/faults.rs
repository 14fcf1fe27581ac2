//! Injected trouble for the Compute Engine emulator: failing requests ([`Fault`], optionally
//! after letting some matching ones by) and slow answers.

use crate::armed::{Armory, Shots};
use crate::http::Request;
use std::time::Duration;

/// Makes the next `times` requests whose method (if given) and path match fail.
///
/// A camelCase `reason` ("quotaExceeded", "backendError", "rateLimitExceeded", …) is answered
/// as an HTTP error with `status`. An UPPER_CASE `reason` ("QUOTA_EXCEEDED",
/// "ZONE_RESOURCE_POOL_EXHAUSTED", …) on an insert, delete or setLabels is accepted (200) and its
/// operation ends DONE with `error.errors[0].code = reason` and `httpErrorStatusCode = status`,
/// having changed nothing; on other requests it is an HTTP error too. The real API does both
/// for quotas: disks.insert over e.g. SSD_TOTAL_GB is typically a synchronous 403
/// `quotaExceeded` ("Quota 'SSD_TOTAL_GB' exceeded. Limit: 100.0"), while checks made later,
/// such as CPUS on instances.insert, end the operation with QUOTA_EXCEEDED / 403 FORBIDDEN.
/// Each batch part is matched on its own; the envelope (`POST /batch/compute/v1`) is a request
/// as well.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Option<String>,
    pub path_contains: String,
    pub status: u16,
    pub reason: String,
    pub times: usize,
}

impl Shots for Fault {
    fn shots(&mut self) -> &mut usize {
        &mut self.times
    }
}

fn method_and_path_match(method: Option<&str>, path_contains: &str, req: &Request) -> bool {
    method.is_none_or(|m| m.eq_ignore_ascii_case(&req.method)) && req.path.contains(path_contains)
}

/// A slow answer: the request takes effect at once, its answer comes `delay` later.
struct Delay {
    method: Option<String>,
    path_contains: String,
    delay: Duration,
    times: usize,
}

#[derive(Default)]
pub(super) struct Faults {
    armed: Armory<Fault>,
    delays: Vec<Delay>,
}

impl Faults {
    pub fn inject_after(&mut self, skip: usize, fault: Fault) {
        self.armed.arm(skip, fault);
    }

    pub fn delay(
        &mut self,
        path_contains: &str,
        method: Option<&str>,
        delay: Duration,
        times: usize,
    ) {
        self.delays.push(Delay {
            method: method.map(str::to_string),
            path_contains: path_contains.to_string(),
            delay,
            times,
        });
    }

    /// The fault that answers `req`, if any (see [`Armory::take`]).
    pub fn take(&mut self, req: &Request) -> Option<Fault> {
        self.armed
            .take(|f| method_and_path_match(f.method.as_deref(), &f.path_contains, req))
    }

    /// How long to hold back the answer to `req` (the first matching delay is used up once).
    pub fn delay_for(&mut self, req: &Request) -> Duration {
        let found = self.delays.iter_mut().find(|d| {
            d.times > 0 && method_and_path_match(d.method.as_deref(), &d.path_contains, req)
        });
        let delay = found.map_or(Duration::ZERO, |d| {
            d.times -= 1;
            d.delay
        });
        self.delays.retain(|d| d.times > 0);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn req(method: &str, path: &str) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            query: Vec::new(),
            headers: BTreeMap::new(),
            body: Vec::new(),
        }
    }

    fn fault(path: &str, times: usize) -> Fault {
        Fault {
            method: Some("DELETE".into()),
            path_contains: path.into(),
            status: 503,
            reason: "backendError".into(),
            times,
        }
    }

    #[test]
    fn skips_then_fails_then_passes() {
        let mut faults = Faults::default();
        faults.inject_after(2, fault("/disks/", 2));
        let delete = req("DELETE", "/compute/v1/projects/p/zones/z/disks/d");
        let outcomes: Vec<bool> = (0..6).map(|_| faults.take(&delete).is_some()).collect();
        assert_eq!(outcomes, [false, false, true, true, false, false]);
        faults.inject_after(0, fault("/disks/", 1));
        assert!(faults.take(&req("GET", "/compute/v1/x/disks/d")).is_none());
        assert!(faults.take(&delete).is_some());
    }

    #[test]
    fn delays_are_used_up() {
        let mut faults = Faults::default();
        faults.delay("/disks", Some("GET"), Duration::from_millis(5), 1);
        assert!(faults.delay_for(&req("POST", "/disks")).is_zero());
        assert_eq!(
            faults.delay_for(&req("GET", "/disks")),
            Duration::from_millis(5)
        );
        assert!(faults.delay_for(&req("GET", "/disks")).is_zero());
    }
}
