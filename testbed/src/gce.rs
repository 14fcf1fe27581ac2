//! A stateful emulator of the Compute Engine v1 *disks* API, enough for the real `gcloud
//! compute disks create|list|describe|delete|add-labels|remove-labels` pointed at it with
//! `CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE` (see /work/shared/TESTBED.md).
//!
//! Served under `/compute/v1/`: zones get; disks insert, get, list, aggregatedList, delete and
//! setLabels; zone operations get and wait; plus the `/batch/compute/v1` endpoint (batch.rs).
//! A mutation returns an operation that stays RUNNING for the configured latency; meanwhile the
//! disk is CREATING (or DELETING), then READY (or gone). Errors have the Google JSON shape that
//! gcloud parses (values.rs).
//!
//! For tests of failure handling: injected faults and slow answers (faults.rs), disks attached
//! to instances that cannot be deleted (users.rs), and a gate that holds the k-th mutating call
//! until the test applies or drops it (crate::gate).

mod batch;
mod disks;
mod faults;
mod operations;
mod paging;
mod regions;
mod route;
mod snapshots;
mod users;
mod values;

pub use crate::gate::Release;
pub use faults::Fault;
pub use snapshots::Snapshot;

use crate::gate::Gate;
use crate::http::{Request, Response, Server};
use disks::{render_disk, zone};
use faults::Faults;
use operations::Operation;
use route::{mutation, route, Route};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use users::Users;
use values::{api_error, fault_message, not_found, timestamp, ApiError, ApiResult, Labels};

/// `operations.wait` returns after at most about two minutes, DONE or not, like the real API.
const WAIT_MAX: Duration = Duration::from_secs(120);
/// Where `selfLink`, `zone`, `type` and `targetLink` point, as in the real API. gcloud does not
/// follow them: it parses the path and sends to the endpoint override (checked with strace for
/// create, wait, add-labels and delete, even with such a URL as the disk argument).
const LINK_BASE: &str = "https://www.googleapis.com/compute/v1/";

pub struct GceEmulator {
    server: Server,
    state: Arc<Mutex<State>>,
    gate: Arc<Gate>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Disk {
    pub project: String,
    pub zone: String,
    pub name: String,
    pub id: u64,
    pub size_gb: u64,
    /// The short type name, e.g. `pd-standard`.
    pub disk_type: String,
    pub labels: BTreeMap<String, String>,
    /// Links of the instances the disk is attached to, as in the API's `users`.
    pub users: Vec<String>,
    /// The snapshot the disk was made from (`sourceSnapshot`), by name.
    pub source_snapshot: Option<String>,
}

impl GceEmulator {
    pub fn start() -> std::io::Result<GceEmulator> {
        let state = Arc::new(Mutex::new(State::default()));
        let gate = Arc::new(Gate::default());
        let (shared, shared_gate) = (state.clone(), gate.clone());
        let server = Server::start(Arc::new(move |req| serve(&shared, &shared_gate, req)))?;
        Ok(GceEmulator {
            server,
            state,
            gate,
        })
    }

    /// The value for `CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE`.
    pub fn endpoint(&self) -> String {
        format!("{}/compute/v1/", self.server.url())
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// All disks, CREATING and DELETING ones included, sorted by zone then name.
    pub fn disks(&self) -> Vec<Disk> {
        let state = lock(&self.state);
        let mut disks: Vec<Disk> = state.disks.values().map(DiskRecord::public).collect();
        disks.sort_by(|a, b| (&a.zone, &a.name).cmp(&(&b.zone, &b.name)));
        disks
    }

    /// The API status of a disk: "CREATING", "READY" or "DELETING".
    pub fn disk_status(&self, project: &str, zone: &str, name: &str) -> Option<&'static str> {
        let state = lock(&self.state);
        state
            .disks
            .get(&key(project, zone, name))
            .map(DiskRecord::status)
    }

    /// Adds a READY 500 GB pd-standard disk directly, e.g. one that belongs to someone else.
    pub fn seed_disk(
        &self,
        project: &str,
        zone: &str,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Disk {
        assert!(regions::exists(zone), "GCE has no zone {zone}");
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let mut state = lock(&self.state);
        let record = state.add_disk(
            key(project, zone, name),
            500,
            "pd-standard",
            labels.collect(),
        );
        record.ready_at = Instant::now();
        record.public()
    }

    /// What the GCE PD CSI driver's `ControllerExpandVolume` does for the kube emulator's
    /// resizer: grows the disk named by a volume handle (`projects/P/zones/Z/disks/D`) to at
    /// least `size_gb`, as `disks.resize` does; a smaller size is refused, as the API does.
    pub fn volume_expander(&self) -> impl Fn(&str, u64) -> Result<(), String> + Send + Sync {
        let state = self.state.clone();
        move |handle: &str, size_gb: u64| {
            let parts: Vec<&str> = handle.split('/').collect();
            let ["projects", project, "zones", zone, "disks", name] = parts[..] else {
                return Err(format!("not a disk handle: {handle}"));
            };
            let mut state = lock(&state);
            let record = state
                .disks
                .get_mut(&key(project, zone, name))
                .ok_or_else(|| format!("disk {handle} not found"))?;
            if size_gb < record.disk.size_gb {
                return Err(format!(
                    "Requested disk size cannot be smaller than the current size ({} GB)",
                    record.disk.size_gb
                ));
            }
            record.disk.size_gb = size_gb;
            Ok(())
        }
    }

    /// Every snapshot, CREATING and DELETING ones included, sorted by project then name.
    pub fn snapshots(&self) -> Vec<Snapshot> {
        let state = lock(&self.state);
        state
            .snapshots
            .values()
            .map(|r| r.snapshot.clone())
            .collect()
    }

    /// Adds a READY snapshot of the disk `disk` (which must exist) directly, e.g. one that
    /// somebody else made. Panics if there is no such disk.
    pub fn seed_snapshot(&self, name: &str, disk: &str, labels: &[(&str, &str)]) -> Snapshot {
        let mut state = lock(&self.state);
        let d = state.disk_named(disk).disk.clone();
        let labels: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
            .collect();
        let body = serde_json::json!({"name": name, "labels": labels});
        let k = key(&d.project, &d.zone, &d.name);
        let latency = std::mem::take(&mut state.latency);
        let made = state.make_snapshot_for_test(&k, &body);
        state.latency = latency;
        made
    }

    /// Inserts, deletes, setLabels and snapshot calls received (each batch part counts),
    /// failed or not.
    pub fn mutating_requests(&self) -> usize {
        lock(&self.state).mutating
    }

    /// "METHOD /path" of every request received, including each part of a batch.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).log.clone()
    }

    /// How long operations started from now on stay RUNNING (zero: DONE at once).
    pub fn set_operation_latency(&self, latency: Duration) {
        lock(&self.state).latency = latency;
    }

    /// Injects `fault` at once; the same as `inject_fault_after(0, fault)`.
    pub fn inject_fault(&self, fault: Fault) {
        self.inject_fault_after(0, fault);
    }

    /// Lets the first `skip` requests that match `fault` pass, then fails the next
    /// `fault.times` of them. Each batch part is a request of its own (see [`Fault`]).
    pub fn inject_fault_after(&self, skip: usize, fault: Fault) {
        lock(&self.state).faults.inject_after(skip, fault);
    }

    /// Answers the next `times` requests whose path contains `path_contains` (and whose method
    /// is `method`, if given) `delay` late, e.g. to make a client time out. The request takes
    /// effect at once; only its answer is late. Each batch part counts on its own, and a late
    /// part holds back the whole batch answer.
    pub fn delay_requests(
        &self,
        path_contains: &str,
        method: Option<&str>,
        delay: Duration,
        times: usize,
    ) {
        lock(&self.state)
            .faults
            .delay(path_contains, method, delay, times);
    }

    /// Attaches the disk `name` (in any zone) to the instance `instance` of its zone: the
    /// instance link joins the disk's `users`, and `disks.delete` fails with HTTP 400
    /// `resourceInUseByAnotherResource` until it is detached. Panics if there is no such disk.
    pub fn attach(&self, name: &str, instance: &str) {
        let mut state = lock(&self.state);
        let record = state.disk_named(name);
        let (project, zone) = (&record.disk.project, &record.disk.zone);
        let link = format!("{LINK_BASE}projects/{project}/zones/{zone}/instances/{instance}");
        record.users.attach(link);
    }

    /// Detaches the disk `name` from every instance now. Panics if there is no such disk.
    pub fn detach(&self, name: &str) {
        lock(&self.state).disk_named(name).users.detach();
    }

    /// Detaches the disk `name` from every instance once `after` has passed (checked on each
    /// request, so no thread is involved). Panics if there is no such disk.
    pub fn detach_after(&self, name: &str, after: Duration) {
        let at = Instant::now() + after;
        lock(&self.state).disk_named(name).users.detach_at(at);
    }

    /// Detaches the disk `name` from every instance once `n` deletes of it were refused for
    /// it being in use (the refused answers are sent first). Panics if there is no such disk.
    pub fn detach_after_refused_deletes(&self, name: &str, n: u32) {
        lock(&self.state)
            .disk_named(name)
            .users
            .detach_after_refusals(n);
    }

    /// Holds the HTTP request carrying the `k`-th mutating call from now (counted as
    /// [`GceEmulator::mutating_requests`] counts them: each insert, delete or setLabels, each
    /// batch part on its own; `k` = 1 is the next one) until [`GceEmulator::release`]. A held
    /// batch is held whole. The gate fires once. Panics if `k` is 0.
    pub fn block_mutating_at(&self, k: usize) {
        self.gate.arm(k);
    }

    /// Waits until a request is held at the gate; false if none is within `timeout`.
    pub fn wait_blocked(&self, timeout: Duration) -> bool {
        self.gate.wait_held(timeout)
    }

    /// Lets the held request go: [`Release::Apply`] processes it normally,
    /// [`Release::Drop`] answers it with HTTP 503 `backendError` and applies nothing (it is
    /// still logged and counted). Also disarms a gate not yet reached. Returns whether a
    /// request was held.
    pub fn release(&self, how: Release) -> bool {
        self.gate.release(how)
    }
}

impl Drop for GceEmulator {
    /// A request still held at the gate is dropped, so no connection thread stays blocked.
    fn drop(&mut self) {
        self.gate.close();
    }
}

/// (project, zone, name) of a disk or an operation.
type Key = (String, String, String);

fn key(project: &str, zone: &str, name: &str) -> Key {
    (project.to_string(), zone.to_string(), name.to_string())
}

/// "projects/P/zones/Z/COLLECTION/NAME", as in API messages and (after [`LINK_BASE`]) links;
/// "projects/P/global/COLLECTION/NAME" for a key without a zone (snapshots, global operations).
fn path(key: &Key, collection: &str) -> String {
    let (project, zone, name) = key;
    if zone.is_empty() {
        return format!("projects/{project}/global/{collection}/{name}");
    }
    format!("projects/{project}/zones/{zone}/{collection}/{name}")
}

#[derive(Default)]
struct State {
    disks: BTreeMap<Key, DiskRecord>,
    snapshots: BTreeMap<Key, snapshots::SnapshotRecord>,
    operations: BTreeMap<Key, Operation>,
    seq: u64,
    latency: Duration,
    faults: Faults,
    mutating: usize,
    log: Vec<String>,
}

struct DiskRecord {
    disk: Disk,
    description: Option<String>,
    source_snapshot_id: Option<u64>,
    created: String,
    ready_at: Instant,
    gone_at: Option<Instant>,
    users: Users,
}

impl DiskRecord {
    fn public(&self) -> Disk {
        Disk {
            users: self.users.links().to_vec(),
            ..self.disk.clone()
        }
    }

    fn status(&self) -> &'static str {
        status(self.ready_at, self.gone_at)
    }
}

/// A disk's or snapshot's status: DELETING once deleted, CREATING until it is ready.
fn status(ready_at: Instant, gone_at: Option<Instant>) -> &'static str {
    match gone_at {
        Some(_) => "DELETING",
        None if Instant::now() < ready_at => "CREATING",
        None => "READY",
    }
}

/// Locks the state and lets finished deletions and due detaches take effect.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    let mut guard = state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let now = Instant::now();
    guard.disks.retain(|_, r| r.gone_at.is_none_or(|t| now < t));
    guard
        .snapshots
        .retain(|_, r| r.gone_at.is_none_or(|t| now < t));
    for record in guard.disks.values_mut() {
        record.users.settle(now);
    }
    guard
}

/// Whether the request is an insert, delete or setLabels (what `mutating_requests` counts).
/// Whether `req` changes anything: the one list of mutating routes is [`mutation`].
fn is_mutation(req: &Request) -> bool {
    route(&req.method, &req.path).is_some_and(|r| mutation(req, &r).is_some())
}

fn is_batch(req: &Request) -> bool {
    req.method == "POST" && req.path.starts_with("/batch")
}

/// One HTTP request as it arrives: through the crash-test gate, then handled.
fn serve(state: &Mutex<State>, gate: &Gate, req: Request) -> Response {
    let calls = if is_batch(&req) {
        batch::inner_requests(&req)
            .iter()
            .filter(|r| is_mutation(r))
            .count()
    } else {
        usize::from(is_mutation(&req))
    };
    // Held until handled, so a test's release returns after the request took effect.
    let passage = gate.pass(calls);
    match passage.decision {
        Release::Apply => handle(state, req),
        Release::Drop => lock(state).drop_request(&req, calls),
    }
}

/// A request or batch part: answered, then held back if a delay matches it.
fn handle(state: &Mutex<State>, req: Request) -> Response {
    let delay = lock(state).faults.delay_for(&req);
    let response = respond(state, req);
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    response
}

fn respond(state: &Mutex<State>, req: Request) -> Response {
    let route = route(&req.method, &req.path);
    if let Some(response) = lock(state).record(&req, route.as_ref()) {
        return response;
    }
    if is_batch(&req) {
        return batch::batch(state, &req);
    }
    let result = match &route {
        Some(Route::Zone(p, z)) if !regions::exists(z) => Err(regions::zone_not_found(p, z)),
        Some(Route::List(_, Some(z)) | Route::Insert(_, z)) if !regions::exists(z) => {
            Err(regions::unknown_zone(z))
        }
        Some(Route::Zone(p, z)) => Ok(zone(p, z)),
        Some(Route::List(p, z)) => lock(state).list(p, *z, &req),
        Some(Route::Insert(p, z)) => lock(state).insert(p, z, &req.body),
        Some(Route::Get(k)) => lock(state).find_disk(k).map(render_disk),
        Some(Route::Delete(k)) => lock(state).delete(k),
        Some(Route::SetLabels(k)) => lock(state).set_labels(k, &req.body),
        Some(Route::Operation(k)) => lock(state).find_operation(k).map(Operation::render),
        Some(Route::Wait(k)) => wait(state, k),
        Some(Route::SnapshotList(p)) => lock(state).list_snapshots(p, &req),
        Some(Route::SnapshotInsert(p)) => lock(state).insert_snapshot(p, &req.body),
        Some(Route::SnapshotGet(k)) => lock(state).find_snapshot(k).map(|r| r.render()),
        Some(Route::SnapshotDelete(k)) => lock(state).delete_snapshot(k),
        Some(Route::DiskSnapshot(k)) => lock(state).disk_snapshot(k, &req.body),
        None => Err(not_found(req.path.trim_start_matches("/compute/v1/"))),
    };
    result.map_or_else(|e| e.response(), |v| Response::json(200, &v))
}

/// Blocks until the operation is done (at most [`WAIT_MAX`]) without holding the lock.
fn wait(state: &Mutex<State>, k: &Key) -> ApiResult {
    let done_at = lock(state).find_operation(k)?.done_at;
    std::thread::sleep(
        done_at
            .saturating_duration_since(Instant::now())
            .min(WAIT_MAX),
    );
    lock(state).find_operation(k).map(Operation::render)
}

impl State {
    /// Logs the request and counts mutations; answers it with an injected fault if one matches.
    fn record(&mut self, req: &Request, route: Option<&Route>) -> Option<Response> {
        self.log.push(format!("{} {}", req.method, req.path));
        let mutation = route.and_then(|route| mutation(req, route));
        self.mutating += usize::from(mutation.is_some());
        let fault = self.faults.take(req)?;
        let error = api_error(fault.status, &fault.reason, fault_message(&fault.reason));
        match mutation {
            Some((op_type, target)) if !error.reason.chars().any(|c| c.is_ascii_lowercase()) => {
                let operation = self.start_operation(op_type, &target, 0, Some(error));
                Some(Response::json(200, &operation))
            }
            _ => Some(error.response()),
        }
    }

    /// Logs and counts a request dropped at the gate (a batch with its parts) and answers 503.
    fn drop_request(&mut self, req: &Request, calls: usize) -> Response {
        self.log.push(format!("{} {}", req.method, req.path));
        if is_batch(req) {
            for part in batch::inner_requests(req) {
                self.log.push(format!("{} {}", part.method, part.path));
            }
        }
        self.mutating += calls;
        api_error(503, "backendError", fault_message("backendError")).response()
    }

    /// The disk called `name` in any project and zone (the first in key order). Panics if
    /// there is none: a test naming a disk that does not exist is a broken test.
    fn disk_named(&mut self, name: &str) -> &mut DiskRecord {
        let found = self.disks.iter_mut().find(|(k, _)| k.2 == name);
        match found {
            Some((_, record)) => record,
            None => panic!("no disk named {name} in the Compute Engine emulator"),
        }
    }

    fn add_disk(
        &mut self,
        k: Key,
        size_gb: u64,
        disk_type: &str,
        labels: Labels,
    ) -> &mut DiskRecord {
        self.seq += 1;
        let (project, zone, name) = k.clone();
        let disk = Disk {
            project,
            zone,
            name,
            id: 5_140_000_000_000_000_000 + self.seq * 7_919,
            size_gb,
            disk_type: disk_type.to_string(),
            labels,
            users: Vec::new(),
            source_snapshot: None,
        };
        let record = DiskRecord {
            disk,
            description: None,
            source_snapshot_id: None,
            created: timestamp(SystemTime::now()),
            ready_at: Instant::now() + self.latency,
            gone_at: None,
            users: Users::default(),
        };
        self.disks.remove(&k);
        self.disks.entry(k).or_insert(record)
    }

    fn find_disk(&self, k: &Key) -> Result<&DiskRecord, ApiError> {
        self.disks
            .get(k)
            .ok_or_else(|| not_found(&path(k, "disks")))
    }

    fn find_disk_mut(&mut self, k: &Key) -> Result<&mut DiskRecord, ApiError> {
        self.disks
            .get_mut(k)
            .ok_or_else(|| not_found(&path(k, "disks")))
    }
}
