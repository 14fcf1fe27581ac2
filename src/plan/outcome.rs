//! What carrying out a plan did: the disks and objects it touched and the nodes it restarted,
//! for the summary line, `-o json` and the interrupt message.

/// What was done, for the summary line.
#[derive(Debug, Default)]
pub struct Outcome {
    pub disks_created: Vec<String>,
    pub disks_adopted: Vec<String>,
    pub disks_deleted: Vec<String>,
    pub disks_kept: Vec<String>,
    /// Claims grown in place, each now holding the size asked for.
    pub disks_grown: Vec<String>,
    /// Claims an earlier esk made without a class, re-made with esk's.
    pub claims_migrated: Vec<String>,
    pub objects_deleted: usize,
    pub objects_applied: usize,
    /// Nodes restarted one at a time, in order.
    pub restarted: Vec<String>,
    /// A certificate rotation finished its last phase.
    pub rotated: bool,
}

impl Outcome {
    /// What was changed so far, in one line.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut list = |what: &str, names: &[String]| {
            if !names.is_empty() {
                parts.push(format!("{what} {}", names.join(", ")));
            }
        };
        list("created disks", &self.disks_created);
        list("adopted disks", &self.disks_adopted);
        list("deleted disks", &self.disks_deleted);
        list(
            "re-made claims with esk's StorageClass",
            &self.claims_migrated,
        );
        list("grew claims", &self.disks_grown);
        if self.objects_deleted > 0 {
            parts.push(format!("deleted {} object(s)", self.objects_deleted));
        }
        if self.objects_applied > 0 {
            parts.push(format!("applied {} object(s)", self.objects_applied));
        }

        if !self.restarted.is_empty() {
            parts.push(format!("restarted {}", self.restarted.join(", ")));
        }
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join("; ")
        }
    }
}
