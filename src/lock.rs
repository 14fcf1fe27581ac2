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

/// How long a lease lasts without renewal; renewed every third of it.
pub const LEASE_SECONDS: u64 = 30;
/// How often a waiting run looks again.
const POLL: Duration = Duration::from_millis(500);
/// The label that says which cluster a lock belongs to (not the cluster's own labels, so that
/// deleting the cluster's objects never deletes the lock that run holds).
pub const LOCK_LABEL: &str = "esk.io/lock-of";

/// Who is asking: enough for another user to see who holds the lock and since when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub user: String,
    pub host: String,
    pub pid: u32,
    /// The process's start time (clock ticks since boot), so a reused pid is not mistaken
    /// for the holder.
    pub pid_start: String,
    /// This boot of this machine and its pid namespace: the same hostname is not the same
    /// process table (containers, host-network pods, twin CI runners).
    pub boot_id: String,
    pub pid_ns: String,
    pub command: String,
}

impl Holder {
    /// This process.
    pub fn me(command: &str) -> Holder {
        let pid = std::process::id();
        Holder {
            user: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| "unknown".into()),
            host: hostname(),
            pid,
            pid_start: process_start(pid).unwrap_or_default(),
            boot_id: boot_id(),
            pid_ns: pid_namespace(),
            command: command.chars().take(200).collect(),
        }
    }

    /// `holderIdentity`: user@host pid N.
    pub fn identity(&self) -> String {
        format!("{}@{} pid {}", self.user, self.host, self.pid)
    }

    fn from_lease(lease: &Value) -> Holder {
        let a = &lease["metadata"]["annotations"];
        let s = |k: &str| a[k].as_str().unwrap_or_default().to_string();
        Holder {
            user: s("esk.io/user"),
            host: s("esk.io/host"),
            pid: s("esk.io/pid").parse().unwrap_or(0),
            pid_start: s("esk.io/pid-start"),
            boot_id: s("esk.io/boot-id"),
            pid_ns: s("esk.io/pid-ns"),
            command: s("esk.io/command"),
        }
    }

    /// Whether this holder is a process of this very process table (same host, boot, pid
    /// namespace and user, so /proc shows it if it runs) that has ended.
    fn gone_from_this_host(&self) -> bool {
        let me = Holder::me("");
        let same_table = !self.host.is_empty()
            && self.host == me.host
            && !self.boot_id.is_empty()
            && self.boot_id == me.boot_id
            && !self.pid_ns.is_empty()
            && self.pid_ns == me.pid_ns
            && self.user == me.user;
        if !same_table || self.pid == 0 || self.pid_start.is_empty() {
            return false;
        }
        process_start(self.pid).is_none_or(|start| start != self.pid_start)
    }
}

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
    fn of(lease: &Value, now: i64) -> LeaseView {
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

    fn describe(&self) -> String {
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
struct Watch {
    seen: Option<(String, Instant)>,
}

impl Watch {
    /// Notes the lease's resourceVersion; true once it has stood still for `duration`.
    fn stale(&mut self, rv: &str, duration: Duration) -> bool {
        match &self.seen {
            Some((seen, since)) if seen == rv => since.elapsed() >= duration,
            _ => {
                self.seen = Some((rv.to_string(), Instant::now()));
                false
            }
        }
    }
}

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

fn hold(kubectl: &Kubectl, path: String, lease: Value) -> ClusterLock {
    let inner = Arc::new(Inner {
        kubectl: kubectl.clone(),
        path,
        lease: Mutex::new(lease),
        lost: Mutex::new(None),
        renewed: Mutex::new(Instant::now()),
        stop: AtomicBool::new(false),
        released: AtomicBool::new(false),
    });
    *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(inner.clone());
    let renewing = inner.clone();
    let renewer = std::thread::spawn(move || renew_until_stopped(&renewing));
    ClusterLock {
        inner,
        renewer: Some(renewer),
    }
}

fn renew_until_stopped(inner: &Inner) {
    let every = Duration::from_secs(LEASE_SECONDS / 3);
    let mut since = Instant::now();
    while !inner.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if since.elapsed() < every {
            continue;
        }
        since = Instant::now();
        if let Err(e) = renew(inner) {
            *inner.lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{e:#}"));
            return;
        }
    }
}

fn renew(inner: &Inner) -> Result<()> {
    // The call runs without holding the lease: the interrupt handler must be able to read it.
    let mut next = inner
        .lease
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    next["spec"]["renewTime"] = clock::format_micros(clock::now_micros()).into();
    if let Some(meta) = next["metadata"].as_object_mut() {
        meta.remove("managedFields");
    }
    let answer = inner
        .kubectl
        .raw(RawVerb::Replace, &inner.path, Some(&next.to_string()));
    let fresh = match answer {
        Ok(RawAnswer::Ok(out)) => parse(&out)?,
        // A failed call is not a lost lock: the next try may work, and `check` stops the run
        // if none does in time.
        Err(_) => return Ok(()),
        // Our renewal may have gone through with its answer lost: only a lease now held by
        // someone else is lost.
        Ok(_) => match inner.kubectl.raw(RawVerb::Get, &inner.path, None) {
            Ok(RawAnswer::Ok(out)) => {
                let current = parse(&out)?;
                if Holder::from_lease(&current) != Holder::from_lease(&next)
                    || current["spec"]["holderIdentity"] != next["spec"]["holderIdentity"]
                {
                    anyhow::bail!("another run took over the cluster lock");
                }
                current
            }
            Ok(_) => anyhow::bail!("the cluster lock was deleted by another run"),
            Err(_) => return Ok(()),
        },
    };
    if !inner.stop.load(Ordering::SeqCst) {
        *inner.lease.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
        *inner.renewed.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }
    Ok(())
}

/// Past this without a renewal the run stops itself: well before the lease's 30 s are up.
const RENEW_DEADLINE: Duration = Duration::from_secs(LEASE_SECONDS * 2 / 3);

impl ClusterLock {
    /// Fails if the lock was lost (taken over after esk could not renew it): the run must stop
    /// before its next step.
    pub fn check(&self) -> Result<()> {
        if let Some(why) = &*self.inner.lost.lock().unwrap_or_else(|e| e.into_inner()) {
            return Err(LockHeld::new(format!("lost the cluster lock: {why}")).into());
        }
        let since = self
            .inner
            .renewed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed();
        if since > RENEW_DEADLINE {
            return Err(LockHeld::new(format!(
                "could not renew the cluster lock for {}; stopping before another run may take \
                 it over (re-running resumes)",
                clock::human(since)
            ))
            .into());
        }
        Ok(())
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
    let rv = inner.lease.lock().unwrap_or_else(|e| e.into_inner())["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let options = json!({
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "preconditions": {"resourceVersion": rv}
    });
    match inner
        .kubectl
        .raw(RawVerb::Delete, &inner.path, Some(&options.to_string()))
    {
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

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|b| b.trim().to_string())
        .unwrap_or_default()
}

fn pid_namespace() -> String {
    std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.
fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_pid_is_gone() {
        let me = Holder::me("create 3");
        assert!(!me.gone_from_this_host(), "{me:?}");
        let dead = Holder {
            pid: 0x3fff_fff0,
            ..me.clone()
        };
        assert!(dead.gone_from_this_host());
        let reused = Holder {
            pid_start: "1".into(),
            ..me.clone()
        };
        assert!(
            reused.gone_from_this_host(),
            "a reused pid is not the holder"
        );
        let other_container = Holder {
            pid_ns: "pid:[1]".into(),
            pid: 0x3fff_fff0,
            ..me.clone()
        };
        assert!(
            !other_container.gone_from_this_host(),
            "another pid namespace's pids are not ours to judge"
        );
        let elsewhere = Holder {
            host: "another-machine".into(),
            pid: 0x3fff_fff0,
            ..me
        };
        assert!(
            !elsewhere.gone_from_this_host(),
            "only this machine's pids are known"
        );
    }

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
