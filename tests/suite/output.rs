//! What esk renders: valid for Kubernetes 1.29 and 1.32 (typed round trip: a field the API
//! does not know is lost and fails the test), accepted by kubectl, safe by default per
//! version, and stable (snapshots under tests/snapshots, ESK_UPDATE_SNAPSHOTS=1 rewrites them).

use clap::Parser;
use esk::cli::{Cli, Command};
use esk::manifest::{to_yaml_stream, Manifest};
use esk::render::Templates;
use serde_json::Value;

const PROFILES: &[&str] = &[
    "default",
    "kurrentdb-26",
    "kurrentdb-25",
    "eventstore-24",
    "eventstore-5",
];
const WORKLOADS: &[&str] = &["deployment", "statefulset"];

/// Renders like `esk render` with these arguments, through the same code, for GKE.
fn render(args: &[&str], include_secrets: bool) -> Vec<Manifest> {
    render_on("gke", args, include_secrets)
}

/// Renders for one cloud (each shapes the volumes differently).
fn render_on(cloud: &str, args: &[&str], include_secrets: bool) -> Vec<Manifest> {
    let mut argv = vec!["esk", "render"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--cloud", cloud]);
    argv.extend_from_slice(match cloud {
        "gke" => &["--project", "p", "--zone", "us-central1-a"][..],
        "aws" => &["--region", "us-east-1", "--zone", "us-east-1a"][..],
        _ => &[][..],
    });
    let cli = Cli::try_parse_from(&argv).expect("arguments parse");
    let Command::Render {
        nodes,
        read_only_replicas,
        ..
    } = &cli.command
    else {
        unreachable!()
    };
    let nodes = esk::cli::node_count(nodes).unwrap();
    let mut spec = cli.global.spec(nodes, None).unwrap();
    if let Some(k) = read_only_replicas {
        let k = esk::spec::replica_count(k).unwrap();
        spec.set_replicas(k).unwrap();
    }
    let templates = Templates::load(None).unwrap();
    esk::commands::offline_manifests(&spec, &templates, include_secrets).unwrap()
}

fn json(m: &Manifest) -> Value {
    serde_json::to_value(&m.value).unwrap()
}

/// Deserialises into the typed API object and back; anything unknown or mistyped differs.
macro_rules! round_trip {
    ($api:ident, $kind:expr, $value:expr) => {{
        use $api::api::apps::v1::{Deployment, StatefulSet};
        use $api::api::batch::v1::Job;
        use $api::api::core::v1::{
            ConfigMap, Namespace, PersistentVolume, PersistentVolumeClaim, Secret, Service,
        };
        use $api::api::networking::v1::NetworkPolicy;
        use $api::api::policy::v1::PodDisruptionBudget;
        use $api::api::storage::v1::StorageClass;
        fn rt<T: serde::de::DeserializeOwned + serde::Serialize>(
            v: &Value,
        ) -> Result<Value, String> {
            let typed: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
            serde_json::to_value(typed).map_err(|e| e.to_string())
        }
        match $kind {
            "Deployment" => rt::<Deployment>($value),
            "StatefulSet" => rt::<StatefulSet>($value),
            "Job" => rt::<Job>($value),
            "ConfigMap" => rt::<ConfigMap>($value),
            "Namespace" => rt::<Namespace>($value),
            "PersistentVolume" => rt::<PersistentVolume>($value),
            "PersistentVolumeClaim" => rt::<PersistentVolumeClaim>($value),
            "Secret" => rt::<Secret>($value),
            "Service" => rt::<Service>($value),
            "NetworkPolicy" => rt::<NetworkPolicy>($value),
            "PodDisruptionBudget" => rt::<PodDisruptionBudget>($value),
            "StorageClass" => rt::<StorageClass>($value),
            other => Err(format!("no typed check for kind {other}")),
        }
    }};
}

/// The first place two JSON values differ, as a path.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x.keys().chain(y.keys()).find_map(|k| {
            first_difference(
                x.get(k).unwrap_or(&Value::Null),
                y.get(k).unwrap_or(&Value::Null),
                &format!("{path}.{k}"),
            )
        }),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: rendered {a} but the API reads {b}")),
    }
}

#[test]
fn every_rendered_object_is_valid_for_kubernetes_1_29_and_1_32() {
    let mut checked = 0;
    for profile in PROFILES {
        for workload in WORKLOADS {
            for n in ["1", "3", "5", "7"] {
                // Secrets too, for one size (RSA keys take a moment to make).
                let secrets = n == "3";
                for m in render(&[n, "--profile", profile, "--workload", workload], secrets) {
                    let v = json(&m);
                    let kind = m.object.kind.as_str();
                    for (version, result) in [
                        ("1.32", round_trip!(k8s_openapi, kind, &v)),
                        ("1.29", round_trip!(k8s_openapi_129, kind, &v)),
                    ] {
                        let back = result.unwrap_or_else(|e| {
                            panic!("{profile}/{workload}/{n} {}: {version}: {e}", m.object)
                        });
                        if let Some(d) = first_difference(&v, &back, "") {
                            panic!(
                                "{profile}/{workload}/{n} {} is not valid for {version}: {d}",
                                m.object
                            );
                        }
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 300, "only {checked} objects checked");
}

#[test]
fn every_cloud_renders_valid_volumes() {
    for cloud in ["gke", "aws", "kind", "dynamic"] {
        for workload in WORKLOADS {
            if cloud == "dynamic" && *workload == "statefulset" {
                continue; // refused: a StatefulSet binds pre-provisioned disks
            }
            let ms = render_on(cloud, &["3", "--workload", workload], false);
            let pvs = ms
                .iter()
                .filter(|m| m.object.kind == "PersistentVolume")
                .count();
            assert_eq!(
                pvs,
                if cloud == "dynamic" { 0 } else { 3 },
                "{cloud}/{workload}"
            );
            for m in &ms {
                let v = json(m);
                let kind = m.object.kind.as_str();
                for (version, result) in [
                    ("1.32", round_trip!(k8s_openapi, kind, &v)),
                    ("1.29", round_trip!(k8s_openapi_129, kind, &v)),
                ] {
                    let back =
                        result.unwrap_or_else(|e| panic!("{cloud} {}: {version}: {e}", m.object));
                    if let Some(d) = first_difference(&v, &back, "") {
                        panic!(
                            "{cloud}/{workload} {} is not valid for {version}: {d}",
                            m.object
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn render_to_a_directory_keeps_secrets_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("esk-render-{}", std::process::id()));
    let out = std::process::Command::new(crate::common::ESK)
        .args([
            "render",
            "1",
            "--project",
            "p",
            "--zone",
            "z-a-1",
            "--include-secrets",
            "-o",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::common::text(&out));
    let mut secrets = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains("-secret-") {
            secrets += 1;
            assert_eq!(mode, 0o600, "{name}");
        } else {
            assert_eq!(mode, 0o644, "{name}");
        }
    }
    assert!(secrets >= 3, "{secrets} secrets written");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn kubectl_accepts_every_profile_and_workload() {
    let bed = crate::common::TestBed::start();
    for (k, profile) in PROFILES.iter().enumerate() {
        for (w, workload) in WORKLOADS.iter().enumerate() {
            let ns = format!("t{k}{w}");
            let manifests = render(
                &["3", "--profile", profile, "--workload", workload, "-n", &ns],
                true,
            );
            let stream = format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n{}",
                to_yaml_stream(&manifests)
            );
            let out = bed.run(
                "kubectl",
                &["apply", "--server-side", "--field-manager=esk", "-f", "-"],
                Some(&stream),
            );
            assert!(
                out.status.success(),
                "{profile}/{workload}: {}",
                crate::common::text(&out)
            );
        }
    }
}

fn find<'a>(ms: &'a [Manifest], kind: &str, name: &str) -> Value {
    let _ = ms as &'a [Manifest];
    ms.iter()
        .find(|m| m.object.kind == kind && m.object.name == name)
        .map(json)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

fn env(pod: &Value) -> Vec<(String, Value)> {
    pod["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e.get("value").cloned().unwrap_or(e["valueFrom"].clone()),
            )
        })
        .collect()
}

fn has_env(pod: &Value, name: &str) -> bool {
    env(pod).iter().any(|(n, _)| n == name)
}

fn env_str(pod: &Value, name: &str) -> String {
    env(pod)
        .into_iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no env {name}"))
}

#[test]
fn the_default_is_kurrentdb_26_lts_with_its_settings_paths_ports_and_tls() {
    let ms = render(&["3"], false);
    let d = find(&ms, "Deployment", "es-2");
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert!(c["image"]
        .as_str()
        .unwrap()
        .starts_with("docker.kurrent.io/kurrent-latest/kurrentdb:26.0."));
    assert_eq!(env_str(pod, "KURRENTDB_CLUSTER_SIZE"), "3");
    assert_eq!(
        env_str(pod, "KURRENTDB_CLUSTER_DNS"),
        "es.default.svc.cluster.local"
    );
    assert_eq!(
        env_str(pod, "KURRENTDB_NODE_HOST_ADVERTISE_AS"),
        "es-2.es.default.svc.cluster.local"
    );
    assert_eq!(env_str(pod, "KURRENTDB_DB"), "/var/lib/kurrentdb/db");
    assert_eq!(env_str(pod, "KURRENTDB_INDEX"), "/var/lib/kurrentdb/index");
    assert_eq!(
        env_str(pod, "KURRENTDB_CERTIFICATE_FILE"),
        "/etc/kurrentdb/certs/node/tls.crt"
    );
    assert!(!has_env(pod, "KURRENTDB_INSECURE"));
    assert!(!env(pod).iter().any(|(n, _)| n.starts_with("EVENTSTORE_")));
    assert_eq!(pod["volumes"][1]["secret"]["secretName"], "es-node-2-tls");
    let ports: Vec<i64> = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["containerPort"].as_i64().unwrap())
        .collect();
    assert_eq!(ports, [2113, 1112]);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health/live");
    assert_eq!(c["livenessProbe"]["httpGet"]["scheme"], "HTTPS");
    // The 26.x images run as UID 1001 (20.10-25.x: 1000).
    assert_eq!(pod["securityContext"]["runAsUser"], 1001);
    assert_eq!(pod["securityContext"]["fsGroup"], 1001);
    // The data, index and log paths are all on the node's disk.
    let mounts = c["volumeMounts"].as_array().unwrap();
    assert!(mounts
        .iter()
        .any(|m| m["name"] == "data" && m["mountPath"] == "/var/lib/kurrentdb"));
    assert!(mounts
        .iter()
        .any(|m| m["name"] == "data" && m["mountPath"] == "/var/log/kurrentdb"));
    // The frontend talks TLS to the nodes and checks their certificates.
    let conf = find(&ms, "ConfigMap", "es-frontend")["data"]["nginx.conf"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(conf.contains("proxy_pass https://eventstore"), "{conf}");
    assert!(conf.contains("proxy_ssl_verify on"), "{conf}");
}

#[test]
fn kurrentdb_25_runs_as_uid_1000() {
    let ms = render(&["3", "--profile", "kurrentdb-25"], false);
    let pod = &find(&ms, "Deployment", "es-1")["spec"]["template"]["spec"];
    assert!(pod["containers"][0]["image"]
        .as_str()
        .unwrap()
        .ends_with("kurrentdb:25.1.0"));
    assert_eq!(pod["securityContext"]["runAsUser"], 1000);
    assert_eq!(env_str(pod, "KURRENTDB_DB"), "/var/lib/kurrentdb/db");
}

#[test]
fn eventstore_24_uses_its_own_prefix_and_paths() {
    let ms = render(&["3", "--profile", "eventstore-24"], false);
    let pod = &find(&ms, "Deployment", "es-1")["spec"]["template"]["spec"];
    assert!(pod["containers"][0]["image"]
        .as_str()
        .unwrap()
        .starts_with("eventstore/eventstore:24.10"));
    assert_eq!(env_str(pod, "EVENTSTORE_NODE_IP"), "0.0.0.0");
    assert_eq!(env_str(pod, "EVENTSTORE_REPLICATION_IP"), "0.0.0.0");
    assert_eq!(env_str(pod, "EVENTSTORE_DB"), "/var/lib/eventstore/db");
    assert_eq!(
        env_str(pod, "EVENTSTORE_CERTIFICATE_RESERVED_NODE_COMMON_NAME"),
        "eventstore-node"
    );
    assert!(!env(pod).iter().any(|(n, _)| n.starts_with("KURRENTDB_")));
}

#[test]
fn eventstore_5_uses_the_legacy_settings_and_ports() {
    let ms = render(&["3", "--profile", "eventstore-5"], false);
    let pod = &find(&ms, "Deployment", "es-1")["spec"]["template"]["spec"];
    for name in [
        "EVENTSTORE_INT_IP",
        "EVENTSTORE_EXT_IP",
        "EVENTSTORE_GOSSIP_ALLOWED_DIFFERENCE_MS",
    ] {
        assert!(has_env(pod, name), "{name}");
    }
    assert_eq!(env_str(pod, "EVENTSTORE_INT_TCP_PORT"), "1112");
    assert_eq!(env_str(pod, "EVENTSTORE_EXT_TCP_PORT"), "1113");
    assert_eq!(env_str(pod, "EVENTSTORE_CLUSTER_GOSSIP_PORT"), "2112");
    assert!(
        !has_env(pod, "EVENTSTORE_NODE_IP"),
        "5.x does not know 23.10 names"
    );
    assert!(
        !has_env(pod, "EVENTSTORE_CERTIFICATE_FILE"),
        "5.x has no node TLS"
    );
    let svc = find(&ms, "Service", "es");
    let ports: Vec<i64> = svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_i64().unwrap())
        .collect();
    assert_eq!(ports, [2113, 1113, 2112, 1112]);
    // Internal ports only between the cluster's nodes.
    let np = find(&ms, "NetworkPolicy", "es");
    let internal: Vec<i64> = np["spec"]["ingress"][1]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_i64().unwrap())
        .collect();
    assert_eq!(internal, [2112, 1112]);
}

/// The 5.x image has no USER line (it expects root); esk runs it as UID 1000, so every path
/// the server writes must be on a writable volume that user can write: the data and log
/// paths on the disk (fsGroup 1000), /tmp and $HOME (Mono's per-user folders) on an emptyDir.
#[test]
fn eventstore_5_runs_unprivileged_with_every_path_it_writes_on_a_writable_volume() {
    let ms = render(&["3", "--profile", "eventstore-5"], false);
    let pod = &find(&ms, "Deployment", "es-1")["spec"]["template"]["spec"];
    let sc = &pod["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["runAsUser"], 1000);
    assert_eq!(sc["fsGroup"], 1000);
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    let volume = |name: &str| {
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    let writable_volume_of = |path: &str| -> Option<Value> {
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["readOnly"] != true)
            .filter(|m| {
                let at = m["mountPath"].as_str().unwrap();
                path == at || path.starts_with(&format!("{at}/"))
            })
            .max_by_key(|m| m["mountPath"].as_str().unwrap().len())
            .map(|m| volume(m["name"].as_str().unwrap()))
    };
    let home = env_str(pod, "HOME");
    assert_eq!(home, "/tmp");
    let paths = [
        env_str(pod, "EVENTSTORE_DB"),
        env_str(pod, "EVENTSTORE_INDEX"),
        env_str(pod, "EVENTSTORE_LOG"),
    ];
    for path in &paths {
        let v = writable_volume_of(path).unwrap_or_else(|| panic!("{path} is not writable"));
        assert!(
            v.get("persistentVolumeClaim").is_some(),
            "{path} must be on the node's disk: {v}"
        );
    }
    for path in [home.as_str(), "/tmp"] {
        let v = writable_volume_of(path).unwrap_or_else(|| panic!("{path} is not writable"));
        assert!(v.get("emptyDir").is_some(), "{path}: {v}");
    }
}

/// Replication and client/gossip addresses are the node's stable DNS name under each
/// version's own setting names; 5.x can only advertise an IP (its options are IPAddress).
#[test]
fn nodes_advertise_their_dns_name_for_clients_and_replication_in_each_version() {
    for (profile, prefix) in [
        ("default", "KURRENTDB_"),
        ("kurrentdb-26", "KURRENTDB_"),
        ("kurrentdb-25", "KURRENTDB_"),
        ("eventstore-24", "EVENTSTORE_"),
    ] {
        for workload in WORKLOADS {
            let ms = render(&["3", "--profile", profile, "--workload", workload], false);
            let (kind, name, fqdn) = match *workload {
                "statefulset" => (
                    "StatefulSet",
                    "es",
                    "$(POD_NAME).es.default.svc.cluster.local",
                ),
                _ => ("Deployment", "es-2", "es-2.es.default.svc.cluster.local"),
            };
            let pod = &find(&ms, kind, name)["spec"]["template"]["spec"];
            for setting in ["NODE_HOST_ADVERTISE_AS", "REPLICATION_HOST_ADVERTISE_AS"] {
                assert_eq!(
                    env_str(pod, &format!("{prefix}{setting}")),
                    fqdn,
                    "{profile} {workload}"
                );
            }
            assert!(
                !env(pod)
                    .iter()
                    .any(|(n, _)| n.contains("INT_HOST_ADVERTISE_AS")),
                "{profile}: not the deprecated alias"
            );
        }
    }
    let ms = render(&["3", "--profile", "eventstore-5"], false);
    let pod = &find(&ms, "Deployment", "es-2")["spec"]["template"]["spec"];
    assert!(!env(pod)
        .iter()
        .any(|(n, _)| n.contains("HOST_ADVERTISE_AS")));
    assert!(has_env(pod, "EVENTSTORE_INT_IP"));
}

#[test]
fn safety_defaults_are_on_for_every_profile() {
    for profile in PROFILES {
        let ms = render(&["3", "--profile", profile], false);
        let pdb = find(&ms, "PodDisruptionBudget", "es");
        assert_eq!(pdb["spec"]["maxUnavailable"], 1, "{profile}");
        assert_eq!(
            pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"],
            "node"
        );

        let svc = find(&ms, "Service", "es");
        assert_eq!(svc["spec"]["clusterIP"], "None");
        assert_eq!(svc["spec"]["publishNotReadyAddresses"], true);
        assert_eq!(
            find(&ms, "Service", "es-frontend")["spec"]["type"],
            "ClusterIP",
            "{profile}: public by default"
        );

        let np = find(&ms, "NetworkPolicy", "es");
        let open = &np["spec"]["ingress"][0];
        assert!(
            open.get("from").is_none(),
            "client ports are open to clients"
        );
        assert_eq!(open["ports"][0]["port"], 2113);
        let internal = &np["spec"]["ingress"][1];
        assert_eq!(
            internal["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
            "node"
        );
        assert!(internal["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["port"] == 1112));

        for i in 1..=3 {
            let d = find(&ms, "Deployment", &format!("es-{i}"));
            assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
            let pod = &d["spec"]["template"]["spec"];
            let anti = &pod["affinity"]["podAntiAffinity"]
                ["requiredDuringSchedulingIgnoredDuringExecution"][0];
            assert_eq!(anti["topologyKey"], "kubernetes.io/hostname", "{profile}");
            assert_eq!(pod["terminationGracePeriodSeconds"], 60, "{profile}");
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
            assert_eq!(
                pod["securityContext"]["fsGroup"],
                pod["securityContext"]["runAsUser"]
            );
            let c = &pod["containers"][0];
            assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
            assert!(
                c["livenessProbe"].is_object(),
                "{profile}: no liveness probe"
            );
            assert_eq!(c["resources"]["requests"]["cpu"], "1", "{profile}");
            assert_eq!(c["resources"]["requests"]["memory"], "4Gi", "{profile}");
            let image = c["image"].as_str().unwrap();
            let tag = image.rsplit(':').next().unwrap();
            assert!(
                tag.chars().next().unwrap().is_ascii_digit() || tag.starts_with("release-"),
                "{profile}: unpinned {image}"
            );
        }
    }
}

#[test]
fn opting_out_of_defaults_is_explicit() {
    let ms = render(&["3", "--insecure"], false);
    let pod = &find(&ms, "Deployment", "es-1")["spec"]["template"]["spec"];
    assert_eq!(env_str(pod, "KURRENTDB_INSECURE"), "true");
    assert_eq!(
        pod["containers"][0]["livenessProbe"]["httpGet"]["scheme"],
        "HTTP"
    );
    assert!(!ms.iter().any(|m| m.object.kind == "Secret"));

    let ms = render(&["3", "--set", "node.antiAffinity=preferred"], false);
    let pod = &find(&ms, "Deployment", "es-1")["spec"]["template"]["spec"];
    assert!(
        pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            .is_array()
    );

    let ms = render(
        &["3", "--expose", "public", "--allow-cidr", "203.0.113.0/24"],
        false,
    );
    let svc = find(&ms, "Service", "es-frontend");
    assert_eq!(svc["spec"]["type"], "LoadBalancer");
    assert_eq!(
        svc["spec"]["loadBalancerSourceRanges"],
        serde_json::json!(["203.0.113.0/24"])
    );
}

#[test]
fn the_statefulset_binds_pre_created_claims() {
    let ms = render(&["3", "--workload", "statefulset"], false);
    let sts = find(&ms, "StatefulSet", "es");
    assert_eq!(sts["spec"]["serviceName"], "es");
    assert_eq!(sts["spec"]["replicas"], 3);
    assert_eq!(
        sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
        "Retain"
    );
    assert_eq!(
        sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"],
        "Retain"
    );
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"],
        "data"
    );
    // data-<set>-<ordinal>, pre-bound to node i's volume.
    for (ordinal, i) in [(0, 1), (1, 2), (2, 3)] {
        let pvc = find(&ms, "PersistentVolumeClaim", &format!("data-es-{ordinal}"));
        assert_eq!(pvc["spec"]["volumeName"], format!("default.es-disk-{i}"));
    }
    assert!(!ms.iter().any(|m| m.object.kind == "Deployment"
        && m.object.name.starts_with("es-")
        && m.object.name != "es-frontend"));
    let pod = &sts["spec"]["template"]["spec"];
    assert_eq!(
        env_str(pod, "KURRENTDB_NODE_HOST_ADVERTISE_AS"),
        "$(POD_NAME).es.default.svc.cluster.local"
    );
    assert_eq!(
        env_str(pod, "KURRENTDB_CERTIFICATE_FILE"),
        "/etc/kurrentdb/certs/node/$(POD_NAME)/tls.crt"
    );
}

#[test]
fn render_output_matches_the_snapshots() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let update = std::env::var_os("ESK_UPDATE_SNAPSHOTS").is_some();
    let mut stale = Vec::new();
    for profile in PROFILES {
        for workload in WORKLOADS {
            let text = to_yaml_stream(&render(
                &["3", "--profile", profile, "--workload", workload],
                false,
            ));
            let file = dir.join(format!("{profile}-{workload}-3.yaml"));
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&file, &text).unwrap();
            } else if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
                stale.push(file.display().to_string());
            }
        }
    }
    assert!(stale.is_empty(), "render output changed (review, then ESK_UPDATE_SNAPSHOTS=1 cargo test --test output): {stale:?}");
}

#[test]
fn render_never_prints_private_keys_unless_asked() {
    let plain = to_yaml_stream(&render(&["3"], false));
    assert!(!plain.contains("kind: Secret"));
    let with = render(&["3"], true);
    assert!(with.iter().any(|m| m.object.name == "es-ca"));
}

#[path = "output/replicas.rs"]
mod replicas;
