//! Profile files and templates: damaged anywhere, each error names the file and the line.

use super::*;

/// A string as a YAML double-quoted scalar in pure ASCII (YAML would fold a raw NEL or U+2028
/// and refuses a raw DEL), so a profile file can carry any text exactly.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xffff => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

const PROFILE: &str = "# a profile file\nimage: reg.example/kurrentdb:26.0.0\ndisk:\n  sizeGb: 30\n  fsType: xfs\nnode:\n  cpuRequest: 500m\n  settings:\n    RUN_PROJECTIONS: All\nfrontend:\n  replicas: 1\n";

/// Errors about a profile file name the file and a line within it.
fn assert_names_file_and_line(msg: &str, file: &str, text: &str) {
    assert!(!msg.contains(['\n', '\r']), "not one line: {msg:?}");
    let prefix = format!("profile {file} line ");
    let rest = msg
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{msg:?} does not start with {prefix:?}"));
    let line: usize = rest
        .split(':')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no line number in {msg:?}"));
    assert!(
        (1..=text.lines().count() + 1).contains(&line),
        "line {line} of {} in {msg:?}",
        text.lines().count()
    );
}

proptest! {
    #![proptest_config(cases(64))]

    /// A valid profile file with hostile text inserted anywhere loads, or fails naming the
    /// file and a line in it.
    #[test]
    fn a_damaged_profile_file_names_its_line(at in 0..PROFILE.len(), junk in hostile()) {
        let dir = tempdir();
        let file = dir.join("damaged.yaml");
        let at = (0..=at).rev().find(|i| PROFILE.is_char_boundary(*i)).unwrap_or(0);
        let text = format!("{}{junk}{}", &PROFILE[..at], &PROFILE[at..]);
        std::fs::write(&file, &text).unwrap();
        let path = file.display().to_string();
        match esk::profile::Profile::load(&path) {
            Ok(p) => prop_assert!(p.get("disk.sizeGb").is_some()),
            Err(e) => assert_names_file_and_line(&e.to_string(), &path, &text),
        }
    }

    /// Any text can be a server setting in a profile file (except NUL, which no process
    /// environment holds), and it renders exactly as written.
    #[test]
    fn a_profile_file_setting_renders_exactly(value in hostile()) {
        let dir = tempdir();
        let file = dir.join("p.yaml");
        let text = format!("node:\n  settings:\n    FOO: {}\n", quoted(&value));
        std::fs::write(&file, &text).unwrap();
        let path = file.display().to_string();
        let args = on("gke", &[format!("--profile={path}")]);
        match render(&args) {
            Err((code, msg)) => {
                assert_refused_cleanly(code, &msg);
                prop_assert!(value.contains('\0'), "refused: {}", msg);
                prop_assert!(msg.starts_with(&format!("profile {path} line 3: ")), "{}", msg);
            }
            Ok((_, out)) => {
                let benign = "node:\n  settings:\n    FOO: benign-value-7f3a\n";
                std::fs::write(&file, benign).unwrap();
                let before = benign_shape(&args);
                assert_same_but(&before, "benign-value-7f3a", &shape(&out), &value);
            }
        }
    }
}

/// Templates the property damages: small ones and the pod, which every node renders.
const TEMPLATES: &[&str] = &["pdb.yaml.j2", "client-service.yaml.j2", "_pod.j2"];

proptest! {
    #![proptest_config(cases(32))]

    /// A built-in template with hostile text inserted anywhere renders, or fails in one line
    /// naming the file (and, for template errors, the line).
    #[test]
    fn a_damaged_template_names_its_file_and_line(
        name in prop::sample::select(TEMPLATES),
        at in 0..4000usize,
        junk in hostile(),
    ) {
        let original = std::fs::read_to_string(Path::new("templates").join(name)).unwrap();
        let at = at % (original.len() + 1);
        let at = (0..=at).rev().find(|i| original.is_char_boundary(*i)).unwrap_or(0);
        let dir = tempdir();
        let file = dir.join(name);
        std::fs::write(&file, format!("{}{junk}{}", &original[..at], &original[at..])).unwrap();
        let (spec, _) = render(&on("gke", &[])).unwrap();
        let result = Templates::load(Some(&dir))
            .and_then(|t| esk::commands::offline_manifests(&spec, &t, false).map_err(|e| {
                e.downcast::<esk::error::UsageError>().expect("a usage error")
            }).map(drop));
        if let Err(e) = result {
            let msg = e.to_string();
            prop_assert!(!msg.contains(['\n', '\r']), "not one line: {:?}", msg);
            let path = file.display().to_string();
            // An imported template's broken output is reported by the one that imports it,
            // quoting the line.
            let imported = name.starts_with('_') && msg.contains(": output line ");
            prop_assert!(msg.starts_with(&format!("template {path}")) || imported, "{}", msg);
            let manifest_check = ["no kind", "no apiVersion", "no name", "not a valid name",
                "lacks the labels", "must be in namespace", "cluster-scoped"];
            prop_assert!(msg.contains(" line ") || manifest_check.iter().any(|c| msg.contains(c)), "{}", msg);
        }
    }
}

/// Runs `esk render` with a profile file or a templates directory made of `files`.
fn render_with_files(flag: &str, files: &[(&str, &[u8])]) -> (std::process::Output, String) {
    let dir = tempdir();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let target = match flag {
        "--profile" => dir.join(files[0].0),
        _ => dir.to_path_buf(),
    };
    let target = target.display().to_string();
    (
        esk_render(&on("kind", &[format!("{flag}={target}")])),
        target,
    )
}

fn assert_one_line_error(out: &std::process::Output, starts: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    assert!(
        stderr.starts_with(starts),
        "expected {starts:?}, got {stderr}"
    );
    assert!(out.stdout.is_empty(), "printed manifests despite: {stderr}");
}

/// The case a random seed once found: `{% import "_helpers.j2" as a-h -%}` made minijinja's
/// code generator panic (exit 101 and a backtrace). It is one line and exit 2, like any other
/// template error.
#[test]
fn an_import_into_an_expression_is_a_one_line_error_not_a_panic() {
    let original = std::fs::read_to_string("templates/_pod.j2").unwrap();
    let at = original.find("as h -%}").expect("the import line") + 3;
    let damaged = format!("{}a-{}", &original[..at], &original[at..]);
    let (out, dir) = render_with_files("--templates", &[("_pod.j2", damaged.as_bytes())]);
    assert_one_line_error(&out, &format!("esk: template {dir}/_pod.j2: syntax error"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn every_malformed_profile_file_names_the_file_and_line() {
    let cases: &[(&str, &str, usize, &str)] = &[
        (
            "unclosed flow",
            "image: x\ndisk: {sizeGb: 1\n",
            3,
            "did not find expected ',' or '}'",
        ),
        (
            "tab indent",
            "image: nginx:1\ndisk:\n\tsizeGb: 3\n",
            3,
            "cannot start any token",
        ),
        (
            "bad indent",
            "disk:\n  sizeGb: 3\n fsType: x\n",
            3,
            "did not find expected key",
        ),
        (
            "unknown key",
            "# c\ndisk:\n  fsType: ext4\n  sizeGB: 3\n",
            4,
            "unknown profile key \"disk.sizeGB\"",
        ),
        (
            "wrong type",
            "disk:\n  sizeGb: big\n",
            2,
            "takes a number, got a string",
        ),
        (
            "mapping for a string",
            "image:\n  name: x\n",
            1,
            "takes a string, got a mapping",
        ),
        (
            "out of range",
            "frontend:\n  replicas: 9999999999\n",
            2,
            "whole number from 0",
        ),
        (
            "bad alphabet",
            "\n\nimage: \"nginx\\n- x\"\n",
            3,
            "container image",
        ),
        (
            "argv injection",
            "disk:\n  gkeType: pd-ssd --labels=x\n",
            2,
            "disk type",
        ),
        (
            "bad setting name",
            "node:\n  settings:\n    ok: x\n",
            3,
            "upper-case setting name",
        ),
        (
            "reserved setting",
            "node:\n  settings:\n    CLUSTER_SIZE: 9\n",
            3,
            "esk owns this setting",
        ),
        (
            "setting with a list",
            "node:\n  settings:\n    A: [1]\n",
            3,
            "got a list",
        ),
        (
            "NUL in a setting",
            "node:\n  settings:\n    A: \"a\\0b\"\n",
            3,
            "without NUL",
        ),
        (
            "duplicate key",
            "image: a:1\nimage: b:1\n",
            1,
            "duplicate entry",
        ),
        ("not a mapping", "- a\n- b\n", 1, "must be a YAML mapping"),
        ("a bare string", "just text\n", 1, "must be a YAML mapping"),
        (
            "two documents",
            "image: a:1\n---\nimage: b:1\n",
            3,
            "more than one document",
        ),
        ("unknown anchor", "\nimage: *nope\n", 2, "unknown anchor"),
        ("tagged value", "image: !foo x\n", 1, "got a tagged value"),
        (
            "deep nesting",
            &format!("a: {}", "[".repeat(300)),
            1,
            "recursion limit",
        ),
        (
            "NEL is not a line break",
            "a: 1\u{85}\u{85}\nb: [\n",
            3,
            "did not find expected node",
        ),
    ];
    for (what, text, line, needle) in cases {
        let (out, file) = render_with_files("--profile", &[("p.yaml", text.as_bytes())]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_one_line_error(&out, &format!("esk: profile {file} line {line}: "));
        assert!(stderr.contains(needle), "{what}: {stderr}");
    }
    let (out, file) = render_with_files("--profile", &[("p.yaml", b"image: \xff\n")]);
    assert_one_line_error(&out, &format!("esk: cannot read profile file {file}: "));
    // An empty file changes nothing.
    let (out, _) = render_with_files("--profile", &[("p.yaml", b"")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_malformed_template_names_the_file_and_line() {
    const HEAD: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n";
    let labelled = "  namespace: {{ cluster.namespace }}\n  labels: {{ labels(\"x\") }}\n";
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "syntax",
            format!("{HEAD}  x: {{{{ cluster.name }}\n"),
            " line 5: ",
            "syntax error",
        ),
        (
            "unknown filter",
            format!("{HEAD}  x: {{{{ 1 | nope }}}}\n"),
            " line 5: ",
            "unknown filter",
        ),
        (
            "undefined",
            format!("{HEAD}{labelled}data: {{{{ nope.x }}}}\n"),
            " line 7: ",
            "undefined value",
        ),
        (
            "bad loop",
            "{% for x in 1 %}{{ x }}{% endfor %}\n".into(),
            " line 1: ",
            "not iterable",
        ),
        (
            "unclosed block",
            format!("{HEAD}{{% if true %}}\n"),
            " line ",
            "syntax error",
        ),
        (
            "recursion",
            "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}".into(),
            " line 1: ",
            "recursion limit",
        ),
        (
            "minus chain",
            format!("{HEAD}  x: {{{{ {}1 }}}}\n", "-".repeat(20_000)),
            " line 5: ",
            "longer than 1000",
        ),
        (
            "not chain",
            format!("{{{{ {}x }}}}", "not ".repeat(10_000)),
            " line 1: ",
            "longer than 1000",
        ),
        (
            "hidden chain",
            format!("{{{{ '}}}}' ~ {}x }}}}", ".x".repeat(10_000)),
            " line 1: ",
            "longer than 1000",
        ),
        (
            "unclosed chain",
            format!("{HEAD}{{{{ {}", "x|y".repeat(10_000)),
            " line 5: ",
            "longer than 1000",
        ),
        (
            "invalid YAML out",
            format!("{HEAD}  x: [\n"),
            ": output line 5 (`x: [`) ",
            "not valid YAML",
        ),
        (
            "no labels",
            format!("{HEAD}  namespace: default\n"),
            ": ",
            "lacks the labels",
        ),
        (
            "no kind",
            "apiVersion: v1\nmetadata: {name: x}\n".into(),
            ": ",
            "no kind",
        ),
        (
            "other namespace",
            format!("{HEAD}  namespace: kube-system\n"),
            ": ",
            "must be in namespace",
        ),
    ];
    for (what, text, at, needle) in &cases {
        let (out, dir) = render_with_files("--templates", &[("extra.yaml.j2", text.as_bytes())]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_one_line_error(&out, &format!("esk: template {dir}/extra.yaml.j2{at}"));
        assert!(stderr.contains(needle), "{what}: {stderr}");
    }
    // An imported template is named for errors in it, with its line and the node.
    let pod = std::fs::read_to_string("templates/_pod.j2").unwrap();
    let broken = pod.replacen("{{ profile.runAsUser }}", "{{ profile.nope }}", 1);
    let (out, dir) = render_with_files("--templates", &[("_pod.j2", broken.as_bytes())]);
    let line = pod
        .lines()
        .position(|l| l.contains("runAsUser: {{"))
        .unwrap()
        + 1;
    assert_one_line_error(
        &out,
        &format!("esk: template {dir}/_pod.j2 line {line} (node 1): "),
    );
    let (out, dir) = render_with_files("--templates", &[("x.yaml.j2", b"\xff{{ x }}")]);
    assert_one_line_error(
        &out,
        &format!("esk: cannot read template {dir}/x.yaml.j2: "),
    );
}
