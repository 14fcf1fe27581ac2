//! A stateful emulator of the Compute Engine v1 *disks* API, enough for the real `gcloud
//! compute disks create|list|describe|delete|add-labels|remove-labels` pointed at it with
//! `CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE` (see /work/shared/TESTBED.md).
//!
//! Served under `/compute/v1/`: zones get; disks insert, get, list, aggregatedList, delete and
//! setLabels; zone operations get and wait; plus the `/batch/compute/v1` endpoint (batch.rs).
//! A mutation returns an operation that stays RUNNING for the configured latency; meanwhile the
//! disk is CREATING (or DELETING), then READY (or gone). Errors have the Google JSON shape that
//! gcloud parses (values.rs).

mod batch;
mod values;

use crate::http::{self, Request, Response, Server};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use values::{api_error, fault_message, fingerprint, invalid, not_found, timestamp};
use values::{check_name, parse_body, parse_labels, ApiError, ApiResult, Labels};

/// `operations.wait` returns after at most about two minutes, DONE or not, like the real API.
const WAIT_MAX: Duration = Duration::from_secs(120);
/// Where `selfLink`, `zone`, `type` and `targetLink` point, as in the real API. gcloud does not
/// follow them: it parses the path and sends to the endpoint override (checked with strace for
/// create, wait, add-labels and delete, even with such a URL as the disk argument).
const LINK_BASE: &str = "https://www.googleapis.com/compute/v1/";

pub struct GceEmulator {
    server: Server,
    state: Arc<Mutex<State>>,
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
}

/// Makes the next `times` requests whose method (if given) and path match fail.
///
/// A camelCase `reason` ("quotaExceeded", "backendError", "rateLimitExceeded", …) is answered
/// as an HTTP error with `status`. An UPPER_CASE `reason` ("QUOTA_EXCEEDED",
/// "ZONE_RESOURCE_POOL_EXHAUSTED", …) on an insert, delete or setLabels is accepted (200) and its
/// operation ends DONE with `error.errors[0].code = reason` and `httpErrorStatusCode = status`,
/// having changed nothing; on other requests it is an HTTP error too. The real API does both
/// for quotas: disks.insert over e.g. SSD_TOTAL_GB is typically a synchronous 403
/// `quotaExceeded` ("Quota 'SSD_TOTAL_GB' exceeded. Limit: 100.0"), while checks made later,
/// such as CPUS on instances.insert, end the operation with QUOTA_EXCEEDED / 403 FORBIDDEN.
/// Each batch part is matched on its own; the envelope (`POST /batch/compute/v1`) is a request
/// as well.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Option<String>,
    pub path_contains: String,
    pub status: u16,
    pub reason: String,
    pub times: usize,
}

impl Fault {
    fn matches(&self, req: &Request) -> bool {
        let method = self.method.as_ref();
        let method_ok = method.is_none_or(|m| m.eq_ignore_ascii_case(&req.method));
        self.times > 0 && method_ok && req.path.contains(&self.path_contains)
    }
}

impl GceEmulator {
    pub fn start() -> std::io::Result<GceEmulator> {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = Server::start(Arc::new(move |req| handle(&shared, req)))?;
        Ok(GceEmulator { server, state })
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
        let mut disks: Vec<Disk> = state.disks.values().map(|r| r.disk.clone()).collect();
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
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let mut state = lock(&self.state);
        let record = state.add_disk(
            key(project, zone, name),
            500,
            "pd-standard",
            labels.collect(),
        );
        record.ready_at = Instant::now();
        record.disk.clone()
    }

    /// Inserts, deletes and setLabels received (each batch part counts), failed or not.
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

    pub fn inject_fault(&self, fault: Fault) {
        lock(&self.state).faults.push(fault);
    }
}

/// (project, zone, name) of a disk or an operation.
type Key = (String, String, String);

fn key(project: &str, zone: &str, name: &str) -> Key {
    (project.to_string(), zone.to_string(), name.to_string())
}

/// "projects/P/zones/Z/COLLECTION/NAME", as in API messages and (after [`LINK_BASE`]) links.
fn path(key: &Key, collection: &str) -> String {
    let (project, zone, name) = key;
    format!("projects/{project}/zones/{zone}/{collection}/{name}")
}

#[derive(Default)]
struct State {
    disks: BTreeMap<Key, DiskRecord>,
    operations: BTreeMap<Key, Operation>,
    seq: u64,
    latency: Duration,
    faults: Vec<Fault>,
    mutating: usize,
    log: Vec<String>,
}

struct DiskRecord {
    disk: Disk,
    description: Option<String>,
    created: String,
    ready_at: Instant,
    gone_at: Option<Instant>,
}

impl DiskRecord {
    fn status(&self) -> &'static str {
        match self.gone_at {
            Some(_) => "DELETING",
            None if Instant::now() < self.ready_at => "CREATING",
            None => "READY",
        }
    }
}

struct Operation {
    done_at: Instant,
    /// The operation as it reads once DONE.
    done: Value,
}

impl Operation {
    fn render(&self) -> Value {
        let mut value = self.done.clone();
        if Instant::now() < self.done_at {
            if let Some(fields) = value.as_object_mut() {
                for name in [
                    "endTime",
                    "error",
                    "httpErrorStatusCode",
                    "httpErrorMessage",
                ] {
                    fields.remove(name);
                }
            }
            value["status"] = json!("RUNNING");
            value["progress"] = json!(0);
        }
        value
    }
}

/// Locks the state and lets finished deletions take effect.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    let mut guard = state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let now = Instant::now();
    guard.disks.retain(|_, r| r.gone_at.is_none_or(|t| now < t));
    guard
}

/// The calls the emulator knows, parsed from `/compute/v1/…` paths.
enum Route<'a> {
    Zone(&'a str, &'a str),
    List(&'a str, Option<&'a str>),
    Insert(&'a str, &'a str),
    Get(Key),
    Delete(Key),
    SetLabels(Key),
    Operation(Key),
    Wait(Key),
}

fn route<'a>(method: &str, path: &'a str) -> Option<Route<'a>> {
    let rest = path.strip_prefix("/compute/v1/")?.trim_end_matches('/');
    let segments: Vec<&str> = rest.split('/').collect();
    Some(match (method, segments.as_slice()) {
        ("GET", ["projects", p, "zones", z]) => Route::Zone(p, z),
        ("GET", ["projects", p, "aggregated", "disks"]) => Route::List(p, None),
        ("GET", ["projects", p, "zones", z, "disks"]) => Route::List(p, Some(z)),
        ("POST", ["projects", p, "zones", z, "disks"]) => Route::Insert(p, z),
        ("GET", ["projects", p, "zones", z, "disks", d]) => Route::Get(key(p, z, d)),
        ("DELETE", ["projects", p, "zones", z, "disks", d]) => Route::Delete(key(p, z, d)),
        ("POST", ["projects", p, "zones", z, "disks", d, "setLabels"]) => {
            Route::SetLabels(key(p, z, d))
        }
        ("GET", ["projects", p, "zones", z, "operations", o]) => Route::Operation(key(p, z, o)),
        ("POST", ["projects", p, "zones", z, "operations", o, "wait"]) => Route::Wait(key(p, z, o)),
        _ => return None,
    })
}

/// The operation type and target disk of an insert, delete or setLabels.
fn mutation(req: &Request, route: &Route) -> Option<(&'static str, Key)> {
    match route {
        Route::Insert(p, z) => {
            let body = parse_body(&req.body).unwrap_or_default();
            Some((
                "insert",
                key(p, z, body["name"].as_str().unwrap_or_default()),
            ))
        }
        Route::Delete(k) => Some(("delete", k.clone())),
        Route::SetLabels(k) => Some(("setLabels", k.clone())),
        _ => None,
    }
}

fn handle(state: &Mutex<State>, req: Request) -> Response {
    let route = route(&req.method, &req.path);
    if let Some(response) = lock(state).record(&req, route.as_ref()) {
        return response;
    }
    if req.method == "POST" && req.path.starts_with("/batch") {
        return batch::batch(state, &req);
    }
    let result = match &route {
        Some(Route::Zone(p, z)) => Ok(zone(p, z)),
        Some(Route::List(p, z)) => lock(state).list(p, *z, &req),
        Some(Route::Insert(p, z)) => lock(state).insert(p, z, &req.body),
        Some(Route::Get(k)) => lock(state).find_disk(k).map(render_disk),
        Some(Route::Delete(k)) => lock(state).delete(k),
        Some(Route::SetLabels(k)) => lock(state).set_labels(k, &req.body),
        Some(Route::Operation(k)) => lock(state).find_operation(k).map(Operation::render),
        Some(Route::Wait(k)) => wait(state, k),
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

fn zone(project: &str, zone: &str) -> Value {
    let region = zone.rsplit_once('-').map_or(zone, |(region, _)| region);
    json!({
        "kind": "compute#zone", "id": "2000", "name": zone, "description": zone, "status": "UP",
        "creationTimestamp": "1969-12-31T16:00:00.000-08:00",
        "region": format!("{LINK_BASE}projects/{project}/regions/{region}"),
        "selfLink": format!("{LINK_BASE}projects/{project}/zones/{zone}"),
    })
}

fn render_disk(record: &DiskRecord) -> Value {
    let d = &record.disk;
    let zone = format!("{LINK_BASE}projects/{}/zones/{}", d.project, d.zone);
    let mut value = json!({
        "kind": "compute#disk", "id": d.id.to_string(), "name": d.name,
        "creationTimestamp": record.created, "sizeGb": d.size_gb.to_string(),
        "status": record.status(), "selfLink": format!("{zone}/disks/{}", d.name),
        "type": format!("{zone}/diskTypes/{}", d.disk_type), "zone": zone,
        "labelFingerprint": fingerprint(&d.labels), "physicalBlockSizeBytes": "4096",
    });
    if !d.labels.is_empty() {
        value["labels"] = json!(d.labels);
    }
    if let Some(description) = &record.description {
        value["description"] = json!(description);
    }
    value
}

impl State {
    /// Logs the request and counts mutations; answers it with an injected fault if one matches.
    fn record(&mut self, req: &Request, route: Option<&Route>) -> Option<Response> {
        self.log.push(format!("{} {}", req.method, req.path));
        let mutation = route.and_then(|route| mutation(req, route));
        self.mutating += usize::from(mutation.is_some());
        let fault = self.faults.iter_mut().find(|f| f.matches(req))?;
        fault.times -= 1;
        let error = api_error(fault.status, &fault.reason, fault_message(&fault.reason));
        match mutation {
            Some((op_type, target)) if !error.reason.chars().any(|c| c.is_ascii_lowercase()) => {
                let operation = self.start_operation(op_type, &target, 0, Some(error));
                Some(Response::json(200, &operation))
            }
            _ => Some(error.response()),
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
        };
        let record = DiskRecord {
            disk,
            description: None,
            created: timestamp(SystemTime::now()),
            ready_at: Instant::now() + self.latency,
            gone_at: None,
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

    /// `disks.list` (one zone) or `disks.aggregatedList` (`zone` None; items keyed "zones/Z").
    /// `maxResults`/`pageToken` page through the disks; `filter` is accepted and ignored, which
    /// only widens the answer: gcloud applies its `--filter` to what comes back.
    fn list(&self, project: &str, zone: Option<&str>, req: &Request) -> ApiResult {
        let number = |name: &str, default: usize| match req.query_param(name) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| invalid(format!("Invalid value for {name}: '{v}'"))),
        };
        let (max, start) = (
            number("maxResults", 500)?.clamp(1, 500),
            number("pageToken", 0)?,
        );
        let in_scope =
            |r: &&DiskRecord| r.disk.project == project && zone.is_none_or(|z| r.disk.zone == z);
        let all: Vec<&DiskRecord> = self.disks.values().filter(in_scope).collect();
        let page = all.iter().skip(start).take(max);
        let (kind, id, items) = match zone {
            Some(z) => {
                let items: Vec<Value> = page.map(|r| render_disk(r)).collect();
                (
                    "compute#diskList",
                    format!("projects/{project}/zones/{z}/disks"),
                    json!(items),
                )
            }
            None => {
                let mut scopes = Map::new();
                for r in page {
                    let scope = format!("zones/{}", r.disk.zone);
                    let scope = scopes.entry(scope).or_insert(json!({"disks": []}));
                    if let Some(disks) = scope["disks"].as_array_mut() {
                        disks.push(render_disk(r));
                    }
                }
                let id = format!("projects/{project}/aggregated/disks");
                ("compute#diskAggregatedList", id, Value::Object(scopes))
            }
        };
        let self_link = format!("{LINK_BASE}{id}");
        let mut value = json!({"kind": kind, "id": id, "items": items, "selfLink": self_link});
        if start + max < all.len() {
            value["nextPageToken"] = json!((start + max).to_string());
        }
        Ok(value)
    }

    fn insert(&mut self, project: &str, zone: &str, body: &[u8]) -> ApiResult {
        let body = parse_body(body)?;
        let name = body["name"].as_str().unwrap_or_default();
        check_name(name)?;
        let disk_type = body["type"].as_str().unwrap_or("pd-standard");
        let disk_type = disk_type.rsplit('/').next().unwrap_or(disk_type);
        let size_gb = match &body["sizeGb"] {
            // The API's defaults for a disk without size or source.
            Value::Null if disk_type == "pd-standard" => 500,
            Value::Null if disk_type == "pd-extreme" => 1000,
            Value::Null => 100,
            Value::String(s) => s.parse().unwrap_or(0),
            other => other.as_u64().unwrap_or(0),
        };
        if size_gb == 0 {
            let message = format!(
                "Invalid value for field 'resource.sizeGb': {}",
                body["sizeGb"]
            );
            return Err(invalid(message));
        }
        let labels = parse_labels(&body["labels"])?;
        let k = key(project, zone, name);
        if self.disks.contains_key(&k) {
            let message = format!("The resource '{}' already exists", path(&k, "disks"));
            return Err(api_error(409, "alreadyExists", message));
        }
        let record = self.add_disk(k.clone(), size_gb, disk_type, labels);
        record.description = body["description"].as_str().map(str::to_string);
        let id = record.disk.id;
        Ok(self.start_operation("insert", &k, id, None))
    }

    fn delete(&mut self, k: &Key) -> ApiResult {
        let gone_at = Instant::now() + self.latency;
        let record = self.find_disk_mut(k)?;
        if record.status() != "READY" {
            let message = format!("The resource '{}' is not ready", path(k, "disks"));
            return Err(api_error(400, "resourceNotReady", message));
        }
        record.gone_at = Some(gone_at);
        let id = record.disk.id;
        Ok(self.start_operation("delete", k, id, None))
    }

    /// Replaces the labels if `labelFingerprint` is the current one, else 412 like the API.
    fn set_labels(&mut self, k: &Key, body: &[u8]) -> ApiResult {
        let body = parse_body(body)?;
        let labels = parse_labels(&body["labels"])?;
        let record = self.find_disk_mut(k)?;
        if body["labelFingerprint"].as_str() != Some(&fingerprint(&record.disk.labels)) {
            let message = "Labels fingerprint either invalid or resource labels have changed";
            return Err(api_error(412, "conditionNotMet", message));
        }
        record.disk.labels = labels;
        let id = record.disk.id;
        Ok(self.start_operation("setLabels", k, id, None))
    }

    /// Starts an operation on the disk `target`, DONE after the latency, and returns it.
    fn start_operation(
        &mut self,
        op_type: &str,
        target: &Key,
        target_id: u64,
        error: Option<ApiError>,
    ) -> Value {
        self.seq += 1;
        let (seq, started) = (self.seq, SystemTime::now());
        let millis = started
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let name = format!(
            "operation-{millis}-{seq:013x}-{:08x}",
            seq * 2_654_435_761 % (1 << 32)
        );
        let k = key(&target.0, &target.1, &name);
        let zone_link = format!("{LINK_BASE}projects/{}/zones/{}", k.0, k.1);
        let mut done = json!({
            "kind": "compute#operation", "id": (7_300_000_000_000_000_000 + seq).to_string(),
            "name": name, "zone": zone_link, "operationType": op_type,
            "targetLink": format!("{LINK_BASE}{}", path(target, "disks")),
            "targetId": target_id.to_string(), "status": "DONE", "progress": 100,
            "user": "esk-testbed@example.iam.gserviceaccount.com",
            "insertTime": timestamp(started), "startTime": timestamp(started),
            "endTime": timestamp(started + self.latency),
            "selfLink": format!("{LINK_BASE}{}", path(&k, "operations")),
        });
        if let Some(e) = error {
            done["error"] = json!({"errors": [{"code": e.reason, "message": e.message}]});
            done["httpErrorStatusCode"] = json!(e.status);
            done["httpErrorMessage"] = json!(http::reason(e.status).to_ascii_uppercase());
        }
        let done_at = Instant::now() + self.latency;
        let operation = Operation { done_at, done };
        let value = operation.render();
        self.operations.insert(k, operation);
        value
    }

    fn find_operation(&self, k: &Key) -> Result<&Operation, ApiError> {
        self.operations
            .get(k)
            .ok_or_else(|| not_found(&path(k, "operations")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(state: &Mutex<State>, method: &str, target: &str, body: &str) -> (u16, Value) {
        let (path, query) = http::split_target(target);
        let (method, headers, body) = (method.to_string(), BTreeMap::new(), body.into());
        let req = Request {
            method,
            path,
            query,
            headers,
            body,
        };
        let response = handle(state, req);
        let value = serde_json::from_slice(&response.body).unwrap_or_default();
        (response.status, value)
    }

    #[test]
    fn set_labels_checks_the_fingerprint_and_bad_input_is_a_400() {
        let state = Mutex::new(State::default());
        let disks = "/compute/v1/projects/p/zones/z/disks";
        let (status, _) = call(&state, "POST", disks, r#"{"name":"d","labels":{"a":"b"}}"#);
        assert_eq!(status, 200);
        let (_, disk) = call(&state, "GET", &format!("{disks}/d"), "");
        let fp = disk["labelFingerprint"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let set = |fp: &str| format!(r#"{{"labels":{{"c":"d"}},"labelFingerprint":"{fp}"}}"#);
        let set_labels = format!("{disks}/d/setLabels");
        assert_eq!(
            call(&state, "POST", &set_labels, &set("AAAAAAAAAAA=")).0,
            412
        );
        assert_eq!(call(&state, "POST", &set_labels, &set(&fp)).0, 200);
        assert_eq!(call(&state, "POST", &set_labels, &set(&fp)).0, 412);
        let (_, disk) = call(&state, "GET", &format!("{disks}/d"), "");
        assert_eq!(disk["labels"], json!({"c": "d"}));
        assert_eq!(call(&state, "POST", disks, "{not json").0, 400);
        assert_eq!(call(&state, "POST", disks, r#"{"name":"Bad_Name"}"#).0, 400);
        assert_eq!(
            call(&state, "POST", disks, r#"{"name":"e","sizeGb":"x"}"#).0,
            400
        );
        let (status, error) = call(&state, "GET", &format!("{disks}?maxResults=x"), "");
        assert_eq!(
            (status, &error["error"]["errors"][0]["reason"]),
            (400, &json!("invalid"))
        );
        let (status, error) = call(&state, "GET", &format!("{disks}/nope"), "");
        assert_eq!(
            (status, &error["error"]["errors"][0]["reason"]),
            (404, &json!("notFound"))
        );
    }
}
