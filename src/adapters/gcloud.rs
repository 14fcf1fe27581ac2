//! GCE persistent disks through the real `gcloud` CLI. One list, one batched create, one
//! batched delete: gcloud sends the per-disk requests in a single batch HTTP call and waits for
//! their operations together, so 20 disks cost about what one does.

use anyhow::{Context, Result};
use serde_json::Value;

use std::time::{Duration, Instant};

use super::process::{args, parallel_map, retry_note, Output, Tool};
use super::retry::{classify, delay, in_use_delay, still_attached, Failure, ATTEMPTS};
use super::{assert_owned, backup_of, disk_labels, owner_of, snapshot_labels};
use super::{DiskAdapter, CLUSTER_KEY};
use crate::domain::{Backup, Disk, DiskSource};
use crate::spec::Spec;

mod location;

pub use location::location_without_io;

pub const CSI_DRIVER: &str = crate::domain::GKE_CSI_DRIVER;
pub const TOPOLOGY_KEY: &str = "topology.gke.io/zone";

pub struct Gcloud {
    tool: Option<Tool>,
    spec: Spec,
    project: String,
    zone: String,
    /// The snapshot new disks are made from (`create --from-backup`).
    restore: super::RestoreSource,
    /// Each node's zone when the cluster spreads over zones (else everything is in `zone`).
    placement: super::HeldPlacement,
}

impl Gcloud {
    pub fn zone(&self) -> &str {
        &self.zone
    }

    fn tool(&self) -> Result<&Tool> {
        self.tool
            .as_ref()
            .context("internal error: gcloud adapter used without gcloud")
    }

    fn scope(&self, zone: &str) -> Vec<String> {
        vec![
            format!("--project={}", self.project),
            format!("--zone={zone}"),
        ]
    }

    /// Node `i`'s zone: as placed over `--zones`, else the adapter's one zone.
    fn zone_of(&self, i: u8) -> String {
        self.placement
            .zone_of(i)
            .unwrap_or_else(|| self.zone.clone())
    }

    /// The zones whose disks `list` reads: the placement's when it spreads, else the one.
    fn list_zones(&self) -> Vec<String> {
        let mut zones = self.placement.zones();
        if !zones.contains(&self.zone) {
            zones.insert(0, self.zone.clone());
        }
        zones
    }

    fn source(&self, name: &str, zone: &str) -> DiskSource {
        DiskSource {
            kind: "csi".into(),
            driver: CSI_DRIVER.into(),
            handle: format!("projects/{}/zones/{zone}/disks/{name}", self.project),
            path: String::new(),
            topology_key: TOPOLOGY_KEY.into(),
            topology_value: zone.to_string(),
        }
    }

    fn to_disk(&self, item: &Value) -> Option<Disk> {
        let name = item["name"].as_str()?.to_string();
        // A disk is where the cloud says it is (`zone` is its zone's URL).
        let zone = item["zone"]
            .as_str()
            .and_then(|z| z.rsplit('/').next())
            .filter(|z| !z.is_empty())
            .unwrap_or(&self.zone)
            .to_string();
        let labels = &item["labels"];
        let get = |k: &str| labels[k].as_str().map(str::to_string);
        let (owner, node) = owner_of(&self.spec, get);
        let replaced = super::replaced_of(get);
        // A replaced disk keeps its old name, which must not give it its node back.
        let node = match replaced {
            Some(_) => None,
            None => node.or_else(|| node_from_default_name(&self.spec, &name)),
        };
        Some(Disk {
            id: item["id"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| item["id"].to_string()),
            source: self.source(&name, &zone),
            name,
            node,
            owner,
            replaced,
        })
    }

    fn to_backup(&self, v: &Value) -> Option<Backup> {
        let labels = &v["labels"];
        let status = v["status"].as_str().unwrap_or_default().to_string();
        let id = v["name"].as_str()?.to_string();
        backup_of(&self.spec, id, status, |k| {
            labels[k].as_str().map(str::to_string)
        })
    }

    /// Labels each disk for its node; `add-labels` takes one disk a call.
    fn add_labels(&self, disks: &[(u8, Disk)], adopted: bool) -> Result<()> {
        let tool = self.tool()?;
        let results = parallel_map(disks, 4, |(i, d)| {
            let labels: Vec<String> = disk_labels(&self.spec, *i, adopted)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let mut a = args(["compute", "disks", "add-labels", &d.name]);
            a.extend(self.scope(&d.source.topology_value));
            a.push(format!("--labels={}", labels.join(",")));
            tool.run_retry(&a, None)
        });
        results.into_iter().collect::<Result<Vec<_>>>()?;
        Ok(())
    }

    fn parse_disks(&self, json: &str) -> Result<Vec<Disk>> {
        if json.trim().is_empty() {
            return Ok(Vec::new());
        }
        let v: Value = serde_json::from_str(json).context("gcloud printed invalid JSON")?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| self.to_disk(i))
            .collect())
    }
}

impl Gcloud {
    /// Creates `disks`, all in `zone`, in one batched call.
    fn create_in(&self, zone: &str, disks: &[(u8, String)]) -> Result<Vec<Disk>> {
        if disks.is_empty() {
            return Ok(Vec::new());
        }
        let p = &self.spec.profile;
        let labels: Vec<String> = disk_labels(&self.spec, 0, false)
            .into_iter()
            .filter(|(k, _)| *k != super::NODE_KEY)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut a = args(["compute", "disks", "create"]);
        a.extend(disks.iter().map(|(_, n)| n.clone()));
        a.extend(self.scope(zone));
        a.push(format!("--size={}GB", p.u64("disk.sizeGb")?));
        a.push(format!("--type={}", p.str("disk.gkeType")?));
        a.push(format!("--labels={}", labels.join(",")));
        if let Some(snapshot) = self.restore.get() {
            a.push(format!("--source-snapshot={snapshot}"));
        }
        a.push("--format=json".into());
        let mut created = self.create_checked(&a, disks)?;
        // A disk named by an --adopt-disks pattern cannot carry its node in its name, so it
        // gets its node label the slow way, one call each.
        let unnamed: Vec<(u8, Disk)> = created
            .iter()
            .filter(|d| d.node.is_none())
            .filter_map(|d| {
                let (i, _) = disks.iter().find(|(_, n)| *n == d.name)?;
                Some((*i, d.clone()))
            })
            .collect();
        self.add_labels(&unnamed, false)?;
        for d in &mut created {
            if let Some((i, _)) = unnamed.iter().find(|(_, u)| u.name == d.name) {
                d.node = Some(*i);
            }
        }
        Ok(created)
    }

    /// Runs a batched create; when it fails transiently, looks by name at what it made (an
    /// insert whose answer was lost may have succeeded) and creates only the rest, so a retry
    /// can never make a second disk or fail on the first one's "already exists".
    fn create_checked(&self, create: &[String], disks: &[(u8, String)]) -> Result<Vec<Disk>> {
        let tool = self.tool()?;
        let mut made: Vec<Disk> = Vec::new();
        let mut missing: Vec<String> = disks.iter().map(|(_, n)| n.clone()).collect();
        let mut attempt = 1;
        loop {
            // The disk names follow "create"; everything else of the call stays the same.
            let mut a: Vec<String> = create[..3].to_vec();
            a.extend(missing.iter().cloned());
            a.extend(create[3 + disks.len()..].iter().cloned());
            let out = tool.run(&a, None)?;
            if out.success() {
                made.extend(self.parse_disks(&out.stdout)?);
                return Ok(made);
            }
            let transient = matches!(classify(&out.stderr), Failure::Transient)
                || out.stderr.contains("alreadyExists")
                || out.stderr.contains("already exists");
            if !transient || attempt >= ATTEMPTS {
                return Err(tool.failure(&a, &out));
            }
            retry_note("gcloud", attempt, &out.stderr);
            let found = self.list(&missing)?;
            if let Some(f) = found.iter().find(|d| !d.owner.is_ours()) {
                return Err(tool.failure(&a, &out).context(format!(
                    "disk {} appeared while esk was creating it, and is not this cluster's",
                    f.name
                )));
            }
            made.extend(found.iter().cloned());
            missing.retain(|n| !found.iter().any(|d| &d.name == n));
            if missing.is_empty() {
                return Ok(made);
            }
            std::thread::sleep(delay(attempt));
            attempt += 1;
        }
    }
}

/// Disks esk creates are named `<cluster>-disk-<i>`; the batched create cannot give each its
/// own node label, so the node comes from the name.
fn node_from_default_name(spec: &Spec, name: &str) -> Option<u8> {
    name.strip_prefix(&format!("{}-disk-", spec.name))?
        .parse()
        .ok()
}

impl DiskAdapter for Gcloud {
    fn list(&self, names: &[String]) -> Result<Vec<Disk>> {
        // gcloud's filter language will not mix a parenthesised AND with OR, so the filter
        // only narrows the list; ownership (cluster, namespace, managed-by) is decided here.
        let mut filter = format!("labels.{CLUSTER_KEY}={}", self.spec.name);
        if !names.is_empty() {
            // Names are validated DNS labels: no regex metacharacters beyond '-'.
            filter.push_str(&format!(" OR name~'^({})$'", names.join("|")));
        }
        let mut a = args(["compute", "disks", "list", "--format=json"]);
        a.push(format!("--project={}", self.project));
        a.push(format!("--zones={}", self.list_zones().join(",")));
        a.push(format!("--filter={filter}"));
        let tool = self.tool()?;
        // A failed list still exits 0 and prints `[]`, with only a warning on stderr; taking
        // that for "no disks" would make esk create disks that exist.
        let failed =
            |o: &Output| !o.success() || o.stderr.contains("Some requests did not succeed");
        let mut out = tool.run_with_retries(&a, None, |o| {
            failed(o) && classify(&o.stderr) == Failure::Transient
        })?;
        if failed(&out) {
            if out.code == Some(0) {
                out.code = Some(1);
            }
            return Err(tool.failure(&a, &out));
        }
        let disks = self.parse_disks(&out.stdout)?;
        Ok(disks
            .into_iter()
            .filter(|d| d.owner.is_ours() || names.contains(&d.name))
            .collect())
    }

    fn planned_source(&self, name: &str, node: u8) -> DiskSource {
        self.source(name, &self.zone_of(node))
    }

    fn place(&self, placement: &crate::domain::Placement) {
        self.placement.set(placement);
    }

    /// One batched create per zone, the zones in parallel.
    fn create(&self, disks: &[(u8, String)]) -> Result<Vec<Disk>> {
        let mut by_zone: Vec<(String, Vec<(u8, String)>)> = Vec::new();
        for (i, name) in disks {
            let zone = self.zone_of(*i);
            match by_zone.iter_mut().find(|(z, _)| *z == zone) {
                Some((_, group)) => group.push((*i, name.clone())),
                None => by_zone.push((zone, vec![(*i, name.clone())])),
            }
        }
        let mut created = Vec::new();
        let mut errors = Vec::new();
        for r in parallel_map(&by_zone, by_zone.len().max(1), |(zone, group)| {
            self.create_in(zone, group)
        }) {
            match r {
                Ok(made) => created.extend(made),
                Err(e) => errors.push(e),
            }
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(created),
        }
    }

    fn adopt(&self, disks: &[(u8, Disk)]) -> Result<()> {
        self.add_labels(disks, true)
    }

    fn label_nodes(&self, disks: &[(u8, Disk)]) -> Result<()> {
        self.add_labels(disks, false)
    }

    /// One `disks update`: gcloud reads the label fingerprint and sends setLabels with it.
    fn mark_replaced(&self, disk: &Disk, node: u8) -> Result<()> {
        let mut a = args(["compute", "disks", "update", &disk.name]);
        a.extend(self.scope(&disk.source.topology_value));
        a.push(format!(
            "--update-labels={}={}",
            super::REPLACED_KEY,
            crate::spec::member_label(node)
        ));
        a.push(format!("--remove-labels={}", super::NODE_KEY));
        self.tool()?.run_retry(&a, None)?;
        Ok(())
    }

    fn snapshot(&self, disk: &Disk, node: u8, name: &str) -> Result<Backup> {
        let labels: Vec<String> = snapshot_labels(&self.spec, node, name)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut a = args(["compute", "snapshots", "create", name]);
        a.push(format!("--project={}", self.project));
        a.push(format!("--source-disk={}", disk.name));
        a.push(format!("--source-disk-zone={}", disk.source.topology_value));
        a.push(format!("--labels={}", labels.join(",")));
        a.push("--format=json".into());
        let out = self.tool()?.run_retry(&a, None)?;
        let v: Value = serde_json::from_str(&out).context("gcloud printed invalid JSON")?;
        self.to_backup(&v)
            .with_context(|| format!("gcloud made snapshot {name} without esk's labels"))
    }

    fn list_backups(&self) -> Result<Vec<Backup>> {
        let mut a = args(["compute", "snapshots", "list", "--format=json"]);
        a.push(format!("--project={}", self.project));
        // Narrows the list only; ownership is decided from every label, here.
        a.push(format!("--filter=labels.{CLUSTER_KEY}={}", self.spec.name));
        let out = self.tool()?.run_retry(&a, None)?;
        if out.trim().is_empty() {
            return Ok(Vec::new());
        }
        let v: Value = serde_json::from_str(&out).context("gcloud printed invalid JSON")?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| self.to_backup(s))
            .collect())
    }

    fn delete_backups(&self, backups: &[Backup]) -> Result<()> {
        if backups.is_empty() {
            return Ok(());
        }
        let mut a = args(["compute", "snapshots", "delete"]);
        a.extend(backups.iter().map(|b| b.id.clone()));
        a.push(format!("--project={}", self.project));
        a.push("--quiet".into());
        self.tool()?.run_retry(&a, None)?;
        Ok(())
    }

    fn restore_from(&self, backup: &Backup) -> Result<()> {
        self.restore.set(backup)
    }

    fn delete(&self, disks: &[Disk], detach: Duration) -> Result<()> {
        assert_owned(disks)?;
        let mut by_zone: Vec<(String, Vec<Disk>)> = Vec::new();
        for d in disks {
            let zone = Some(d.source.topology_value.clone())
                .filter(|z| !z.is_empty())
                .unwrap_or_else(|| self.zone.clone());
            match by_zone.iter_mut().find(|(z, _)| *z == zone) {
                Some((_, group)) => group.push(d.clone()),
                None => by_zone.push((zone, vec![d.clone()])),
            }
        }
        for r in parallel_map(&by_zone, by_zone.len().max(1), |(zone, group)| {
            self.delete_in(zone, group, detach)
        }) {
            r?;
        }
        Ok(())
    }
}

impl Gcloud {
    /// Deletes `disks`, all in `zone`, in batched calls until none is left.
    fn delete_in(&self, zone: &str, disks: &[Disk], detach: Duration) -> Result<()> {
        if disks.is_empty() {
            return Ok(());
        }
        assert_owned(disks)?;
        let tool = self.tool()?;
        let deadline = Instant::now() + detach;
        let mut remaining: Vec<Disk> = disks.to_vec();
        let (mut attempt, mut polls) = (1, 1);
        loop {
            let mut a = args(["compute", "disks", "delete"]);
            a.extend(remaining.iter().map(|d| d.name.clone()));
            a.extend(self.scope(zone));
            a.push("--quiet".into());
            let out = tool.run(&a, None)?;
            if out.success() {
                return Ok(());
            }
            // Part of a batch may have gone through: try again only for what is left.
            let names: Vec<String> = remaining.iter().map(|d| d.name.clone()).collect();
            let left = self.list(&names)?;
            remaining.retain(|d| left.iter().any(|l| l.name == d.name && l.owner == d.owner));
            if remaining.is_empty() {
                return Ok(());
            }
            match classify(&out.stderr) {
                Failure::InUse if Instant::now() < deadline => {
                    retry_note("gcloud", polls, &out.stderr);
                    std::thread::sleep(in_use_delay(polls));
                    polls += 1;
                }
                Failure::InUse => return Err(still_attached(&remaining, &out.stderr)),
                Failure::Transient if attempt < ATTEMPTS => {
                    retry_note("gcloud", attempt, &out.stderr);
                    std::thread::sleep(delay(attempt));
                    attempt += 1;
                }
                _ => return Err(tool.failure(&a, &out)),
            }
        }
    }
}
