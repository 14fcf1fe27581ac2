//! The cluster lock: a `coordination.k8s.io/v1` Lease `esk.<name>` in the cluster's namespace,
//! held by every mutating run for its whole length, so two runs (a resize and a delete in two
//! pipelines) can never interleave their steps. Taking it is one create, releasing it one
//! delete with the Lease's resourceVersion as a precondition; both are compare-and-swap on the
//! API server, so no two runs can believe they hold it. A background thread renews it; a
//! lease that is not renewed past its duration, or whose holder process on this machine is
//! gone, is taken over with a warning.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::adapters::kubectl::{Kubectl, RawAnswer, RawVerb};
use crate::clock;
use crate::error::LockHeld;
use crate::manifest::MANAGED_BY;
use crate::report::Reporter;
use crate::spec::Spec;

mod holder;
mod lease;
mod renewal;

pub use holder::Holder;
pub use lease::LeaseView;
use lease::Watch;
use renewal::hold;

/// How long a lease lasts without renewal; renewed every third of it.
pub const LEASE_SECONDS: u64 = 30;
/// How often a waiting run looks again.
const POLL: Duration = Duration::from_millis(500);
/// The label that says which cluster a lock belongs to (not the cluster's own labels, so that
/// deleting the cluster's objects never deletes the lock that run holds).
pub const LOCK_LABEL: &str = "esk.io/lock-of";

/// A held lock; released on drop (and by the signal handler through [`release_active`]).
pub struct ClusterLock {
    inner: Arc<Inner>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

struct Inner {
    kubectl: Kubectl,
    path: String,
    lease: Mutex<Value>,
    /// Set when a renewal found the lease changed by someone else.
    lost: Mutex<Option<String>>,
    /// When a renewal last went through: a run that cannot renew stops before another can
    /// take over.
    renewed: Mutex<Instant>,
    stop: AtomicBool,
    released: AtomicBool,
}

/// The lock of the running command, for the signal handler.
static ACTIVE: Mutex<Option<Arc<Inner>>> = Mutex::new(None);

/// Why a lock could not be taken without the caller's help.
pub enum Acquired {
    Held(ClusterLock),
    /// The namespace does not exist yet (so neither does any cluster in it).
    NoNamespace,
}

pub fn lease_name(spec: &Spec) -> String {
    format!("esk.{}", spec.name)
}

fn lease_path(spec: &Spec) -> String {
    format!(
        "/apis/coordination.k8s.io/v1/namespaces/{}/leases/{}",
        spec.namespace,
        lease_name(spec)
    )
}

/// The Lease this process writes to take (or renew) the lock.
fn lease_body(
    spec: &Spec,
    me: &Holder,
    acquired: &str,
    transitions: u64,
    rv: Option<&str>,
) -> Value {
    let now = clock::format_micros(clock::now_micros());
    let mut lease = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": lease_name(spec),
            "namespace": spec.namespace.as_str(),
            "labels": {MANAGED_BY: "esk", LOCK_LABEL: spec.name.as_str()},
            "annotations": {
                "esk.io/command": me.command,
                "esk.io/user": me.user,
                "esk.io/host": me.host,
                "esk.io/pid": me.pid.to_string(),
                "esk.io/pid-start": me.pid_start,
                "esk.io/boot-id": me.boot_id,
                "esk.io/pid-ns": me.pid_ns,
            }
        },
        "spec": {
            "holderIdentity": me.identity(),
            "leaseDurationSeconds": LEASE_SECONDS,
            "acquireTime": acquired,
            "renewTime": now,
            "leaseTransitions": transitions,
        }
    });
    if let Some(rv) = rv {
        lease["metadata"]["resourceVersion"] = rv.into();
    }
    lease
}

fn parse(body: &str) -> Result<Value> {
    serde_json::from_str(body).context("the API server answered a Lease request with invalid JSON")
}

/// Takes the cluster's lock, waiting up to `timeout` for another run to finish.
pub fn acquire(
    kubectl: &Kubectl,
    spec: &Spec,
    me: &Holder,
    timeout: Duration,
    report: &Reporter,
) -> Result<Acquired> {
    let path = lease_path(spec);
    let collection = path.rsplit_once('/').map_or("", |(c, _)| c).to_string();
    let started = Instant::now();
    let mut last_seen: Option<String> = None;
    let mut watch = Watch::default();
    loop {
        let now = clock::format_micros(clock::now_micros());
        let body = lease_body(spec, me, &now, 0, None).to_string();
        match kubectl.raw(RawVerb::Create, &collection, Some(&body))? {
            RawAnswer::Ok(out) => return Ok(Acquired::Held(hold(kubectl, path, parse(&out)?))),
            RawAnswer::NotFound(_) => return Ok(Acquired::NoNamespace),
            RawAnswer::AlreadyExists | RawAnswer::Conflict => {}
        }
        let current = match kubectl.raw(RawVerb::Get, &path, None)? {
            RawAnswer::Ok(out) => parse(&out)?,
            // Released between the two calls: try again at once.
            _ => continue,
        };
        let view = LeaseView::of(&current, clock::now_micros());
        let theirs = Holder::from_lease(&current);
        if theirs == *me && view.holder == me.identity() {
            // Our own create went through but its answer was lost, and a retry found it.
            return Ok(Acquired::Held(hold(kubectl, path, current)));
        }
        let rv = current["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("");
        let unchanged = watch.stale(rv, Duration::from_secs(view.duration_seconds));
        let stale = if view.long_dead() || unchanged {
            Some(format!(
                "not renewed for {} (its lease is {}s)",
                view.idle_micros
                    .map_or("ever".into(), |m| clock::human(Duration::from_micros(
                        m.max(0).unsigned_abs()
                    ))),
                view.duration_seconds
            ))
        } else if theirs.gone_from_this_host() {
            Some(format!(
                "its process {} on this machine has ended",
                theirs.pid
            ))
        } else {
            None
        };
        if let Some(why) = stale {
            let rv = current["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("");
            let transitions = current["spec"]["leaseTransitions"].as_u64().unwrap_or(0) + 1;
            let body = lease_body(spec, me, &now, transitions, Some(rv)).to_string();
            if let RawAnswer::Ok(out) = kubectl.raw(RawVerb::Replace, &path, Some(&body))? {
                report.warn(&format!(
                    "warning: took over the cluster lock of {} held by {}: {why}",
                    spec.name,
                    view.describe()
                ));
                return Ok(Acquired::Held(hold(kubectl, path, parse(&out)?)));
            }
            continue;
        }
        if started.elapsed() >= timeout {
            return Err(LockHeld::new(format!(
                "cluster {} in namespace {} is locked by {} (waited {}; --lock-timeout sets how \
                 long to wait)",
                spec.name,
                spec.namespace,
                view.describe(),
                clock::human(started.elapsed())
            ))
            .into());
        }
        if last_seen.as_deref() != Some(view.holder.as_str()) {
            report.info(&format!(
                "waiting for the cluster lock, held by {}",
                view.describe()
            ));
            last_seen = Some(view.holder.clone());
        }
        std::thread::sleep(POLL);
    }
}

impl Drop for ClusterLock {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.renewer.take() {
            let _ = t.join();
        }
        release(&self.inner);
        *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Deletes the Lease only if it is still the one this run wrote (its resourceVersion as the
/// precondition): a lock taken over by someone else is never released by us.
fn release(inner: &Inner) {
    if inner.released.load(Ordering::SeqCst) {
        return;
    }
    let ours = inner
        .lease
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let rv = ours["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let mut answer = delete_lease(inner, &rv);
    if matches!(answer, Ok(RawAnswer::Conflict)) {
        // A renewal whose answer was lost moved the resourceVersion on: if the lease still
        // names this run, it is ours to delete at its current version.
        if let Some(current) = still_ours(inner, &ours) {
            answer = delete_lease(inner, &current);
        }
    }
    match answer {
        Ok(RawAnswer::Conflict) => {
            inner.released.store(true, Ordering::SeqCst);
            eprintln!(
                "warning: the cluster lock had been taken over by another run; left it to them"
            );
        }
        Ok(_) => inner.released.store(true, Ordering::SeqCst),
        // Not released: it expires after its 30 s, or a run on this machine sees us gone.
        Err(_) => {}
    }
}

/// Deletes the Lease if its resourceVersion is still `rv`.
fn delete_lease(inner: &Inner, rv: &str) -> Result<RawAnswer> {
    let options = json!({
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "preconditions": {"resourceVersion": rv}
    });
    inner
        .kubectl
        .raw(RawVerb::Delete, &inner.path, Some(&options.to_string()))
}

/// Whether two versions of the Lease name the same holder (process and identity).
fn same_holder(a: &Value, b: &Value) -> bool {
    Holder::from_lease(a) == Holder::from_lease(b)
        && a["spec"]["holderIdentity"] == b["spec"]["holderIdentity"]
}

/// The Lease's current resourceVersion if it still names the holder of `ours`.
fn still_ours(inner: &Inner, ours: &Value) -> Option<String> {
    let Ok(RawAnswer::Ok(out)) = inner.kubectl.raw(RawVerb::Get, &inner.path, None) else {
        return None;
    };
    let current = parse(&out).ok()?;
    same_holder(&current, ours).then(|| {
        current["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_string)
    })?
}

/// Releases the running command's lock (for SIGINT/SIGTERM, which end the process without
/// unwinding). Returns whether a lock was held.
pub fn release_active() -> bool {
    let active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).take();
    match active {
        Some(inner) => {
            inner.stop.store(true, Ordering::SeqCst);
            release(&inner);
            inner.released.load(Ordering::SeqCst)
        }
        None => false,
    }
}
