//! Which failures of gcloud, aws and kubectl are worth another try, and how long to wait
//! between tries: bounded exponential backoff with jitter. Only calls that are safe to repeat
//! are retried; a creating call is retried only after checking what the failed try made.

use std::time::Duration;

use crate::domain::Disk;

/// What a failed call's stderr says about trying again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Throttling, a 5xx, a timeout, a refused connection: the same call may well succeed.
    Transient,
    /// The disk is still attached somewhere: wait for the detach, then delete.
    InUse,
    /// Quota, permission, invalid input, anything unknown: stop with the CLI's message.
    Permanent,
}

/// Messages that say the call was fine but the service was not (gcloud prints the API's
/// reason or status, aws the error code, kubectl the Status reason or a transport error).
const TRANSIENT: &[&str] = &[
    "ratelimitexceeded",
    "rate limit exceeded",
    "userratelimitexceeded",
    "requestlimitexceeded",
    "throttling",
    "toomanyrequests",
    "too many requests",
    "backenderror",
    "internalerror",
    "internal error",
    "serviceunavailable",
    "service unavailable",
    "the server is currently unable to handle the request",
    "httperror 500",
    "httperror 502",
    "httperror 503",
    "httperror 504",
    "(500)",
    "(502)",
    "(503)",
    "(504)",
    "code: 503",
    "connection refused",
    "connection reset",
    "connection aborted",
    "broken pipe",
    "timed out",
    "timeout",
    "deadline exceeded",
    "tls handshake",
    "unexpected eof",
    "remote end closed connection",
    "etcdserver: request timed out",
    "the object has been modified",
    "esk: no answer within",
];

/// Messages that no retry can fix, checked first (an API may add "try again later" to a
/// quota error).
const PERMANENT: &[&str] = &[
    "quotaexceeded",
    "quota_exceeded",
    "quota '",
    "quota exceeded",
    "limitexceeded: ",
    "volumelimitexceeded",
    "forbidden",
    "permission",
    "unauthorized",
    "accessdenied",
    "unauthorizedoperation",
    "authfailure",
    "invalid",
    "notfound",
    "not found",
];

const IN_USE: &[&str] = &[
    "resourceinusebyanotherresource",
    "is already being used by",
    "volumeinuse",
    "is currently attached",
];

pub fn classify(stderr: &str) -> Failure {
    let text = stderr.to_ascii_lowercase();
    if IN_USE.iter().any(|m| text.contains(m)) {
        Failure::InUse
    } else if PERMANENT.iter().any(|m| text.contains(m)) {
        Failure::Permanent
    } else if TRANSIENT.iter().any(|m| text.contains(m)) {
        Failure::Transient
    } else {
        Failure::Permanent
    }
}

/// How many times a transient failure is tried in all (the first try included).
pub const ATTEMPTS: u32 = 5;

/// The first wait; each next one doubles, up to `MAX_DELAY`. `ESK_RETRY_BASE_MS` changes it
/// (the test bed, whose faults are instant, uses a few milliseconds).
fn base_delay() -> Duration {
    let ms = std::env::var("ESK_RETRY_BASE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1000);
    Duration::from_millis(ms)
}

const MAX_DELAY: Duration = Duration::from_secs(16);

/// The wait before try `attempt + 1` (attempt counts from 1): exponential, capped, with jitter
/// in [d/2, d] so that many clients do not retry in step.
pub fn delay(attempt: u32) -> Duration {
    let exp = base_delay().saturating_mul(1 << attempt.saturating_sub(1).min(16));
    let d = exp.min(MAX_DELAY.max(base_delay()));
    let jitter = random_unit();
    d / 2 + d.mul_f64(jitter / 2.0)
}

/// A number in [0, 1) from the OS's random source (no need for a generator here).
fn random_unit() -> f64 {
    let mut b = [0u8; 4];
    if getrandom::getrandom(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0)
}

/// How often an in-use disk is tried again at most.
const IN_USE_POLL: Duration = Duration::from_secs(5);

/// The wait before looking again at a disk the cloud still reports attached (poll counts
/// from 1): the usual backoff, but never more than `IN_USE_POLL`.
pub fn in_use_delay(poll: u32) -> Duration {
    delay(poll).min(IN_USE_POLL)
}

/// The last non-empty line of a CLI's stderr: where gcloud, aws and kubectl put the reason.
pub fn last_line(stderr: &str) -> Option<&str> {
    stderr.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// The error for disks the cloud still reports attached when esk stops waiting.
pub fn still_attached(remaining: &[Disk], stderr: &str) -> anyhow::Error {
    let names: Vec<&str> = remaining.iter().map(|d| d.name.as_str()).collect();
    anyhow::anyhow!(
        "{} disk(s) still attached when --detach-timeout ran out: {} (the cloud says: {}); they \
         are kept for now, and re-running the same command deletes them once they are detached",
        names.len(),
        names.join(", "),
        last_line(stderr).unwrap_or("in use")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clouds_transient_answers_are_retried_and_permanent_ones_are_not() {
        let transient = [
            "ERROR: (gcloud.compute.disks.create) Could not fetch resource:\n - Rate Limit Exceeded",
            " - Internal error. Please try again or contact Google Support. (Code: 'backendError')",
            "An error occurred (RequestLimitExceeded) when calling the CreateVolume operation",
            "Error from server (ServiceUnavailable): the server is currently unable to handle the request",
            "Error from server (TooManyRequests): please try again later",
            "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?: dial tcp 127.0.0.1:1: connect: connection refused",
            "Error from server (InternalError): Internal error occurred: etcdserver: request timed out",
        ];
        for t in transient {
            assert_eq!(classify(t), Failure::Transient, "{t}");
        }
        let permanent = [
            "ERROR: (gcloud.compute.disks.create) Could not fetch resource:\n - Quota 'SSD_TOTAL_GB' exceeded.  Limit: 500.0 in region us-central1.",
            "operation failed: QUOTA_EXCEEDED, please try again later",
            "An error occurred (UnauthorizedOperation) when calling the CreateVolume operation",
            "Error from server (Forbidden): leases is forbidden: User cannot create",
            "Error from server (Invalid): error when creating",
            "something esk has never seen",
        ];
        for p in permanent {
            assert_eq!(classify(p), Failure::Permanent, "{p}");
        }
        let in_use = [
            " - The disk resource 'projects/p/zones/z/disks/es-disk-1' is already being used by 'projects/p/zones/z/instances/gke-node-1'",
            "An error occurred (VolumeInUse) when calling the DeleteVolume operation: Volume vol-1 is currently attached to i-1",
        ];
        for u in in_use {
            assert_eq!(classify(u), Failure::InUse, "{u}");
        }
    }

    #[test]
    fn delays_grow_are_capped_and_jittered() {
        let base = base_delay();
        let first = delay(1);
        assert!(first >= base / 2 && first <= base, "{first:?}");
        let third = delay(3);
        assert!(third >= base * 2 && third <= base * 4, "{third:?}");
        assert!(delay(30) <= MAX_DELAY.max(base));
    }
}
