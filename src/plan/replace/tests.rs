//! The replacement plan's rules: the new disk's name and zone, resuming, and the refusals.

use super::*;
use crate::domain::{DiskSource, Owner};

fn member(index: u8, ok: bool, leader: bool) -> Member {
    Member {
        index,
        name: format!("es-{index}"),
        ok,
        leader,
    }
}

fn disk(name: &str, node: Option<u8>, replaced: Option<u8>) -> Disk {
    Disk {
        name: name.into(),
        id: String::new(),
        node,
        owner: Owner::This,
        replaced,
        source: DiskSource {
            kind: "csi".into(),
            driver: String::new(),
            handle: String::new(),
            path: String::new(),
            topology_key: String::new(),
            topology_value: "z-b".into(),
        },
    }
}

fn cluster<'a>(
    members: &'a [Member],
    disks: &'a [Disk],
    zones: &'a [String],
    replacing: Option<&'a Replacing>,
) -> Cluster<'a> {
    Cluster {
        name: "es",
        members,
        disks,
        disk_stem: "es-disk-2".into(),
        current_zone: "z-b".into(),
        zones,
        replacing,
        snapshot_of: Some(3),
        snapshot_name: "es-snap".into(),
    }
}

fn req(contents: Option<Contents>, force: bool) -> Request {
    Request {
        node: 2,
        zone: Some("z-c".into()),
        contents,
        force,
    }
}

#[test]
fn a_new_disk_beside_the_kept_one_and_a_resumed_run_reuses_it() {
    let members = [
        member(1, true, true),
        member(2, true, false),
        member(3, true, false),
    ];
    let zones: Vec<String> = ["z-a", "z-b", "z-c"].map(String::from).to_vec();
    let disks = [
        disk("es-disk-2", Some(2), None),
        disk("es-disk-2-r1", None, Some(2)),
    ];
    let p = plan(&cluster(&members, &disks, &zones, None), &req(None, false)).unwrap();
    assert_eq!(p.new_disk, "es-disk-2-r2");
    assert_eq!(p.zone, "z-c");
    assert_eq!(p.old.as_ref().map(|d| d.name.as_str()), Some("es-disk-2"));
    assert_eq!(
        p.contents,
        Contents::Snapshot {
            of: 3,
            name: "es-snap".into()
        }
    );
    let r = p.replacing();
    let again = plan(
        &cluster(&members, &disks, &zones, Some(&r)),
        &req(Some(Contents::Empty), false),
    )
    .unwrap();
    assert!(again.resumed);
    assert_eq!((again.new_disk, again.zone), (p.new_disk, p.zone));
    // A zone the cluster does not use is bad input.
    let mut bad = req(Some(Contents::Empty), false);
    bad.zone = Some("z-x".into());
    let e = plan(&cluster(&members, &disks, &zones, None), &bad).unwrap_err();
    assert!(e.downcast_ref::<UsageError>().is_some(), "{e}");
}

#[test]
fn refused_without_quorum_on_the_healthy_leader_and_without_a_leader_to_copy() {
    let zones: Vec<String> = Vec::new();
    let disks = [disk("es-disk-2", Some(2), None)];
    let mut one_zone = req(Some(Contents::Empty), false);
    one_zone.zone = None;
    // Node 3 down: node 2 going leaves one of three.
    let members = [
        member(1, true, true),
        member(2, true, false),
        member(3, false, false),
    ];
    let e = plan(&cluster(&members, &disks, &zones, None), &one_zone).unwrap_err();
    assert!(e.to_string().contains("without quorum") && e.to_string().contains("es-3"));
    one_zone.force = true;
    assert!(plan(&cluster(&members, &disks, &zones, None), &one_zone).is_ok());
    // The healthy leader.
    let members = [
        member(1, true, false),
        member(2, true, true),
        member(3, true, false),
    ];
    one_zone.force = false;
    let e = plan(&cluster(&members, &disks, &zones, None), &one_zone).unwrap_err();
    assert!(e.to_string().contains("resign first"), "{e}");
    // A lost node with no leader anywhere: nothing to snapshot.
    let members = [
        member(1, true, false),
        member(2, false, false),
        member(3, true, false),
    ];
    let mut fresh = one_zone.clone();
    fresh.contents = None;
    let e = plan(&cluster(&members, &disks, &zones, None), &fresh).unwrap_err();
    assert!(e.to_string().contains("--empty"), "{e}");
    // A one-zone cluster cannot move a node to another zone.
    let e = plan(
        &cluster(&members, &disks, &zones, None),
        &req(Some(Contents::Empty), false),
    )
    .unwrap_err();
    assert!(e.downcast_ref::<UsageError>().is_some(), "{e}");
}
