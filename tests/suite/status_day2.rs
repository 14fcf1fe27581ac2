//! What `esk status` shows for day-2 care: how full each node's disk is (the kubelets'
//! volume stats through the API server's node proxy), a warning with the grow command at
//! 80 %, and the last backup esk made.

use crate::common::*;
use crate::status::bed_with_nodes;
use serde_json::Value;

fn status_json(bed: &TestBed) -> (i32, Value) {
    let out = esk(bed, &["status", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status -o json printed no JSON ({e}):\n{}", text(&out)));
    (out.status.code().unwrap_or(-1), doc)
}

fn node<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == name))
        .unwrap_or_else(|| panic!("no node {name} in {doc}"))
}

#[test]
fn disk_use_comes_from_each_kubelet_once_and_a_disk_80_percent_full_is_a_warning() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3", "--set", "disk.sizeGb=10"]);
    let (code, doc) = status_json(&bed);
    assert_eq!(code, 0, "{doc:#}");
    let fresh = &node(&doc, "es-2")["diskUse"];
    let capacity = fresh["capacityBytes"].as_u64().expect("a capacity");
    // A file system is a little smaller than its 10 GiB disk, never larger.
    assert!(capacity < 10 << 30 && capacity > 9 << 30, "{fresh}");
    assert!(fresh["usedPercent"].as_u64().unwrap() < 80, "{fresh}");
    assert!(
        !doc["warnings"].to_string().contains("full"),
        "{:#}",
        doc["warnings"]
    );

    // es-2's file system fills to 85 %: the table shows it, a warning names the fix, and
    // the verdict is untouched (a full disk is a warning until the server says otherwise).
    bed.kube
        .set_volume_used("default", "es-data-2", capacity * 85 / 100);
    let before = bed.kube.requests().len();
    let out = esk(&bed, &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let table = stdout(&out);
    let row = table
        .lines()
        .find(|l| l.starts_with("es-2  es-disk-2"))
        .unwrap_or_else(|| panic!("no disk row for es-2:\n{table}"));
    assert!(row.contains(" 85% "), "{row}");
    assert!(table.contains(" USED "), "{table}");
    let warning = table
        .lines()
        .find(|l| l.contains("es-2's disk is 85% full"))
        .unwrap_or_else(|| panic!("no disk warning:\n{table}"));
    assert!(warning.contains("`esk disks grow 15`"), "{warning}");
    assert!(!table.contains("es-1's disk"), "{table}");
    // One stats call per Kubernetes node that runs a node pod, each asked once.
    let stats: Vec<String> = bed.kube.requests()[before..]
        .iter()
        .filter(|r| r.ends_with("/proxy/stats/summary"))
        .cloned()
        .collect();
    let mut distinct = stats.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(stats.len(), 3, "{stats:#?}");
    assert_eq!(distinct.len(), 3, "{stats:#?}");

    let (_, doc) = status_json(&bed);
    let full = &node(&doc, "es-2")["diskUse"];
    assert_eq!(full["usedPercent"], 85, "{full}");
    assert_eq!(full["usedBytes"].as_u64(), Some(capacity * 85 / 100));
}

#[test]
fn without_access_to_the_kubelets_status_says_disk_use_is_unknown_and_shows_the_rest() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3"]);
    bed.kube.deny("get", "nodes/proxy");
    let out = esk(&bed, &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let table = stdout(&out);
    assert!(
        table.starts_with("cluster es in namespace default: healthy"),
        "{table}"
    );
    let warning = table
        .lines()
        .find(|l| l.contains("how full the disks are is not known"))
        .unwrap_or_else(|| panic!("no warning:\n{table}"));
    assert!(warning.contains("forbidden"), "{warning}");
    let (_, doc) = status_json(&bed);
    assert!(node(&doc, "es-1").get("diskUse").is_none(), "{doc:#}");
}

#[test]
fn status_shows_the_last_backup_until_it_is_deleted_and_a_rerun_keeps_it() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3", "--insecure"]);
    let (_, doc) = status_json(&bed);
    assert!(doc["cluster"].get("lastBackup").is_none(), "{doc:#}");
    let changed = doc["cluster"]["changed"].clone();
    assert!(changed.is_string(), "{doc:#}");
    // `changed` has a one-second resolution: a backup a second later would move it.
    std::thread::sleep(std::time::Duration::from_millis(1100));

    esk_ok(&bed, &["backup", "create", "b1"]);
    let (_, doc) = status_json(&bed);
    let last = &doc["cluster"]["lastBackup"];
    assert_eq!(last["name"], "b1", "{doc:#}");
    assert!(last["ageSeconds"]
        .as_i64()
        .is_some_and(|a| (0..60).contains(&a)));
    assert_eq!(
        doc["cluster"]["changed"], changed,
        "a backup is no change: {doc:#}"
    );
    let table = stdout(&esk_ok(&bed, &["status"]));
    assert!(table.contains("last backup b1 ("), "{table}");

    // A re-run of create is esk's own apply of the record: the note survives it, and a
    // backup is not a change to the cluster.
    esk_ok(&bed, &["create", "3", "--insecure"]);
    let (_, doc) = status_json(&bed);
    assert_eq!(doc["cluster"]["lastBackup"]["name"], "b1", "{doc:#}");
    assert_eq!(doc["cluster"]["changed"], changed, "{doc:#}");

    esk_ok(&bed, &["backup", "delete", "b1", "--yes"]);
    let (_, doc) = status_json(&bed);
    assert!(doc["cluster"].get("lastBackup").is_none(), "{doc:#}");
}
