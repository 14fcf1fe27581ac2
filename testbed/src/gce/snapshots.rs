//! Global snapshots: `snapshots.insert` (from `sourceDisk`, what `gcloud compute snapshots
//! create --source-disk` sends), `disks.createSnapshot` (`gcloud compute disks snapshot`), get,
//! list and delete. A snapshot is CREATING for the configured latency, then READY; a disk
//! inserted with `sourceSnapshot` takes its size from it and remembers it.

use super::paging::Page;
use super::values::{api_error, check_name, fingerprint, invalid, parse_body, parse_labels};
use super::values::{not_found, not_ready, timestamp, ApiError, ApiResult, Labels};
use super::{key, path, Key, State, LINK_BASE};
use crate::http::Request;
use serde_json::{json, Value};
use std::time::{Instant, SystemTime};

/// A snapshot as a test sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub project: String,
    pub name: String,
    pub id: u64,
    /// The source disk as (zone, name).
    pub source_disk: (String, String),
    pub disk_size_gb: u64,
    pub labels: Labels,
}

pub(super) struct SnapshotRecord {
    pub snapshot: Snapshot,
    source_disk_id: u64,
    created: String,
    ready_at: Instant,
    pub gone_at: Option<Instant>,
}

impl SnapshotRecord {
    fn status(&self) -> &'static str {
        super::status(self.ready_at, self.gone_at)
    }

    pub(super) fn render(&self) -> Value {
        let s = &self.snapshot;
        let (zone, disk) = &s.source_disk;
        let mut value = json!({
            "kind": "compute#snapshot", "id": s.id.to_string(), "name": s.name,
            "creationTimestamp": self.created, "status": self.status(),
            "diskSizeGb": s.disk_size_gb.to_string(), "storageBytes": "0",
            "storageBytesStatus": "UP_TO_DATE", "storageLocations": ["us"],
            "sourceDisk": format!("{LINK_BASE}{}", path(&key(&s.project, zone, disk), "disks")),
            "sourceDiskId": self.source_disk_id.to_string(),
            "selfLink": format!("{LINK_BASE}{}", path(&key(&s.project, "", &s.name), "snapshots")),
            "labelFingerprint": fingerprint(&s.labels), "snapshotType": "STANDARD",
        });
        if !s.labels.is_empty() {
            value["labels"] = json!(s.labels);
        }
        value
    }
}

/// (project, zone, disk) from a disk link or partial path ("…/projects/P/zones/Z/disks/D").
fn disk_of_link(link: &str) -> Option<(String, String, String)> {
    let rest = &link[link.find("projects/")?..];
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        ["projects", p, "zones", z, "disks", d] => {
            Some((p.to_string(), z.to_string(), d.to_string()))
        }
        _ => None,
    }
}

/// The snapshot name from a `sourceSnapshot` value: a link, "global/snapshots/S" or "S".
pub(super) fn snapshot_of_link(project: &str, link: &str) -> Key {
    let segments: Vec<&str> = link.split('/').collect();
    let name = segments.last().copied().unwrap_or_default();
    let p = segments
        .iter()
        .position(|s| *s == "projects")
        .and_then(|i| segments.get(i + 1))
        .copied()
        .unwrap_or(project);
    key(p, "", name)
}

impl State {
    pub(super) fn find_snapshot(&self, k: &Key) -> Result<&SnapshotRecord, ApiError> {
        self.snapshots
            .get(k)
            .ok_or_else(|| not_found(&path(k, "snapshots")))
    }

    /// `snapshots.insert`: the body names the snapshot and its `sourceDisk`.
    pub(super) fn insert_snapshot(&mut self, project: &str, body: &[u8]) -> ApiResult {
        let body = parse_body(body)?;
        let source = body["sourceDisk"].as_str().unwrap_or_default();
        let Some((p, z, d)) = disk_of_link(source) else {
            return Err(invalid(format!(
                "Invalid value for field 'resource.sourceDisk': '{source}'"
            )));
        };
        let (k, id) = self.make_snapshot(project, &key(&p, &z, &d), &body)?;
        Ok(self.start_operation("insert", &k, id, None))
    }

    /// `disks.createSnapshot`: the disk is in the path, the snapshot in the body.
    pub(super) fn disk_snapshot(&mut self, disk: &Key, body: &[u8]) -> ApiResult {
        let body = parse_body(body)?;
        let (_, id) = self.make_snapshot(&disk.0.clone(), disk, &body)?;
        // This one is a zonal operation on the disk.
        Ok(self.start_operation("createSnapshot", disk, id, None))
    }

    fn make_snapshot(
        &mut self,
        project: &str,
        disk: &Key,
        body: &Value,
    ) -> Result<(Key, u64), ApiError> {
        let name = body["name"].as_str().unwrap_or_default();
        check_name(name)?;
        let labels = parse_labels(&body["labels"])?;
        let record = self.find_disk(disk)?;
        if record.status() != "READY" {
            return Err(not_ready(&path(disk, "disks")));
        }
        let (size, disk_id) = (record.disk.size_gb, record.disk.id);
        let k = key(project, "", name);
        if self.snapshots.contains_key(&k) {
            let message = format!("The resource '{}' already exists", path(&k, "snapshots"));
            return Err(api_error(409, "alreadyExists", message));
        }
        self.seq += 1;
        let snapshot = Snapshot {
            project: project.to_string(),
            name: name.to_string(),
            id: 6_200_000_000_000_000_000 + self.seq * 104_729,
            source_disk: (disk.1.clone(), disk.2.clone()),
            disk_size_gb: size,
            labels,
        };
        let id = snapshot.id;
        let record = SnapshotRecord {
            snapshot,
            source_disk_id: disk_id,
            created: timestamp(SystemTime::now()),
            ready_at: Instant::now() + self.latency,
            gone_at: None,
        };
        self.snapshots.insert(k.clone(), record);
        Ok((k, id))
    }

    /// For [`super::GceEmulator::seed_snapshot`]: a snapshot made at once, no operation.
    pub(super) fn make_snapshot_for_test(&mut self, disk: &Key, body: &Value) -> Snapshot {
        match self.make_snapshot(&disk.0.clone(), disk, body) {
            Ok((k, _)) => self.snapshots[&k].snapshot.clone(),
            Err(e) => panic!("cannot seed snapshot: {}", e.message),
        }
    }

    pub(super) fn delete_snapshot(&mut self, k: &Key) -> ApiResult {
        let gone_at = Instant::now() + self.latency;
        let record = self
            .snapshots
            .get_mut(k)
            .ok_or_else(|| not_found(&path(k, "snapshots")))?;
        record.gone_at = Some(gone_at);
        let id = record.snapshot.id;
        Ok(self.start_operation("delete", k, id, None))
    }

    /// `snapshots.list`, paged like disks; `filter` is left to gcloud.
    pub(super) fn list_snapshots(&self, project: &str, req: &Request) -> ApiResult {
        let page = Page::of(req)?;
        let all: Vec<&SnapshotRecord> = self
            .snapshots
            .values()
            .filter(|r| r.snapshot.project == project)
            .collect();
        let items: Vec<Value> = page.of_items(&all).map(|r| r.render()).collect();
        let id = format!("projects/{project}/global/snapshots");
        let mut value = json!({
            "kind": "compute#snapshotList", "id": id, "items": items,
            "selfLink": format!("{LINK_BASE}{id}"),
        });
        page.link_next(&mut value, all.len());
        Ok(value)
    }

    /// The snapshot a disk insert names in `sourceSnapshot`, READY, with its size and id.
    pub(super) fn source_snapshot(
        &self,
        project: &str,
        link: &str,
    ) -> Result<(String, u64, u64), ApiError> {
        let k = snapshot_of_link(project, link);
        let record = self.find_snapshot(&k)?;
        if record.status() != "READY" {
            return Err(not_ready(&path(&k, "snapshots")));
        }
        Ok((
            k.2.clone(),
            record.snapshot.disk_size_gb,
            record.snapshot.id,
        ))
    }
}
