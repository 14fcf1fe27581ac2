//! The real `gcloud` against the Compute Engine disks emulator (testbed::gce). Each test has its
//! own emulator, CLOUDSDK_CONFIG and HOME, so they run in parallel. A gcloud process costs ~1 s.

use serde_json::Value;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use testbed::gce::{Disk, Fault, GceEmulator};

const ZONE: &str = "us-central1-a";

struct Bed {
    gce: GceEmulator,
    home: tempfile::TempDir,
    config: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Bed {
    fn new() -> Bed {
        Bed {
            gce: GceEmulator::start().expect("start the emulator"),
            home: tempfile::tempdir().expect("tempdir"),
            config: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// `program` with the environment of /work/shared/TESTBED.md.
    fn command(&self, program: &str) -> Command {
        let (mut command, endpoint) = (Command::new(program), self.gce.endpoint());
        for proxy in ["http_proxy", "https_proxy", "all_proxy", "no_proxy"] {
            command.env_remove(proxy).env_remove(proxy.to_uppercase());
        }
        command
            .env("HOME", self.home.path())
            .env("CLOUDSDK_CONFIG", self.config.path())
            .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", endpoint)
            .env("CLOUDSDK_AUTH_DISABLE_CREDENTIALS", "true")
            .env("CLOUDSDK_CORE_PROJECT", "p")
            .env("CLOUDSDK_COMPUTE_ZONE", ZONE)
            .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
            .env("CLOUDSDK_CORE_CHECK_GCE_METADATA", "false")
            .env("CLOUDSDK_METRICS_ENVIRONMENT", "esk-testbed")
            .env("GCE_METADATA_ROOT", "127.0.0.1:9")
            .env("CLOUDSDK_CORE_DISABLE_USAGE_REPORTING", "true")
            .env("CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK", "true");
        command
    }

    fn gcloud(&self, args: &[&str]) -> Run {
        let mut command = self.command("gcloud");
        run(command.arg("compute").arg("disks").args(args))
    }

    fn names(&self) -> Vec<String> {
        self.gce.disks().into_iter().map(|d| d.name).collect()
    }
}

fn run(command: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("run the command");
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    eprintln!("{command:?} -> {}\n{}{}", run.code, run.stdout, run.stderr);
    run
}

fn json(run: &Run) -> Value {
    assert_eq!(run.code, 0, "gcloud failed: {}", run.stderr);
    serde_json::from_str(&run.stdout).expect("gcloud printed JSON")
}

fn names_in<'a>(value: &'a Value) -> Vec<&'a str> {
    let items = value.as_array().expect("a JSON list");
    let name = |d: &'a Value| d["name"].as_str().unwrap_or("?");
    items.iter().map(name).collect()
}

fn esk_disk(disk: &Disk) -> bool {
    disk.labels.get("esk-cluster").map(String::as_str) == Some("es")
        && disk.labels.get("managed-by").map(String::as_str) == Some("esk")
}

#[test]
fn create_list_describe_delete() {
    let bed = Bed::new();
    let gce = &bed.gce;
    gce.seed_disk("p", ZONE, "foreign", &[("team", "other")]);
    let labels = "--labels=esk-cluster=es,managed-by=esk";
    let flags = [labels, "--size=10GB", "--format=json"];
    let created = bed.gcloud(&[&["create", "d1", "d2", "d3"][..], &flags].concat());
    assert_eq!(names_in(&json(&created)), ["d1", "d2", "d3"]);
    let disks = gce.disks();
    let ours: Vec<&Disk> = disks.iter().filter(|d| esk_disk(d)).collect();
    assert_eq!(ours.len(), 3);
    assert!(ours
        .iter()
        .all(|d| d.size_gb == 10 && d.disk_type == "pd-standard"));

    let listed = bed.gcloud(&["list", "--filter=labels.esk-cluster=es", "--format=json"]);
    let listed = json(&listed);
    assert_eq!(names_in(&listed), ["d1", "d2", "d3"]);
    assert_eq!(listed[0]["labels"]["managed-by"], "esk");
    let aggregated = "GET /compute/v1/projects/p/aggregated/disks".to_string();
    assert!(gce.requests().contains(&aggregated));

    let described = json(&bed.gcloud(&["describe", "d2", "--format=json"]));
    assert_eq!(described["name"], "d2");
    assert_eq!(described["sizeGb"], "10");
    assert_eq!(described["status"], "READY");

    let deleted = bed.gcloud(&["delete", "d1", "d2", "d3", "--quiet"]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert_eq!(bed.names(), ["foreign"]);
    assert_eq!(gce.mutating_requests(), 6);
}

#[test]
fn creating_an_existing_disk_fails_but_creates_the_others() {
    let bed = Bed::new();
    bed.gce.seed_disk("p", ZONE, "d1", &[]);
    bed.gce.seed_disk("p", ZONE, "d4", &[]);
    let again = bed.gcloud(&["create", "d1", "--size=10GB", "--format=json"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert_eq!(bed.names(), ["d1", "d4"]);

    let mixed = bed.gcloud(&["create", "d4", "d5", "--size=10GB", "--format=json"]);
    assert_eq!(mixed.code, 1);
    assert_eq!(mixed.stdout.trim(), "");
    assert_eq!(bed.names(), ["d1", "d4", "d5"]);
    assert_eq!(bed.gce.mutating_requests(), 3);
}

#[test]
fn one_batched_create_waits_for_all_operations_at_once() {
    let bed = Bed::new();
    bed.gce.set_operation_latency(Duration::from_secs(3));
    let start = Instant::now();
    let created = bed.gcloud(&["create", "a", "b", "c", "--size=10GB", "--format=json"]);
    let elapsed = start.elapsed();
    eprintln!("create a b c with 3 s operations took {elapsed:?}");
    assert_eq!(names_in(&json(&created)), ["a", "b", "c"]);
    // One operation after another takes at least 9 s; overlapping waits take ~3 s + ~1 s.
    assert!(elapsed < Duration::from_secs(9), "took {elapsed:?}");
    for name in ["a", "b", "c"] {
        assert_eq!(bed.gce.disk_status("p", ZONE, name), Some("READY"));
    }
    let requests = bed.gce.requests();
    let batches = requests
        .iter()
        .filter(|r| r.starts_with("POST /batch/"))
        .count();
    let waits = requests.iter().filter(|r| r.ends_with("/wait")).count();
    assert!(batches >= 3 && waits >= 3, "{requests:#?}");
}

/// A quota error fails `create`, whether the operation of an accepted insert ends in
/// QUOTA_EXCEEDED or the insert is refused with 403.
#[test]
fn quota_errors_fail_create() {
    let bed = Bed::new();
    bed.gce.inject_fault(Fault {
        method: Some("POST".into()),
        path_contains: "/disks".into(),
        status: 403,
        reason: "QUOTA_EXCEEDED".into(),
        times: 1,
    });
    let quota = bed.gcloud(&["create", "q1", "--size=10GB"]);
    assert_ne!(quota.code, 0);
    assert!(quota.stderr.contains("Quota"), "{}", quota.stderr);
    assert!(bed.gce.disks().is_empty());
    assert_eq!(bed.gce.mutating_requests(), 1);

    // The synchronous form, HTTP 403 quotaExceeded, fails a single create at once. (gcloud
    // retries a 403 *batch part*, 5 attempts ~5 s apart, so there only a lasting one fails.)
    bed.gce.inject_fault(Fault {
        method: Some("POST".into()),
        path_contains: "/disks".into(),
        status: 403,
        reason: "quotaExceeded".into(),
        times: 1,
    });
    let quota = bed.gcloud(&["create", "q2", "--size=10GB"]);
    assert_ne!(quota.code, 0);
    assert!(quota.stderr.contains("Quota"), "{}", quota.stderr);
    assert!(bed.gce.disks().is_empty());
    assert_eq!(bed.gce.mutating_requests(), 2);
}

/// gcloud does not retry a failed list and does not fail either: it prints what it got (here
/// nothing), warns on stderr and exits 0. Callers must treat the warning as an error.
#[test]
fn a_server_error_on_list_only_warns() {
    let bed = Bed::new();
    bed.gce.seed_disk("p", ZONE, "d1", &[]);
    bed.gce.inject_fault(Fault {
        method: Some("GET".into()),
        path_contains: "/aggregated/disks".into(),
        status: 503,
        reason: "backendError".into(),
        times: 1,
    });
    let list = bed.gcloud(&["list", "--format=json"]);
    assert_eq!((list.code, list.stdout.trim()), (0, "[]"));
    let warning = "WARNING: Some requests did not succeed.";
    assert!(list.stderr.contains(warning), "{}", list.stderr);
    assert!(list.stderr.contains("Internal error"), "{}", list.stderr);
}

#[test]
fn add_labels_round_trips_the_fingerprint() {
    let bed = Bed::new();
    bed.gce.seed_disk("p", ZONE, "d", &[("esk-cluster", "es")]);
    let added = bed.gcloud(&["add-labels", "d", "--labels=k=v"]);
    assert_eq!(added.code, 0, "{}", added.stderr);
    let labels = &bed.gce.disks()[0].labels;
    assert_eq!(labels.get("k").map(String::as_str), Some("v"));
    assert_eq!(labels.get("esk-cluster").map(String::as_str), Some("es"));
}

/// Every TCP connect of gcloud (and its children) goes to 127.0.0.1, even while it waits on
/// operations and re-reads the created disk.
#[test]
fn gcloud_contacts_nothing_but_localhost() {
    let bed = Bed::new();
    bed.gce.set_operation_latency(Duration::from_millis(500));
    let trace = bed.home.path().join("connect.trace");
    let mut command = bed.command("strace");
    command
        .args(["-f", "-e", "trace=connect", "-o"])
        .arg(&trace);
    command.args(["gcloud", "compute", "disks", "create", "s1", "--size=10GB"]);
    let created = run(&mut command);
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert_eq!(bed.names(), ["s1"]);

    let trace = std::fs::read_to_string(trace).expect("strace output");
    let inet: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("connect(") && l.contains("sa_family=AF_INET"))
        .collect();
    // `inet_addr("127.0.0.1")`, or `inet_pton(AF_INET6, "::ffff:127.0.0.1", …)`.
    let remote: Vec<&&str> = inet.iter().filter(|l| !l.contains("127.0.0.1\"")).collect();
    assert!(remote.is_empty(), "connects elsewhere: {remote:#?}");
    let port = format!("sin_port=htons({})", bed.gce.port());
    let to_emulator = inet.iter().any(|l| l.contains(&port));
    assert!(to_emulator, "no connect to {port}: {inet:#?}");
}
