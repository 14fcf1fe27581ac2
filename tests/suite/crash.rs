//! The crash-point matrix: esk (and every CLI it runs) is killed with SIGKILL while the k-th
//! mutating request of a command is held by an emulator; the held request is then dropped or
//! carried out (a crash before or after the server saw it), and the same command is run
//! again. For every point: 0 duplicate, 0 leaked, 0 lost disks, the objects consistent with
//! the disks, and no manual step. Each scenario prints its points: one by default (the middle
//! request on the emulator where that command's crash hurts most, releases alternating
//! dropped/applied across scenarios), `ESK_CRASH_POINTS=spread` the middle request on both
//! emulators, `ESK_CRASH_FULL=1` every mutating request.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;
use testbed::Release;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Emulator {
    Gce,
    Kube,
}

struct Scenario {
    name: &'static str,
    /// Brings the bed to the state the command starts from.
    setup: fn(&TestBed),
    command: &'static [&'static str],
    /// Where the one default kill point goes: where a crash of this command hurts most.
    point: Emulator,
    /// Checks the bed after the command (re-)ran to the end; `before` are the disks (name,
    /// id) that existed after setup.
    expect: fn(&TestBed, &[(String, u64)]),
}

fn ok(bed: &TestBed, args: &[&str]) {
    esk_ok(bed, args);
}

fn gce_disks(bed: &TestBed) -> Vec<(String, u64)> {
    let mut d: Vec<(String, u64)> = bed
        .gce
        .disks()
        .into_iter()
        .map(|d| (d.name, d.id))
        .collect();
    d.sort();
    d
}

/// What holds for every point whatever the command: one disk per name, every PV's disk
/// exists, no Lease left behind.
fn consistent(bed: &TestBed, nodes: usize) {
    let disks = gce_disks(bed);
    let mut names: Vec<&String> = disks.iter().map(|(n, _)| n).collect();
    names.dedup();
    assert_eq!(names.len(), disks.len(), "duplicate disks: {disks:?}");
    let orphans = pvs_without_their_disk(bed);
    assert!(orphans.is_empty(), "{orphans:?}");
    let deployments = node_deployments(bed, "es");
    assert_eq!(deployments.len(), nodes, "node workloads");
    for d in &deployments {
        assert_eq!(env_value(d, "CLUSTER_SIZE"), Some(nodes.to_string()));
    }
    if nodes > 0 {
        let record = bed
            .kube
            .get("ConfigMap", Some("default"), "esk.es")
            .expect("record");
        assert_eq!(record["data"]["nodes"], nodes.to_string(), "{record}");
    }
    if let Some(lease) = bed.kube.get("Lease", Some("default"), "esk.es") {
        let requests = bed.kube.requests();
        let lease_calls: Vec<&String> = requests.iter().filter(|r| r.contains("leases")).collect();
        panic!("lock left: {lease}\nlease requests: {lease_calls:#?}");
    }
}

fn same_disks(before: &[(String, u64)], after: &[(String, u64)], names: &[&str]) {
    for n in names {
        let b = before.iter().find(|(x, _)| x == n);
        let a = after.iter().find(|(x, _)| x == n);
        assert!(a.is_some(), "disk {n} lost: {after:?}");
        if let (Some(b), Some(a)) = (b, a) {
            assert_eq!(b.1, a.1, "disk {n} was replaced");
        }
    }
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "create",
        setup: |_| {},
        command: &["create", "3"],
        point: Emulator::Gce,
        expect: |bed, _| {
            let names: Vec<String> = gce_disks(bed).into_iter().map(|(n, _)| n).collect();
            assert_eq!(names, ["es-disk-1", "es-disk-2", "es-disk-3"]);
            consistent(bed, 3);
        },
    },
    Scenario {
        name: "create --adopt-disks",
        setup: |bed| {
            for i in 1..=2 {
                bed.gce
                    .seed_disk("p", "us-central1-a", &format!("esdisk-{i}"), &[]);
            }
        },
        command: &["create", "3", "--adopt-disks", "esdisk-{i}"],
        point: Emulator::Kube,
        expect: |bed, before| {
            let after = gce_disks(bed);
            let names: Vec<&str> = after.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["esdisk-1", "esdisk-2", "esdisk-3"]);
            same_disks(before, &after, &["esdisk-1", "esdisk-2"]);
            for d in bed.gce.disks() {
                let node = d.name.trim_start_matches("esdisk-").to_string();
                assert_eq!(d.labels.get("esk-node"), Some(&node), "{d:?}");
                let adopted = d.labels.get("esk-adopted").map(String::as_str);
                assert_eq!(adopted == Some("true"), d.name != "esdisk-3", "{d:?}");
            }
            consistent(bed, 3);
        },
    },
    Scenario {
        name: "resize up",
        setup: |bed| ok(bed, &["create", "3"]),
        command: &["resize", "5"],
        point: Emulator::Gce,
        expect: |bed, before| {
            let after = gce_disks(bed);
            assert_eq!(after.len(), 5, "{after:?}");
            same_disks(before, &after, &["es-disk-1", "es-disk-2", "es-disk-3"]);
            consistent(bed, 5);
        },
    },
    Scenario {
        name: "resize down --prune-disks",
        setup: |bed| ok(bed, &["create", "5"]),
        command: &["resize", "3", "--prune-disks", "--yes"],
        point: Emulator::Gce,
        expect: |bed, before| {
            let after = gce_disks(bed);
            assert_eq!(after.len(), 3, "{after:?}");
            same_disks(before, &after, &["es-disk-1", "es-disk-2", "es-disk-3"]);
            consistent(bed, 3);
        },
    },
    Scenario {
        name: "delete --yes",
        setup: |bed| ok(bed, &["create", "3"]),
        command: &["delete", "--yes"],
        point: Emulator::Kube,
        expect: |bed, _| {
            assert!(gce_disks(bed).is_empty());
            assert!(all_esk_objects(bed, "es").is_empty());
            consistent(bed, 0);
        },
    },
    Scenario {
        name: "delete --keep-disks",
        setup: |bed| ok(bed, &["create", "3"]),
        command: &["delete", "--keep-disks"],
        point: Emulator::Kube,
        expect: |bed, before| {
            assert_eq!(gce_disks(bed), before);
            assert_eq!(all_esk_objects(bed, "es"), KEPT_WITH_DISKS);
            consistent(bed, 0);
        },
    },
];

/// How many mutating requests each emulator gets from the command on a clean run.
fn calibrate(s: &Scenario) -> (usize, usize) {
    let bed = TestBed::start();
    (s.setup)(&bed);
    let before = gce_disks(&bed);
    let (g, k) = (bed.gce.mutating_requests(), bed.kube.mutating_requests());
    ok(&bed, s.command);
    (s.expect)(&bed, &before);
    (
        bed.gce.mutating_requests() - g,
        bed.kube.mutating_requests() - k,
    )
}

/// How many kill points a scenario gets: `ESK_CRASH_FULL=1` every mutating request;
/// `ESK_CRASH_POINTS=spread` the middle request on each emulator; by default (CI) one point,
/// the middle request on the emulator the scenario names in `point`. Every point sets up a
/// fresh bed and runs the command twice, so each is a few seconds of gcloud CPU.
#[derive(Clone, Copy, PartialEq)]
enum Depth {
    One,
    Spread,
    Full,
}

fn depth() -> Depth {
    if std::env::var("ESK_CRASH_FULL").is_ok_and(|v| v == "1") {
        Depth::Full
    } else if std::env::var("ESK_CRASH_POINTS").is_ok_and(|v| v == "spread") {
        Depth::Spread
    } else {
        Depth::One
    }
}

/// The k values to kill at out of `count` requests on `on`.
fn points(s: &Scenario, on: Emulator, count: usize, depth: Depth) -> Vec<usize> {
    let ks: Vec<usize> = match depth {
        Depth::Full => (1..=count).collect(),
        // The middle request: on the cloud mid-batch; on the API server, with the lock and
        // roll calls around it, the apply or a delete.
        Depth::Spread => vec![count.div_ceil(2)],
        Depth::One if on == s.point => vec![count.div_ceil(2)],
        Depth::One => Vec::new(),
    };
    ks.into_iter().filter(|k| (1..=count).contains(k)).collect()
}

/// One point: hold the k-th mutating request at `on`, kill esk and its children, let the
/// request be dropped or done, then run the command again and check.
fn crash_at(s: &Scenario, on: Emulator, k: usize, how: Release) {
    let bed = TestBed::start();
    (s.setup)(&bed);
    let before = gce_disks(&bed);
    match on {
        Emulator::Gce => bed.gce.block_mutating_at(k),
        Emulator::Kube => bed.kube.block_mutating_at(k),
    }
    let mut child = bed
        .command(ESK)
        .args(s.command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start esk");
    let held = match on {
        Emulator::Gce => bed.gce.wait_blocked(Duration::from_secs(60)),
        Emulator::Kube => bed.kube.wait_blocked(Duration::from_secs(60)),
    };
    assert!(held, "{}: request {k} on {on:?} never came", s.name);
    // The whole process group: esk and the CLI it is running, as a crash would.
    let group = format!("-{}", child.id());
    let killed = std::process::Command::new("kill")
        .args(["-KILL", "--", &group])
        .status()
        .expect("kill");
    assert!(killed.success());
    let _ = child.wait();
    match on {
        Emulator::Gce => bed.gce.release(how),
        Emulator::Kube => bed.kube.release(how),
    };
    let out = esk(&bed, s.command);
    assert!(
        out.status.success(),
        "{}: the re-run after a kill at request {k} on {on:?} ({how:?}) failed:\n{}",
        s.name,
        text(&out)
    );
    (s.expect)(&bed, &before);
}

fn matrix(name: &str) {
    let s = SCENARIOS.iter().find(|s| s.name == name).expect("scenario");
    let (gce, kube) = calibrate(s);
    let depth = depth();
    // With one point a scenario, alternate the release across scenarios instead.
    let mut done = match depth {
        Depth::One => SCENARIOS.iter().position(|x| x.name == name).unwrap_or(0),
        _ => 0,
    };
    let first = done;
    for (on, count) in [(Emulator::Gce, gce), (Emulator::Kube, kube)] {
        for k in points(s, on, count, depth) {
            // Alternate across emulators too: with one point each, one drops and one applies.
            let how = if done % 2 == 0 {
                Release::Drop
            } else {
                Release::Apply
            };
            crash_at(s, on, k, how);
            done += 1;
        }
    }
    assert!(done > first, "{name}: no kill point on {:?}", s.point);
    println!(
        "crash matrix: {name}: {} kill points ({gce} GCE and {kube} Kubernetes mutating \
         requests), each re-run converged: 0 duplicate, 0 leaked, 0 lost disks",
        done - first
    );
}

#[test]
fn crash_points_in_create() {
    matrix("create");
}

#[test]
fn crash_points_in_create_adopting_disks() {
    matrix("create --adopt-disks");
}

#[test]
fn crash_points_in_resize_up() {
    matrix("resize up");
}

#[test]
fn crash_points_in_resize_down_pruning_disks() {
    matrix("resize down --prune-disks");
}

#[test]
fn crash_points_in_delete() {
    matrix("delete --yes");
}

#[test]
fn crash_points_in_delete_keeping_disks() {
    matrix("delete --keep-disks");
}
