//! EBS volumes through the real `aws` CLI. The EC2 API creates one volume per call, so creates
//! and deletes run as bounded parallel processes; each create carries a client token so a
//! retried request cannot make a second volume. Credentials come from the usual AWS
//! environment and are never read or printed by esk.

use anyhow::{Context, Result};
use serde_json::Value;

use std::time::{Duration, Instant};

use super::process::{args, parallel_map, retry_note, Tool};
use super::retry::{classify, delay, in_use_delay, still_attached, Failure};
use super::{assert_owned, backup_of, disk_labels, owner_of, snapshot_labels, DiskAdapter};
use super::{CLUSTER_KEY, NAMESPACE_KEY};
use crate::domain::{Backup, Disk, DiskSource};
use crate::spec::Spec;

mod location;

pub const CSI_DRIVER: &str = crate::domain::EBS_CSI_DRIVER;
pub const TOPOLOGY_KEY: &str = "topology.kubernetes.io/zone";
/// How many aws processes run at once (each is a Python process of ~0.6 s).
const PARALLEL: usize = 8;

pub struct Aws {
    tool: Option<Tool>,
    spec: Spec,
    region: String,
    zone: String,
    /// The snapshot new volumes are made from (`create --from-backup`).
    restore: super::RestoreSource,
    /// Each node's zone when the cluster spreads over zones (else everything is in `zone`).
    placement: super::HeldPlacement,
}

/// The value of tag `key` on an EC2 resource (volume or snapshot) as the CLI prints it.
fn tag(resource: &Value, key: &str) -> Option<String> {
    resource["Tags"]
        .as_array()?
        .iter()
        .find(|t| t["Key"] == key)
        .and_then(|t| t["Value"].as_str().map(str::to_string))
}

impl Aws {
    pub fn zone(&self) -> &str {
        &self.zone
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    fn tool(&self) -> Result<&Tool> {
        self.tool
            .as_ref()
            .context("internal error: aws adapter used without aws")
    }

    fn ec2(&self, action: &str) -> Vec<String> {
        vec![
            "ec2".into(),
            action.into(),
            format!("--region={}", self.region),
            "--output=json".into(),
        ]
    }

    fn source(&self, volume_id: &str) -> DiskSource {
        DiskSource {
            kind: "csi".into(),
            driver: CSI_DRIVER.into(),
            handle: volume_id.into(),
            path: String::new(),
            topology_key: TOPOLOGY_KEY.into(),
            topology_value: self.zone.clone(),
        }
    }

    /// Node `i`'s availability zone: as placed over `--zones`, else the adapter's one zone.
    fn zone_of(&self, i: u8) -> String {
        self.placement
            .zone_of(i)
            .unwrap_or_else(|| self.zone.clone())
    }

    fn to_disk(&self, v: &Value) -> Option<Disk> {
        let id = v["VolumeId"].as_str()?.to_string();
        let tag = |k: &str| tag(v, k);
        let name = tag("Name").unwrap_or_else(|| id.clone());
        let (owner, node) = owner_of(&self.spec, tag);
        let replaced = super::replaced_of(tag);
        let node = if replaced.is_some() { None } else { node };
        let mut source = self.source(&id);
        // A volume can only attach in its own zone, whatever --zone says today.
        if let Some(az) = v["AvailabilityZone"].as_str() {
            source.topology_value = az.to_string();
        }
        Some(Disk {
            name,
            source,
            id,
            node,
            owner,
            replaced,
        })
    }

    fn describe(&self, filters: &[String]) -> Result<Vec<Disk>> {
        let mut a = self.ec2("describe-volumes");
        a.push("--filters".into());
        a.extend(filters.iter().cloned());
        let out = self.tool()?.run_retry(&a, None)?;
        let v: Value = serde_json::from_str(&out).context("aws printed invalid JSON")?;
        Ok(v["Volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["State"] != "deleting" && v["State"] != "deleted")
            .filter_map(|v| self.to_disk(v))
            .collect())
    }

    fn to_backup(&self, v: &Value) -> Option<Backup> {
        let id = v["SnapshotId"].as_str()?.to_string();
        let status = v["State"].as_str().unwrap_or_default().to_string();
        backup_of(&self.spec, id, status, |k| tag(v, k))
    }

    fn tag_list(&self, node: u8, name: &str, adopted: bool) -> Vec<(String, String)> {
        let mut tags: Vec<(String, String)> = disk_labels(&self.spec, node, adopted)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        tags.push(("Name".into(), name.into()));
        tags
    }
}

impl DiskAdapter for Aws {
    fn list(&self, names: &[String]) -> Result<Vec<Disk>> {
        let owned = vec![
            format!("Name=tag:{CLUSTER_KEY},Values={}", self.spec.name),
            format!("Name=tag:{NAMESPACE_KEY},Values={}", self.spec.namespace),
        ];
        let named = vec![format!("Name=tag:Name,Values={}", names.join(","))];
        let queries: Vec<&Vec<String>> = if names.is_empty() {
            vec![&owned]
        } else {
            vec![&owned, &named]
        };
        let mut disks = Vec::new();
        for result in parallel_map(&queries, 2, |f| self.describe(f)) {
            for d in result? {
                if !disks.iter().any(|x: &Disk| x.id == d.id) {
                    disks.push(d);
                }
            }
        }
        disks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(disks)
    }

    fn place(&self, placement: &crate::domain::Placement) {
        self.placement.set(placement);
    }

    fn planned_source(&self, name: &str, node: u8) -> DiskSource {
        // The volume id exists only once the volume does: `create` renders again with it, and
        // `render` shows what it will be made from.
        let mut s = self.source("");
        s.topology_value = self.zone_of(node);
        if self.tool.is_none() {
            s.handle = format!("pending-{name}");
        }
        s
    }

    fn create(&self, disks: &[(u8, String)]) -> Result<Vec<Disk>> {
        if disks.is_empty() {
            return Ok(Vec::new());
        }
        let p = &self.spec.profile;
        let size = p.u64("disk.sizeGb")?.to_string();
        let kind = p.str("disk.awsType")?;
        let run_id = run_id();
        let identity = format!("{}/{}", self.spec.namespace, self.spec.name);
        let tool = self.tool()?;
        let created = parallel_map(disks, PARALLEL, |(i, name)| -> Result<Disk> {
            let tags: Vec<String> = self
                .tag_list(*i, name, false)
                .into_iter()
                .map(|(k, v)| format!("{{Key={k},Value={v}}}"))
                .collect();
            let mut a = self.ec2("create-volume");
            a.extend([
                format!("--availability-zone={}", self.zone_of(*i)),
                format!("--size={size}"),
                format!("--volume-type={kind}"),
                format!(
                    "--tag-specifications=ResourceType=volume,Tags=[{}]",
                    tags.join(",")
                ),
                // Same token on a retry of this run's request: EC2 returns the same volume.
                format!("--client-token=esk-{:016x}-{i}-{run_id}", fnv1a(&identity)),
            ]);
            if let Some(snapshot) = self.restore.get() {
                a.push(format!("--snapshot-id={snapshot}"));
            }
            // The client token makes a retried create-volume return the volume the lost try
            // made, never a second one.
            let out = tool.run_retry(&a, None)?;
            let v: Value =
                serde_json::from_str(&out).context("aws create-volume printed invalid JSON")?;
            self.to_disk(&v)
                .with_context(|| format!("aws create-volume returned no volume for {name}"))
        });
        let mut ok = Vec::new();
        let mut errors = Vec::new();
        for r in created {
            match r {
                Ok(d) => ok.push(d),
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        if !ok.is_empty() {
            let mut a = args(["ec2", "wait", "volume-available"]);
            a.push(format!("--region={}", self.region));
            a.push("--volume-ids".into());
            a.extend(ok.iter().map(|d| d.id.clone()));
            tool.run_retry(&a, None)?;
        }
        if !errors.is_empty() {
            let made: Vec<&str> = ok.iter().map(|d| d.name.as_str()).collect();
            anyhow::bail!(
                "created {} of {} volumes ({}); failures:\n{}",
                ok.len(),
                disks.len(),
                made.join(", "),
                errors.join("\n")
            );
        }
        Ok(ok)
    }

    /// The replaced tag first, then the node tag goes: stopped in between, the volume has
    /// both and is read as replaced (a re-run removes the node tag).
    fn mark_replaced(&self, disk: &Disk, node: u8) -> Result<()> {
        let tool = self.tool()?;
        let mut a = self.ec2("create-tags");
        a.push(format!("--resources={}", disk.id));
        a.push("--tags".into());
        a.push(format!(
            "Key={},Value={}",
            super::REPLACED_KEY,
            crate::spec::member_label(node)
        ));
        tool.run_retry(&a, None)?;
        let mut a = self.ec2("delete-tags");
        a.push(format!("--resources={}", disk.id));
        a.push("--tags".into());
        a.push(format!("Key={}", super::NODE_KEY));
        tool.run_retry(&a, None)?;
        Ok(())
    }

    fn adopt(&self, disks: &[(u8, Disk)]) -> Result<()> {
        let tool = self.tool()?;
        let results = parallel_map(disks, PARALLEL, |(i, d)| {
            let mut a = self.ec2("create-tags");
            a.push(format!("--resources={}", d.id));
            a.push("--tags".into());
            a.extend(
                self.tag_list(*i, &d.name, true)
                    .into_iter()
                    .map(|(k, v)| format!("Key={k},Value={v}")),
            );
            tool.run_retry(&a, None)
        });
        results.into_iter().collect::<Result<Vec<_>>>()?;
        Ok(())
    }

    fn snapshot(&self, disk: &Disk, node: u8, name: &str) -> Result<Backup> {
        let tags: Vec<String> = snapshot_labels(&self.spec, node, name)
            .into_iter()
            .map(|(k, v)| format!("{{Key={k},Value={v}}}"))
            .chain([format!("{{Key=Name,Value={name}}}")])
            .collect();
        let mut a = self.ec2("create-snapshot");
        a.push(format!("--volume-id={}", disk.id));
        a.push(format!(
            "--description=esk backup {name} of {}/{} node {node}",
            self.spec.namespace, self.spec.name
        ));
        a.push(format!(
            "--tag-specifications=ResourceType=snapshot,Tags=[{}]",
            tags.join(",")
        ));
        let tool = self.tool()?;
        let out = tool.run_retry(&a, None)?;
        let v: Value =
            serde_json::from_str(&out).context("aws create-snapshot printed invalid JSON")?;
        let backup = self
            .to_backup(&v)
            .with_context(|| format!("aws made snapshot {name} without esk's tags"))?;
        let mut wait = args(["ec2", "wait", "snapshot-completed"]);
        wait.push(format!("--region={}", self.region));
        wait.push(format!("--snapshot-ids={}", backup.id));
        tool.run_retry(&wait, None)?;
        Ok(backup)
    }

    fn list_backups(&self) -> Result<Vec<Backup>> {
        // moto (and a real account) list public snapshots too: always filter by tag.
        let mut a = self.ec2("describe-snapshots");
        a.extend([
            "--owner-ids=self".to_string(),
            "--filters".to_string(),
            format!("Name=tag:{CLUSTER_KEY},Values={}", self.spec.name),
            format!("Name=tag:{NAMESPACE_KEY},Values={}", self.spec.namespace),
        ]);
        let out = self.tool()?.run_retry(&a, None)?;
        let v: Value = serde_json::from_str(&out).context("aws printed invalid JSON")?;
        Ok(v["Snapshots"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| self.to_backup(s))
            .collect())
    }

    fn delete_backups(&self, backups: &[Backup]) -> Result<()> {
        let tool = self.tool()?;
        let results = parallel_map(backups, PARALLEL, |b| {
            let mut a = self.ec2("delete-snapshot");
            a.push(format!("--snapshot-id={}", b.id));
            let out = tool.run(&a, None)?;
            // Seen as ours by this run, and EBS never reuses an id: gone is done.
            if out.success() || out.stderr.contains("InvalidSnapshot.NotFound") {
                Ok(())
            } else {
                Err(tool.failure(&a, &out))
            }
        });
        results.into_iter().collect::<Result<Vec<_>>>()?;
        Ok(())
    }

    fn restore_from(&self, backup: &Backup) -> Result<()> {
        self.restore.set(backup)
    }

    fn delete(&self, disks: &[Disk], detach: Duration) -> Result<()> {
        assert_owned(disks)?;
        let tool = self.tool()?;
        let results = parallel_map(disks, PARALLEL, |d| {
            // Each volume gets the whole detach time: they are deleted 8 at a time.
            let deadline = Instant::now() + detach;
            let mut a = self.ec2("delete-volume");
            a.push(format!("--volume-id={}", d.id));
            let (mut attempt, mut polls) = (1, 1);
            loop {
                let out = tool.run(&a, None)?;
                if out.success() {
                    return Ok(None);
                }
                // This run saw the volume as ours, and EBS never reuses an id: gone is done
                // (the CLI's own retry of a delete whose answer was lost finds it so).
                if out.stderr.contains("InvalidVolume.NotFound") {
                    return Ok(None);
                }
                match classify(&out.stderr) {
                    Failure::InUse if Instant::now() < deadline => {
                        retry_note("aws", polls, &out.stderr);
                        std::thread::sleep(in_use_delay(polls));
                        polls += 1;
                    }
                    Failure::InUse => return Ok(Some((d.clone(), out.stderr))),
                    Failure::Transient if attempt < tool.attempts() => {
                        retry_note("aws", attempt, &out.stderr);
                        std::thread::sleep(delay(attempt));
                        attempt += 1;
                    }
                    _ => return Err(tool.failure(&a, &out)),
                }
            }
        });
        let mut attached = Vec::new();
        let mut why = String::new();
        for r in results {
            if let Some((d, stderr)) = r? {
                attached.push(d);
                why = stderr;
            }
        }
        if attached.is_empty() {
            Ok(())
        } else {
            Err(still_attached(&attached, &why))
        }
    }
}

/// Distinguishes this run's client tokens from an earlier run's (EC2 remembers tokens, and a
/// token reused with other parameters is an error).
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", nanos & 0xffff_ffff_ffff, std::process::id())
}

/// A short stable digest of the cluster identity, keeping client tokens within EC2's 64 chars.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
