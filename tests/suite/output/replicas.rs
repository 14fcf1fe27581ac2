//! Read-only replicas (`--read-only-replicas K`) as rendered: valid objects for every 20.10+
//! profile, outside the cluster size, the quorum's PodDisruptionBudget, the voting nodes'
//! anti-affinity, discovery and the client Service; K=0 renders exactly what no flag does.

use super::{env_str, find, has_env, json, render};
use serde_json::Value;

/// The profiles that have read-only replicas (5.x has none).
const REPLICA_PROFILES: &[(&str, &str)] = &[
    ("default", "KURRENTDB_"),
    ("kurrentdb-26", "KURRENTDB_"),
    ("kurrentdb-25", "KURRENTDB_"),
    ("eventstore-24", "EVENTSTORE_"),
];

/// Whether a matchLabels-style selector picks an object with these labels.
fn selects(selector: &Value, labels: &Value) -> bool {
    let sel = selector.as_object().expect("a label map");
    !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn pod_labels(d: &Value) -> &Value {
    &d["spec"]["template"]["metadata"]["labels"]
}

#[test]
fn replicas_render_valid_objects_outside_the_cluster_size_and_the_quorum() {
    for (profile, prefix) in REPLICA_PROFILES {
        let ms = render(
            &["3", "--profile", profile, "--read-only-replicas", "2"],
            false,
        );
        // Every object is valid for both API versions, as without replicas.
        for m in &ms {
            let v = json(m);
            let kind = m.object.kind.as_str();
            for result in [
                round_trip!(k8s_openapi, kind, &v),
                round_trip!(k8s_openapi_129, kind, &v),
            ] {
                let back = result.unwrap_or_else(|e| panic!("{profile} {}: {e}", m.object));
                assert_eq!(
                    super::first_difference(&v, &back, ""),
                    None,
                    "{profile} {}",
                    m.object
                );
            }
        }
        let nodes: Vec<Value> = (1..=3)
            .map(|i| find(&ms, "Deployment", &format!("es-{i}")))
            .collect();
        let replicas: Vec<Value> = (1..=2)
            .map(|j| find(&ms, "Deployment", &format!("es-replica-{j}")))
            .collect();
        let deployments = ms.iter().filter(|m| m.object.kind == "Deployment").count();
        assert_eq!(
            deployments,
            3 + 2 + 1,
            "{profile}: nodes, replicas, frontend"
        );
        let size = format!("{prefix}CLUSTER_SIZE");
        let read_only = format!("{prefix}READ_ONLY_REPLICA");
        for d in &nodes {
            let pod = &d["spec"]["template"]["spec"];
            assert_eq!(env_str(pod, &size), "3", "{profile}: voting count only");
            assert!(!has_env(pod, &read_only), "{profile}: a voting node");
            assert_eq!(pod["subdomain"], "es");
        }
        for (j, d) in replicas.iter().enumerate() {
            let j = j + 1;
            let pod = &d["spec"]["template"]["spec"];
            assert_eq!(env_str(pod, &size), "3", "{profile}: replicas not counted");
            assert_eq!(env_str(pod, &read_only), "true", "{profile}");
            assert_eq!(
                env_str(pod, &format!("{prefix}CLUSTER_DNS")),
                "es.default.svc.cluster.local",
                "{profile}: replicas discover the voting nodes"
            );
            assert_eq!(
                env_str(pod, &format!("{prefix}NODE_HOST_ADVERTISE_AS")),
                format!("es-replica-{j}.es-replica.default.svc.cluster.local")
            );
            assert_eq!(pod["hostname"], format!("es-replica-{j}"));
            assert_eq!(pod["subdomain"], "es-replica");
            assert_eq!(pod_labels(d)["app.kubernetes.io/component"], "replica");
            assert_eq!(pod_labels(d)["esk.io/node"], format!("r{j}"));
            // Its own disk, claim and certificate.
            let claim = &pod["volumes"][0]["persistentVolumeClaim"]["claimName"];
            assert_eq!(claim, &format!("es-replica-data-{j}"));
            let pv = find(
                &ms,
                "PersistentVolume",
                &format!("default.es-disk-replica-{j}"),
            );
            assert_eq!(
                pv["spec"]["csi"]["volumeHandle"],
                format!("projects/p/zones/us-central1-a/disks/es-disk-replica-{j}")
            );
            assert_eq!(pv["spec"]["claimRef"]["name"], *claim);
            let tls = pod["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == "node-tls")
                .expect("a certificate volume");
            assert_eq!(tls["secret"]["secretName"], format!("es-replica-{j}-tls"));
        }
        // The PodDisruptionBudget, discovery, the client Service and the voting nodes'
        // anti-affinity select the voting nodes and no replica.
        let pdb = find(&ms, "PodDisruptionBudget", "es");
        let discovery = find(&ms, "Service", "es");
        let client = find(&ms, "Service", "es-client");
        let anti = &nodes[0]["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"];
        let anti = anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"]
            ["matchLabels"]
            .clone();
        let voting_selectors = [
            (
                "PodDisruptionBudget",
                pdb["spec"]["selector"]["matchLabels"].clone(),
            ),
            ("discovery Service", discovery["spec"]["selector"].clone()),
            ("client Service", client["spec"]["selector"].clone()),
            ("anti-affinity", anti),
        ];
        for (what, sel) in &voting_selectors {
            for d in &nodes {
                assert!(
                    selects(sel, pod_labels(d)),
                    "{profile}: {what} misses a node"
                );
            }
            for d in &replicas {
                assert!(
                    !selects(sel, pod_labels(d)),
                    "{profile}: {what} picks a replica"
                );
            }
        }
        // The replicas' own headless Service names them and no voting node.
        let own = find(&ms, "Service", "es-replica");
        assert_eq!(own["spec"]["clusterIP"], "None");
        assert_eq!(own["spec"]["publishNotReadyAddresses"], true);
        for d in &replicas {
            assert!(selects(&own["spec"]["selector"], pod_labels(d)));
        }
        for d in &nodes {
            assert!(!selects(&own["spec"]["selector"], pod_labels(d)));
        }
        // Replicas replicate from the leader: the voting nodes' policy admits them on the
        // replication port; their own policy opens only the client port.
        let policy = find(&ms, "NetworkPolicy", "es");
        let internal = &policy["spec"]["ingress"][1];
        assert_eq!(internal["ports"][0]["port"], 1112);
        let admitted = internal["from"].as_array().unwrap();
        for d in replicas.iter().chain(&nodes) {
            assert!(
                admitted
                    .iter()
                    .any(|f| selects(&f["podSelector"]["matchLabels"], pod_labels(d))),
                "{profile}: replication port closed to {}",
                d["metadata"]["name"]
            );
        }
        let theirs = find(&ms, "NetworkPolicy", "es-replica");
        for d in &replicas {
            assert!(selects(
                &theirs["spec"]["podSelector"]["matchLabels"],
                pod_labels(d)
            ));
        }
        let open: Vec<&Value> = theirs["spec"]["ingress"][0]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["port"])
            .collect();
        assert_eq!(open, [&Value::from(2113)], "{profile}");
    }
}

#[test]
fn each_replica_gets_its_own_certificate() {
    let ms = render(&["3", "--read-only-replicas", "1"], true);
    let secrets: Vec<&str> = ms
        .iter()
        .filter(|m| m.object.kind == "Secret" && m.object.name.ends_with("-tls"))
        .map(|m| m.object.name.as_str())
        .collect();
    assert_eq!(
        secrets,
        [
            "es-node-1-tls",
            "es-node-2-tls",
            "es-node-3-tls",
            "es-replica-1-tls"
        ]
    );
    // Its own names (what it advertises), not the cluster's or the client Service's, under
    // the CA and common name every node has.
    let pem = |name: &str, key: &str| {
        let v = find(&ms, "Secret", name);
        let b64 = v["data"][key].as_str().expect("base64 data").to_string();
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64);
        String::from_utf8(bytes.unwrap()).unwrap()
    };
    let ca_pem = pem("es-ca", "ca.crt");
    let (_, ca_block) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes()).unwrap();
    let ca = ca_block.parse_x509().unwrap();
    let leaf_pem = pem("es-replica-1-tls", "tls.crt");
    let (_, block) = x509_parser::pem::parse_x509_pem(leaf_pem.as_bytes()).unwrap();
    let leaf = block.parse_x509().unwrap();
    leaf.verify_signature(Some(ca.public_key()))
        .expect("signed by the cluster CA");
    let cn = leaf.subject().iter_common_name().next().unwrap();
    assert_eq!(cn.as_str().unwrap(), "eventstore-node");
    let mut sans: Vec<String> = leaf
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .filter_map(|g| match g {
            x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
            _ => None,
        })
        .collect();
    sans.sort();
    assert_eq!(
        sans,
        [
            "es-replica-1",
            "es-replica-1.es-replica.default.svc",
            "es-replica-1.es-replica.default.svc.cluster.local",
            "localhost"
        ]
    );
}

#[test]
fn zero_replicas_render_exactly_what_no_flag_does() {
    for profile in ["default", "eventstore-24"] {
        let plain = render(&["3", "--profile", profile], false);
        let zero = render(
            &["3", "--profile", profile, "--read-only-replicas", "0"],
            false,
        );
        assert_eq!(
            esk::manifest::to_yaml_stream(&plain),
            esk::manifest::to_yaml_stream(&zero),
            "{profile}"
        );
        assert!(!plain.iter().any(|m| m.object.name.contains("replica")));
    }
}

#[test]
fn replicas_are_refused_where_they_cannot_run() {
    let spec = |args: &[&str]| {
        let mut argv = vec!["esk", "render", "3", "--cloud", "gke"];
        argv.extend_from_slice(args);
        let cli = <esk::cli::Cli as clap::Parser>::try_parse_from(&argv).unwrap();
        let mut spec = cli
            .global
            .spec(esk::cli::node_count("3").unwrap(), None)
            .unwrap();
        spec.set_replicas(1).map(|_| ()).map_err(|e| e.to_string())
    };
    let five = spec(&["--profile", "eventstore-5"]).unwrap_err();
    assert!(five.contains("20.10 or newer"), "{five}");
    let sts = spec(&["--workload", "statefulset"]).unwrap_err();
    let argv = ["esk", "render", "1", "--cloud", "gke"];
    let cli = <esk::cli::Cli as clap::Parser>::try_parse_from(argv).unwrap();
    let mut one = cli
        .global
        .spec(esk::cli::node_count("1").unwrap(), None)
        .unwrap();
    let single = one.set_replicas(1).unwrap_err().to_string();
    assert!(single.contains("3 or more nodes"), "{single}");
    assert!(sts.contains("--workload deployment"), "{sts}");
    assert!(spec(&[]).is_ok());
}
