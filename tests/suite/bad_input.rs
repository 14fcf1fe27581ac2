//! Bad input: a one-line error, exit code 2, and not one mutating request to any emulator.

use crate::common::*;

fn assert_refused(bed: &TestBed, args: &[&str], code: i32, needle: &str) {
    let out = esk(bed, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "esk {args:?}:\n{}",
        text(&out)
    );
    let err = stderr(&out);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "esk {args:?}: not one line:\n{err}"
    );
    assert!(
        err.contains(needle),
        "esk {args:?}: expected {needle:?} in:\n{err}"
    );
    assert_eq!(bed.mutating_requests(), 0, "esk {args:?} mutated something");
}

#[test]
fn bad_node_counts_names_and_profile_keys_change_nothing() {
    let bed = TestBed::start();
    for cmd in ["create", "resize", "render"] {
        for n in ["0", "-1", "abc", "100000", "100", ""] {
            assert_refused(&bed, &[cmd, "--", n], 2, "node count");
        }
    }
    for name in ["Es", "es;rm", "es\nx: y", &"a".repeat(64), "-es", "es_1"] {
        let flag = format!("--name={name}");
        assert_refused(&bed, &["create", "3", &flag], 2, "cluster name");
        assert_refused(&bed, &["delete", "--yes", &flag], 2, "cluster name");
    }
    assert_refused(&bed, &["create", "3", "-n", "Prod"], 2, "namespace");
    assert_refused(
        &bed,
        &["create", "3", "--set", "disk.sizeGB=10"],
        2,
        "unknown profile key",
    );
    assert_refused(
        &bed,
        &["create", "3", "--set", "disk.sizeGb=lots"],
        2,
        "takes a number",
    );
    assert_refused(
        &bed,
        &["create", "3", "--profile", "nope"],
        2,
        "unknown profile",
    );
    assert_refused(
        &bed,
        &["create", "3", "--cloud", "azure"],
        2,
        "unknown cloud",
    );
    assert_refused(
        &bed,
        &["create", "3", "--zone", "us-central1-a;rm"],
        2,
        "zone",
    );
    for pattern in ["esdisk", "Es-{i}", "es-{i}-{i}"] {
        let args = ["create", "3", "--adopt-disks", pattern];
        assert_refused(&bed, &args, 2, "must contain {i} once");
    }
    // None of it reached the cluster.
    assert!(bed
        .kube
        .objects()
        .iter()
        .all(|o| o["metadata"]["labels"]["app.kubernetes.io/managed-by"] != "esk"));
}

#[test]
fn a_negative_node_count_is_refused_like_zero_and_contacts_nothing() {
    let bed = TestBed::start();
    for cmd in ["create", "resize", "render"] {
        let zero = esk(&bed, &[cmd, "0"]);
        assert_eq!(zero.status.code(), Some(2), "{}", text(&zero));
        let zero_err = stderr(&zero);
        for args in [
            vec![cmd, "-1"],
            vec![cmd, "-7", "--dry-run"],
            vec!["-n", "prod", cmd, "-42"],
            vec![cmd, "--name", "x", "-3"],
        ] {
            let n = args
                .iter()
                .find(|a| a.starts_with('-') && a[1..].parse::<i64>().is_ok());
            let n = n.expect("a negative count");
            if cmd == "render" && args.contains(&"--dry-run") {
                continue; // render has no --dry-run
            }
            let out = esk(&bed, &args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
            // The very message `0` gets, with the number in it.
            assert_eq!(
                stderr(&out),
                zero_err.replace("got 0", &format!("got {n}")),
                "{args:?}"
            );
        }
        for n in ["-1.5", "-99999999999999999999"] {
            let out = esk(&bed, &[cmd, n]);
            assert_eq!(out.status.code(), Some(2), "{n}: {}", text(&out));
            let err = stderr(&out);
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.starts_with("esk: node count must be a whole number between 1 and 99, got \""),
                "{err}"
            );
        }
    }
    assert_eq!(bed.mutating_requests(), 0);
    // Refused before any program ran: not even a read reached the emulators.
    assert_eq!(bed.kube.requests(), Vec::<String>::new());
    assert_eq!(bed.gce.requests(), Vec::<String>::new());
}

#[test]
fn a_template_syntax_error_names_the_file_and_line() {
    let bed = TestBed::start();
    let dir = bed.dir().join("templates");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("node-deployment.yaml.j2"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ node.name }\n",
    )
    .unwrap();
    let dir = dir.display().to_string();
    assert_refused(
        &bed,
        &["create", "3", "--templates", &dir],
        2,
        "node-deployment.yaml.j2 line 4: syntax error",
    );
    assert_refused(
        &bed,
        &["render", "3", "--templates", &dir],
        2,
        "node-deployment.yaml.j2 line 4: syntax error",
    );
}

#[test]
fn a_template_that_drops_the_labels_is_refused_before_anything_runs() {
    let bed = TestBed::start();
    let dir = bed.dir().join("templates");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("extra.yaml.j2"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n  namespace: {{ cluster.namespace }}\n",
    )
    .unwrap();
    let dir = dir.display().to_string();
    assert_refused(
        &bed,
        &["create", "3", "--templates", &dir],
        2,
        "lacks the labels",
    );
}

#[test]
fn missing_tools_are_named_in_one_line() {
    let bed = TestBed::start();
    // A PATH with kubectl but no gcloud.
    let out = esk_with_only(&bed, &["kubectl"], &["create", "3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("gcloud not found on PATH: install the Google Cloud CLI"),
        "{err}"
    );

    let out = esk_with_only(&bed, &[], &["delete", "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("kubectl not found on PATH"),
        "{}",
        text(&out)
    );
    assert_eq!(bed.mutating_requests(), 0);
}

#[test]
fn create_over_a_cluster_of_another_size_points_at_resize() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "1"]);
    let before = bed.mutating_requests();
    let out = esk(&bed, &["create", "3"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("esk resize 3"), "{}", text(&out));
    assert_eq!(bed.mutating_requests(), before);
}

#[test]
fn a_rerun_on_another_cloud_than_the_records_is_refused() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "1"]);
    let before = bed.mutating_requests();
    let out = esk(&bed, &["create", "1", "--cloud", "dynamic"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("pass --cloud gke"), "{}", text(&out));
    assert_eq!(bed.mutating_requests(), before);
}

/// `node.settings` may not carry a setting esk owns (ports, gossip access, cluster size,
/// discovery, advertised names, certificate paths, insecure), in any spelling: one line naming
/// what owns it, exit 2, nothing changed, whether from `--set` or a profile file.
#[test]
fn node_settings_esk_owns_are_refused_naming_their_owner() {
    let bed = TestBed::start();
    let cases = [
        ("NODE_PORT", "2113"),
        ("KURRENTDB_REPLICATION_PORT", "2113"),
        ("eventstore_http_port", "2113"),
        ("INT_TCP_PORT", "2113"),
        ("EXT_TCP_PORT", "2113"),
        ("DISABLE_GOSSIP_ON_HTTP", "gossip anonymously"),
        (
            "OVERRIDE_ANONYMOUS_ENDPOINT_ACCESS_FOR_GOSSIP",
            "gossip anonymously",
        ),
        ("CLUSTER_SIZE", "esk create N"),
        ("DISCOVER_VIA_DNS", "clusterDomain"),
        ("CLUSTER_DNS", "clusterDomain"),
        ("GOSSIP_SEED", "headless Service"),
        ("CLUSTER_GOSSIP_PORT", "headless Service"),
        ("CERTIFICATE_FILE", "certPath"),
        ("Certificate_Private_Key_File", "certPath"),
        ("TRUSTED_ROOT_CERTIFICATES_PATH", "--rotate-certs"),
        ("NODE_HOST_ADVERTISE_AS", "stable DNS name"),
        ("REPLICATION_HOST_ADVERTISE_AS", "stable DNS name"),
        ("INT_HOST_ADVERTISE_AS", "stable DNS name"),
        ("INSECURE", "--insecure"),
    ];
    for (key, owner) in cases {
        let set = format!("node.settings.{key}=x");
        let needle = format!("node.settings {key}: esk owns this setting");
        for args in [
            &[
                "render",
                "3",
                "--project",
                "p",
                "--zone",
                "z",
                "--set",
                &set,
            ][..],
            &["create", "3", "--dry-run", "--set", &set][..],
            &["create", "3", "--set", &set][..],
        ] {
            assert_refused(&bed, args, 2, &needle);
            let err = stderr(&esk(&bed, args));
            assert!(err.contains(owner), "{key}: {err}");
        }
    }
    // The same from a profile file, and a setting esk does not own still renders.
    let file = std::env::temp_dir().join(format!("esk-owned-{}.yaml", std::process::id()));
    std::fs::write(&file, "node:\n  settings:\n    KURRENTDB_NODE_PORT: 2114\n").unwrap();
    let profile = file.to_str().unwrap();
    assert_refused(
        &bed,
        &["create", "3", "--dry-run", "--profile", profile],
        2,
        "node.settings KURRENTDB_NODE_PORT: esk owns this setting",
    );
    let _ = std::fs::remove_file(&file);
    let ok = esk_ok(
        &bed,
        &[
            "render",
            "3",
            "--project",
            "p",
            "--zone",
            "z",
            "--set",
            "node.settings.RUN_PROJECTIONS=All",
        ],
    );
    assert!(stdout(&ok).contains("KURRENTDB_RUN_PROJECTIONS"));
    assert_eq!(bed.mutating_requests(), 0);
}
