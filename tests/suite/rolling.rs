//! Rolling changes: a changed profile or setting restarts the nodes one at a time, followers
//! first and the leader last, each back in the cluster before the next, so at most one node
//! is ever not Ready; a killed roll resumes on a re-run; a node that never comes back stops
//! the roll with that node named and the others untouched.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;
use testbed::kube::PodState;

const OLD_IMAGE: &str = "docker.kurrent.io/kurrent-latest/kurrentdb:25.1.0";
const NEW_IMAGE: &str = "docker.kurrent.io/kurrent-latest/kurrentdb:26.0.0";
/// How long a restarted pod takes to become Ready in these tests.
const START: Duration = Duration::from_millis(300);

fn image(d: &Value) -> String {
    d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn images(bed: &TestBed) -> Vec<String> {
    node_deployments(bed, "es").iter().map(image).collect()
}

/// An n-node kurrentdb-25 cluster whose pods take a moment to start, node `leader` leading.
fn old_cluster(n: &str, leader: &str) -> TestBed {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", n, "--profile", "kurrentdb-25"]);
    bed.kube.set_pod_start_delay(START);
    bed.kube.set_leader(leader);
    bed.kube.reset_not_ready_max();
    bed
}

/// Runs esk and SIGKILLs it (no clean-up at all) once `made` node pods have been made.
fn kill_after_restarts(bed: &TestBed, args: &[&str], made: usize) {
    let mut child = bed
        .command(ESK)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while bed.kube.node_pods_made("default").len() < made
        && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The node pods made since `before`, as node keys.
fn restarted_since(bed: &TestBed, before: usize) -> Vec<String> {
    bed.kube.node_pods_made("default")[before..]
        .iter()
        .map(|(k, _)| k.clone())
        .collect()
}

#[test]
fn an_upgrade_rolls_one_node_at_a_time_with_the_leader_last() {
    let bed = old_cluster("5", "es-3");
    let before = bed.kube.node_pods_made("default").len();
    let dry = esk_ok(&bed, &["create", "5", "--profile", "default", "--dry-run"]);
    let plan = stdout(&dry);
    assert!(
        plan.contains("Restart 5 node(s), one at a time"),
        "{}",
        text(&dry)
    );
    assert_eq!(bed.kube.node_pods_made("default").len(), before);

    let out = esk_ok(&bed, &["create", "5", "--profile", "default"]);
    assert_eq!(images(&bed), vec![NEW_IMAGE.to_string(); 5]);
    let order = restarted_since(&bed, before);
    assert_eq!(order.len(), 5, "each node restarted once: {order:?}");
    assert_eq!(order.last().map(String::as_str), Some("es-3"), "{order:?}");
    assert_eq!(
        bed.kube.max_not_ready("default", "es"),
        1,
        "at most one node down at once:\n{}",
        text(&out)
    );
    // Every pod runs the new image, and the summary names the order.
    for pod in bed.kube.pods("default") {
        if pod["metadata"]["labels"]["app.kubernetes.io/component"] == "node" {
            assert_eq!(pod["spec"]["containers"][0]["image"], NEW_IMAGE);
        }
    }
    assert!(
        stdout(&out).contains("restarted one at a time: es-1, es-2, es-4, es-5, es-3"),
        "{}",
        text(&out)
    );

    // A re-run changes nothing and restarts nothing.
    let again = bed.kube.node_pods_made("default").len();
    esk_ok(&bed, &["create", "5"]);
    assert_eq!(bed.kube.node_pods_made("default").len(), again);
}

#[test]
fn all_at_once_restarts_every_node_together() {
    let bed = old_cluster("3", "es-1");
    esk_ok(
        &bed,
        &["create", "3", "--profile", "default", "--all-at-once"],
    );
    assert_eq!(images(&bed), vec![NEW_IMAGE.to_string(); 3]);
    assert_eq!(bed.kube.max_not_ready("default", "es"), 3);
}

#[test]
fn a_node_that_never_comes_back_stops_the_roll_naming_it() {
    let bed = old_cluster("3", "es-1");
    // The first node rolled (the lowest follower) never becomes Ready on the new version.
    bed.kube.set_new_pod_state("es-2", PodState::not_ready());
    let before = bed.kube.node_pods_made("default").len();
    let out = esk(
        &bed,
        &["create", "3", "--profile", "default", "--timeout", "3"],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("es-2 did not come back within 3s"), "{err}");
    assert!(err.contains("re-running resumes"), "{err}");
    // Nothing else was restarted: es-1 and es-3 still run the old version.
    assert_eq!(restarted_since(&bed, before), vec!["es-2".to_string()]);
    let images = images(&bed);
    assert_eq!(images[1], NEW_IMAGE);
    for (i, image) in images.iter().enumerate().filter(|(i, _)| *i != 1) {
        assert_eq!(image, OLD_IMAGE, "node {}", i + 1);
    }

    // Fixed, a re-run finishes the roll.
    bed.kube.set_new_pod_state("es-2", PodState::default());
    esk_ok(&bed, &["create", "3", "--profile", "default"]);
    assert_eq!(self::images(&bed), vec![NEW_IMAGE.to_string(); 3]);
    assert!(bed.kube.max_not_ready("default", "es") <= 1);
}

#[test]
fn a_killed_roll_is_finished_by_a_rerun() {
    let bed = old_cluster("3", "es-1");
    bed.kube.set_pod_start_delay(Duration::from_millis(800));
    let before = bed.kube.node_pods_made("default").len();
    // Killed (SIGKILL: no clean-up at all) once two nodes have been restarted.
    kill_after_restarts(&bed, &["create", "3", "--profile", "default"], before + 2);
    let half = images(&bed);
    assert_eq!(
        half.iter().filter(|i| *i == NEW_IMAGE).count(),
        2,
        "{half:?}"
    );

    bed.kube.set_pod_start_delay(START);
    let out = esk_ok(&bed, &["create", "3", "--profile", "default"]);
    assert_eq!(images(&bed), vec![NEW_IMAGE.to_string(); 3]);
    // The two already rolled were not restarted again; the leader went last.
    let order = restarted_since(&bed, before);
    assert_eq!(order.len(), 3, "{order:?}\n{}", text(&out));
    assert_eq!(order.last().map(String::as_str), Some("es-1"), "{order:?}");
    assert!(bed.kube.max_not_ready("default", "es") <= 1);
}

/// The vendor's upgrade guide (docs/server/quick-start/upgrade-guide.md at v26.0.0) supports
/// an online rolling upgrade straight to 26.0 from 24.10: one roll, one node at a time, the
/// leader last, no stop at 25.x.
#[test]
fn eventstore_24_10_rolls_straight_to_26_as_the_upgrade_guide_allows() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3", "--profile", "eventstore-24"]);
    bed.kube.set_pod_start_delay(START);
    bed.kube.set_leader("es-2");
    bed.kube.reset_not_ready_max();
    let before = bed.kube.node_pods_made("default").len();
    let out = esk_ok(&bed, &["create", "3", "--profile", "default"]);
    assert_eq!(images(&bed), vec![NEW_IMAGE.to_string(); 3]);
    let order = restarted_since(&bed, before);
    assert_eq!(order.len(), 3, "each node restarted once: {order:?}");
    assert_eq!(order.last().map(String::as_str), Some("es-2"), "{order:?}");
    assert_eq!(bed.kube.max_not_ready("default", "es"), 1, "{}", text(&out));
    for d in node_deployments(&bed, "es") {
        assert_eq!(env_value(&d, "CLUSTER_SIZE").as_deref(), Some("3"));
        let env = d["spec"]["template"]["spec"]["containers"][0]["env"].to_string();
        assert!(!env.contains("EVENTSTORE_"), "26.x names only: {env}");
    }
    let record = bed
        .kube
        .get("ConfigMap", Some("default"), "esk.es")
        .unwrap();
    assert_eq!(record["data"]["generation"], "26");
}

#[test]
fn only_supported_upgrade_paths_roll() {
    // 21.10 is not in the 26.0 guide's list (its own guide: 21.10 → 24.10): refused with the
    // route, one line, exit 2, nothing changed.
    let bed = TestBed::start();
    esk_ok(
        &bed,
        &[
            "create",
            "3",
            "--profile",
            "eventstore-24",
            "--set",
            "generation=21",
        ],
    );
    let before = bed.mutating_requests();
    let skip = esk(&bed, &["create", "3", "--profile", "default"]);
    assert_eq!(skip.status.code(), Some(2), "{}", text(&skip));
    let err = stderr(&skip);
    assert!(
        err.contains("--profile eventstore-24, then --profile default"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(bed.mutating_requests(), before, "nothing changed");

    let legacy = TestBed::start();
    esk_ok(&legacy, &["create", "3", "--profile", "eventstore-5"]);
    let before = legacy.mutating_requests();
    let out = esk(&legacy, &["create", "3", "--profile", "eventstore-24"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("protocol"), "{}", text(&out));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", text(&out));
    assert_eq!(legacy.mutating_requests(), before);

    // A downgrade: refused the same way.
    let new = TestBed::start();
    esk_ok(&new, &["create", "3"]);
    let before = new.mutating_requests();
    let out = esk(&new, &["create", "3", "--profile", "kurrentdb-25"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("downgrade"), "{}", text(&out));
    assert_eq!(new.mutating_requests(), before);
}

/// The 25.x → 26.x image user change: the rendered pods run as the new UID with fsGroup
/// following it and `OnRootMismatch`, so the kubelet regroups the old files (group read/write)
/// for the new user before the server starts, once.
#[test]
fn the_new_image_user_can_read_and_write_the_old_files() {
    let security = |profile: &str| -> Value {
        let out = esk_ok(
            &TestBed::start(),
            &[
                "render",
                "3",
                "--profile",
                profile,
                "--project",
                "p",
                "--zone",
                "z",
            ],
        );
        let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&stdout(&out))
            .filter_map(|d| serde::Deserialize::deserialize(d).ok())
            .collect();
        let node = docs
            .into_iter()
            .find(|d: &Value| d["kind"] == "Deployment" && d["metadata"]["name"] == "es-1")
            .expect("node 1");
        node["spec"]["template"]["spec"]["securityContext"].clone()
    };
    let old = security("kurrentdb-25");
    let new = security("default");
    assert_eq!(old["runAsUser"], 1000);
    assert_eq!(new["runAsUser"], 1001);
    for s in [&old, &new] {
        assert_eq!(s["fsGroup"], s["runAsUser"], "{s}");
        assert_eq!(s["fsGroupChangePolicy"], "OnRootMismatch", "{s}");
    }
}

/// The trusted roots the nodes mount, by file name.
fn trusted_roots(bed: &TestBed) -> Vec<(String, String)> {
    let cm = bed
        .kube
        .get("ConfigMap", Some("default"), "es-ca-cert")
        .expect("CA ConfigMap");
    cm["data"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect()
}

/// The CA each node's certificate was issued by (kept beside it in its Secret).
fn node_issuers(bed: &TestBed) -> Vec<String> {
    use base64::Engine;
    (1..=3)
        .map(|i| {
            let s = bed
                .kube
                .get("Secret", Some("default"), &format!("es-node-{i}-tls"))
                .expect("node secret");
            let b64 = s["data"]["ca.crt"].as_str().unwrap_or("");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap_or_default();
            String::from_utf8(bytes).unwrap_or_default()
        })
        .collect()
}

fn record_rotation(bed: &TestBed) -> Option<String> {
    let record = bed.kube.get("ConfigMap", Some("default"), "esk.es")?;
    record["data"]["rotation"].as_str().map(str::to_string)
}

#[test]
fn rotate_certs_goes_in_three_rolling_phases() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3"]);
    let old_ca = ca_cert(&bed).expect("a CA");
    bed.kube.set_pod_start_delay(START);
    bed.kube.reset_not_ready_max();
    let before = bed.kube.node_pods_made("default").len();
    let out = esk_ok(&bed, &["create", "3", "--rotate-certs"]);
    let new_ca = ca_cert(&bed).expect("a CA");
    assert_ne!(new_ca, old_ca);
    assert_eq!(
        trusted_roots(&bed),
        vec![("ca.crt".to_string(), new_ca.clone())]
    );
    assert_eq!(node_issuers(&bed), vec![new_ca.clone(); 3]);
    assert_eq!(record_rotation(&bed), None, "the rotation is finished");
    // Three phases, each restarting every node once, one at a time.
    assert_eq!(restarted_since(&bed, before).len(), 9, "{}", text(&out));
    assert_eq!(bed.kube.max_not_ready("default", "es"), 1, "{}", text(&out));
}

#[test]
fn an_interrupted_rotation_continues_from_its_phase() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3"]);
    let old_ca = ca_cert(&bed).expect("a CA");
    bed.kube.set_pod_start_delay(Duration::from_millis(800));
    let before = bed.kube.node_pods_made("default").len();
    // Killed in the first phase's roll: the nodes trust both CAs, certificates still old.
    kill_after_restarts(&bed, &["create", "3", "--rotate-certs"], before + 1);
    assert_eq!(record_rotation(&bed).as_deref(), Some("trust-both"));
    assert_eq!(trusted_roots(&bed).len(), 2, "old and new CA trusted");
    assert_eq!(node_issuers(&bed), vec![old_ca.clone(); 3]);

    // A plain re-run (no --rotate-certs) finishes the rotation, one node at a time.
    bed.kube.set_pod_start_delay(START);
    bed.kube.reset_not_ready_max();
    let out = esk_ok(&bed, &["create", "3"]);
    assert!(
        stderr(&out).contains("continuing the certificate rotation from phase trust-both"),
        "{}",
        text(&out)
    );
    let new_ca = ca_cert(&bed).expect("a CA");
    assert_ne!(new_ca, old_ca);
    assert_eq!(
        trusted_roots(&bed),
        vec![("ca.crt".to_string(), new_ca.clone())]
    );
    assert_eq!(node_issuers(&bed), vec![new_ca; 3]);
    assert_eq!(record_rotation(&bed), None);
    assert!(bed.kube.max_not_ready("default", "es") <= 1);
}
