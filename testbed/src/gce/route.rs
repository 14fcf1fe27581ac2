//! The calls the emulator serves, parsed from `/compute/v1/…` paths.

use super::values::parse_body;
use super::{key, Key};
use crate::http::Request;

/// The calls the emulator knows, parsed from `/compute/v1/…` paths.
pub(super) enum Route<'a> {
    Zone(&'a str, &'a str),
    List(&'a str, Option<&'a str>),
    Insert(&'a str, &'a str),
    Get(Key),
    Delete(Key),
    SetLabels(Key),
    Operation(Key),
    Wait(Key),
    /// Snapshots are global: keyed (project, "", name), as are global operations.
    SnapshotList(&'a str),
    SnapshotInsert(&'a str),
    SnapshotGet(Key),
    SnapshotDelete(Key),
    /// `disks.createSnapshot` (what `gcloud compute disks snapshot` sends).
    DiskSnapshot(Key),
}

pub(super) fn route<'a>(method: &str, path: &'a str) -> Option<Route<'a>> {
    let rest = path.strip_prefix("/compute/v1/")?.trim_end_matches('/');
    let segments: Vec<&str> = rest.split('/').collect();
    Some(match (method, segments.as_slice()) {
        ("GET", ["projects", p, "zones", z]) => Route::Zone(p, z),
        ("GET", ["projects", p, "aggregated", "disks"]) => Route::List(p, None),
        ("GET", ["projects", p, "zones", z, "disks"]) => Route::List(p, Some(z)),
        ("POST", ["projects", p, "zones", z, "disks"]) => Route::Insert(p, z),
        ("GET", ["projects", p, "zones", z, "disks", d]) => Route::Get(key(p, z, d)),
        ("DELETE", ["projects", p, "zones", z, "disks", d]) => Route::Delete(key(p, z, d)),
        ("POST", ["projects", p, "zones", z, "disks", d, "setLabels"]) => {
            Route::SetLabels(key(p, z, d))
        }
        ("GET", ["projects", p, "zones", z, "operations", o]) => Route::Operation(key(p, z, o)),
        ("POST", ["projects", p, "zones", z, "operations", o, "wait"]) => Route::Wait(key(p, z, o)),
        ("POST", ["projects", p, "zones", z, "disks", d, "createSnapshot"]) => {
            Route::DiskSnapshot(key(p, z, d))
        }
        ("GET", ["projects", p, "global", "snapshots"]) => Route::SnapshotList(p),
        ("POST", ["projects", p, "global", "snapshots"]) => Route::SnapshotInsert(p),
        ("GET", ["projects", p, "global", "snapshots", s]) => Route::SnapshotGet(key(p, "", s)),
        ("DELETE", ["projects", p, "global", "snapshots", s]) => {
            Route::SnapshotDelete(key(p, "", s))
        }
        ("GET", ["projects", p, "global", "operations", o]) => Route::Operation(key(p, "", o)),
        ("POST", ["projects", p, "global", "operations", o, "wait"]) => Route::Wait(key(p, "", o)),
        _ => return None,
    })
}

/// The operation type and target of an insert, delete, setLabels or createSnapshot (a
/// snapshot's key has an empty zone).
pub(super) fn mutation(req: &Request, route: &Route) -> Option<(&'static str, Key)> {
    match route {
        Route::Insert(p, z) => {
            let body = parse_body(&req.body).unwrap_or_default();
            Some((
                "insert",
                key(p, z, body["name"].as_str().unwrap_or_default()),
            ))
        }
        Route::Delete(k) => Some(("delete", k.clone())),
        Route::SetLabels(k) => Some(("setLabels", k.clone())),
        Route::SnapshotInsert(p) => {
            let body = parse_body(&req.body).unwrap_or_default();
            Some((
                "insert",
                key(p, "", body["name"].as_str().unwrap_or_default()),
            ))
        }
        Route::SnapshotDelete(k) => Some(("delete", k.clone())),
        Route::DiskSnapshot(k) => Some(("createSnapshot", k.clone())),
        _ => None,
    }
}
