//! TLS, passwords and the unsafe shapes esk refuses, end to end on the test bed.

use crate::common::*;
use base64::Engine;
use serde_json::Value;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::*;

fn secret_field(bed: &TestBed, name: &str, key: &str) -> String {
    let s = bed
        .kube
        .get("Secret", Some("default"), name)
        .unwrap_or_else(|| panic!("no Secret {name}"));
    let b64 = s["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {name}"));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

/// Removes all but `keep` of the bed's Kubernetes nodes (a real cluster starts with nodes).
fn keep_nodes(bed: &TestBed, keep: usize) {
    let nodes: Vec<String> = bed
        .kube
        .objects()
        .into_iter()
        .filter(|o| o["kind"] == "Node")
        .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    for node in nodes.iter().skip(keep) {
        let run = bed.run("kubectl", &["delete", "node", node], None);
        assert!(run.status.success(), "{run:?}");
    }
}

fn der(pem: &str) -> Vec<u8> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM");
    p.contents
}

fn dns_sans(cert: &X509Certificate) -> Vec<String> {
    cert.subject_alternative_name()
        .unwrap()
        .expect("SANs")
        .value
        .general_names
        .iter()
        .filter_map(|g| match g {
            GeneralName::DNSName(d) => Some(d.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn node_certificates_chain_to_the_cluster_ca_and_name_their_node() {
    let bed = TestBed::start();
    // -v prints every command line esk runs: the keys must not be on any of them.
    let out = esk_ok(&bed, &["create", "3", "-v"]);
    assert!(stderr(&out).contains("+ kubectl"), "{}", text(&out));
    let ca_pem = secret_field(&bed, "es-ca", "ca.crt");
    let ca_der = der(&ca_pem);
    let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
    assert!(ca.is_ca());
    for i in 1..=3 {
        let pem = secret_field(&bed, &format!("es-node-{i}-tls"), "tls.crt");
        let leaf_der = der(&pem);
        let (_, leaf) = X509Certificate::from_der(&leaf_der).unwrap();
        leaf.verify_signature(Some(ca.public_key()))
            .expect("signed by the cluster CA");
        let sans = dns_sans(&leaf);
        for want in [
            format!("es-{i}.es.default.svc.cluster.local"),
            format!("es-{i}.es.default.svc"),
            format!("es-{i}"),
            "es.default.svc.cluster.local".into(),
            "es-client.default.svc.cluster.local".into(),
            "localhost".into(),
        ] {
            assert!(sans.contains(&want), "node {i} lacks SAN {want}: {sans:?}");
        }
        let cn = leaf
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(cn, "eventstore-node", "every node carries the same CN");
        assert!(secret_field(&bed, &format!("es-node-{i}-tls"), "tls.key").contains("PRIVATE KEY"));
    }
    // Keys never reach the terminal or a command line.
    let key = secret_field(&bed, "es-node-1-tls", "tls.key");
    let body = key.lines().nth(1).unwrap();
    assert!(!stdout(&out).contains(body) && !stderr(&out).contains(body));
    // Passwords are generated and long, and printed only when asked for.
    let admin = secret_field(&bed, "es-credentials", "admin-password");
    assert!(admin.len() >= 24);
    assert!(!stdout(&out).contains(&admin) && !stderr(&out).contains(&admin));
    let shown = esk_ok(&bed, &["credentials"]);
    assert!(
        stdout(&shown).contains(&format!("admin: {admin}")),
        "{}",
        text(&shown)
    );
}

#[test]
fn reruns_and_resizes_keep_the_ca_and_rotate_certs_replaces_it() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3"]);
    let ca = secret_field(&bed, "es-ca", "ca.crt");
    let node1 = secret_field(&bed, "es-node-1-tls", "tls.crt");
    let admin = secret_field(&bed, "es-credentials", "admin-password");

    esk_ok(&bed, &["create", "3"]);
    assert_eq!(secret_field(&bed, "es-ca", "ca.crt"), ca);
    assert_eq!(
        secret_field(&bed, "es-node-1-tls", "tls.crt"),
        node1,
        "a re-run reissued a certificate"
    );

    esk_ok(&bed, &["resize", "5"]);
    assert_eq!(
        secret_field(&bed, "es-ca", "ca.crt"),
        ca,
        "resize replaced the CA"
    );
    assert_eq!(secret_field(&bed, "es-node-1-tls", "tls.crt"), node1);
    // The new nodes' certificates come from the same CA.
    let ca_der = der(&ca);
    let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
    let leaf_der = der(&secret_field(&bed, "es-node-5-tls", "tls.crt"));
    let (_, leaf) = X509Certificate::from_der(&leaf_der).unwrap();
    leaf.verify_signature(Some(ca_cert.public_key()))
        .expect("node 5 signed by the same CA");

    esk_ok(&bed, &["resize", "3"]);
    assert!(
        bed.kube
            .get("Secret", Some("default"), "es-node-5-tls")
            .is_none(),
        "surplus certificate left"
    );

    esk_ok(&bed, &["create", "3", "--rotate-certs"]);
    assert_ne!(
        secret_field(&bed, "es-ca", "ca.crt"),
        ca,
        "--rotate-certs kept the CA"
    );
    assert_ne!(secret_field(&bed, "es-node-1-tls", "tls.crt"), node1);
    assert_eq!(
        secret_field(&bed, "es-credentials", "admin-password"),
        admin,
        "passwords must not rotate"
    );
}

#[test]
fn unsafe_shapes_are_refused_or_warned_about() {
    let bed = TestBed::start();
    let out = esk(&bed, &["create", "2"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("--force"), "{}", text(&out));
    let out = esk(&bed, &["create", "3", "--expose", "public"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("--allow-cidr"), "{}", text(&out));
    let out = esk(
        &bed,
        &[
            "create",
            "3",
            "--expose",
            "public",
            "--allow-cidr",
            "0.0.0.0/0",
            "--insecure",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains("unauthenticated database"),
        "{}",
        text(&out)
    );
    let out = esk(
        &bed,
        &[
            "create",
            "3",
            "--expose",
            "public",
            "--allow-cidr",
            "10.0.0.0/33",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains("\"10.0.0.0/33\" is not a CIDR"),
        "{}",
        text(&out)
    );
    assert_eq!(bed.mutating_requests(), 0);

    // One Kubernetes node for two EventStore nodes: spreading can only be preferred, and
    // esk says so.
    keep_nodes(&bed, 1);
    let out = esk_ok(&bed, &["create", "2", "--force", "--insecure"]);
    let err = stderr(&out);
    assert!(err.contains("only preferred"), "{err}");
    assert!(err.contains("--insecure"), "{err}");
    assert!(err.contains("2 nodes need 2 for quorum"), "{err}");
    let d = bed.kube.get("Deployment", Some("default"), "es-1").unwrap();
    assert!(d["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        ["preferredDuringSchedulingIgnoredDuringExecution"]
        .is_array());
}

#[test]
fn the_statefulset_workload_keeps_its_disks_through_delete_and_resize() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3", "--workload", "statefulset"]);
    let disks = labelled_gce_disks(&bed, "es");
    assert_eq!(disks.len(), 3);
    let sts = bed
        .kube
        .get("StatefulSet", Some("default"), "es")
        .expect("statefulset");
    assert_eq!(sts["spec"]["replicas"], 3);
    for ordinal in 0..3 {
        let pvc = bed
            .kube
            .get(
                "PersistentVolumeClaim",
                Some("default"),
                &format!("data-es-{ordinal}"),
            )
            .expect("claim");
        assert_eq!(
            pvc["spec"]["volumeName"],
            format!("default.es-disk-{}", ordinal + 1)
        );
    }
    // Forgetting the workload is refused, not a silent switch to Deployments.
    let before = bed.mutating_requests();
    let out = esk(&bed, &["resize", "5"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains("--workload statefulset"),
        "{}",
        text(&out)
    );
    assert_eq!(bed.mutating_requests(), before);
    esk_ok(&bed, &["resize", "5", "--workload", "statefulset"]);
    let sts = bed
        .kube
        .get("StatefulSet", Some("default"), "es")
        .expect("statefulset");
    assert_eq!(sts["spec"]["replicas"], 5);
    assert_eq!(labelled_gce_disks(&bed, "es")[..3], disks[..]);
    esk_ok(&bed, &["delete", "--keep-disks"]);
    assert_eq!(labelled_gce_disks(&bed, "es").len(), 5);
    assert!(bed.kube.get("StatefulSet", Some("default"), "es").is_none());
    esk_ok(&bed, &["create", "5", "--workload", "statefulset"]);
    assert_eq!(labelled_gce_disks(&bed, "es")[..3], disks[..]);
}

#[test]
fn a_rerun_never_silently_changes_what_the_cluster_was_made_with() {
    let bed = TestBed::start();
    keep_nodes(&bed, 2);
    esk_ok(&bed, &["create", "3", "--profile", "eventstore-24"]);
    let d = bed.kube.get("Deployment", Some("default"), "es-1").unwrap();
    assert!(d["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        ["preferredDuringSchedulingIgnoredDuringExecution"]
        .is_array());
    let before = bed.mutating_requests();
    for (args, needle) in [
        (&["create", "3"][..], "pass --profile eventstore-24"),
        (
            &["create", "3", "--profile", "eventstore-24", "--insecure"][..],
            "runs with TLS",
        ),
        (
            &[
                "create",
                "3",
                "--profile",
                "eventstore-24",
                "--zone",
                "us-central1-b",
            ][..],
            "zone us-central1-a",
        ),
        (&["resize", "5"][..], "pass --profile eventstore-24"),
    ] {
        let out = esk(&bed, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", text(&out));
    }
    assert_eq!(bed.mutating_requests(), before);

    // Spreading was decided when the cluster was made (two Kubernetes nodes in the zone
    // then: preferred); nodes appearing there later must not flip it and restart every node.
    for node in ["n1", "n2", "n3"] {
        bed.kube.seed(serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node, "labels": {
                "kubernetes.io/hostname": node,
                "topology.kubernetes.io/zone": "us-central1-a",
                "topology.gke.io/zone": "us-central1-a",
            }},
        }));
    }
    let versions = resource_versions(&bed);
    esk_ok(&bed, &["create", "3", "--profile", "eventstore-24"]);
    assert_eq!(resource_versions(&bed), versions);

    // A deliberate change of version is allowed, and said.
    let out = esk_ok(&bed, &["create", "3", "--profile", "kurrentdb-25"]);
    assert!(
        stderr(&out).contains("changing profile from eventstore-24 to kurrentdb-25"),
        "{}",
        text(&out)
    );
}

#[test]
fn an_unusable_ca_is_never_replaced_silently() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "1"]);
    let mut ca = bed.kube.get("Secret", Some("default"), "es-ca").unwrap();
    let other_key = base64::engine::general_purpose::STANDARD
        .encode("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    ca["data"]["ca.key"] = serde_json::json!(other_key);
    bed.kube.seed(ca);
    let before = bed.mutating_requests();
    // Refused before anything changes, even where there were disks to make first.
    let out = esk(&bed, &["resize", "3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("--rotate-certs replaces it"),
        "{}",
        text(&out)
    );
    assert_eq!(bed.mutating_requests(), before);
    esk_ok(&bed, &["create", "1", "--rotate-certs"]);
    assert!(secret_field(&bed, "es-ca", "ca.key").contains("PRIVATE KEY"));
}

/// Each node advertises its stable DNS name for clients/gossip and for replication (never its
/// pod IP), and its certificate carries exactly that name, as the servers' rule asks: voting
/// nodes and read-only replicas, for every TLS generation (23.10+ names).
#[test]
fn every_node_advertises_the_dns_name_its_certificate_carries() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3", "--read-only-replicas", "1"]);
    let deployments = esk_objects(&bed, "Deployment", "es");
    let members = [
        ("es-1", "es-node-1-tls", "es-1.es.default.svc.cluster.local"),
        ("es-3", "es-node-3-tls", "es-3.es.default.svc.cluster.local"),
        (
            "es-replica-1",
            "es-replica-1-tls",
            "es-replica-1.es-replica.default.svc.cluster.local",
        ),
    ];
    for (workload, secret, fqdn) in members {
        let d = deployments
            .iter()
            .find(|d| d["metadata"]["name"] == workload)
            .unwrap_or_else(|| panic!("no Deployment {workload}"));
        for setting in ["NODE_HOST_ADVERTISE_AS", "REPLICATION_HOST_ADVERTISE_AS"] {
            assert_eq!(
                env_value(d, setting).as_deref(),
                Some(fqdn),
                "{workload} {setting}"
            );
        }
        let pem = secret_field(&bed, secret, "tls.crt");
        let leaf = der(&pem);
        let (_, cert) = X509Certificate::from_der(&leaf).unwrap();
        assert!(
            dns_sans(&cert).iter().any(|s| s == fqdn),
            "{secret} must name {fqdn}: {:?}",
            dns_sans(&cert)
        );
    }
    // In gossip, the replication address every member advertises is that name (a server
    // without the setting would advertise the pod IP it picked).
    let pod = bed
        .kube
        .pods("default")
        .into_iter()
        .find(|p| p["metadata"]["labels"]["esk.io/node"] == "1")
        .expect("node 1's pod");
    let path = format!(
        "/api/v1/namespaces/default/pods/https:{}:2113/proxy/gossip",
        pod["metadata"]["name"].as_str().unwrap()
    );
    let run = bed.run("kubectl", &["get", "--raw", &path], None);
    assert!(run.status.success(), "{run:?}");
    let gossip: Value = serde_json::from_slice(&run.stdout).unwrap();
    let mut replication: Vec<String> = gossip["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["internalTcpIp"].as_str().unwrap_or("").to_string())
        .collect();
    replication.sort();
    assert_eq!(
        replication,
        [
            "es-1.es.default.svc.cluster.local",
            "es-2.es.default.svc.cluster.local",
            "es-3.es.default.svc.cluster.local",
            "es-replica-1.es-replica.default.svc.cluster.local",
        ]
    );
}

/// The Kubernetes API server removes a request's `Authorization` header once it has
/// authenticated it, so Basic credentials sent through the pod proxy (esk's way to a node
/// for gossip) never reach a 5.x server's user API: even the right ones get the server's 401,
/// and the password stays. This is why esk changes 5.x passwords from inside the cluster.
#[test]
fn five_x_credentials_cannot_be_changed_through_the_pod_proxy() {
    use std::io::{Read, Write};
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3", "--profile", "eventstore-5"]);
    let pod = bed
        .kube
        .pods("default")
        .into_iter()
        .find(|p| p["metadata"]["labels"]["esk.io/node"] == "1")
        .expect("node 1's pod");
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    let url = bed.kube.url();
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let post = |path: &str, user: &str, password: &str| -> String {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let body = r#"{"newPassword":"n3w-Passw0rd"}"#;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply.lines().next().unwrap_or("").to_string()
    };
    let reset = format!(
        "/api/v1/namespaces/default/pods/http:{name}:2113/proxy/users/admin/command/reset-password"
    );
    let admin = secret_field(&bed, "es-credentials", "admin-password");
    let line = post(&reset, "admin", &admin);
    assert!(line.contains(" 401 "), "{line}");
    assert_eq!(
        bed.kube.user_password("default", "es", "admin").as_deref(),
        Some(admin.as_str()),
        "unchanged"
    );
}

fn job_applies_since(bed: &TestBed, start: usize) -> Vec<String> {
    bed.kube.requests()[start..]
        .iter()
        .filter(|r| r.starts_with("PATCH /apis/batch/v1/namespaces/default/jobs/"))
        .cloned()
        .collect()
}

fn status_warnings(bed: &TestBed) -> String {
    let out = esk(bed, &["status", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status printed no JSON ({e}):\n{}", text(&out)));
    doc["warnings"].to_string()
}

/// 5.x: `esk create` replaces admin's and ops's default `changeit` with the generated
/// passwords (Secret es-credentials) from inside the cluster, once there is a leader; status
/// warns until then; re-runs change nothing, and a run that finds the generated password
/// already working only marks it.
#[test]
fn five_x_default_passwords_are_replaced_once_the_cluster_has_a_leader() {
    let bed = TestBed::start();
    // No node answers yet: no leader, so nothing is changed and status says so.
    for n in ["es-1", "es-2", "es-3"] {
        bed.kube.set_unreachable(n, true);
    }
    let first = esk_ok(&bed, &["create", "3", "--profile", "eventstore-5"]);
    assert!(
        stderr(&first).contains("default credentials still active on 5.x"),
        "{}",
        text(&first)
    );
    assert_eq!(
        bed.kube.user_password("default", "es", "admin").as_deref(),
        Some("changeit")
    );
    assert!(status_warnings(&bed).contains("default credentials still active on 5.x"));

    for n in ["es-1", "es-2", "es-3"] {
        bed.kube.set_unreachable(n, false);
    }
    let start = bed.kube.requests().len();
    esk_ok(&bed, &["create", "3", "--profile", "eventstore-5"]);
    let admin = secret_field(&bed, "es-credentials", "admin-password");
    let ops = secret_field(&bed, "es-credentials", "ops-password");
    assert!(admin.len() >= 24 && admin != ops, "generated passwords");
    assert_eq!(
        bed.kube.user_password("default", "es", "admin").as_deref(),
        Some(admin.as_str())
    );
    assert_eq!(
        bed.kube.user_password("default", "es", "ops").as_deref(),
        Some(ops.as_str())
    );
    let jobs = job_applies_since(&bed, start);
    assert_eq!(jobs.len(), 2, "a check, then the reset: {jobs:?}");
    // No password on any command line, and nothing left behind.
    let left: Vec<Value> = bed
        .kube
        .objects()
        .into_iter()
        .filter(|o| o["kind"] == "Job")
        .collect();
    assert!(left.is_empty(), "Jobs left behind: {left:?}");
    assert!(bed
        .kube
        .get("Secret", Some("default"), "es-credentials-requests")
        .is_none());
    assert!(!status_warnings(&bed).contains("default credentials"));

    // A re-run: nothing to do, no Job.
    let start = bed.kube.requests().len();
    esk_ok(&bed, &["create", "3", "--profile", "eventstore-5"]);
    assert!(job_applies_since(&bed, start).is_empty());

    // Interrupted after the change but before the mark: the check finds the generated
    // password working and only marks it (no reset, which admin:changeit could not do now).
    let run = bed.run(
        "kubectl",
        &[
            "annotate",
            "secret",
            "es-credentials",
            "esk.io/default-credentials-",
        ],
        None,
    );
    assert!(run.status.success(), "{run:?}");
    assert!(status_warnings(&bed).contains("default credentials still active on 5.x"));
    let start = bed.kube.requests().len();
    esk_ok(&bed, &["create", "3", "--profile", "eventstore-5"]);
    let jobs = job_applies_since(&bed, start);
    assert_eq!(jobs.len(), 1, "the check only: {jobs:?}");
    assert!(jobs[0].contains("es-credentials-check"), "{jobs:?}");
    assert_eq!(
        bed.kube.user_password("default", "es", "admin").as_deref(),
        Some(admin.as_str())
    );
    assert!(!status_warnings(&bed).contains("default credentials"));
}
