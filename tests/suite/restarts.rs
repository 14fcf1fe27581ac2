//! Restarts without needless elections: a roll asks the leader to resign (a curl Job inside
//! the cluster, as the pod proxy drops credentials) and restarts it only once gossip shows
//! another leader; a refused resignation is reported and the roll goes on; `esk node restart`
//! and `esk restart` restart nodes safely, refused when the cluster could lose quorum.

use std::time::Duration;

use crate::common::*;
use testbed::kube::{PodState, RollEvent};

/// How long a restarted pod takes to become Ready in these tests.
const START: Duration = Duration::from_millis(300);
const NEW_IMAGE: &str = "docker.kurrent.io/kurrent-latest/kurrentdb:26.0.0";

/// An n-node cluster made with `profile`, pods slow to start, node `leader` leading.
fn cluster(n: &str, profile: &str, leader: &str, extra: &[&str]) -> TestBed {
    let bed = TestBed::start();
    let mut args = vec!["create", n, "--profile", profile];
    args.extend(extra);
    esk_ok(&bed, &args);
    bed.kube.set_pod_start_delay(START);
    bed.kube.set_leader(leader);
    bed.kube.reset_not_ready_max();
    bed
}

fn made(bed: &TestBed) -> Vec<String> {
    bed.kube
        .node_pods_made("default")
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// Who led when `node`'s pod was deleted (the first deletion), and where in the events.
fn deleted(events: &[RollEvent], node: &str) -> (usize, Option<String>) {
    events
        .iter()
        .enumerate()
        .find_map(|(i, e)| match e {
            RollEvent::PodDeleted { node: n, leader } if n == node => Some((i, leader.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{node}'s pod was never deleted: {events:?}"))
}

fn resigned(events: &[RollEvent], node: &str) -> Option<(usize, Option<String>)> {
    events.iter().enumerate().find_map(|(i, e)| match e {
        RollEvent::Resigned { node: n, leader } if n == node => Some((i, leader.clone())),
        _ => None,
    })
}

/// Nothing the resign request needed stays behind (the Secret holds the ops password).
fn no_leftovers(bed: &TestBed) {
    for (kind, name) in [("Job", "es-resign"), ("Secret", "es-resign-request")] {
        assert!(
            bed.kube.get(kind, Some("default"), name).is_none(),
            "{kind}/{name} left behind"
        );
    }
}

#[test]
fn a_roll_hands_leadership_over_before_the_leader_restarts() {
    let bed = cluster("5", "kurrentdb-25", "es-3", &[]);
    let before = made(&bed).len();
    let out = esk_ok(&bed, &["create", "5", "--profile", "default"]);
    let order = made(&bed)[before..].to_vec();
    assert_eq!(order.len(), 5, "{order:?}");
    assert_eq!(order.last().map(String::as_str), Some("es-3"), "{order:?}");
    let events = bed.kube.roll_events("default");
    let (asked, successor) = resigned(&events, "es-3")
        .unwrap_or_else(|| panic!("es-3 was never asked to resign: {events:?}"));
    let successor = successor.expect("es-3 led when asked, so another node leads after");
    assert_ne!(successor, "es-3");
    // Every follower went before the leader was asked; another node led when es-3's pod went.
    for f in ["es-1", "es-2", "es-4", "es-5"] {
        assert!(
            deleted(&events, f).0 < asked,
            "{f} after the resign: {events:?}"
        );
    }
    let (gone, leader) = deleted(&events, "es-3");
    assert!(asked < gone, "{events:?}");
    assert_eq!(leader.as_deref(), Some(successor.as_str()), "{events:?}");
    assert_eq!(bed.kube.max_not_ready("default", "es"), 1);
    let err = stderr(&out);
    assert!(
        err.contains("asking es-3 (leader) to resign before it restarts"),
        "{err}"
    );
    assert!(
        err.contains(&format!("es-3 resigned: {successor} leads now")),
        "{err}"
    );
    no_leftovers(&bed);
    for d in node_deployments(&bed, "es") {
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            NEW_IMAGE
        );
    }
}

#[test]
fn a_refused_resignation_is_reported_and_the_roll_goes_on() {
    let bed = cluster("5", "kurrentdb-25", "es-3", &[]);
    bed.kube.refuse_resign(true);
    let out = esk_ok(&bed, &["create", "5", "--profile", "default"]);
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.contains("es-3 did not resign"))
        .unwrap_or_else(|| panic!("no line says the resign was refused:\n{err}"));
    assert!(line.contains("refused"), "{line}");
    let events = bed.kube.roll_events("default");
    assert!(resigned(&events, "es-3").is_none(), "{events:?}");
    // As before resigning existed: es-3 restarted last, while it led.
    let (_, leader) = deleted(&events, "es-3");
    assert_eq!(leader.as_deref(), Some("es-3"));
    for d in node_deployments(&bed, "es") {
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            NEW_IMAGE
        );
    }
    assert!(bed
        .kube
        .get("Secret", Some("default"), "es-resign-request")
        .is_none());
}

#[test]
fn an_insecure_cluster_resigns_without_credentials() {
    let bed = cluster("3", "kurrentdb-25", "es-1", &["--insecure"]);
    let out = esk_ok(&bed, &["node", "restart", "1"]);
    let events = bed.kube.roll_events("default");
    let (asked, successor) = resigned(&events, "es-1").expect("es-1 asked to resign");
    let (gone, leader) = deleted(&events, "es-1");
    assert!(
        asked < gone && successor.is_some() && leader == successor,
        "{events:?}\n{}",
        text(&out)
    );
}

#[test]
fn node_restart_is_refused_when_quorum_could_be_lost() {
    let bed = cluster("3", "default", "es-1", &[]);
    bed.kube.set_pod_state("es-2", PodState::not_ready());
    let before = made(&bed).len();
    let out = esk(&bed, &["node", "restart", "3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("quorum") && err.contains("es-2"), "{err}");
    assert_eq!(made(&bed).len(), before, "nothing restarted");
    for d in node_deployments(&bed, "es") {
        assert!(
            d["spec"]["template"]["metadata"]["annotations"]["esk.io/restarted-at"].is_null(),
            "{d}"
        );
    }
    // A node number the cluster does not have is bad input.
    let out = esk(&bed, &["node", "restart", "4"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // A single-node cluster would stop: refused.
    let one = TestBed::start();
    esk_ok(&one, &["create", "1"]);
    let out = esk(&one, &["node", "restart", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn node_restart_of_the_leader_resigns_first_and_restarts_only_that_node() {
    let bed = cluster("3", "default", "es-2", &[]);
    let before = made(&bed).len();
    let dry = esk_ok(&bed, &["node", "restart", "2", "--dry-run"]);
    assert!(
        stdout(&dry).contains("1. es-2 (Leader, asked to resign first)"),
        "{}",
        text(&dry)
    );
    assert_eq!(made(&bed).len(), before);
    esk_ok(&bed, &["node", "restart", "2"]);
    assert_eq!(made(&bed)[before..].to_vec(), vec!["es-2".to_string()]);
    let events = bed.kube.roll_events("default");
    let (asked, _) = resigned(&events, "es-2").expect("es-2 asked to resign");
    let (gone, leader) = deleted(&events, "es-2");
    assert!(asked < gone, "{events:?}");
    assert!(leader.is_some_and(|l| l != "es-2"), "{events:?}");
    no_leftovers(&bed);
    // esk's own apply keeps the restart annotation: a re-run restarts nothing.
    let again = made(&bed).len();
    esk_ok(&bed, &["create", "3"]);
    assert_eq!(made(&bed).len(), again);
}

#[test]
fn restart_rolls_every_node_with_the_leader_last() {
    let bed = cluster("5", "default", "es-2", &[]);
    let before = made(&bed).len();
    let dry = esk_ok(&bed, &["restart", "--dry-run"]);
    let plan = stdout(&dry);
    assert!(plan.contains("Restart 5 node(s) of cluster es"), "{plan}");
    assert!(
        plan.contains("5. es-2 (Leader, asked to resign first)"),
        "{plan}"
    );
    assert_eq!(made(&bed).len(), before);
    let out = esk_ok(&bed, &["restart"]);
    assert_eq!(
        made(&bed)[before..].to_vec(),
        ["es-1", "es-3", "es-4", "es-5", "es-2"]
            .map(String::from)
            .to_vec()
    );
    assert_eq!(bed.kube.max_not_ready("default", "es"), 1, "{}", text(&out));
    assert!(
        stdout(&out).contains("restarted one at a time: es-1, es-3, es-4, es-5, es-2"),
        "{}",
        text(&out)
    );
    let events = bed.kube.roll_events("default");
    let (_, leader) = deleted(&events, "es-2");
    assert!(leader.is_some_and(|l| l != "es-2"), "{events:?}");
}

#[test]
fn a_certificate_rotation_hands_leadership_over_in_every_phase() {
    let bed = cluster("3", "default", "es-1", &[]);
    let out = esk_ok(&bed, &["create", "3", "--rotate-certs"]);
    assert!(!stderr(&out).contains("did not resign"), "{}", text(&out));
    let events = bed.kube.roll_events("default");
    let handed: Vec<&RollEvent> = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                RollEvent::Resigned {
                    leader: Some(_),
                    ..
                }
            )
        })
        .collect();
    assert_eq!(handed.len(), 3, "one hand-over per phase: {events:?}");
    // No node pod ever went while it led.
    for e in &events {
        if let RollEvent::PodDeleted { node, leader } = e {
            assert_ne!(leader.as_deref(), Some(node.as_str()), "{events:?}");
        }
    }
    no_leftovers(&bed);
}
