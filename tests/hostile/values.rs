//! Names, namespaces, `--set` values and every value that reaches a command line.

use super::*;

/// Free-form `--set` keys and string keys with an alphabet, each with a benign value that
/// appears in the render, and the cloud whose render shows it. `node.antiAffinity` and `cloud`
/// are left out: their few values choose the shape by design.
const SET_KEYS: &[(&str, &str, &str)] = &[
    ("node.settings.FOO", "benign-value-7f3a", "gke"),
    ("image", "benign.example/image:7", "gke"),
    ("frontend.image", "benign.example/front:7", "gke"),
    ("envPrefix", "BENIGNPFX_", "gke"),
    ("dataPath", "/benign-data", "gke"),
    ("logPath", "/benign-log", "gke"),
    ("certPath", "/benign-cert", "gke"),
    ("clusterDomain", "benign.example", "gke"),
    ("disk.fsType", "benignfs", "gke"),
    ("disk.localPath", "/benign-local", "kind"),
    ("node.cpuRequest", "777m", "gke"),
    ("node.memoryRequest", "7777Mi", "aws"),
    ("node.memoryLimit", "7778Mi", "gke"),
];

proptest! {
    #![proptest_config(cases(48))]

    #[test]
    fn set_values_stay_scalars_or_are_refused(
        (key, benign, cloud) in prop_oneof![Just(SET_KEYS[0]), prop::sample::select(SET_KEYS)],
        value in hostile(),
    ) {
        let set = |v: &str| on(cloud, &["--set".into(), format!("{key}={v}")]);
        let before = benign_shape(&set(benign));
        match render(&set(&value)) {
            Err((code, msg)) => {
                assert_refused_cleanly(code, &msg);
                // A server setting is free text: only NUL, which no environment holds, is refused.
                let free_text = key.starts_with("node.settings.");
                prop_assert!(!free_text || value.contains('\0'), "refused: {}", msg);
            }
            Ok((spec, out)) => {
                assert_same_but(&before, benign, &shape(&out), &stored(&spec, key))
            }
        }
    }

    #[test]
    fn cluster_names_are_dns_labels_or_refused(name in prop_oneof![hostile(), "[a-z][a-z0-9-]{0,44}"]) {
        let args = |n: &str| on("gke", &[format!("--name={n}")]);
        match render(&args(&name)) {
            Err((code, msg)) => {
                assert_refused_cleanly(code, &msg);
                prop_assert!(msg.contains("cluster name"), "{}", msg);
            }
            Ok((spec, out)) => {
                prop_assert!(is_label(spec.name.as_str(), MAX_NAME_LEN));
                assert_same_but(&benign_shape(&args("benign")), "benign", &shape(&out), &name)
            }
        }
    }

    #[test]
    fn namespaces_are_dns_labels_or_refused(ns in prop_oneof![hostile(), "[a-z][a-z0-9-]{0,66}"]) {
        let args = |n: &str| on("aws", &[format!("--namespace={n}")]);
        match render(&args(&ns)) {
            Err((code, msg)) => {
                assert_refused_cleanly(code, &msg);
                prop_assert!(msg.contains("namespace"), "{}", msg);
            }
            Ok((spec, out)) => {
                prop_assert!(is_label(spec.namespace.as_str(), 63));
                assert_same_but(&benign_shape(&args("benignns")), "benignns", &shape(&out), &ns)
            }
        }
    }

    /// Everything the adapters put on a command line, for any mix of hostile flags.
    #[test]
    fn only_validated_values_reach_a_command_line(
        values in prop::collection::vec(prop_oneof![hostile(), "[a-z0-9][a-z0-9-]{0,8}"], 9),
        picks in prop::collection::vec(any::<bool>(), 9),
        cloud in prop::sample::select(&["gke", "aws", "kind", "dynamic"][..]),
    ) {
        let flags = [
            "--name", "--namespace", "--project", "--zone", "--region", "--context",
            "--set=disk.gkeType", "--set=disk.awsType", "--set=disk.localPath",
        ];
        let mut args: Vec<String> = vec!["1".into(), "--cloud".into(), cloud.into()];
        for ((flag, value), pick) in flags.iter().zip(&values).zip(&picks) {
            if *pick {
                args.push(format!("{flag}={value}"));
            }
        }
        let argv: Vec<String> = ["esk", "create"].map(String::from).into_iter().chain(args).collect();
        let cli = Cli::try_parse_from(&argv).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match cli.global.spec(NodeCount::new(1).unwrap(), None) {
            Err(e) => assert_refused_cleanly(2, &e.to_string()),
            Ok(spec) => {
                prop_assert!(is_label(spec.name.as_str(), MAX_NAME_LEN));
                prop_assert!(is_label(spec.namespace.as_str(), 63));
                let l = &spec.location;
                for id in [&l.project, &l.zone, &l.region].into_iter().flatten() {
                    prop_assert!(is_cloud_id(id), "{:?}", id);
                }
                // gcloud --type=…, aws --volume-type=…
                for key in ["disk.gkeType", "disk.awsType"] {
                    let v = spec.profile.str(key).unwrap();
                    prop_assert!(is_cloud_id(&v) && !v.contains(['.', ':']), "{}={:?}", key, v);
                }
                // the kind disk Jobs' hostPath and `rm -rf -- /disk/<name>`
                let path = spec.profile.str("disk.localPath").unwrap();
                let path_ok = path.starts_with('/')
                    && !path.split('/').any(|p| p == "..")
                    && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b));
                prop_assert!(path_ok, "{:?}", path);
                if let Some(c) = &cli.global.context {
                    prop_assert!(!c.is_empty() && !c.contains(['\n', '\r', '\0']));
                }
            }
        }
    }

    #[test]
    fn names_and_cloud_ids_accept_exactly_their_alphabet(s in prop_oneof![hostile(), "[a-z0-9:.-]{0,8}"]) {
        prop_assert_eq!(Name::parse("name", &s, MAX_NAME_LEN).is_ok(), is_label(&s, MAX_NAME_LEN));
        prop_assert_eq!(cloud_id("zone", &s).is_ok(), is_cloud_id(&s));
        if let Err(e) = Name::parse("name", &s, MAX_NAME_LEN) {
            prop_assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn node_counts_are_1_to_99_or_refused_in_one_line(s in prop_oneof![hostile(), "-?[0-9]{1,4}", "[ +-]?[0-9]{1,3} ?"]) {
        match node_count(&s) {
            Ok(n) => {
                prop_assert!((1..=99).contains(&n.get()));
                prop_assert_eq!(s.trim().parse::<i64>().ok(), Some(i64::from(n.get())));
            }
            Err(e) => prop_assert!(!e.to_string().contains('\n') && e.to_string().contains("node count")),
        }
    }

    #[test]
    fn adopted_disk_patterns_only_make_disk_names(s in prop_oneof![hostile(), "[a-z{}i-]{1,12}"]) {
        if let Ok(p) = esk::plan::AdoptPattern::parse(&s) {
            for i in 1..=99 {
                prop_assert!(is_label(&p.name(i), 63), "{:?} makes {:?}", s, p.name(i));
            }
        }
    }
}

/// Each character that once broke a render or changed a value: YAML refuses raw DEL, C1
/// controls and U+FFFE, folds NEL and line breaks into spaces, and templates printed `true` as
/// `True` and `1e3` as `1000.0`.
#[test]
fn settings_that_once_broke_render_exactly() {
    for value in [
        "a\u{7f}b",
        "a\u{85}b",
        "a\u{9f}b",
        "a\u{fffe}b",
        "a\u{2028}b",
        "a\u{2029}b",
        "a\nb",
        "a\r\nb",
        "a\u{feff}b",
        "🌀",
        "true",
        "1e3",
        ".inf",
        "0x1F",
        "!!python/object:os.system",
        "&a x",
        "*a",
        "'q'",
        "\"q\"",
        "---",
        "...",
        "{{ cluster.name }}",
        "{a: 1}",
        "[1]",
        "~",
        "",
    ] {
        let set = |v: &str| on("gke", &["--set".into(), format!("node.settings.FOO={v}")]);
        let (_, out) = render(&set(value)).unwrap_or_else(|e| panic!("{value:?}: {e:?}"));
        let before = benign_shape(&set("benign-value-7f3a"));
        assert_same_but(&before, "benign-value-7f3a", &shape(&out), value);
    }
}
