//! The real binary (`esk render`, and one `esk create` against the test bed).

use super::*;

proptest! {
    #![proptest_config(cases(12))]

    /// The binary prints any server setting (argv holds no NUL) as exactly that text, in the
    /// benign shape.
    #[test]
    fn the_binary_keeps_hostile_settings_in_their_scalar(value in hostile().prop_filter("argv cannot hold NUL", |v| !v.contains('\0'))) {
        let set = |v: &str| on("gke", &["--set".into(), format!("node.settings.FOO={v}")]);
        let out = esk_render(&set(&value));
        let stderr = String::from_utf8_lossy(&out.stderr);
        prop_assert_eq!(out.status.code(), Some(0), "{}", stderr);
        let before = benign_shape(&set("benign-value-7f3a"));
        let after = shape(&String::from_utf8_lossy(&out.stdout));
        assert_same_but(&before, "benign-value-7f3a", &after, &value);
    }
}

#[test]
fn the_binary_refuses_hostile_names_in_one_line() {
    for (flag, value) in [
        ("--name", "es\nkind: Secret"),
        ("--name", "{{ cluster.name }}"),
        ("--namespace", "default\n---\napiVersion: v1"),
        ("--namespace", "!!python/object:os.system"),
        ("--zone", "us-central1-a --project=evil"),
        ("--project", "p;rm -rf /"),
        ("--set", "disk.gkeType=pd-ssd --labels=owner=evil"),
        ("--set", "image=nginx\n  command: [sh]"),
        ("--set", "node.antiAffinity=always"),
    ] {
        let arg = format!("{flag}={value}");
        let out = esk_render(&on("kind", std::slice::from_ref(&arg)));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{arg:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{arg:?}: {stderr}");
        assert!(stderr.starts_with("esk: "), "{stderr}");
        assert!(out.stdout.is_empty(), "{arg:?} printed manifests");
    }
}

/// kube-system's uid comes from the API server and becomes a disk label on gcloud's command
/// line (`--labels=…,esk-kube=<uid>`) and an AWS tag (`{Key=esk-kube,Value=<uid>}`): one with
/// `,` `=` or `}` would add labels of its own, so it is refused before any disk call.
#[test]
fn a_hostile_cluster_uid_never_reaches_a_disk_label() {
    let bed = common::TestBed::start();
    bed.kube.seed(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "kube-system", "uid": "abc,managed-by=esk,esk-cluster=other}"},
    }));
    let out = common::esk(&bed, &["create", "1"]);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("kube-system has no uid"), "{err}");
    assert_eq!(bed.mutating_requests(), 0);
    assert!(bed.gce.requests().is_empty(), "{:?}", bed.gce.requests());
}
