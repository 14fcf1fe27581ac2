//! A seeded, bounded soak: random creates, resizes (up and down), deletes with and without
//! --keep-disks, re-runs and concurrent pairs, with random injected faults and kills. After
//! every step: no disk lost, none duplicated or leaked, nothing foreign touched, every PV's
//! disk exists, and a step that succeeded left the cluster it asked for.
//!
//! `ESK_SOAK_OPS` sets the number of operations (CI runs a few; 200 is the full soak) and
//! `ESK_SOAK_SEED` the seed; both are printed, so a failure can be replayed.

use std::collections::BTreeMap;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// A small deterministic generator (xorshift64*): the same seed, the same soak.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Clone, Debug)]
enum Op {
    Create(u8),
    Resize(u8, bool),
    DeleteKeep,
    DeleteAll,
}

impl Op {
    fn args(&self) -> Vec<String> {
        let v: Vec<String> = match self {
            Op::Create(n) => vec!["create".into(), n.to_string()],
            Op::Resize(n, false) => vec!["resize".into(), n.to_string()],
            Op::Resize(n, true) => vec!["resize".into(), n.to_string(), "--prune-disks".into()],
            Op::DeleteKeep => vec!["delete".into(), "--keep-disks".into()],
            Op::DeleteAll => vec!["delete".into()],
        };
        [
            v,
            vec!["--yes".into(), "--lock-timeout".into(), "120".into()],
        ]
        .concat()
    }

    fn random(rng: &mut Rng) -> Op {
        let n = *rng.pick(&[1u8, 3, 5]);
        match rng.below(10) {
            0..=3 => Op::Create(n),
            4..=6 => Op::Resize(n, rng.below(3) == 0),
            7 | 8 => Op::DeleteKeep,
            _ => Op::DeleteAll,
        }
    }
}

/// Runs esk, SIGKILLing it after `kill_after` if given.
fn run(bed: &TestBed, op: &Op, kill_after: Option<Duration>) -> Output {
    let child = bed
        .command(ESK)
        .args(op.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start esk");
    if let Some(after) = kill_after {
        let pid = child.id().to_string();
        let started = Instant::now();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(after);
            // The run may have ended already; then there is nothing to kill.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .stderr(Stdio::null())
                .status();
            started.elapsed()
        });
        let out = child.wait_with_output().expect("esk output");
        let _ = killer.join();
        out
    } else {
        child.wait_with_output().expect("esk output")
    }
}

/// Disks that are not this cluster's and must never be touched: (name, id).
fn bystanders(bed: &TestBed) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let d = bed.gce.seed_disk("p", "us-central1-a", "es-disk-9", &[]);
    out.push((d.name, d.id));
    let other = [
        ("managed-by", "esk"),
        ("esk-cluster", "other"),
        ("esk-namespace", "default"),
        ("esk-node", "1"),
    ];
    let d = bed
        .gce
        .seed_disk("p", "us-central1-a", "other-disk-1", &other);
    out.push((d.name, d.id));
    out
}

struct Model {
    /// The cluster's disks that must still exist (name → id): every disk esk made, until a
    /// delete that was allowed to remove it has run.
    disks: BTreeMap<String, u64>,
}

impl Model {
    /// Checks the bed after `op` ended with `out` (killed, failed or done).
    fn check(
        &mut self,
        bed: &TestBed,
        op: &Op,
        out: &Output,
        foreign: &[(String, u64)],
        step: usize,
    ) {
        let ctx = || format!("step {step}: {op:?}\n{}", text(out));
        let now = bed.gce.disks();
        for (name, id) in foreign {
            assert!(
                now.iter().any(|d| &d.name == name && d.id == *id),
                "a disk that is not the cluster's was touched: {name}; {}",
                ctx()
            );
        }
        let ours: BTreeMap<String, u64> = labelled_gce_disks(bed, "es").into_iter().collect();
        // No duplicates, no leaks: one disk per node name, only es-disk-1..5.
        for name in ours.keys() {
            let i: u8 = name
                .strip_prefix("es-disk-")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected disk {name}; {}", ctx()));
            assert!((1..=5).contains(&i), "leaked disk {name}; {}", ctx());
        }
        // May this op have deleted disks?
        let may_delete = |name: &str| match op {
            Op::DeleteAll => true,
            Op::Resize(n, true) => name
                .strip_prefix("es-disk-")
                .and_then(|i| i.parse::<u8>().ok())
                .is_some_and(|i| i > *n),
            _ => false,
        };
        for (name, id) in &self.disks {
            match ours.get(name) {
                Some(now_id) => assert_eq!(now_id, id, "disk {name} was replaced; {}", ctx()),
                None => assert!(may_delete(name), "disk {name} was lost; {}", ctx()),
            }
        }
        self.disks = ours.clone();
        // Every PV names a disk that exists: no workload bound to a deleted disk.
        let orphans = pvs_without_their_disk(bed);
        assert!(orphans.is_empty(), "{orphans:?}; {}", ctx());
        if out.status.success() {
            let nodes = node_deployments(bed, "es");
            match op {
                Op::Create(n) | Op::Resize(n, _) => {
                    assert_eq!(nodes.len(), usize::from(*n), "{}", ctx());
                    for d in &nodes {
                        assert_eq!(
                            env_value(d, "CLUSTER_SIZE"),
                            Some(n.to_string()),
                            "{}",
                            ctx()
                        );
                    }
                    for i in 1..=*n {
                        assert!(ours.contains_key(&format!("es-disk-{i}")), "{}", ctx());
                    }
                }
                Op::DeleteKeep | Op::DeleteAll => assert!(nodes.is_empty(), "{}", ctx()),
            }
            if matches!(op, Op::DeleteAll) {
                assert!(ours.is_empty(), "delete --yes left disks; {}", ctx());
            }
        }
    }
}

/// Whether `out` is an outcome a run may legitimately end with: done, or refused because
/// the cluster is not in a state for that command (create over another size, a resize of
/// nothing), or stopped by the kill or an injected fault.
fn acceptable(out: &Output, killed: bool, faulted: bool) -> bool {
    match out.status.code() {
        Some(0) => true,
        Some(2 | 3) => true,
        Some(1) => faulted || killed,
        None => killed,
        _ => false,
    }
}

#[test]
fn random_operations_with_faults_and_kills_never_lose_or_leak_a_disk() {
    let ops: usize = std::env::var("ESK_SOAK_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let seed: u64 = std::env::var("ESK_SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_e5c0);
    println!("soak: {ops} operations, seed {seed}");
    let mut rng = Rng(seed | 1);
    let bed = TestBed::start();
    let foreign = bystanders(&bed);
    let mut model = Model {
        disks: BTreeMap::new(),
    };
    let mut last: Option<Op> = None;
    let (mut killed_runs, mut faulted_runs, mut pairs) = (0, 0, 0);
    let mut step = 0;
    while step < ops {
        step += 1;
        // A re-run of the last operation now and then: it must converge.
        let op = match (&last, rng.below(5)) {
            (Some(l), 0) => l.clone(),
            _ => Op::random(&mut rng),
        };
        let faulted = rng.below(4) == 0;
        if faulted {
            faulted_runs += 1;
            let times = 1 + rng.below(3) as usize;
            match rng.below(3) {
                0 => bed.kube.inject_fault(testbed::kube::Fault {
                    method: Some("PATCH".into()),
                    path_contains: "/deployments/es-".into(),
                    status: 503,
                    times,
                }),
                1 => bed.kube.inject_fault(testbed::kube::Fault {
                    method: Some("DELETE".into()),
                    path_contains: "/namespaces/default/".into(),
                    status: 500,
                    times,
                }),
                _ => bed.gce.inject_fault(testbed::gce::Fault {
                    method: Some("GET".into()),
                    path_contains: "/disks".into(),
                    status: 429,
                    reason: "rateLimitExceeded".into(),
                    times,
                }),
            }
        }
        if rng.below(6) == 0 {
            // Two runs at once: the lock orders them; both end consistently.
            pairs += 1;
            let other = Op::random(&mut rng);
            let (a, b) = std::thread::scope(|s| {
                let first = s.spawn(|| run(&bed, &op, None));
                std::thread::sleep(Duration::from_millis(200));
                (first.join().expect("first"), run(&bed, &other, None))
            });
            assert!(
                acceptable(&a, false, faulted),
                "step {step}: {op:?}\n{}",
                text(&a)
            );
            assert!(
                acceptable(&b, false, faulted),
                "step {step}: {other:?}\n{}",
                text(&b)
            );
            // Check against the union of what the two could delete.
            let combined = match (&op, &other) {
                (Op::DeleteAll, _) | (_, Op::DeleteAll) => Op::DeleteAll,
                (Op::Resize(n, true), _) | (_, Op::Resize(n, true)) => Op::Resize(*n, true),
                _ => other.clone(),
            };
            // Only the disk rules hold for a pair; the node count is whichever ran last's.
            let probe = Output {
                status: fail_status(),
                stdout: a.stdout.clone(),
                stderr: [a.stderr.clone(), b.stderr.clone()].concat(),
            };
            model.check(&bed, &combined, &probe, &foreign, step);
            last = Some(other);
            continue;
        }
        let kill_after = (rng.below(4) == 0).then(|| Duration::from_millis(300 + rng.below(4000)));
        if kill_after.is_some() {
            killed_runs += 1;
        }
        let out = run(&bed, &op, kill_after);
        let was_killed = kill_after.is_some() && out.status.code().is_none();
        assert!(
            acceptable(&out, kill_after.is_some(), faulted),
            "step {step}: {op:?} ended unexpectedly\n{}",
            text(&out)
        );
        let check_as = if was_killed {
            Output {
                status: fail_status(),
                ..out
            }
        } else {
            out
        };
        model.check(&bed, &op, &check_as, &foreign, step);
        last = Some(op);
    }
    println!(
        "soak: {step} operations ({killed_runs} killed, {faulted_runs} with faults, {pairs} concurrent pairs); 0 disks lost, 0 leaked, 0 foreign touched"
    );
}

/// An exit status that is not success (for checks that must not assume a run completed).
fn fail_status() -> std::process::ExitStatus {
    std::process::Command::new("false")
        .status()
        .expect("run false")
}
