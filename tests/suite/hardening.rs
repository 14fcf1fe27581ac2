//! Every pod esk makes is hardened: no service account token, a read-only root filesystem with
//! a writable volume at every path the image really writes, RuntimeDefault seccomp, no
//! privilege escalation, no capabilities (the disk Jobs keep exactly the one they need); the
//! frontend has its own NetworkPolicy and probes on the one port its nginx listens on.

use crate::common::*;
use clap::Parser;
use esk::cli::{Cli, Command};
use esk::manifest::Manifest;
use serde_json::{json, Value};

const PROFILES: &[&str] = &[
    "default",
    "kurrentdb-26",
    "kurrentdb-25",
    "eventstore-24",
    "eventstore-5",
];
const WORKLOADS: &[&str] = &["deployment", "statefulset"];

/// Where each server image writes at run time besides the db, index and log paths esk sets
/// (those are read from the pod's own settings and checked too), by image prefix. From the
/// images' Dockerfiles (kurrent-io/KurrentDB `Dockerfile` at v26.0.0, v25.1.0, v24.10.6 and
/// `oss-v5.0.11`) and the servers' sources; the user they run as may write nowhere else
/// but its data, log and config directories and the program's own directory, which it only
/// reads.
const SERVER_WRITES: &[(&str, &[(&str, &str)])] = &[
    ("docker.kurrent.io/kurrent-latest/kurrentdb:", DOTNET_WRITES),
    ("eventstore/eventstore:24.", DOTNET_WRITES),
    (
        "eventstore/eventstore:release-5.",
        &[("/tmp", "Mono's temp path (Path.GetTempPath)")],
    ),
];

/// KurrentDB / EventStoreDB 20.10+ on .NET.
const DOTNET_WRITES: &[(&str, &str)] = &[
    (
        "/tmp/.dotnet/shm/global",
        "ExclusiveDbLock's named mutex Global\\ESDB-HASHED:<hash of the db path>",
    ),
    (
        "/tmp/.dotnet/lockfiles/global",
        "the lock file beside that mutex",
    ),
    (
        "/tmp/dotnet-diagnostic-1-0-socket",
        "the runtime's diagnostics socket, $TMPDIR/dotnet-diagnostic-<pid>-<key>-socket",
    ),
    (
        "/tmp/etilqs_0",
        "SQLite temp files of the scavenge state, in the first writable of /var/tmp, /usr/tmp, /tmp",
    ),
];

/// nginx's compiled-in write paths (`nginx -V` of the official image) and the directive
/// that moves each; the effective one (the config's, else this default) must be writable.
/// The logs, /var/log/nginx/{error,access}.log, are links to /dev/stderr and /dev/stdout.
const NGINX_WRITES: &[(&str, &str)] = &[
    ("pid", "/var/run/nginx.pid"),
    ("client_body_temp_path", "/var/cache/nginx/client_temp"),
    ("proxy_temp_path", "/var/cache/nginx/proxy_temp"),
    ("fastcgi_temp_path", "/var/cache/nginx/fastcgi_temp"),
    ("uwsgi_temp_path", "/var/cache/nginx/uwsgi_temp"),
    ("scgi_temp_path", "/var/cache/nginx/scgi_temp"),
];

/// The volume types the `restricted` Pod Security Standard allows.
const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Renders like `esk render`, through the same code, for GKE.
fn render(args: &[&str]) -> Vec<Manifest> {
    let mut argv = vec!["esk", "render"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&[
        "--cloud",
        "gke",
        "--project",
        "p",
        "--zone",
        "us-central1-a",
    ]);
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
    let templates = esk::render::Templates::load(None).unwrap();
    esk::commands::offline_manifests(&spec, &templates, false).unwrap()
}

fn json(m: &Manifest) -> Value {
    serde_json::to_value(&m.value).unwrap()
}

/// Every (profile, workload, TLS mode) rendering, as JSON objects.
fn renderings() -> Vec<(String, Vec<Value>)> {
    let mut out = Vec::new();
    for profile in PROFILES {
        for workload in WORKLOADS {
            // Read-only replicas (20.10+, one Deployment each) are pods like the nodes.
            let replicas = *workload == "deployment" && *profile != "eventstore-5";
            let with_replicas = &["--read-only-replicas", "2"][..];
            for extra in [&[][..], &["--insecure"][..], with_replicas] {
                if extra == with_replicas && !replicas {
                    continue;
                }
                let mut args = vec!["3", "--profile", profile, "--workload", workload];
                args.extend_from_slice(extra);
                let what = format!("{profile}/{workload}{}", extra.join(""));
                out.push((what, render(&args).iter().map(json).collect()));
            }
        }
    }
    out
}

fn pod_templates(objects: &[Value]) -> Vec<(String, &Value)> {
    objects
        .iter()
        .filter(|o| ["Deployment", "StatefulSet", "Job"].contains(&o["kind"].as_str().unwrap()))
        .map(|o| {
            let name = format!("{}/{}", o["kind"].as_str().unwrap(), o["metadata"]["name"]);
            (name, &o["spec"]["template"])
        })
        .collect()
}

fn containers(pod: &Value) -> Vec<&Value> {
    let spec = &pod["spec"];
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().into_iter().flatten())
        .collect()
}

/// What is wrong with a pod's hardening; `capabilities` are the ones it may add.
fn hardening_faults(pod: &Value, capabilities: &[&str], root: bool) -> Vec<String> {
    let spec = &pod["spec"];
    let mut faults = Vec::new();
    if spec["automountServiceAccountToken"] != false {
        faults.push("the service account token is mounted".to_string());
    }
    if spec["enableServiceLinks"] != false {
        faults.push("service links put every Service in the environment".to_string());
    }
    if !root {
        // The `restricted` Pod Security Standard: never UID 0, and only these volume types.
        if spec["securityContext"]["runAsNonRoot"] != true
            || spec["securityContext"]["runAsUser"] == 0
        {
            faults.push("may run as root".into());
        }
        for v in spec["volumes"].as_array().into_iter().flatten() {
            let kinds: Vec<&String> = v
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "name")
                .collect();
            if !kinds
                .iter()
                .all(|k| RESTRICTED_VOLUMES.contains(&k.as_str()))
            {
                faults.push(format!("volume {} is {kinds:?}", v["name"]));
            }
        }
    }
    let cs = containers(pod);
    if cs.is_empty() {
        faults.push("no containers".into());
    }
    for c in cs {
        let name = c["name"].as_str().unwrap_or("?");
        let sc = &c["securityContext"];
        if sc["readOnlyRootFilesystem"] != true {
            faults.push(format!("{name}: the root filesystem is writable"));
        }
        if sc["allowPrivilegeEscalation"] != false {
            faults.push(format!("{name}: privilege escalation allowed"));
        }
        if sc["capabilities"]["drop"] != json!(["ALL"]) {
            faults.push(format!("{name}: capabilities not all dropped"));
        }
        let added: Vec<&str> = sc["capabilities"]["add"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap_or("?"))
            .collect();
        if let Some(extra) = added.iter().find(|a| !capabilities.contains(a)) {
            faults.push(format!("{name}: adds capability {extra}"));
        }
        let seccomp = if sc["seccompProfile"].is_object() {
            &sc["seccompProfile"]
        } else {
            &spec["securityContext"]["seccompProfile"]
        };
        if seccomp["type"] != "RuntimeDefault" {
            faults.push(format!("{name}: seccomp is {}", seccomp["type"]));
        }
        if sc["privileged"] == true {
            faults.push(format!("{name}: privileged"));
        }
    }
    faults
}

/// The paths among `paths` that no writable mount of `container` covers. Writable: not
/// read-only, and backed by an emptyDir, a claim or (a StatefulSet's) claim template.
fn uncovered(
    pod: &Value,
    claim_templates: &[&str],
    container: &Value,
    paths: &[String],
) -> Vec<String> {
    let volumes = pod["spec"]["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let writable = |name: &str| {
        claim_templates.contains(&name)
            || volumes.iter().any(|v| {
                v["name"] == name
                    && (v["emptyDir"].is_object() || v["persistentVolumeClaim"].is_object())
            })
    };
    let mounts: Vec<&str> = container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["readOnly"] != true && writable(m["name"].as_str().unwrap_or("")))
        .filter_map(|m| m["mountPath"].as_str())
        .collect();
    paths
        .iter()
        .filter(|p| {
            !mounts.iter().any(|m| {
                let m = m.trim_end_matches('/');
                p.as_str() == m || p.starts_with(&format!("{m}/"))
            })
        })
        .cloned()
        .collect()
}

fn env_value(container: &Value, suffix: &str) -> Option<String> {
    container["env"].as_array()?.iter().find_map(|e| {
        let name = e["name"].as_str()?;
        (name.ends_with(suffix)
            && (name.starts_with("KURRENTDB_") || name.starts_with("EVENTSTORE_")))
        .then(|| e["value"].as_str().map(str::to_string))
        .flatten()
    })
}

/// Every path the EventStore container writes: its own settings' db, index and log paths
/// plus what its image writes (SERVER_WRITES).
fn server_writes(container: &Value) -> Vec<String> {
    let image = container["image"].as_str().unwrap();
    let (_, image_writes) = SERVER_WRITES
        .iter()
        .find(|(prefix, _)| image.starts_with(prefix))
        .unwrap_or_else(|| {
            panic!(
                "no list of what {image} writes: find out (its Dockerfile, its source) and add it"
            )
        });
    let mut paths: Vec<String> = ["_DB", "_INDEX", "_LOG"]
        .iter()
        .map(|k| env_value(container, k).unwrap_or_else(|| panic!("{image}: no {k} setting")))
        .collect();
    paths.extend(image_writes.iter().map(|(p, _)| p.to_string()));
    paths
}

/// The nginx config's value for `directive` (`name value;`), top level or in a block.
fn nginx_directive(conf: &str, directive: &str) -> Vec<String> {
    conf.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(directive))
                .then(|| words.next().unwrap_or("").trim_end_matches(';').to_string())
        })
        .collect()
}

/// Where nginx writes with this config.
fn nginx_writes(conf: &str) -> Vec<String> {
    NGINX_WRITES
        .iter()
        .map(|(directive, default)| {
            nginx_directive(conf, directive)
                .pop()
                .unwrap_or_else(|| default.to_string())
        })
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

/// A container port given by number or by name.
fn port_number(container: &Value, port: &Value) -> i64 {
    if let Some(n) = port.as_i64() {
        return n;
    }
    container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == *port)
        .and_then(|p| p["containerPort"].as_i64())
        .unwrap_or_else(|| panic!("no container port {port}"))
}

#[test]
fn every_pod_template_is_hardened() {
    let mut pods = 0;
    for (what, objects) in renderings() {
        for (name, pod) in pod_templates(&objects) {
            let faults = hardening_faults(pod, &[], false);
            assert!(faults.is_empty(), "{what} {name}: {faults:?}");
            pods += 1;
        }
    }
    // Per rendering: 3 node Deployments or one StatefulSet, and the frontend; with replicas
    // (four 20.10+ profiles) 3 nodes, 2 replicas and the frontend.
    assert_eq!(
        pods,
        PROFILES.len() * 2 * (4 + 2) + 4 * (3 + 2 + 1),
        "pod templates checked"
    );
}

#[test]
fn every_path_the_servers_write_is_a_writable_volume() {
    for (what, objects) in renderings() {
        for (name, pod) in pod_templates(&objects) {
            let component = &pod["metadata"]["labels"]["app.kubernetes.io/component"];
            if component != "node" && component != "replica" {
                continue;
            }
            let owner = objects
                .iter()
                .find(|o| {
                    format!("{}/{}", o["kind"].as_str().unwrap(), o["metadata"]["name"]) == name
                })
                .unwrap();
            let templates: Vec<&str> = owner["spec"]["volumeClaimTemplates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["metadata"]["name"].as_str())
                .collect();
            let c = &pod["spec"]["containers"][0];
            let missing = uncovered(pod, &templates, c, &server_writes(c));
            assert!(
                missing.is_empty(),
                "{what} {name}: nothing writable at {missing:?}"
            );
        }
    }
}

#[test]
fn every_path_nginx_writes_is_a_writable_volume() {
    for (what, objects) in renderings() {
        let conf = find(&objects, "ConfigMap", "es-frontend")["data"]["nginx.conf"]
            .as_str()
            .unwrap();
        let pod = &find(&objects, "Deployment", "es-frontend")["spec"]["template"];
        let c = &pod["spec"]["containers"][0];
        let writes = nginx_writes(conf);
        let missing = uncovered(pod, &[], c, &writes);
        assert!(
            missing.is_empty(),
            "{what}: nginx writes {missing:?}, nothing writable there"
        );
        // The config itself is mounted read-only.
        let config = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == "/etc/nginx/nginx.conf")
            .expect("nginx.conf mounted");
        assert_eq!(config["readOnly"], true, "{what}");
    }
}

#[test]
fn the_frontend_listens_probes_serves_and_admits_on_one_port() {
    for (what, objects) in renderings() {
        let conf = find(&objects, "ConfigMap", "es-frontend")["data"]["nginx.conf"]
            .as_str()
            .unwrap();
        let listen = nginx_directive(conf, "listen");
        assert_eq!(listen.len(), 1, "{what}: {listen:?}");
        let port: i64 = listen[0]
            .parse()
            .unwrap_or_else(|_| panic!("{what}: listen {listen:?}"));
        assert!(
            port > 1024,
            "{what}: nginx runs as non-root, so it cannot bind {port}"
        );

        let deploy = find(&objects, "Deployment", "es-frontend");
        let pod = &deploy["spec"]["template"];
        let c = &pod["spec"]["containers"][0];
        let exposed: Vec<i64> = c["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["containerPort"].as_i64().unwrap())
            .collect();
        assert_eq!(exposed, [port], "{what}: container ports");
        for probe in ["livenessProbe", "readinessProbe"] {
            let p = &c[probe];
            let target = if p["httpGet"].is_object() {
                &p["httpGet"]
            } else {
                &p["tcpSocket"]
            };
            assert!(target.is_object(), "{what}: no {probe}");
            assert_eq!(
                port_number(c, &target["port"]),
                port,
                "{what}: {probe} port"
            );
            if let Some(path) = p["httpGet"]["path"].as_str() {
                // Answered by nginx itself, not proxied to the nodes.
                assert!(
                    conf.contains(&format!("location = {path} {{")),
                    "{what}: {probe} asks {path}, which nginx does not answer itself"
                );
            }
        }

        let svc = find(&objects, "Service", "es-frontend");
        for p in svc["spec"]["ports"].as_array().unwrap() {
            assert_eq!(
                port_number(c, &p["targetPort"]),
                port,
                "{what}: Service targetPort"
            );
        }

        // One NetworkPolicy selects the frontend's pods, and only them, and admits TCP on
        // that port alone, from anywhere.
        let pod_labels = pod["metadata"]["labels"].as_object().unwrap();
        let selects = |np: &Value, labels: &serde_json::Map<String, Value>| {
            let sel = &np["spec"]["podSelector"];
            assert!(sel["matchExpressions"].is_null(), "{what}: {sel}");
            sel["matchLabels"]
                .as_object()
                .is_some_and(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)))
        };
        let policies: Vec<&Value> = objects
            .iter()
            .filter(|o| o["kind"] == "NetworkPolicy" && selects(o, pod_labels))
            .collect();
        assert_eq!(policies.len(), 1, "{what}: policies over the frontend");
        let np = policies[0];
        assert_eq!(np["metadata"]["name"], "es-frontend");
        for (name, other) in pod_templates(&objects) {
            let labels = other["metadata"]["labels"].as_object().unwrap();
            if labels != pod_labels {
                assert!(
                    !selects(np, labels),
                    "{what}: the frontend policy selects {name}"
                );
            }
        }
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress"]), "{what}");
        assert_eq!(
            np["spec"]["ingress"],
            json!([{"ports": [{"protocol": "TCP", "port": port}]}]),
            "{what}"
        );
    }
}

#[test]
fn the_checks_catch_what_they_are_for() {
    let objects: Vec<Value> = render(&["3"]).iter().map(json).collect();
    let deploy = find(&objects, "Deployment", "es-1");
    let pod = &deploy["spec"]["template"];
    let c = &pod["spec"]["containers"][0];
    assert!(hardening_faults(pod, &[], false).is_empty());
    assert!(uncovered(pod, &[], c, &server_writes(c)).is_empty());

    // Without the /tmp emptyDir the server cannot take its database lock.
    let mut broken = pod.clone();
    broken["spec"]["volumes"]
        .as_array_mut()
        .unwrap()
        .retain(|v| v["name"] != "tmp");
    let c = broken["spec"]["containers"][0].clone();
    let missing = uncovered(&broken, &[], &c, &server_writes(&c));
    assert!(
        missing.contains(&"/tmp/.dotnet/shm/global".to_string()),
        "{missing:?}"
    );
    // Read-only, the same.
    let mut broken = pod.clone();
    for m in broken["spec"]["containers"][0]["volumeMounts"]
        .as_array_mut()
        .unwrap()
    {
        m["readOnly"] = json!(true);
    }
    let c = broken["spec"]["containers"][0].clone();
    assert_eq!(
        uncovered(&broken, &[], &c, &server_writes(&c)).len(),
        3 + DOTNET_WRITES.len()
    );

    for (field, value) in [
        ("/spec/automountServiceAccountToken", json!(true)),
        (
            "/spec/containers/0/securityContext/readOnlyRootFilesystem",
            json!(false),
        ),
        (
            "/spec/containers/0/securityContext/allowPrivilegeEscalation",
            Value::Null,
        ),
        (
            "/spec/containers/0/securityContext/capabilities/drop",
            json!(["NET_RAW"]),
        ),
        (
            "/spec/containers/0/securityContext/capabilities/add",
            json!(["SYS_ADMIN"]),
        ),
        (
            "/spec/securityContext/seccompProfile/type",
            json!("Unconfined"),
        ),
        ("/spec/securityContext/runAsNonRoot", json!(false)),
        ("/spec/securityContext/runAsUser", json!(0)),
        (
            "/spec/volumes/0",
            json!({"name": "tmp", "hostPath": {"path": "/tmp"}}),
        ),
    ] {
        let mut broken = pod.clone();
        match broken.pointer_mut(field) {
            Some(v) => *v = value,
            None => {
                let (parent, key) = field.rsplit_once('/').unwrap();
                broken.pointer_mut(parent).unwrap()[key] = value;
            }
        }
        assert!(
            !hardening_faults(&broken, &[], false).is_empty(),
            "{field} not caught"
        );
    }

    // nginx: dropping a temp path directive leaves its compiled-in default, not writable.
    let conf = find(&objects, "ConfigMap", "es-frontend")["data"]["nginx.conf"]
        .as_str()
        .unwrap();
    let without: String = conf
        .lines()
        .filter(|l| !l.contains("scgi_temp_path"))
        .collect::<Vec<_>>()
        .join("\n");
    let front = &find(&objects, "Deployment", "es-frontend")["spec"]["template"];
    let fc = &front["spec"]["containers"][0];
    assert!(uncovered(front, &[], fc, &nginx_writes(conf)).is_empty());
    assert_eq!(
        uncovered(front, &[], fc, &nginx_writes(&without)),
        ["/var/cache/nginx/scgi_temp"]
    );
}

fn kind_bed() -> TestBed {
    let bed = TestBed::with_context("kind-dev");
    bed.kube.seed(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "dev-control-plane", "labels": {"kubernetes.io/hostname": "dev-control-plane"}},
    }));
    bed
}

/// Makes esk's next poll of its disk Jobs fail, so the Job stays to be inspected.
fn keep_disk_jobs(bed: &TestBed) {
    bed.kube.inject_fault(testbed::kube::Fault {
        method: Some("GET".into()),
        path_contains: "esk.io/disk-job".into(),
        status: 500,
        times: 100,
    });
}

/// The disk Jobs of the kind adapter: hardened like the rest, root only with the one
/// capability their command needs, and valid for Kubernetes 1.29 and 1.32.
#[test]
fn the_disk_jobs_are_hardened_too() {
    let bed = kind_bed();
    keep_disk_jobs(&bed);
    let out = esk(&bed, &["create", "1", "--insecure"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let mkdir = bed
        .kube
        .get("Job", Some("default"), "es-mkdir-1")
        .expect("mkdir job");

    let bed = kind_bed();
    esk_ok(&bed, &["create", "1", "--insecure"]);
    keep_disk_jobs(&bed);
    let out = esk(&bed, &["delete", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let rmdir = bed
        .kube
        .get("Job", Some("default"), "es-rmdir-1")
        .expect("rmdir job");

    for (job, capability) in [(&mkdir, "CHOWN"), (&rmdir, "DAC_OVERRIDE")] {
        let name = &job["metadata"]["name"];
        let pod = &job["spec"]["template"];
        let faults = hardening_faults(pod, &[capability], true);
        assert!(faults.is_empty(), "{name}: {faults:?}");
        // A hostPath at /disk is the only place it writes.
        let c = &pod["spec"]["containers"][0];
        assert_eq!(
            c["volumeMounts"],
            json!([{"name": "disk", "mountPath": "/disk"}])
        );
        for (version, back) in [
            (
                "1.32",
                serde_json::from_value::<k8s_openapi::api::batch::v1::Job>(job.clone())
                    .map(|j| serde_json::to_value(j).unwrap()),
            ),
            (
                "1.29",
                serde_json::from_value::<k8s_openapi_129::api::batch::v1::Job>(job.clone())
                    .map(|j| serde_json::to_value(j).unwrap()),
            ),
        ] {
            let back = back.unwrap_or_else(|e| panic!("{name}: {version}: {e}"));
            // The pod template as esk sent it survives the typed API unchanged.
            assert_eq!(
                back["spec"]["template"], job["spec"]["template"],
                "{name}: {version}"
            );
        }
    }
}
