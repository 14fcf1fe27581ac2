//! Which instances use a disk: the disk's `users` (instance links), its last attach and detach
//! times, and an optional detach that happens by itself later (as when Kubernetes detaches a
//! volume some time after its pod is gone). A disk with users cannot be deleted.

use super::values::{api_error, timestamp, ApiError};
use serde_json::{json, Value};
use std::time::{Instant, SystemTime};

#[derive(Clone, Debug, Default)]
pub(super) struct Users {
    /// Instance links, as in the disk's `users`.
    links: Vec<String>,
    detach_at: Option<Instant>,
    /// Refused deletes left before the disk detaches by itself (`refused_delete`).
    refusals_before_detach: Option<u32>,
    last_attach: Option<String>,
    last_detach: Option<String>,
}

impl Users {
    pub fn links(&self) -> &[String] {
        &self.links
    }

    pub fn attach(&mut self, instance_link: String) {
        if !self.links.contains(&instance_link) {
            self.links.push(instance_link);
        }
        self.detach_at = None;
        self.refusals_before_detach = None;
        self.last_attach = Some(timestamp(SystemTime::now()));
    }

    pub fn detach(&mut self) {
        if !self.links.is_empty() {
            self.links.clear();
            self.last_detach = Some(timestamp(SystemTime::now()));
        }
        self.detach_at = None;
        self.refusals_before_detach = None;
    }

    pub fn detach_at(&mut self, at: Instant) {
        self.detach_at = Some(at);
    }

    /// Detaches once `n` deletes were refused for the disk being in use: a release that
    /// comes after the caller has met the error, however slow the machine is.
    pub fn detach_after_refusals(&mut self, n: u32) {
        self.refusals_before_detach = Some(n);
    }

    /// Counts a delete refused with `in_use_error`.
    pub fn refused_delete(&mut self) {
        if let Some(n) = self.refusals_before_detach {
            if n <= 1 {
                self.detach();
                self.refusals_before_detach = None;
            } else {
                self.refusals_before_detach = Some(n - 1);
            }
        }
    }

    /// Lets a detach that is due take effect.
    pub fn settle(&mut self, now: Instant) {
        if self.detach_at.is_some_and(|t| t <= now) {
            self.detach();
        }
    }

    /// Adds `users`, `lastAttachTimestamp` and `lastDetachTimestamp` as the API shows them.
    pub fn render(&self, disk: &mut Value) {
        if !self.links.is_empty() {
            disk["users"] = json!(self.links);
        }
        if let Some(t) = &self.last_attach {
            disk["lastAttachTimestamp"] = json!(t);
        }
        if let Some(t) = &self.last_detach {
            disk["lastDetachTimestamp"] = json!(t);
        }
    }

    /// The error of `disks.delete` on a disk in use, HTTP 400 like the real API; `disk_path`
    /// is "projects/P/zones/Z/disks/D".
    pub fn in_use_error(&self, disk_path: &str) -> Option<ApiError> {
        let user = self.links.first()?;
        let user = user
            .split_once("/compute/v1/")
            .map_or(user.as_str(), |(_, p)| p);
        let message = format!("The disk resource '{disk_path}' is already being used by '{user}'");
        Some(api_error(400, "resourceInUseByAnotherResource", message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn in_use_until_detached() {
        let mut users = Users::default();
        assert!(users.in_use_error("projects/p/zones/z/disks/d").is_none());
        let link = "https://www.googleapis.com/compute/v1/projects/p/zones/z/instances/vm";
        users.attach(link.into());
        let error = users.in_use_error("projects/p/zones/z/disks/d");
        let error = error.expect("in use");
        assert_eq!(
            (error.status, error.reason.as_str()),
            (400, "resourceInUseByAnotherResource")
        );
        assert_eq!(
            error.message,
            "The disk resource 'projects/p/zones/z/disks/d' is already being used by \
             'projects/p/zones/z/instances/vm'"
        );
        let now = Instant::now();
        users.detach_at(now + Duration::from_secs(60));
        users.settle(now);
        assert_eq!(users.links(), [link]);
        users.settle(now + Duration::from_secs(60));
        assert!(users.links().is_empty());
        let mut disk = json!({});
        users.render(&mut disk);
        assert!(disk["users"].is_null() && disk["lastDetachTimestamp"].is_string());
    }

    #[test]
    fn detaches_after_the_nth_refused_delete() {
        let mut users = Users::default();
        users.attach("vm".into());
        users.detach_after_refusals(2);
        users.refused_delete();
        assert_eq!(users.links(), ["vm"]);
        users.refused_delete();
        assert!(users.links().is_empty());
    }
}
