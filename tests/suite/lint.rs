//! `esk lint`: every built-in render is clean, the hand-written bad set in tests/lint/bad
//! triggers every rule exactly once, the JSON report and exit codes are as documented, and
//! `create`/`resize` refuse a render with lint errors (exit 3, nothing changed) unless --force.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::*;
use esk::lint::{Severity, RULES};
use serde_json::Value;

const PROFILES: &[&str] = &[
    "default",
    "kurrentdb-26",
    "kurrentdb-25",
    "eventstore-24",
    "eventstore-5",
];
const WORKLOADS: &[&str] = &["deployment", "statefulset"];

fn bad_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint/bad")
}

/// Runs esk outside any test bed (lint and render need no cluster), `stdin` piped in.
fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(ESK)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("esk runs");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("esk finishes")
}

fn render(n: &str, extra: &[&str]) -> String {
    let mut args = vec!["render", n, "--project", "p", "--zone", "us-central1-a"];
    args.extend_from_slice(extra);
    let out = run(&args, "");
    assert!(out.status.success(), "esk {args:?}:\n{}", text(&out));
    stdout(&out)
}

/// `esk lint -o json -` over `manifests`: the exit code and the parsed report.
fn lint_json(manifests: &str) -> (Option<i32>, Value) {
    let out = run(&["lint", "-o", "json", "-"], manifests);
    let report: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("lint -o json is not JSON ({e}):\n{}", text(&out)));
    (out.status.code(), report)
}

fn rule_ids(report: &Value) -> Vec<String> {
    let mut ids: Vec<String> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"].as_str().expect("rule").to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn every_built_in_render_lints_clean() {
    for profile in PROFILES {
        for workload in WORKLOADS {
            for n in ["1", "3", "5"] {
                let what = format!("{profile} {workload} {n}");
                let yaml = render(n, &["--profile", profile, "--workload", workload]);
                // No errors and no warnings at all for odd sizes with the defaults.
                let (code, report) = lint_json(&yaml);
                assert_eq!(code, Some(0), "{what}: {report:#}");
                assert_eq!(
                    rule_ids(&report),
                    Vec::<String>::new(),
                    "{what}: {report:#}"
                );
                assert!(report["objects"].as_u64().unwrap() >= 10, "{what}");

                // Clean because the nodes were understood, not missed: a small disk is seen
                // on every node workload, a missing publishNotReadyAddresses on the Service.
                let workloads = if *workload == "deployment" { n } else { "1" };
                let (code, report) = lint_json(&yaml.replace("storage: 20Gi", "storage: 5Gi"));
                assert_eq!(code, Some(0), "{what}: warnings only");
                assert_eq!(
                    rule_ids(&report),
                    vec!["ES003".to_string(); workloads.parse().unwrap()],
                    "{what}"
                );
                // ...where a readiness probe can hold the nodes back: eventstore-5 nodes have
                // none, so they are published whatever the Service says.
                if n != "1" {
                    let (code, report) = lint_json(&yaml.replace(
                        "publishNotReadyAddresses: true",
                        "publishNotReadyAddresses: false",
                    ));
                    if *profile == "eventstore-5" {
                        assert_eq!((code, rule_ids(&report)), (Some(0), vec![]), "{what}");
                    } else {
                        assert_eq!(code, Some(5), "{what}");
                        assert_eq!(rule_ids(&report), ["ES010"], "{what}");
                    }
                }
            }
        }
    }
}

#[test]
fn read_only_replicas_lint_clean_and_are_told_apart_from_voting_nodes() {
    for (profile, prefix) in [("default", "KURRENTDB_"), ("eventstore-24", "EVENTSTORE_")] {
        for k in ["1", "2"] {
            let yaml = render("3", &["--profile", profile, "--read-only-replicas", k]);
            let (code, report) = lint_json(&yaml);
            assert_eq!(code, Some(0), "{profile} {k}: {report:#}");
            assert_eq!(rule_ids(&report), Vec::<String>::new(), "{profile} {k}");
            // The same pods as voting members: 3 + K servers for a CLUSTER_SIZE of 3.
            let setting = format!("- name: {prefix}READ_ONLY_REPLICA\n          value: 'true'");
            assert!(yaml.contains(&setting), "{profile}");
            let voting = yaml.replace(&setting, &setting.replace("'true'", "'false'"));
            let (code, report) = lint_json(&voting);
            assert_eq!(code, Some(5), "{profile} {k}");
            assert!(
                rule_ids(&report).contains(&"ES007".to_string()),
                "{report:#}"
            );
        }
    }
}

#[test]
fn each_version_has_its_own_ports_checked() {
    // Closing a port a version really uses between nodes is found; 5.x gossips on 2112.
    let v5 = render("3", &["--profile", "eventstore-5"]);
    let (code, report) = lint_json(&v5.replace("port: 2112", "port: 2999"));
    assert_eq!(code, Some(5));
    assert_eq!(rule_ids(&report), ["ES005"]);
    assert!(report["findings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("2112"));
    let v26 = render("3", &[]);
    let (_, report) = lint_json(&v26.replace("port: 1112", "port: 1999"));
    assert_eq!(rule_ids(&report), ["ES005"]);
    // Client ports: 2113 everywhere, 1113 as well on 5.x.
    let (_, report) = lint_json(&v5.replace("port: 1113", "port: 1999"));
    assert_eq!(rule_ids(&report), ["ES004"]);
}

#[test]
fn the_shapes_esk_warns_about_warn_and_a_forced_two_node_cluster_is_an_error() {
    let (code, report) = lint_json(&render("4", &["--workload", "statefulset"]));
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(rule_ids(&report), ["ES009"]);
    let (code, report) = lint_json(&render("3", &["--insecure"]));
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(rule_ids(&report), ["ES020", "ES020", "ES020"]);
    let (code, report) = lint_json(&render("2", &["--force"]));
    assert_eq!(code, Some(5), "{report:#}");
    assert_eq!(rule_ids(&report), ["ES008"]);
    let public = ["--expose", "public", "--allow-cidr", "203.0.113.0/24"];
    let (code, report) = lint_json(&render("3", &public));
    assert_eq!((code, rule_ids(&report)), (Some(0), vec![]));
}

#[test]
fn the_bad_set_triggers_every_rule_exactly_once() {
    let dir = bad_dir();
    let out = run(&["lint", "-o", "json", dir.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let mut all: Vec<String> = RULES.iter().map(|r| r.id.to_string()).collect();
    all.sort();
    assert_eq!(rule_ids(&report), all, "{report:#}");

    // ...each on the object the file's comment names.
    let found: BTreeMap<String, String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().into(),
                f["object"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("ES001", "Pod/a/a-1"),
        ("ES002", "Pod/a/a-2"),
        ("ES003", "Pod/a/a-3"),
        ("ES004", "NetworkPolicy/b/b"),
        ("ES005", "NetworkPolicy/c/c"),
        ("ES006", "Pod/a/a-2"),
        ("ES007", "Pod/e/e-3"),
        ("ES008", "StatefulSet/c/c"),
        ("ES009", "StatefulSet/d/d"),
        ("ES010", "Service/b/b"),
        ("ES011", "StatefulSet/c/c"),
        ("ES012", "PersistentVolume/d-spare"),
        ("ES013", "StorageClass/fast"),
        ("ES014", "Deployment/a/a-4"),
        ("ES015", "Pod/a/a-1"),
        ("ES016", "StatefulSet/b/b"),
        ("ES017", "PodDisruptionBudget/d/d"),
        ("ES018", "StatefulSet/d/d"),
        ("ES019", "Service/b/b-public"),
        ("ES020", "Pod/a/a-3"),
        ("ES021", "StatefulSet/c/c"),
        ("ES022", "Pod/a/a-5"),
        ("ES023", "Service/d/d-frontend"),
        ("ES024", "Service/f/eventstore"),
        ("ES025", "PersistentVolumeClaim/f/eventstore-data"),
        ("ES026", "ConfigMap/f/orders-env"),
        ("ES027", "Pod/e/e-1"),
    ];
    let expected: BTreeMap<String, String> = expected
        .iter()
        .map(|(r, o)| (r.to_string(), o.to_string()))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn the_json_report_has_the_documented_fields() {
    let out = run(&["lint", "-o", "json", bad_dir().to_str().unwrap()], "");
    let report: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let findings = report["findings"].as_array().unwrap();
    let errors = findings.iter().filter(|f| f["severity"] == "error").count();
    assert_eq!(report["errors"], errors);
    assert_eq!(report["warnings"], findings.len() - errors);
    assert_eq!(
        report["objects"], 40,
        "every document of the six files, unknown kinds included"
    );
    for f in findings {
        let rule = RULES
            .iter()
            .find(|r| r.id == f["rule"])
            .expect("a known rule");
        let severity = match rule.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        assert_eq!(f["severity"], severity, "{f}");
        // ES021 and ES022 name the fix for the object (its kind's version, its CSI driver).
        if ["ES021", "ES022"].contains(&rule.id) {
            assert!(f["fix"].as_str().unwrap().starts_with("use "), "{f}");
        } else {
            assert_eq!(f["fix"], rule.fix, "{f}");
        }
        assert!(!f["message"].as_str().unwrap().is_empty());
        let object = match f["namespace"].as_str() {
            Some(ns) => format!(
                "{}/{ns}/{}",
                f["kind"].as_str().unwrap(),
                f["name"].as_str().unwrap()
            ),
            None => format!(
                "{}/{}",
                f["kind"].as_str().unwrap(),
                f["name"].as_str().unwrap()
            ),
        };
        assert_eq!(f["object"], object.as_str());
        let file = f["file"].as_str().unwrap();
        assert!(
            file.starts_with(bad_dir().to_str().unwrap()) && file.ends_with(".yaml"),
            "{f}"
        );
    }
}

#[test]
fn text_output_reads_stdin_by_default_one_line_per_finding() {
    let bad = std::fs::read_to_string(bad_dir().join("c-two-nodes.yaml")).unwrap();
    let out = run(&["lint"], &bad);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 5, "{}", text(&out));
    assert!(
        lines[0].starts_with("-: error ES005 NetworkPolicy/c/c: "),
        "{lines:?}"
    );
    assert!(lines[0].contains("; fix: "), "{lines:?}");
    assert_eq!(
        lines[4],
        "esk lint: 4 error(s), 0 warning(s) in 4 object(s)"
    );
    assert_eq!(stderr(&out).trim(), "esk: lint found 4 error(s)");
}

#[test]
fn exit_codes_are_0_5_and_2() {
    let clean = render("3", &[]);
    assert_eq!(run(&["lint"], &clean).status.code(), Some(0));
    assert_eq!(
        run(&["lint", "-"], &render("4", &[])).status.code(),
        Some(0),
        "warnings only"
    );
    let bad = bad_dir().join("a-per-node.yaml");
    assert_eq!(
        run(&["lint", bad.to_str().unwrap()], "").status.code(),
        Some(5)
    );
    for (input, args, needle) in [
        // Nothing to lint is bad input, not a clean bill (see also
        // no_objects_kustomizations_and_json_are_told_apart).
        ("", vec!["lint"], "no Kubernetes objects found in stdin"),
        ("kind: [unclosed\n", vec!["lint"], "not valid YAML"),
        ("just a string\n", vec!["lint"], "not a Kubernetes object"),
        (
            "apiVersion: v1\nkind: Pod\n---\n- a list\n",
            vec!["lint"],
            "document 2",
        ),
        (
            "",
            vec!["lint", "/nonexistent/x.yaml"],
            "cannot read /nonexistent/x.yaml",
        ),
        ("", vec!["lint", "-o", "yaml"], "-o takes text or json"),
    ] {
        let out = run(&args, input);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{input:?} {args:?}: {}",
            text(&out)
        );
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{needle:?} in {err}");
        assert!(stdout(&out).is_empty(), "{}", text(&out));
    }
}

#[test]
fn readme_lists_every_rule_with_its_severity() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = &readme[readme.find("## esk lint").expect("a section \"esk lint\"")..];
    for r in RULES {
        let severity = match r.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let row = format!("| {} | {severity} |", r.id);
        assert!(section.contains(&row), "README has no row starting {row:?}");
    }
}

/// Templates like the built-in ones but for a node Deployment that rolls (two servers on one
/// disk during an update).
fn rolling_templates(bed: &TestBed) -> PathBuf {
    let dir = bed.dir().join("rolling-templates");
    std::fs::create_dir_all(&dir).unwrap();
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/node-deployment.yaml.j2");
    let text = std::fs::read_to_string(built_in).unwrap();
    assert!(text.contains("type: Recreate"));
    std::fs::write(
        dir.join("node-deployment.yaml.j2"),
        text.replace("type: Recreate", "type: RollingUpdate"),
    )
    .unwrap();
    dir
}

#[test]
fn create_refuses_its_own_render_with_lint_errors_unless_forced() {
    let bed = TestBed::start();
    let dir = rolling_templates(&bed);
    let templates = dir.to_str().unwrap();
    for dry_run in [false, true] {
        let mut args = vec!["create", "3", "--templates", templates];
        if dry_run {
            args.push("--dry-run");
        }
        let out = esk(&bed, &args);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains("ES014 Deployment/default/es-1"), "{err}");
        assert!(err.contains("--force"), "{err}");
        assert_eq!(bed.mutating_requests(), 0, "{args:?} changed something");
    }
    assert!(bed.gce.disks().is_empty());

    let out = esk_ok(
        &bed,
        &[
            "create",
            "3",
            "--templates",
            templates,
            "--force",
            "--dry-run",
        ],
    );
    assert!(
        stdout(&out).contains("lint error ES014 Deployment/default/es-2"),
        "{}",
        text(&out)
    );
    assert_eq!(bed.mutating_requests(), 0);

    let out = esk_ok(&bed, &["create", "3", "--templates", templates, "--force"]);
    assert!(stderr(&out).contains("lint error ES014"), "{}", text(&out));
    let nodes = node_deployments(&bed, "es");
    assert_eq!(nodes.len(), 3);
    for d in &nodes {
        assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
    }
}

#[test]
fn create_with_the_built_in_templates_shows_no_lint_lines_and_resize_is_checked_too() {
    let bed = TestBed::start();
    let out = esk_ok(&bed, &["create", "3"]);
    assert!(!stderr(&out).contains("lint"), "{}", text(&out));
    assert!(!stdout(&out).contains("lint"), "{}", text(&out));
    let out = esk_ok(&bed, &["create", "1", "--name", "solo"]);
    assert!(!text(&out).contains("lint"), "{}", text(&out));

    let before = bed.mutating_requests();
    let dir = rolling_templates(&bed);
    let out = esk(&bed, &["resize", "5", "--templates", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(stderr(&out).contains("ES014"), "{}", text(&out));
    assert_eq!(
        bed.mutating_requests(),
        before,
        "a refused resize changed something"
    );
    assert_eq!(node_deployments(&bed, "es").len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Manifests people actually wrote (issue 17): each class of false positive stays quiet, each
// miss fires exactly once, odd input is told apart. The manifests imitate the styles found in
// the wild: a Deployment per node rendered by sed, kompose output, StatefulSets,
// ReplicationControllers, kustomize builds.

/// `esk lint -o json -` over `yaml`: (exit code, [(rule, object)] sorted).
fn findings(yaml: &str) -> (Option<i32>, Vec<(String, String)>) {
    let (code, report) = lint_json(yaml);
    let mut found: Vec<(String, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["object"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    (code, found)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(r, o)| (r.to_string(), o.to_string()))
        .collect();
    v.sort();
    v
}

/// One node of the old scripts' shape, as `sed s/${nodenumber}/N/` renders it (apps/v1 and a
/// pinned image already, so only what a test changes is wrong): Deployment `es-N` in
/// `default`, data at `volume` (a pod volume named `esdata`), `probe` appended to the
/// container, `env` appended to its env.
fn sed_node(n: u32, size: u32, volume: &str, probe: &str, env: &str) -> String {
    format!(
        "# es-node.yaml rendered for node {n}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: es-{n}
  namespace: default
  labels: {{app: es, node: \"{n}\"}}
spec:
  replicas: 1
  strategy: {{type: Recreate}}
  selector:
    matchLabels: {{app: es, node: \"{n}\"}}
  template:
    metadata:
      labels: {{app: es, node: \"{n}\"}}
    spec:
      hostname: es-{n}
      subdomain: es
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector: {{matchLabels: {{app: es}}}}
      containers:
      - name: es
        image: eventstore/eventstore:24.10.1-jammy
        env:
        - name: EVENTSTORE_CLUSTER_SIZE
          value: \"{size}\"
        - name: EVENTSTORE_DISCOVER_VIA_DNS
          value: \"true\"
        - name: EVENTSTORE_CLUSTER_DNS
          value: es.default.svc.cluster.local
{env}
        ports:
        - {{containerPort: 2113, name: http}}
        - {{containerPort: 1112, name: replication}}
        resources:
          requests: {{cpu: \"1\", memory: 2Gi}}
        volumeMounts:
        - {{name: esdata, mountPath: /var/lib/eventstore}}
{probe}
      volumes:
      - name: esdata
{volume}
---
"
    )
}

/// The headless Service (`es-service.yaml`) and a budget, as the scripts' users added them.
fn sed_support(publish: bool) -> String {
    let publish = if publish {
        "  publishNotReadyAddresses: true\n"
    } else {
        ""
    };
    format!(
        "apiVersion: v1
kind: Service
metadata: {{name: es, namespace: default}}
spec:
  clusterIP: None
{publish}  selector: {{app: es}}
  ports:
  - {{name: http, port: 2113}}
  - {{name: replication, port: 1112}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: es, namespace: default}}
spec:
  maxUnavailable: 1
  selector: {{matchLabels: {{app: es}}}}
---
"
    )
}

/// A claim `es-N` per node, pre-bound to PV `esdisk-N` of `pv_size` (GCE PD CSI, Retain).
fn bound_disk(n: u32, claim_size: &str, pv_size: &str) -> String {
    format!(
        "apiVersion: v1
kind: PersistentVolume
metadata: {{name: esdisk-{n}}}
spec:
  capacity: {{storage: {pv_size}}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: \"\"
  csi: {{driver: pd.csi.storage.gke.io, volumeHandle: projects/p/zones/us-central1-a/disks/esdisk-{n}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: es-{n}, namespace: default}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: \"\"
  volumeName: esdisk-{n}
  resources: {{requests: {{storage: {claim_size}}}}}
---
"
    )
}

const CLAIM: &str = "        persistentVolumeClaim: {claimName: es-NODE}";
const READINESS: &str = "        readinessProbe:
          httpGet: {path: /health/live, port: 2113, scheme: HTTPS}";

/// A clean 3-node sed-rendered cluster with bound claims; `each(n)` changes node n's text.
fn sed_cluster(publish: bool, probe: &str, each: &dyn Fn(u32, String) -> String) -> String {
    let mut yaml = sed_support(publish);
    for n in 1..=3 {
        yaml.push_str(&bound_disk(n, "20Gi", "20Gi"));
        let volume = CLAIM.replace("NODE", &n.to_string());
        yaml.push_str(&each(n, sed_node(n, 3, &volume, probe, "")));
    }
    yaml
}

#[test]
fn the_sed_rendered_cluster_the_tests_start_from_is_clean() {
    let (code, found) = findings(&sed_cluster(true, READINESS, &|_, s| s));
    assert_eq!((code, found), (Some(0), vec![]));
}

#[test]
fn publish_not_ready_addresses_matters_only_where_a_probe_can_hold_the_nodes_back() {
    // No readiness (or startup) probe: Ready as soon as they run, published anyway.
    let (code, found) = findings(&sed_cluster(false, "", &|_, s| s));
    assert_eq!((code, found), (Some(0), vec![]));
    // With a readiness probe (or only a startup probe), the Service must publish them.
    let startup = READINESS.replace("readinessProbe", "startupProbe");
    for probe in [READINESS, startup.as_str()] {
        let (code, found) = findings(&sed_cluster(false, probe, &|_, s| s));
        assert_eq!(code, Some(5), "{probe}");
        assert_eq!(found, pairs(&[("ES010", "Service/default/es")]), "{probe}");
    }
}

#[test]
fn in_tree_disks_are_a_warning_whose_fix_names_the_csi_driver() {
    for (volume, driver) in [
        (
            "        gcePersistentDisk: {pdName: esdisk-NODE, fsType: ext4}",
            "pd.csi.storage.gke.io",
        ),
        (
            "        awsElasticBlockStore: {volumeID: vol-0abcdef0123456789, fsType: ext4}",
            "ebs.csi.aws.com",
        ),
    ] {
        let yaml = sed_cluster(true, READINESS, &|n, s| {
            let n = n.to_string();
            s.replace(&CLAIM.replace("NODE", &n), &volume.replace("NODE", &n))
        });
        let (code, report) = lint_json(&yaml);
        assert_eq!(code, Some(0), "a warning, not an error: {report:#}");
        let found = report["findings"].as_array().unwrap();
        assert_eq!(rule_ids(&report), ["ES022"; 3], "{report:#}");
        for f in found {
            assert_eq!(f["severity"], "warning");
            let fix = f["fix"].as_str().unwrap();
            assert!(fix.contains(driver), "{fix}");
            assert!(
                !f["message"].as_str().unwrap().contains("no longer has"),
                "{f}"
            );
        }
    }
    // An in-tree PersistentVolume the same.
    let pv = "apiVersion: v1
kind: PersistentVolume
metadata: {name: esdisk-9}
spec:
  capacity: {storage: 50Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  gcePersistentDisk: {pdName: esdisk-9}
";
    let (code, report) = lint_json(pv);
    assert_eq!((code, rule_ids(&report)), (Some(0), vec!["ES022".into()]));
    assert!(report["findings"][0]["fix"]
        .as_str()
        .unwrap()
        .contains("pd.csi.storage.gke.io"));
}

/// A Deployment of `image` named `name` with one container; `extra` appended to it.
fn app(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: shop, labels: {{app: {name}}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: {name}
        image: {image}
{extra}
---
"
    )
}

#[test]
fn the_server_is_known_by_its_image_s_origin_or_its_settings_not_by_a_name() {
    // An application service called eventstore (an event store API of the shop), from the
    // shop's registry: not a server, whatever its connection string says.
    let api = app(
        "eventstore",
        "registry.example.com/shop/eventstore:3.2.0",
        "        ports: [{containerPort: 8080}]
        env:
        - {name: EVENTSTORE_CONNECTION_STRING, value: \"esdb://es.default:2113?tls=true\"}",
    );
    let (code, found) = findings(&api);
    assert_eq!((code, found), (Some(0), vec![]));
    // The server from its publishers, anywhere it is named kurrentdb, or `eventstore`
    // elsewhere with the server's port: a node (no volume at the data directory: ES002).
    for image in [
        "eventstore/eventstore:24.10.1-jammy",
        "docker.io/eventstore/eventstore:23.10.0-jammy",
        "ghcr.io/eventstore/eventstore:24.10.1",
        "docker.eventstore.com/eventstore-ce/eventstoredb-ce:24.10.1",
        "docker.kurrent.io/kurrent-latest/kurrentdb:25.1.0",
        "mirror.example.com/db/kurrentdb:25.1.0",
    ] {
        let (_, found) = findings(&app(
            "db",
            image,
            "        resources: {requests: {cpu: '1', memory: 2Gi}}",
        ));
        let ids: Vec<&str> = found.iter().map(|(r, _)| r.as_str()).collect();
        assert!(ids.contains(&"ES002"), "{image} is a server: {found:?}");
    }
    let mirrored = app(
        "db",
        "registry.example.com/mirror/eventstore:24.10.1",
        "        ports: [{containerPort: 2113}]\n        resources: {requests: {cpu: '1', memory: 2Gi}}",
    );
    let (_, found) = findings(&mirrored);
    assert_eq!(found, pairs(&[("ES002", "Deployment/shop/db")]));
}

/// kustomize build output (sorted by kind, `namePrefix: prod-`, common labels) of a 3-node
/// KurrentDB StatefulSet, its nginx frontend, and the shop's own API.
fn kustomized(frontend_lb: &str, api_lb: &str, node_lb: &str) -> String {
    format!(
        "apiVersion: v1
data:
  nginx.conf: |
    events {{}}
    http {{
      upstream kurrent {{ server prod-kurrentdb.shop.svc.cluster.local:2113; }}
      server {{ listen 8080; location / {{ proxy_pass https://kurrent; }} }}
    }}
kind: ConfigMap
metadata:
  labels: {{env: prod}}
  name: prod-frontend-conf
  namespace: shop
---
apiVersion: v1
kind: Service
metadata:
  labels: {{env: prod}}
  name: prod-api
  namespace: shop
spec:
{api_lb}  ports: [{{port: 80, targetPort: 8080}}]
  selector: {{app: api, env: prod}}
---
apiVersion: v1
kind: Service
metadata:
  labels: {{env: prod}}
  name: prod-frontend
  namespace: shop
spec:
{frontend_lb}  ports: [{{port: 443, targetPort: 8080}}]
  selector: {{app: frontend, env: prod}}
---
apiVersion: v1
kind: Service
metadata:
  labels: {{env: prod}}
  name: prod-kurrentdb
  namespace: shop
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  ports: [{{name: http, port: 2113}}, {{name: replication, port: 1112}}]
  selector: {{app: kurrentdb, env: prod}}
---
apiVersion: v1
kind: Service
metadata:
  labels: {{env: prod}}
  name: prod-kurrentdb-public
  namespace: shop
spec:
{node_lb}  ports: [{{name: http, port: 2113}}]
  selector: {{app: kurrentdb, env: prod}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels: {{env: prod}}
  name: prod-api
  namespace: shop
spec:
  selector:
    matchLabels: {{app: api, env: prod}}
  template:
    metadata:
      labels: {{app: api, env: prod}}
    spec:
      containers:
      - image: registry.example.com/shop/api:7.1.0
        name: api
        env:
        - {{name: KURRENTDB_CONNECTION_STRING, value: \"kurrentdb://prod-kurrentdb.shop:2113?tls=true\"}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels: {{env: prod}}
  name: prod-frontend
  namespace: shop
spec:
  selector:
    matchLabels: {{app: frontend, env: prod}}
  template:
    metadata:
      labels: {{app: frontend, env: prod}}
    spec:
      containers:
      - image: nginx:1.27.3
        name: nginx
        volumeMounts: [{{mountPath: /etc/nginx/nginx.conf, name: conf, subPath: nginx.conf}}]
      volumes:
      - configMap: {{name: prod-frontend-conf}}
        name: conf
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  labels: {{env: prod}}
  name: prod-kurrentdb
  namespace: shop
spec:
  replicas: 3
  selector:
    matchLabels: {{app: kurrentdb, env: prod}}
  serviceName: prod-kurrentdb
  template:
    metadata:
      labels: {{app: kurrentdb, env: prod}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector:
              matchLabels: {{app: kurrentdb, env: prod}}
            topologyKey: kubernetes.io/hostname
      containers:
      - env:
        - {{name: KURRENTDB_CLUSTER_SIZE, value: \"3\"}}
        - {{name: KURRENTDB_CLUSTER_DNS, value: prod-kurrentdb.shop.svc.cluster.local}}
        image: docker.kurrent.io/kurrent-latest/kurrentdb:25.1.0
        name: kurrentdb
        resources:
          requests: {{cpu: \"2\", memory: 8Gi}}
        volumeMounts: [{{mountPath: /var/lib/kurrentdb, name: data}}]
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {{storage: 100Gi}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  labels: {{env: prod}}
  name: prod-kurrentdb
  namespace: shop
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {{app: kurrentdb, env: prod}}
"
    )
}

const PUBLIC_LB: &str = "  type: LoadBalancer\n";
const OPEN_LB: &str = "  type: LoadBalancer\n  loadBalancerSourceRanges: [0.0.0.0/0]\n";

#[test]
fn only_load_balancers_that_lead_to_the_servers_are_reported() {
    // The shop's own API behind a public load balancer is not an EventStore finding.
    let (code, found) = findings(&kustomized("", PUBLIC_LB, ""));
    assert_eq!((code, found), (Some(0), vec![]));
    let (code, found) = findings(&kustomized("", OPEN_LB, ""));
    assert_eq!((code, found), (Some(0), vec![]));
    // One in front of the nodes, directly...
    let (code, found) = findings(&kustomized("", PUBLIC_LB, PUBLIC_LB));
    assert_eq!(code, Some(5));
    assert_eq!(
        found,
        pairs(&[("ES019", "Service/shop/prod-kurrentdb-public")])
    );
    // ...or through the nginx frontend that upstreams to their Service.
    let (code, found) = findings(&kustomized(PUBLIC_LB, PUBLIC_LB, ""));
    assert_eq!(code, Some(5));
    assert_eq!(found, pairs(&[("ES019", "Service/shop/prod-frontend")]));
    let (code, found) = findings(&kustomized(OPEN_LB, "", ""));
    assert_eq!(code, Some(0));
    assert_eq!(found, pairs(&[("ES023", "Service/shop/prod-frontend")]));
    // esk's own frontend is such a proxy.
    let open = render("3", &["--expose", "public", "--allow-cidr", "0.0.0.0/0"]);
    let (code, found) = findings(&open);
    assert_eq!(code, Some(0));
    assert_eq!(found, pairs(&[("ES023", "Service/default/es-frontend")]));
}

/// A single-node store as a StatefulSet `name` in `ns` (no instance label, no cluster
/// settings: the server's defaults).
fn single_store(name: &str, ns: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: {name}, namespace: {ns}}}
spec:
  serviceName: {name}
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: eventstore
        image: eventstore/eventstore:23.10.2-jammy
        env:
        - {{name: EVENTSTORE_RUN_PROJECTIONS, value: All}}
        - {{name: EVENTSTORE_INSECURE, value: \"false\"}}
        ports: [{{containerPort: 2113}}]
        resources: {{requests: {{cpu: 500m, memory: 1Gi}}}}
        volumeMounts: [{{name: data, mountPath: /var/lib/eventstore}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 10Gi}}}}
---
"
    )
}

#[test]
fn separate_single_node_stores_are_not_merged_into_one_cluster() {
    let stores: String = ["orders-es", "billing-es", "audit-es"]
        .iter()
        .map(|n| single_store(n, "apps"))
        .collect();
    let (code, found) = findings(&stores);
    assert_eq!((code, found), (Some(0), vec![]));
    // A real cluster without instance labels is still one: its nodes share CLUSTER_DNS, so
    // a node that disagrees on the size is found (once).
    let yaml = sed_cluster(true, READINESS, &|n, s| {
        if n == 3 {
            s.replace("value: \"3\"\n", "value: \"5\"\n")
        } else {
            s
        }
    });
    let (code, found) = findings(&yaml);
    assert_eq!(code, Some(5));
    assert_eq!(found, pairs(&[("ES007", "Deployment/default/es-3")]));
}

#[test]
fn a_claim_may_ask_for_less_than_its_volume_but_not_for_more() {
    // 5Gi claims on 50Gi disks: the database has 50Gi (no ES003).
    let mut yaml = sed_support(true);
    for n in 1..=3 {
        yaml.push_str(&bound_disk(n, "5Gi", "50Gi"));
        let volume = CLAIM.replace("NODE", &n.to_string());
        yaml.push_str(&sed_node(n, 3, &volume, READINESS, ""));
    }
    let (code, found) = findings(&yaml);
    assert_eq!((code, found), (Some(0), vec![]));
    // Node 2's claim asks for more than its disk: it never binds.
    let bigger = yaml.replace(
        "volumeName: esdisk-2\n  resources: {requests: {storage: 5Gi}}",
        "volumeName: esdisk-2\n  resources: {requests: {storage: 60Gi}}",
    );
    assert_ne!(bigger, yaml);
    let (code, found) = findings(&bigger);
    assert_eq!(code, Some(5));
    assert_eq!(
        found,
        pairs(&[("ES025", "PersistentVolumeClaim/default/es-2")])
    );
    // Small disks are still small, whatever the claims ask.
    let small = yaml.replace("storage: 50Gi", "storage: 8Gi");
    let (code, found) = findings(&small);
    assert_eq!(code, Some(0));
    let ids: Vec<&str> = found.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(ids, ["ES003"; 3]);
}

/// kompose output for a compose file with one `eventstore` (or `kurrentdb`) service.
fn kompose(service: &str, image: &str, pod_extra: &str) -> String {
    let data = if image.contains("kurrentdb") {
        "/var/lib/kurrentdb"
    } else {
        "/var/lib/eventstore"
    };
    format!(
        "apiVersion: v1
kind: Service
metadata:
  annotations:
    kompose.cmd: kompose convert -f docker-compose.yml
    kompose.version: 1.34.0 (cbf2835db)
  labels:
    io.kompose.service: {service}
  name: {service}
spec:
  ports:
    - name: \"2113\"
      port: 2113
      targetPort: 2113
  selector:
    io.kompose.service: {service}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    kompose.cmd: kompose convert -f docker-compose.yml
    kompose.version: 1.34.0 (cbf2835db)
  labels:
    io.kompose.service: {service}
  name: {service}
spec:
  replicas: 1
  selector:
    matchLabels:
      io.kompose.service: {service}
  strategy:
    type: Recreate
  template:
    metadata:
      labels:
        io.kompose.service: {service}
    spec:
{pod_extra}      containers:
        - env:
            - name: EVENTSTORE_RUN_PROJECTIONS
              value: All
          image: {image}
          name: {service}
          ports:
            - containerPort: 2113
              protocol: TCP
          resources:
            requests: {{cpu: \"1\", memory: 2Gi}}
          volumeMounts:
            - mountPath: {data}
              name: eventstore-volume-data
      restartPolicy: Always
      volumes:
        - name: eventstore-volume-data
          persistentVolumeClaim:
            claimName: eventstore-volume-data
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  labels:
    io.kompose.service: eventstore-volume-data
  name: eventstore-volume-data
spec:
  accessModes:
    - ReadWriteOnce
  resources:
    requests:
      storage: 20Gi
"
    )
}

#[test]
fn a_service_named_like_the_server_s_prefix_is_found_once() {
    let es = "eventstore/eventstore:24.10.1-jammy";
    let (code, found) = findings(&kompose("eventstore", es, ""));
    assert_eq!(code, Some(5));
    assert_eq!(found, pairs(&[("ES024", "Service/eventstore")]));
    let (_, report) = lint_json(&kompose("eventstore", es, ""));
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("EVENTSTORE_SERVICE_HOST"), "{message}");
    assert!(report["findings"][0]["fix"]
        .as_str()
        .unwrap()
        .contains("enableServiceLinks: false"));
    // With `-` in the name: EVENTSTORE_DB_PORT and friends.
    let (_, found) = findings(&kompose("eventstore-db", es, ""));
    assert_eq!(found, pairs(&[("ES024", "Service/eventstore-db")]));
    // KurrentDB reads KURRENTDB_ (and EVENTSTORE_) variables.
    let kurrent = "docker.kurrent.io/kurrent-latest/kurrentdb:25.1.0";
    let (_, found) = findings(&kompose("kurrentdb", kurrent, ""));
    assert_eq!(found, pairs(&[("ES024", "Service/kurrentdb")]));
    // Not when the pods opt out, the name injects nothing the server reads, or the server
    // predates the check (5.x, 20.x).
    let off = "      enableServiceLinks: false\n";
    for yaml in [
        kompose("eventstore", es, off),
        kompose("kurrentdb", es, ""),
        kompose("store", es, ""),
        kompose("eventstore", "eventstore/eventstore:release-5.0.11", ""),
        kompose(
            "eventstore",
            "eventstore/eventstore:20.10.5-buster-slim",
            "",
        ),
    ] {
        let (code, found) = findings(&yaml);
        assert_eq!((code, found), (Some(0), vec![]), "{yaml}");
    }
}

/// A single EventStore node as a ReplicationController (the pre-Deployment style) in `ops`,
/// data on claim `es-data`; `container` appended to its container, `pod` to its pod spec.
fn replication_controller(container: &str, pod: &str) -> String {
    format!(
        "apiVersion: v1
kind: ReplicationController
metadata:
  name: eventstore
  namespace: ops
spec:
  replicas: 1
  selector: {{app: eventstore}}
  template:
    metadata:
      labels: {{app: eventstore}}
    spec:
      containers:
      - name: eventstore
        image: eventstore/eventstore:22.10.3-jammy
        ports:
        - containerPort: 2113
        resources:
          requests: {{cpu: 500m, memory: 1Gi}}
        volumeMounts:
        - name: data
          mountPath: /var/lib/eventstore
{container}
{pod}      volumes:
      - name: data
        persistentVolumeClaim: {{claimName: es-data}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: es-data, namespace: ops}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 30Gi}}}}
---
"
    )
}

const SETTINGS_MAP: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: eventstore-settings, namespace: ops}
data:
  EVENTSTORE_INSECURE: \"true\"
  EVENTSTORE_RUN_PROJECTIONS: All
---
";

#[test]
fn insecure_mode_from_a_config_map_or_the_command_line_is_found_once() {
    let clean = replication_controller("", "");
    assert_eq!(findings(&clean), (Some(0), vec![]));
    let key_ref = "        env:
        - name: EVENTSTORE_INSECURE
          valueFrom:
            configMapKeyRef: {name: eventstore-settings, key: EVENTSTORE_INSECURE}";
    let env_from = "        envFrom:\n        - configMapRef: {name: eventstore-settings}";
    let arg = "        args: [\"--insecure\", \"--run-projections=All\"]";
    let arg_value = "        args: [\"--insecure=true\"]";
    for container in [key_ref, env_from, arg, arg_value] {
        let yaml = format!("{SETTINGS_MAP}{}", replication_controller(container, ""));
        let (code, found) = findings(&yaml);
        assert_eq!(code, Some(0), "{container}");
        assert_eq!(
            found,
            pairs(&[("ES020", "ReplicationController/ops/eventstore")]),
            "{container}"
        );
    }
    // The ConfigMap saying "false", or an application's own --insecure, is not insecure mode.
    let off = SETTINGS_MAP.replace("INSECURE: \"true\"", "INSECURE: \"false\"");
    let yaml = format!("{off}{}", replication_controller(key_ref, ""));
    assert_eq!(findings(&yaml), (Some(0), vec![]));
    let tool = app(
        "grpcurl",
        "fullstorydev/grpcurl:v1.9.1",
        "        args: [\"--insecure\", \"es:2113\"]",
    );
    assert_eq!(findings(&tool), (Some(0), vec![]));
}

#[test]
fn replication_controllers_replica_sets_and_bare_pods_are_nodes_too() {
    // The data directory on emptyDir: lost with the pod, in each shape.
    let rc = replication_controller("", "").replace(
        "        persistentVolumeClaim: {claimName: es-data}",
        "        emptyDir: {}",
    );
    let (code, found) = findings(&rc);
    assert_eq!(code, Some(5));
    assert_eq!(
        found,
        pairs(&[("ES002", "ReplicationController/ops/eventstore")])
    );
    let rs = rc
        .replace(
            "apiVersion: v1\nkind: ReplicationController",
            "apiVersion: apps/v1\nkind: ReplicaSet",
        )
        .replace(
            "  selector: {app: eventstore}",
            "  selector: {matchLabels: {app: eventstore}}",
        );
    let (_, found) = findings(&rs);
    assert_eq!(found, pairs(&[("ES002", "ReplicaSet/ops/eventstore")]));
    let pod = "apiVersion: v1
kind: Pod
metadata: {name: eventstore-0, namespace: ops, labels: {app: eventstore}}
spec:
  containers:
  - name: eventstore
    image: eventstore/eventstore:24.10.1-jammy
    resources: {requests: {cpu: '1', memory: 2Gi}}
    volumeMounts: [{name: data, mountPath: /var/lib/eventstore}]
  volumes: [{name: data, hostPath: {path: /mnt/eventstore}}]
";
    let (code, found) = findings(pod);
    assert_eq!(code, Some(5));
    assert_eq!(found, pairs(&[("ES002", "Pod/ops/eventstore-0")]));
    // Two replicas of a controller on one claim: two servers on one database.
    let two = replication_controller("", "").replace("  replicas: 1\n", "  replicas: 2\n");
    let (_, found) = findings(&two);
    let ids: Vec<&str> = found.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        ids.iter().filter(|r| **r == "ES014").count(),
        1,
        "{found:?}"
    );
}

/// A node Deployment (no strategy: RollingUpdate) with data on `volume`.
fn rolling_node(volume: &str, strategy: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: eventstore, namespace: es}}
spec:
  replicas: 1
{strategy}  selector: {{matchLabels: {{app: eventstore}}}}
  template:
    metadata: {{labels: {{app: eventstore}}}}
    spec:
      containers:
      - name: eventstore
        image: eventstore/eventstore:24.10.1-jammy
        resources: {{requests: {{cpu: '1', memory: 2Gi}}}}
        volumeMounts: [{{name: data, mountPath: /var/lib/eventstore}}]
      volumes:
      - name: data
{volume}
---
"
    )
}

const NFS_PV: &str = "apiVersion: v1
kind: PersistentVolume
metadata: {name: es-cephfs}
spec:
  capacity: {storage: 100Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  claimRef: {name: es-data, namespace: es}
  cephfs: {monitors: [\"10.0.0.5:6789\"], path: /eventstore, user: admin}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: es-data, namespace: es}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: \"\"
  resources: {requests: {storage: 100Gi}}
---
";

#[test]
fn node_data_on_a_shared_file_system_under_a_rolling_update_is_found_once() {
    let nfs = "        nfs: {server: 10.0.0.4, path: /exports/eventstore}";
    let azure = "        azureFile: {secretName: storage-account, shareName: eventstore}";
    let claim = "        persistentVolumeClaim: {claimName: es-data}";
    for (volume, extra) in [(nfs, ""), (azure, ""), (claim, NFS_PV)] {
        // No strategy is RollingUpdate, as is an explicit one.
        for strategy in ["", "  strategy: {type: RollingUpdate}\n"] {
            let yaml = format!("{extra}{}", rolling_node(volume, strategy));
            let (code, found) = findings(&yaml);
            assert_eq!(code, Some(5), "{volume} {strategy}");
            assert_eq!(
                found,
                pairs(&[("ES014", "Deployment/es/eventstore")]),
                "{volume} {strategy}"
            );
        }
        let yaml = format!(
            "{extra}{}",
            rolling_node(volume, "  strategy: {type: Recreate}\n")
        );
        assert_eq!(findings(&yaml), (Some(0), vec![]), "{volume}");
    }
}

#[test]
fn the_default_changeit_credentials_are_found_once_per_object() {
    let secret = "apiVersion: v1
kind: Secret
metadata: {name: es-users, namespace: shop}
type: Opaque
stringData:
  EVENTSTORE_DEFAULT_ADMIN_PASSWORD: changeit
  EVENTSTORE_DEFAULT_OPS_PASSWORD: changeit
---
";
    let (code, found) = findings(secret);
    assert_eq!(code, Some(0));
    assert_eq!(found, pairs(&[("ES026", "Secret/shop/es-users")]));
    // base64 data ("changeit"), and an app's connection string in its env.
    let encoded = "apiVersion: v1
kind: Secret
metadata: {name: es-ops, namespace: shop}
data:
  ops-password: Y2hhbmdlaXQ=
";
    assert_eq!(
        findings(encoded).1,
        pairs(&[("ES026", "Secret/shop/es-ops")])
    );
    let client = app(
        "orders",
        "registry.example.com/shop/orders:2.0.1",
        "        env:\n        - {name: ESDB, value: \"esdb://admin:changeit@es.default:2113?tls=true\"}",
    );
    assert_eq!(
        findings(&client).1,
        pairs(&[("ES026", "Deployment/shop/orders")])
    );
    // Changed passwords are fine.
    let changed = secret.replace("changeit", "s3cr3t-from-vault");
    assert_eq!(findings(&changed), (Some(0), vec![]));
    let other = encoded.replace("Y2hhbmdlaXQ=", "c2VjcmV0LXZhbHVl");
    assert_eq!(findings(&other), (Some(0), vec![]));
}

#[test]
fn removed_apis_are_fixed_with_the_kind_s_current_version() {
    let objects = [
        (
            "batch/v1beta1",
            "CronJob",
            "scavenge",
            "use apiVersion: batch/v1 for CronJob",
        ),
        (
            "storage.k8s.io/v1beta1",
            "CSIDriver",
            "pd",
            "use apiVersion: storage.k8s.io/v1 for CSIDriver",
        ),
        (
            "policy/v1beta1",
            "PodDisruptionBudget",
            "es",
            "use apiVersion: policy/v1 for PodDisruptionBudget",
        ),
        (
            "extensions/v1beta1",
            "Ingress",
            "es",
            "use apiVersion: networking.k8s.io/v1 for Ingress",
        ),
        (
            "networking.k8s.io/v1beta1",
            "Ingress",
            "es2",
            "use apiVersion: networking.k8s.io/v1 for Ingress",
        ),
        (
            "extensions/v1beta1",
            "NetworkPolicy",
            "es",
            "use apiVersion: networking.k8s.io/v1 for NetworkPolicy",
        ),
        (
            "autoscaling/v2beta2",
            "HorizontalPodAutoscaler",
            "api",
            "use apiVersion: autoscaling/v2 for HorizontalPodAutoscaler",
        ),
        (
            "autoscaling/v2beta1",
            "HorizontalPodAutoscaler",
            "web",
            "use apiVersion: autoscaling/v2 for HorizontalPodAutoscaler",
        ),
        (
            "apps/v1beta2",
            "DaemonSet",
            "agent",
            "use apiVersion: apps/v1 for DaemonSet",
        ),
        (
            "extensions/v1beta1",
            "PodSecurityPolicy",
            "restricted",
            "remove the PodSecurityPolicy",
        ),
    ];
    for (version, kind, name, fix) in objects {
        let yaml = format!("apiVersion: {version}\nkind: {kind}\nmetadata: {{name: {name}}}\n");
        let (code, report) = lint_json(&yaml);
        assert_eq!(code, Some(5), "{yaml}");
        assert_eq!(rule_ids(&report), ["ES021"], "{yaml}");
        let got = report["findings"][0]["fix"].as_str().unwrap();
        assert!(got.starts_with(fix), "{kind} {version}: {got}");
        if kind != "Deployment" && kind != "DaemonSet" {
            assert!(!got.contains("apps/v1"), "{got}");
        }
    }
    // A StorageClass in its old version: ES021 with storage.k8s.io/v1 (and ES013 for Delete).
    let sc = "apiVersion: storage.k8s.io/v1beta1
kind: StorageClass
metadata: {name: ssd}
provisioner: pd.csi.storage.gke.io
reclaimPolicy: Retain
";
    let (_, report) = lint_json(sc);
    assert_eq!(rule_ids(&report), ["ES021"]);
    assert_eq!(
        report["findings"][0]["fix"],
        "use apiVersion: storage.k8s.io/v1 for StorageClass"
    );
}

fn fixture(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lint")
        .join(path)
        .to_str()
        .unwrap()
        .to_string()
}

/// A fresh directory for this test under cargo's scratch space.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lint-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One line on stderr containing `needle`, nothing on stdout, exit 2.
fn assert_bad_input(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", text(out));
    let err = stderr(out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(needle), "{needle:?} in {err}");
    assert!(stdout(out).is_empty(), "{}", text(out));
}

#[test]
fn a_byte_order_mark_is_read_past_as_kubectl_does() {
    let bom = fixture("bom-windows.yaml");
    assert!(std::fs::read(&bom).unwrap().starts_with(b"\xef\xbb\xbf"));
    let out = run(&["lint", "-o", "json", &bom], "");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["objects"], 2);
    assert_eq!(rule_ids(&report), ["ES019"]);
    // On stdin as well.
    let text_in = std::fs::read_to_string(&bom).unwrap();
    assert!(text_in.starts_with('\u{feff}'));
    let (code, found) = findings(&text_in);
    assert_eq!(code, Some(5));
    assert_eq!(found, pairs(&[("ES019", "Service/default/es-public")]));
    // Starting with a document marker, and several such files run together (`cat *.yaml`).
    let body = text_in.trim_start_matches('\u{feff}');
    let marked = format!("\u{feff}---\n{body}");
    assert_eq!(
        findings(&marked).1,
        pairs(&[("ES019", "Service/default/es-public")])
    );
    let other = body.replace("es-public", "es-public-2");
    let catted = format!("\u{feff}{body}\n---\n\u{feff}{other}");
    let (_, report) = lint_json(&catted);
    assert_eq!(report["objects"], 4, "{report:#}");
}

#[test]
fn no_objects_kustomizations_and_json_are_told_apart() {
    // An empty file, an empty directory, a directory without manifests: exit 2, named.
    let empty = fixture("empty.yaml");
    assert_bad_input(
        &run(&["lint", &empty], ""),
        &format!("no Kubernetes objects found in {empty}"),
    );
    let dir = scratch("empty-dir");
    let shown = dir.to_str().unwrap();
    assert_bad_input(
        &run(&["lint", shown], ""),
        &format!("no Kubernetes objects found in {shown}"),
    );
    std::fs::write(dir.join("notes.txt"), "not a manifest\n").unwrap();
    std::fs::write(dir.join("only-comments.yaml"), "# nothing yet\n---\n").unwrap();
    assert_bad_input(
        &run(&["lint", shown], ""),
        &format!("no Kubernetes objects found in {shown}"),
    );
    // ...also beside a good argument.
    let bom = fixture("bom-windows.yaml");
    assert_bad_input(
        &run(&["lint", &bom, &empty], ""),
        "no Kubernetes objects found",
    );
    assert_bad_input(
        &run(&["lint", "-"], "\n# only a comment\n"),
        "found in stdin",
    );

    // A directory of JSON manifests is read (kubectl reads .json too).
    let json = fixture("json-only");
    let out = run(&["lint", "-o", "json", &json], "");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["objects"], 2);
    assert_eq!(rule_ids(&report), ["ES015", "ES024"]);
    let broken = scratch("broken-json");
    std::fs::write(broken.join("x.json"), "{\"apiVersion\": \"v1\",").unwrap();
    assert_bad_input(
        &run(&["lint", broken.to_str().unwrap()], ""),
        "not valid JSON",
    );

    // A kustomization: say how to lint what it builds.
    let k = fixture("kustomize");
    for arg in [
        k.clone(),
        format!("{k}/kustomization.yaml"),
        format!("{k}/base"),
    ] {
        let out = run(&["lint", &arg], "");
        assert_bad_input(&out, "is a kustomization");
        assert!(
            stderr(&out).contains("kubectl kustomize") && stderr(&out).contains("| esk lint -"),
            "{}",
            text(&out)
        );
    }
    let piped = std::fs::read_to_string(format!("{k}/kustomization.yaml")).unwrap();
    assert_bad_input(
        &run(&["lint", "-"], &piped),
        "kubectl kustomize DIR | esk lint -",
    );
    // ...also one written without apiVersion and kind, as kustomize allows.
    let bare = std::fs::read_to_string(format!("{k}/base/kustomization.yaml")).unwrap();
    assert!(!bare.contains("kind:"));
    assert_bad_input(&run(&["lint", "-"], &bare), "is a kustomization");
    let renamed = scratch("renamed-kustomization");
    std::fs::write(renamed.join("build.yaml"), &bare).unwrap();
    assert_bad_input(
        &run(&["lint", renamed.to_str().unwrap()], ""),
        "is a kustomization",
    );
}

#[test]
fn every_text_line_names_the_file_the_object_and_the_fix() {
    let dir = bad_dir();
    let out = run(&["lint", dir.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(5));
    let json = run(&["lint", "-o", "json", dir.to_str().unwrap()], "");
    let report: Value = serde_json::from_str(&stdout(&json)).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let stdout_text = stdout(&out);
    let lines: Vec<&str> = stdout_text.lines().collect();
    assert_eq!(
        lines.len(),
        findings.len() + 1,
        "one line each and the summary"
    );
    for (line, f) in lines.iter().zip(findings) {
        let file = f["file"].as_str().unwrap();
        let head = format!(
            "{file}: {} {} {}: ",
            f["severity"].as_str().unwrap(),
            f["rule"].as_str().unwrap(),
            f["object"].as_str().unwrap()
        );
        assert!(line.starts_with(&head), "{line:?} should start {head:?}");
        assert!(
            line.ends_with(&format!("; fix: {}", f["fix"].as_str().unwrap())),
            "{line}"
        );
        assert!(
            file.ends_with(".yaml") && Path::new(file).is_file(),
            "{file}"
        );
    }
    // A name with a line break in it stays on its line.
    let odd = "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: \"a\\nb\"}\n";
    let out = run(&["lint"], odd);
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("-: error ES021 Ingress/a\\nb: "),
        "{lines:?}"
    );
}

#[test]
fn json_on_stdin_is_read_even_tab_indented_or_several_in_a_row() {
    let json = std::fs::read_to_string(fixture("json-only/eventstore.json")).unwrap();
    assert!(json.contains("\n\t\""), "the fixture is tab-indented");
    let (code, found) = findings(&json);
    assert_eq!(code, Some(5));
    assert_eq!(found, pairs(&[("ES015", "Deployment/json/eventstore")]));
    let service = std::fs::read_to_string(fixture("json-only/service.json")).unwrap();
    let (_, found) = findings(&format!("{json}\n{service}"));
    assert_eq!(
        found,
        pairs(&[
            ("ES015", "Deployment/json/eventstore"),
            ("ES024", "Service/json/eventstore-http")
        ])
    );
    assert_bad_input(
        &run(&["lint", "-"], "{\"kind\": \t"),
        "not valid YAML or JSON",
    );
}

/// A 5.x node the old way: Deployment `es-N` with a ClusterIP Service `es-N` of its own and
/// the others as gossip seeds (no DNS discovery, no headless Service, no instance label).
fn seeded_v5_node(n: u32, size: u32) -> String {
    let seeds: Vec<String> = (1..=3)
        .filter(|m| *m != n)
        .map(|m| format!("es-{m}.default.svc.cluster.local:2112"))
        .collect();
    let seeds = seeds.join(",");
    format!(
        "apiVersion: v1
kind: Service
metadata: {{name: es-{n}, namespace: default}}
spec:
  selector: {{app: es, node: \"{n}\"}}
  ports: [{{name: int-http, port: 2112}}, {{name: int-tcp, port: 1112}}, {{name: ext-http, port: 2113}}, {{name: ext-tcp, port: 1113}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: es-{n}, namespace: default}}
spec:
  replicas: 1
  strategy: {{type: Recreate}}
  selector: {{matchLabels: {{app: es, node: \"{n}\"}}}}
  template:
    metadata: {{labels: {{app: es, node: \"{n}\"}}}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - topologyKey: kubernetes.io/hostname
            labelSelector: {{matchLabels: {{app: es}}}}
      containers:
      - name: eventstore
        image: eventstore/eventstore:release-5.0.11
        env:
        - {{name: EVENTSTORE_CLUSTER_SIZE, value: \"{size}\"}}
        - {{name: EVENTSTORE_DISCOVER_VIA_DNS, value: \"False\"}}
        - {{name: EVENTSTORE_GOSSIP_SEED, value: \"{seeds}\"}}
        - {{name: EVENTSTORE_INT_IP, value: 0.0.0.0}}
        - {{name: EVENTSTORE_EXT_IP, value: 0.0.0.0}}
        resources: {{requests: {{cpu: \"1\", memory: 2Gi}}}}
        volumeMounts: [{{name: data, mountPath: /var/lib/eventstore}}]
      volumes:
      - name: data
        persistentVolumeClaim: {{claimName: es-{n}}}
---
"
    )
}

#[test]
fn nodes_that_list_each_other_as_gossip_seeds_are_one_cluster() {
    let budget = "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: es, namespace: default}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: es}}}
---
";
    let yaml: String = (1..=3).map(|n| seeded_v5_node(n, 3)).collect();
    let (code, found) = findings(&format!("{budget}{yaml}"));
    assert_eq!((code, found), (Some(0), vec![]));
    // One cluster, so a size that disagrees is found on the one node, and no budget is ES016.
    let odd: String = (1..=3)
        .map(|n| seeded_v5_node(n, if n == 2 { 5 } else { 3 }))
        .collect();
    let (_, found) = findings(&format!("{budget}{odd}"));
    assert_eq!(found, pairs(&[("ES007", "Deployment/default/es-2")]));
    let (_, found) = findings(&yaml);
    assert_eq!(found, pairs(&[("ES016", "Deployment/default/es-1")]));
}
