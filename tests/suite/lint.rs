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
        ("ES025", "Deployment/f/eventstore"),
        ("ES026", "ConfigMap/f/orders-env"),
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
