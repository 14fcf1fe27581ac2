//! The renewal thread of a held lock: it renews the Lease every third of its duration, notes
//! when another run took it over, and `check` stops the run before its next step when the
//! lock is lost or could not be renewed in time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::Value;

use super::{parse, same_holder, ClusterLock, Inner, ACTIVE, LEASE_SECONDS};
use crate::adapters::kubectl::{Kubectl, RawAnswer, RawVerb};
use crate::clock;
use crate::error::LockHeld;

pub(super) fn hold(kubectl: &Kubectl, path: String, lease: Value) -> ClusterLock {
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
                if !same_holder(&current, &next) {
                    anyhow::bail!("another run took over the cluster lock");
                }
                current
            }
            Ok(_) => anyhow::bail!("the cluster lock was deleted by another run"),
            Err(_) => return Ok(()),
        },
    };
    // Kept even when the run is stopping: the release deletes with this resourceVersion as
    // its precondition, and a renewal that landed while the run ended would otherwise leave
    // the release a stale one (409) and the lock behind.
    *inner.lease.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
    *inner.renewed.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
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
