//! `-o json` on create, resize and delete: stdout is exactly one JSON document with the
//! fields README.md documents, with and without --dry-run.

use crate::common::*;
use serde_json::Value;

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", text(out)))
}

fn disk_actions(doc: &Value) -> Vec<(String, String)> {
    doc["plan"]["disks"]
        .as_array()
        .expect("plan.disks")
        .iter()
        .map(|d| {
            (
                d["action"].as_str().unwrap_or("?").to_string(),
                d["name"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

#[test]
fn plans_and_outcomes_are_one_json_document_each() {
    let bed = TestBed::start();
    let dry = json_of(&esk_ok(&bed, &["create", "3", "--dry-run", "-o", "json"]));
    assert_eq!(dry["command"], "create");
    assert_eq!(dry["dryRun"], true);
    assert!(dry["outcome"].is_null());
    assert_eq!(dry["cluster"]["name"], "es");
    assert_eq!(dry["cluster"]["namespace"], "default");
    assert_eq!(dry["cluster"]["cloud"], "gke");
    assert_eq!(dry["cluster"]["nodes"], 3);
    assert_eq!(
        disk_actions(&dry),
        [
            ("create", "es-disk-1"),
            ("create", "es-disk-2"),
            ("create", "es-disk-3")
        ]
        .map(|(a, n)| (a.to_string(), n.to_string()))
    );
    let apply: Vec<&str> = dry["plan"]["apply"]
        .as_array()
        .expect("apply")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(apply.contains(&"Deployment/es-1"), "{apply:?}");
    assert!(bed.gce.disks().is_empty(), "a dry run made disks");

    let done = json_of(&esk_ok(&bed, &["create", "3", "-o", "json"]));
    assert_eq!(done["dryRun"], false);
    assert_eq!(
        done["outcome"]["disksCreated"].as_array().map(Vec::len),
        Some(3)
    );
    assert!(
        done["outcome"]["objectsApplied"].as_u64().unwrap_or(0) > 10,
        "{done:#}"
    );
    assert!(done["plan"]["warnings"].is_array());

    let grow = json_of(&esk_ok(&bed, &["resize", "5", "-o", "json"]));
    assert_eq!(grow["command"], "resize");
    let actions = disk_actions(&grow);
    assert_eq!(
        actions.iter().filter(|(a, _)| a == "keep").count(),
        3,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|(a, _)| a == "create").count(),
        2,
        "{actions:?}"
    );
    let kept = &grow["plan"]["disks"][0];
    assert!(
        kept["id"].is_string(),
        "an existing disk carries its cloud id: {kept}"
    );
    assert_eq!(kept["node"], 1);

    let delete = json_of(&esk_ok(&bed, &["delete", "--keep-disks", "-o", "json"]));
    assert_eq!(delete["command"], "delete");
    assert!(delete["cluster"]["nodes"].is_null());
    assert_eq!(
        delete["outcome"]["disksDeleted"].as_array().map(Vec::len),
        Some(0)
    );
    assert_eq!(
        delete["outcome"]["disksKept"].as_array().map(Vec::len),
        Some(5)
    );
    assert!(delete["outcome"]["objectsDeleted"].as_u64().unwrap_or(0) > 0);
}

#[test]
fn an_unknown_output_format_is_a_usage_error() {
    let bed = TestBed::start();
    let out = esk(&bed, &["create", "3", "-o", "yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", text(&out));
    assert!(stdout(&out).is_empty());
    assert_eq!(bed.mutating_requests(), 0);
}
