//! Hostile input, as property tests. For cluster names, namespaces, `--set` values, profile
//! files and templates full of newlines, quotes, `{{ }}`, YAML tags, anchors, document markers,
//! unicode, NUL and very long strings:
//! - nothing panics;
//! - a value is either refused with a one-line error (exit code 2), or the render has exactly
//!   the shape of a render with a benign value (the same documents, kinds, names and key paths)
//!   and the hostile text appears only as the scalar string where the benign one was;
//! - whatever is accepted and reaches a command line (names, project/zone/region, disk types,
//!   paths) is within its alphabet.
//!
//! Cases run through the library (`Cli::try_parse_from`, `Global::spec`, `offline_manifests`),
//! and a few through the real binary. `ESK_PROPTEST_CASES=N` runs N cases per property.

mod binary;
#[path = "../suite/common/mod.rs"]
mod common;
mod files;
mod values;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command as Process;
use std::sync::{Mutex, OnceLock};

use clap::Parser;
use esk::cli::{node_count, Cli, Command};
use esk::error::exit_code;
use esk::manifest::to_yaml_stream;
use esk::render::Templates;
use esk::spec::{cloud_id, Cloud, Name, NodeCount, Spec, MAX_NAME_LEN};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};
use serde::Deserialize;
use serde_yaml::Value;

/// The seed every property draws its cases from unless `ESK_PROPTEST_SEED` says otherwise: CI
/// draws the same cases on every run.
const FIXED_SEED: u64 = 0xe5c0_2026;

/// Cases per property: small by default (the file runs in seconds), more on request.
/// `ESK_PROPTEST_SEED=N` draws from seed N, `ESK_PROPTEST_SEED=random` from a fresh one (proptest
/// prints the failing input, and the seed goes to `regressions.txt`, which every run replays
/// first: commit it with the fix).
fn cases(default: u32) -> Config {
    let cases = std::env::var("ESK_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    let rng_seed = match std::env::var("ESK_PROPTEST_SEED").as_deref() {
        Ok("random") => RngSeed::Random,
        Ok(n) => RngSeed::Fixed(
            n.parse()
                .expect("ESK_PROPTEST_SEED is a number or 'random'"),
        ),
        Err(_) => RngSeed::Fixed(FIXED_SEED),
    };
    Config {
        cases,
        rng_seed,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/hostile/regressions.txt",
        ))),
        ..Config::default()
    }
}

/// Pieces of trouble: YAML structure, Jinja syntax, shell syntax, odd characters.
const FRAGMENTS: &[&str] = &[
    "\n",
    "\r\n",
    "\r",
    "\"",
    "'",
    "\\",
    "{{ cluster.name }}",
    "{% if true %}x{% endif %}",
    "{#",
    "#}",
    "!!python/object:os.system",
    "!!binary",
    "!foo",
    "&a",
    "*a",
    "<<: *a",
    "---",
    "...",
    "- ",
    ": ",
    "key: value",
    "\n  extra: key",
    "\nkind: Secret",
    "# ",
    "|",
    ">-",
    "[",
    "]",
    "{",
    "}",
    ",",
    "?",
    "%YAML 1.1",
    "@",
    "`",
    "~",
    "null",
    "true",
    "0x1F",
    "1e3",
    "-1",
    "\0",
    "\t",
    "\u{7f}",
    "\u{85}",
    "\u{9f}",
    "\u{a0}",
    "\u{2028}",
    "\u{2029}",
    "\u{feff}",
    "\u{fffe}",
    "\u{10ffff}",
    "é",
    "👩‍💻",
    "ﬁ",
    "\u{202e}",
    "$(id)",
    "; rm -rf /",
    "|| true",
    " --labels=x",
    "a,b=c",
    "{Key=x}",
    "es",
    "A",
    "-",
    ".",
    "/",
    "..",
    "x",
    "0",
    "not ",
    ".x",
    "|x",
    "(",
    "{{ - ",
];

/// A hostile string: fragments glued together, arbitrary unicode, near-valid names, or very
/// long text.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(FRAGMENTS), 1..6).prop_map(|v| v.concat()),
        2 => any::<String>(),
        2 => "[a-z][a-z0-9.-]{0,12}",
        1 => (prop::sample::select(FRAGMENTS), 200..20_000usize)
            .prop_map(|(f, n)| format!("a{}", f.repeat(n / f.len().max(1)))),
    ]
}

/// What `esk render` does with these arguments, in-process: the spec it built and its stdout,
/// or the exit code and message it would have stopped with.
fn render(args: &[String]) -> Result<(Spec, String), (i32, String)> {
    let argv: Vec<String> = ["esk", "render"]
        .iter()
        .map(|s| s.to_string())
        .chain(args.iter().cloned())
        .collect();
    let cli = Cli::try_parse_from(&argv).map_err(|e| (e.exit_code(), e.to_string()))?;
    let Command::Render { nodes, .. } = &cli.command else {
        unreachable!("a render command")
    };
    let run = || -> anyhow::Result<(Spec, String)> {
        let nodes = node_count(nodes)?;
        let cloud = cli.global.cloud.as_deref().map(str::parse::<Cloud>);
        let spec = cli.global.spec(nodes, cloud.transpose()?)?;
        let manifests = esk::commands::offline_manifests(&spec, built_in(), false)?;
        Ok((spec, to_yaml_stream(&manifests)))
    };
    run().map_err(|e| (exit_code(&e), format!("{e:#}")))
}

fn built_in() -> &'static Templates {
    static T: OnceLock<Templates> = OnceLock::new();
    T.get_or_init(|| Templates::load(None).expect("built-in templates load"))
}

/// Arguments for a render on `cloud` (each shapes the volumes differently).
fn on(cloud: &str, extra: &[String]) -> Vec<String> {
    let mut a: Vec<String> = ["3", "--cloud", cloud].map(String::from).to_vec();
    match cloud {
        "gke" => a.extend(["--project=p", "--zone=us-central1-a"].map(String::from)),
        "aws" => a.extend(["--region=us-east-1", "--zone=us-east-1a"].map(String::from)),
        _ => {}
    }
    a.extend_from_slice(extra);
    a
}

/// Every document of a rendered stream: (kind, name) → leaf path → scalar.
type Shape = BTreeMap<(String, String), BTreeMap<String, Value>>;

fn shape(stream: &str) -> Shape {
    let mut docs = Shape::new();
    for doc in serde_yaml::Deserializer::from_str(stream) {
        let v = Value::deserialize(doc).expect("esk printed valid YAML");
        let kind = v["kind"].as_str().unwrap_or("?").to_string();
        let name = v["metadata"]["name"].as_str().unwrap_or("?").to_string();
        let mut leaves = BTreeMap::new();
        flatten(&v, String::new(), &mut leaves);
        assert!(
            docs.insert((kind, name), leaves).is_none(),
            "a document twice"
        );
    }
    docs
}

fn flatten(v: &Value, path: String, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = k.as_str().expect("string keys only").escape_debug();
                flatten(v, format!("{path}.{key}"), out);
            }
        }
        Value::Sequence(s) if !s.is_empty() => {
            for (i, v) in s.iter().enumerate() {
                flatten(v, format!("{path}[{i}]"), out);
            }
        }
        Value::Tagged(_) => panic!("esk printed a YAML tag at {path}"),
        leaf => {
            out.insert(path, leaf.clone());
        }
    }
}

/// The hostile render is the benign one with `benign` replaced by `hostile` in strings (and
/// names and paths): no document, kind, key or list item more or less, and the hostile text
/// only where the benign text was.
fn assert_same_but(benign: &Shape, b: &str, hostile: &Shape, h: &str) {
    let sub = |s: &str| s.replace(b, h);
    let expected: Shape = benign
        .iter()
        .map(|((kind, name), leaves)| {
            let leaves = leaves
                .iter()
                .map(|(p, v)| match v {
                    Value::String(s) => (sub(p), Value::String(sub(s))),
                    other => (sub(p), other.clone()),
                })
                .collect();
            ((kind.clone(), sub(name)), leaves)
        })
        .collect();
    let docs = |s: &Shape| s.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(docs(hostile), docs(&expected), "documents differ");
    for (doc, leaves) in &expected {
        let got = &hostile[doc];
        let paths = |l: &BTreeMap<String, Value>| l.keys().cloned().collect::<BTreeSet<_>>();
        assert_eq!(paths(got), paths(leaves), "key paths of {doc:?} differ");
        for (path, want) in leaves {
            assert_eq!(&got[path], want, "{doc:?} {path}");
        }
    }
}

/// A refusal is one line with exit code 2 (and clap never sees a bad value: every flag here
/// takes any string).
fn assert_refused_cleanly(code: i32, msg: &str) {
    assert_eq!(code, 2, "exit code for: {msg}");
    assert!(!msg.contains(['\n', '\r']), "not one line: {msg:?}");
}

/// The render with benign arguments (cached: every case compares against one of a few).
fn benign_shape(args: &[String]) -> Shape {
    static CACHE: OnceLock<Mutex<HashMap<Vec<String>, Shape>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(s) = cache.lock().unwrap().get(args) {
        return s.clone();
    }
    let (_, out) = render(args).unwrap_or_else(|e| panic!("benign {args:?}: {e:?}"));
    let s = shape(&out);
    cache.lock().unwrap().insert(args.to_vec(), s.clone());
    s
}

/// The profile value at `key` as the templates print it.
fn stored(spec: &Spec, key: &str) -> String {
    match spec.profile.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        other => panic!("{key} holds {other:?}"),
    }
}

fn is_label(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !s.is_empty()
        && s.len() <= max
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

fn is_cloud_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-.:".contains(&c))
}

/// A fresh directory under the test's target dir, removed when dropped.
struct TempDir(std::path::PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> TempDir {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "hostile-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn esk_render(args: &[String]) -> std::process::Output {
    Process::new(common::ESK)
        .arg("render")
        .args(args)
        .env_remove("CLOUDSDK_CORE_PROJECT")
        .env_remove("CLOUDSDK_COMPUTE_ZONE")
        .output()
        .expect("esk runs")
}
