//! `esk report` end to end: the archive holds what a support ticket needs and none of the
//! secrets the cluster's Secrets hold, searched for in the archive's raw bytes.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

use crate::common::*;
use crate::status::bed_with_nodes;
use testbed::kube::PodState;

/// The files of a ustar archive: path → contents (read with the format's own rules, not
/// esk's code).
pub(crate) fn untar(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut at = 0;
    while at + 512 <= bytes.len() {
        let header = &bytes[at..at + 512];
        if header.iter().all(|b| *b == 0) {
            break;
        }
        let field = |r: std::ops::Range<usize>| {
            String::from_utf8_lossy(&header[r])
                .trim_end_matches('\0')
                .trim()
                .to_string()
        };
        assert_eq!(&header[257..263], b"ustar\0", "a ustar header");
        let size = usize::from_str_radix(&field(124..136), 8).expect("octal size");
        let (prefix, name) = (field(345..500), field(0..100));
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        files.insert(path, bytes[at + 512..at + 512 + size].to_vec());
        at += 512 + size.div_ceil(512) * 512;
    }
    files
}

/// Every value of the cluster's Secrets but public certificates, decoded.
fn secret_values(bed: &TestBed) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut values = Vec::new();
    for secret in esk_objects(bed, "Secret", "es") {
        for (key, value) in secret["data"].as_object().into_iter().flatten() {
            if key.ends_with(".crt") {
                continue;
            }
            let decoded = b64.decode(value.as_str().unwrap()).unwrap();
            values.push(String::from_utf8(decoded).unwrap());
        }
    }
    values
}

#[test]
fn the_report_holds_what_a_ticket_needs_and_no_secret() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3"]);
    // A user who set a short password of their own (7 characters: searched as a whole token).
    let short = r#"{"data":{"admin-password":"aHVudGVyMg=="}}"#;
    let patched = bed
        .command("kubectl")
        .args(["patch", "secret", "es-credentials", "-p", short])
        .output()
        .unwrap();
    assert!(patched.status.success(), "{}", text(&patched));
    let secrets = secret_values(&bed);
    assert!(secrets.contains(&"hunter2".to_string()));
    let password = secrets
        .iter()
        .find(|s| !s.contains("-----BEGIN") && s.len() >= 16)
        .expect("a generated password")
        .clone();
    let key = secrets
        .iter()
        .find(|s| s.contains("PRIVATE KEY"))
        .expect("a node's private key")
        .clone();
    assert!(secrets.len() >= 5, "passwords and keys: {}", secrets.len());
    // A node that printed a password and a key to its log (as a misconfigured one might).
    bed.kube.set_pod_state(
        "es-1",
        PodState {
            logs: format!(
                "starting\nconnecting with password {password}\nadmin logs in with hunter2 ok\n\
                 {key}done\n"
            ),
            ..PodState::default()
        },
    );
    bed.kube.set_pod_state(
        "es-2",
        PodState::crash_looping(2, "loading\n[FTL] index corrupt\n"),
    );
    let file = bed.dir().join("ticket.tar");
    let out = esk_ok(&bed, &["report", "-o", file.to_str().unwrap()]);
    assert_eq!(stdout(&out).trim_end(), file.to_str().unwrap());
    let bytes = std::fs::read(&file).unwrap();
    let raw = String::from_utf8_lossy(&bytes);
    let b64 = base64::engine::general_purpose::STANDARD;
    for secret in &secrets {
        assert!(
            !raw.contains(secret.as_str()),
            "a secret value is in the archive"
        );
        assert!(
            !raw.contains(&b64.encode(secret)),
            "a secret's base64 is in the archive"
        );
        for line in secret.lines().filter(|l| l.len() >= 16) {
            assert!(
                !raw.contains(line),
                "a line of a key is in the archive: {line}"
            );
        }
    }
    assert!(!raw.contains("PRIVATE KEY"));
    let files = untar(&bytes);
    let read = |name: &str| {
        String::from_utf8(
            files
                .get(&format!("esk-report-es/{name}"))
                .unwrap_or_else(|| panic!("no {name} in {:?}", files.keys()))
                .clone(),
        )
        .unwrap()
    };
    let status: Value = serde_json::from_str(&read("status.json")).unwrap();
    assert_eq!(status["nodes"].as_array().unwrap().len(), 3);
    let gossip: Vec<&String> = files.keys().filter(|k| k.contains("/gossip/")).collect();
    let errors = files
        .get("esk-report-es/errors.txt")
        .map(|e| String::from_utf8_lossy(e).into_owned());
    assert_eq!(
        gossip.len(),
        2,
        "es-2 crash-loops, so two nodes answer: {gossip:?}; errors.txt: {errors:?}"
    );
    let g: Value = serde_json::from_str(&read(&gossip[0]["esk-report-es/".len()..])).unwrap();
    assert!(g["members"].is_array(), "{g}");
    let record: Value = serde_json::from_str(&read("record.json")).unwrap();
    assert_eq!(record["metadata"]["name"], "esk.es");
    assert!(record["data"].is_object());
    let manifests = read("manifests.yaml");
    assert!(manifests.contains("kind: Deployment"));
    assert!(!manifests.contains("kind: Secret"));
    let events: Value = serde_json::from_str(&read("events.json")).unwrap();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "BackOff"),
        "{events}"
    );
    let log = read("logs/es-1.log");
    assert!(
        log.contains("connecting with password [redacted by esk]"),
        "{log}"
    );
    assert!(
        log.contains("admin logs in with [redacted by esk] ok"),
        "{log}"
    );
    assert!(log.contains("done"), "{log}");
    assert!(read("logs/es-2.previous.log").contains("[FTL] index corrupt"));
    assert!(read("logs/es-1.previous.log").starts_with("# "));
    let certs = read("certificates.txt");
    assert!(certs.contains("es-ca/ca.crt: not after 20"), "{certs}");
    assert!(
        certs.contains("es-node-1-tls/tls.crt: not after"),
        "{certs}"
    );
    assert!(read("doctor.txt").contains("kubectl"));
    assert!(read("lint.txt").contains("esk lint: "));
    let versions = read("versions.txt");
    assert!(versions.starts_with("esk 0.1.0\nkubectl "), "{versions}");
    assert!(versions.contains("\ngcloud "), "{versions}");
    // An existing file is never replaced.
    let out = esk(&bed, &["report", "-o", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
}
