//! The real `gcloud` against the Compute Engine disks emulator (testbed::gce). Each test has its
//! own emulator, CLOUDSDK_CONFIG and HOME, so they run in parallel. A gcloud process costs ~1 s.

use serde_json::Value;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use testbed::gce::{Disk, Fault, GceEmulator, Release};

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
    // Operations long beside gcloud's own time (1-2 s, 4-6 s on a loaded machine), so the
    // bound tells overlapping waits from serial ones however busy the machine is.
    bed.gce.set_operation_latency(Duration::from_secs(8));
    let start = Instant::now();
    let created = bed.gcloud(&["create", "a", "b", "c", "--size=10GB", "--format=json"]);
    let elapsed = start.elapsed();
    eprintln!("create a b c with 8 s operations took {elapsed:?}");
    assert_eq!(names_in(&json(&created)), ["a", "b", "c"]);
    // One operation after another takes at least 24 s; overlapping waits ~8 s + gcloud's time.
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
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

fn fault(method: &str, path: &str, status: u16, reason: &str, times: usize) -> Fault {
    Fault {
        method: Some(method.into()),
        path_contains: path.into(),
        status,
        reason: reason.into(),
        times,
    }
}

fn count(requests: &[String], prefix: &str) -> usize {
    requests.iter().filter(|r| r.starts_with(prefix)).count()
}

/// `inject_fault_after` lets the first matching batch part through and fails the next; gcloud
/// does not retry a 5xx batch part, deletes the others and exits 1.
#[test]
fn a_fault_after_one_delete_fails_only_the_second_part_of_the_batch() {
    let bed = Bed::new();
    for name in ["d1", "d2", "d3"] {
        bed.gce.seed_disk("p", ZONE, name, &[]);
    }
    let delete = fault("DELETE", "/disks/", 503, "backendError", 1);
    bed.gce.inject_fault_after(1, delete);
    let deleted = bed.gcloud(&["delete", "d1", "d2", "d3", "--quiet"]);
    assert_eq!(deleted.code, 1, "{}", deleted.stderr);
    assert!(
        deleted.stderr.contains("Internal error"),
        "{}",
        deleted.stderr
    );
    assert_eq!(bed.names(), ["d2"]);
    assert_eq!(
        count(&bed.gce.requests(), "DELETE "),
        3,
        "a 503 part was retried"
    );
}

/// gcloud does not retry a throttled insert: each call sends one POST, fails with exit 1 and
/// "Rate Limit Exceeded"; the caller has to try again (here the third call gets through).
#[test]
fn gcloud_does_not_retry_a_rate_limited_create() {
    let bed = Bed::new();
    let insert = fault(
        "POST",
        "/zones/us-central1-a/disks",
        429,
        "rateLimitExceeded",
        2,
    );
    bed.gce.inject_fault(insert);
    for attempt in 1..=2 {
        let throttled = bed.gcloud(&["create", "x", "--size=10GB"]);
        assert_eq!(throttled.code, 1, "attempt {attempt}: {}", throttled.stderr);
        let message = "Could not fetch resource:\n - Rate Limit Exceeded";
        assert!(throttled.stderr.contains(message), "{}", throttled.stderr);
        assert!(bed.names().is_empty());
        assert_eq!(
            bed.gce.mutating_requests(),
            attempt,
            "gcloud retried the insert"
        );
    }
    let created = bed.gcloud(&["create", "x", "--size=10GB", "--format=json"]);
    assert_eq!(names_in(&json(&created)), ["x"]);
    assert_eq!(bed.gce.mutating_requests(), 3);
}

/// A disk attached to an instance cannot be deleted (HTTP 400 resourceInUseByAnotherResource):
/// in one batched delete the free disks go and gcloud exits 1 naming the user; once detached
/// (here by `detach_after`) the delete succeeds.
#[test]
fn an_attached_disk_survives_a_batched_delete_until_it_is_detached() {
    let bed = Bed::new();
    for name in ["d1", "d2", "d3"] {
        bed.gce.seed_disk("p", ZONE, name, &[]);
    }
    bed.gce.attach("d2", "vm-1");
    let described = json(&bed.gcloud(&["describe", "d2", "--format=json"]));
    let link =
        "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/instances/vm-1";
    assert_eq!(described["users"], serde_json::json!([link]));
    assert!(described["lastAttachTimestamp"].is_string(), "{described}");

    let deleted = bed.gcloud(&["delete", "d1", "d2", "d3", "--quiet"]);
    assert_eq!(deleted.code, 1, "{}", deleted.stderr);
    let message = "The disk resource 'projects/p/zones/us-central1-a/disks/d2' is already being \
                   used by 'projects/p/zones/us-central1-a/instances/vm-1'";
    assert!(deleted.stderr.contains(message), "{}", deleted.stderr);
    assert!(deleted.stderr.contains("Deleted [") && deleted.stderr.contains("/disks/d3]"));
    assert_eq!(bed.names(), ["d2"]);
    assert_eq!(bed.gce.disks()[0].users, [link]);

    bed.gce.detach_after("d2", Duration::from_millis(300));
    std::thread::sleep(Duration::from_millis(400));
    assert!(bed.gce.disks()[0].users.is_empty());
    let deleted = bed.gcloud(&["delete", "d2", "--quiet"]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert!(bed.names().is_empty());
}

/// A slow answer makes gcloud time out (core/http_timeout); gcloud sends a GET again by itself
/// and succeeds on the answer that comes in time.
#[test]
fn gcloud_retries_a_get_that_timed_out() {
    let bed = Bed::new();
    bed.gce.seed_disk("p", ZONE, "d", &[]);
    bed.gce
        .delay_requests("/disks/d", Some("GET"), Duration::from_secs(3), 1);
    let mut command = bed.command("gcloud");
    command.env("CLOUDSDK_CORE_HTTP_TIMEOUT", "1").args([
        "compute",
        "disks",
        "describe",
        "d",
        "--format=value(name)",
    ]);
    let started = Instant::now();
    let described = run(&mut command);
    let elapsed = started.elapsed();
    assert_eq!(
        (described.code, described.stdout.trim()),
        (0, "d"),
        "{}",
        described.stderr
    );
    assert_eq!(count(&bed.gce.requests(), "GET "), 2);
    assert!(elapsed >= Duration::from_secs(1), "took {elapsed:?}");
}

fn spawn_gcloud(bed: &Bed, args: &[&str]) -> std::process::Child {
    let mut command = bed.command("gcloud");
    command
        .arg("compute")
        .arg("disks")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command.spawn().expect("spawn gcloud")
}

fn finish(child: std::process::Child) -> Run {
    let out = child.wait_with_output().expect("gcloud finishes");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The crash-test gate: the batch carrying the 2nd insert is held whole; killing gcloud then
/// dropping the request leaves nothing behind. A held single insert released with Apply is
/// made; one released with Drop fails gcloud (it does not retry a 503 insert) and makes nothing.
#[test]
fn the_gate_holds_the_kth_mutation_until_released() {
    let bed = Bed::new();
    let timeout = Duration::from_secs(60);
    bed.gce.block_mutating_at(2);
    let mut gcloud = spawn_gcloud(&bed, &["create", "a", "b", "c", "--size=10GB"]);
    assert!(bed.gce.wait_blocked(timeout), "the batch was not held");
    assert!(bed.gce.disks().is_empty(), "a held batch was applied");
    gcloud.kill().expect("kill gcloud");
    let _ = gcloud.wait();
    assert!(bed.gce.release(Release::Drop));
    assert!(bed.gce.disks().is_empty());
    // The released request is answered on the server's own thread: give it a moment.
    let counted = std::time::Instant::now();
    while bed.gce.mutating_requests() < 3 && counted.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(bed.gce.mutating_requests(), 3);
    assert!(!bed.gce.release(Release::Drop), "nothing is held any more");

    bed.gce.block_mutating_at(1);
    let gcloud = spawn_gcloud(&bed, &["create", "d", "--size=10GB"]);
    assert!(bed.gce.wait_blocked(timeout));
    assert!(bed.gce.release(Release::Apply));
    let applied = finish(gcloud);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert_eq!(bed.names(), ["d"]);

    bed.gce.block_mutating_at(1);
    let gcloud = spawn_gcloud(&bed, &["delete", "d", "--quiet"]);
    assert!(bed.gce.wait_blocked(timeout));
    assert!(bed.gce.release(Release::Drop));
    let dropped = finish(gcloud);
    assert_eq!(dropped.code, 1, "{}", dropped.stderr);
    assert_eq!(bed.names(), ["d"], "a dropped delete was applied");
    assert_eq!(bed.gce.mutating_requests(), 5);
}

/// Dropping the emulator answers a held request instead of leaving its thread blocked.
#[test]
fn dropping_the_emulator_does_not_hang_on_a_held_request() {
    use std::io::{Read, Write};
    let gce = GceEmulator::start().expect("start the emulator");
    gce.block_mutating_at(1);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", gce.port())).expect("connect");
    let body = r#"{"name":"x"}"#;
    let request = format!(
        "POST /compute/v1/projects/p/zones/z/disks HTTP/1.1\r\nHost: x\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    assert!(gce.wait_blocked(Duration::from_secs(10)));
    let started = Instant::now();
    drop(gce);
    assert!(started.elapsed() < Duration::from_secs(5));
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 503"),
        "{answer}"
    );
}

/// What gcloud itself retries, measured (slow: gcloud backs off ~2–5 s per try). Set
/// ESK_TESTBED_SLOW=1 to run. GETs and operation waits are retried on 5xx but not on 429;
/// a 403 batch part is retried; a 5xx or 429 insert (batched or not) is not.
#[test]
fn gcloud_retries_5xx_gets_and_waits_and_403_batch_parts_only() {
    if std::env::var_os("ESK_TESTBED_SLOW").is_none() {
        return;
    }
    let bed = Bed::new();
    bed.gce.seed_disk("p", ZONE, "d", &[]);
    bed.gce
        .inject_fault(fault("GET", "/disks/d", 503, "backendError", 2));
    let described = bed.gcloud(&["describe", "d", "--format=value(name)"]);
    assert_eq!(described.code, 0, "{}", described.stderr);
    assert_eq!(count(&bed.gce.requests(), "GET "), 3);

    bed.gce
        .inject_fault(fault("GET", "/disks/d", 429, "rateLimitExceeded", 1));
    let described = bed.gcloud(&["describe", "d", "--format=value(name)"]);
    assert_eq!(described.code, 1);
    let message = "HTTPError 429: Rate Limit Exceeded";
    assert!(described.stderr.contains(message), "{}", described.stderr);

    // A 429 on the operation wait fails gcloud although the disk was made.
    bed.gce.set_operation_latency(Duration::from_millis(300));
    bed.gce
        .inject_fault(fault("POST", "/wait", 429, "rateLimitExceeded", 1));
    let created = bed.gcloud(&["create", "w", "--size=10GB"]);
    assert_eq!(created.code, 1, "{}", created.stderr);
    assert_eq!(bed.names(), ["d", "w"]);
    bed.gce
        .inject_fault(fault("POST", "/wait", 503, "backendError", 2));
    let created = bed.gcloud(&["create", "v", "--size=10GB"]);
    assert_eq!(created.code, 0, "{}", created.stderr);

    bed.gce.set_operation_latency(Duration::ZERO);
    let part = fault(
        "POST",
        "/zones/us-central1-a/disks",
        403,
        "rateLimitExceeded",
        2,
    );
    bed.gce.inject_fault(part);
    let created = bed.gcloud(&["create", "a", "b", "--size=10GB"]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert_eq!(count(&bed.gce.requests(), "POST /batch/"), 3);
}

#[test]
fn a_zone_the_region_does_not_have_is_refused() {
    let bed = Bed::new();
    let made = bed.gcloud(&["create", "d1", "--size=10GB", "--zone=us-central1-d"]);
    assert_ne!(made.code, 0);
    assert!(made.stderr.contains("Unknown zone"), "{}", made.stderr);
    assert!(bed.names().is_empty());
    let mut describe = bed.command("gcloud");
    let described = run(describe.args(["compute", "zones", "describe", "us-central1-d"]));
    assert_ne!(described.code, 0);
    assert!(
        described.stderr.contains("was not found"),
        "{}",
        described.stderr
    );
    let mut real = bed.command("gcloud");
    let real = run(real.args([
        "compute",
        "zones",
        "describe",
        "us-central1-f",
        "--format=json",
    ]));
    assert_eq!(real.code, 0, "{}", real.stderr);
}
