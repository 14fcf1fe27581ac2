//! Who holds the lock: user, host and process, and whether that process, when it ran on this
//! very machine, has ended (so its lock can be taken over at once).

use serde_json::Value;

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

    pub(super) fn from_lease(lease: &Value) -> Holder {
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
    pub(super) fn gone_from_this_host(&self) -> bool {
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
}
