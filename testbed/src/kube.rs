//! A stateful local emulator of the Kubernetes API for the real `kubectl`: version,
//! discovery (aggregated and legacy), a minimal OpenAPI v3 (so `--validate=strict` is left to
//! the server), and the resources esk uses — stored, validated, server-side applied, listed
//! with label selectors and deleted as a real API server would; pods for the workloads (with
//! states, events and logs a test sets) and the pod proxy serving each node's gossip; request
//! logging, latency and fault injection for tests.
//!
//! ```no_run
//! let kube = testbed::kube::KubeEmulator::start().unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! kube.write_kubeconfig(&dir.path().join("config"), "kind-dev").unwrap();
//! // run kubectl with KUBECONFIG=<dir>/config and KUBECACHEDIR=<dir>/cache
//! ```

mod access;
mod admission;
mod attach;
mod body;
mod catch_up;
mod controllers;
mod curl_jobs;
mod defaults;
mod discovery;
mod faults;
mod gossip;
mod graceful;
mod immutable;
mod kinds;
mod kubelet;
mod logs;
mod openapi;
mod outage;
mod ownership;
mod patch;
mod pods;
mod portforward;
mod proxy;
mod resign;
mod resizer;
mod resource;
mod rollout;
mod route;
mod scale;
mod scheduler;
mod schema;
mod selector;
mod snapshots;
mod stats;
mod status;
mod store;
mod table;
mod time;
mod users;
mod validate;
mod watch;

use crate::gate::Gate;
use crate::http::{Request, Response, Server};
use faults::Faults;
use serde_json::Value;
use status::ApiError;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use store::Store;

pub use crate::gate::Release;

/// What the emulated external-resizer calls to grow a CSI volume's disk: (driver, volume
/// handle, size in GiB) → done, or the cloud's refusal.
pub type VolumeExpander = Arc<dyn Fn(&str, &str, u64) -> Result<(), String> + Send + Sync>;
pub use faults::Fault;
pub use gossip::{Gossip, GossipMember};
pub use pods::PodState;
pub use rollout::RollEvent;
pub use selector::LabelSelector;

struct State {
    store: Store,
    requests: Vec<String>,
    mutating: usize,
    latency: Duration,
    faults: Faults,
    access: access::Access,
    /// What `/version` reports, as (major, minor).
    server_version: (u32, u32),
    /// Whether the VolumeSnapshot CRDs are installed (`install_volume_snapshots`).
    snapshots: bool,
    /// Whether the Prometheus Operator's CRDs are installed (`install_prometheus_operator`).
    monitoring: bool,
}

struct Shared {
    state: Mutex<State>,
    gate: Gate,
    /// Set when the emulator is dropped: streamed answers (followed logs) end.
    stopped: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running emulator on 127.0.0.1; dropping it stops the server.
pub struct KubeEmulator {
    server: Server,
    shared: Arc<Shared>,
}

impl Drop for KubeEmulator {
    /// A request still held at the gate is dropped, so no connection thread stays blocked.
    fn drop(&mut self) {
        self.shared
            .stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.gate.close();
    }
}

impl KubeEmulator {
    /// Starts on a free port with namespaces `default`, `kube-system`, `kube-public` and
    /// `kube-node-lease`.
    pub fn start() -> std::io::Result<KubeEmulator> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                store: Store::new(),
                requests: Vec::new(),
                mutating: 0,
                latency: Duration::ZERO,
                faults: Faults::default(),
                access: access::Access::default(),
                server_version: (1, 32),
                snapshots: false,
                monitoring: false,
            }),
            gate: Gate::default(),
            stopped: std::sync::atomic::AtomicBool::new(false),
        });
        let handler_state = shared.clone();
        let server = Server::start(Arc::new(move |req: Request| handle(&handler_state, req)))?;
        Ok(KubeEmulator { server, shared })
    }

    /// Lets the emulated external-resizer grow cloud disks: without it a claim asking for
    /// more than its CSI volume holds stays as it is (as when the driver's resizer is down).
    pub fn set_volume_expander(&self, expander: VolumeExpander) {
        self.shared.lock().store.expander = Some(store::Expander(expander));
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Writes a kubeconfig whose current context `context_name` points at this emulator,
    /// with a user that has no credentials.
    pub fn write_kubeconfig(
        &self,
        path: &std::path::Path,
        context_name: &str,
    ) -> std::io::Result<()> {
        let name = Value::from(context_name).to_string();
        let server = Value::from(self.url()).to_string();
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {server}\n\
             contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n\
             current-context: {name}\nusers:\n- name: {name}\n  user: {{}}\npreferences: {{}}\n"
        );
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)
    }

    /// Every stored object, sorted by (kind, namespace, name).
    pub fn objects(&self) -> Vec<Value> {
        let mut state = self.shared.lock();
        attach::reconcile(&mut state.store);
        state.store.objects().cloned().collect()
    }

    /// One stored object by kind (`Deployment`), namespace (`None` for cluster-scoped kinds)
    /// and name.
    pub fn get(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let info = kinds::by_kind(kind)?;
        let mut state = self.shared.lock();
        attach::reconcile(&mut state.store);
        state.store.get(info, namespace, name).cloned()
    }

    /// Stores an object as given (namespace defaults to `default`), without validation; uid,
    /// resourceVersion and creationTimestamp are filled in. Panics if the kind is not served
    /// (see [`KubeEmulator::served_kinds`]).
    pub fn seed(&self, object: Value) {
        self.shared.lock().store.seed(object);
    }

    /// POST/PUT/PATCH/DELETE requests on resources so far, successful or refused. Reviews
    /// (SelfSubjectAccessReview, SelfSubjectRulesReview) store nothing and are not counted.
    pub fn mutating_requests(&self) -> usize {
        self.shared.lock().mutating
    }

    /// Every request so far as `METHOD /path?query` (query decoded).
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }

    /// A delay added to every resource request (discovery and OpenAPI stay fast).
    pub fn set_latency(&self, d: Duration) {
        self.shared.lock().latency = d;
    }

    /// Injects `f` at once; the same as `inject_fault_after(0, f)`.
    /// Denies `verb` (or `*`) on `resource`: a plural, qualified by its group unless core, with
    /// an optional subresource (`persistentvolumes`, `leases.coordination.k8s.io`,
    /// `pods/proxy`, or `*`). Such requests get a 403 and access reviews answer `allowed: false`.
    pub fn deny(&self, verb: &str, resource: &str) {
        self.shared.lock().access.deny(verb, resource);
    }

    /// Every resource question SelfSubjectAccessReviews asked so far, as
    /// `verb resource[.group][/subresource] in NAMESPACE` or `... cluster-wide`.
    pub fn access_reviews(&self) -> Vec<String> {
        let state = self.shared.lock();
        state
            .access
            .reviews
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// What every resource request so far asked to do, in the same form as
    /// [`KubeEmulator::access_reviews`] (a server-side apply that creates is `patch` and
    /// `create`).
    pub fn request_attributes(&self) -> Vec<String> {
        let state = self.shared.lock();
        state
            .access
            .requests
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Makes `/version` report Kubernetes `major.minor`. `/usr/bin/kubectl` is a dispatcher
    /// that runs `kubectl.1.<minor>` for the server's minor version when it has one (1.27 to
    /// 1.33 here), else its built-in 1.32 client: every later kubectl call of a test then runs
    /// that client.
    pub fn set_server_version(&self, major: u32, minor: u32) {
        self.shared.lock().server_version = (major, minor);
    }

    pub fn inject_fault(&self, f: Fault) {
        self.inject_fault_after(0, f);
    }

    /// Lets the first `skip` requests that match `f` pass, then fails the next `f.times` of
    /// them.
    pub fn inject_fault_after(&self, skip: usize, f: Fault) {
        self.shared.lock().faults.inject_after(skip, f);
    }

    /// Makes injected 429 and 5xx answers carry `Retry-After: seconds` (header, and
    /// `details.retryAfterSeconds` in the Status), as a real API server's throttling (429)
    /// does; kubectl then retries the request by itself. `None` (the default): no header.
    pub fn set_fault_retry_after(&self, seconds: Option<u32>) {
        self.shared.lock().faults.set_retry_after(seconds);
    }

    /// Holds the request carrying the `k`-th mutating request from now (counted as
    /// [`KubeEmulator::mutating_requests`] counts them; `k` = 1 is the next one) until
    /// [`KubeEmulator::release`]. The gate fires once. Panics if `k` is 0.
    pub fn block_mutating_at(&self, k: usize) {
        self.shared.gate.arm(k);
    }

    /// Waits until a request is held at the gate; false if none is within `timeout`.
    pub fn wait_blocked(&self, timeout: Duration) -> bool {
        self.shared.gate.wait_held(timeout)
    }

    /// Lets the held request go: [`Release::Apply`] processes it normally, [`Release::Drop`]
    /// answers it with a 503 `ServiceUnavailable` Status and applies nothing (it is still
    /// logged and counted). Also disarms a gate not yet reached. Returns whether a request
    /// was held.
    pub fn release(&self, how: Release) -> bool {
        self.shared.gate.release(how)
    }

    /// Turns on VolumeAttachments (off by default): while a Deployment or StatefulSet with
    /// replicas > 0 mounts a claim bound to a CSI PersistentVolume, a `storage.k8s.io/v1`
    /// VolumeAttachment for that volume exists (attached); once no workload mounts it, it
    /// gets a `deletionTimestamp` and disappears `linger` later, as a real detach lags the
    /// pod's deletion. `None` stops managing them (those present stay as they are).
    pub fn set_attachment_linger(&self, linger: Option<Duration>) {
        let mut state = self.shared.lock();
        state.store.attachments.set_linger(linger);
        attach::reconcile(&mut state.store);
    }

    /// Installs the external-snapshotter (off by default, as on most clusters): the
    /// `snapshot.storage.k8s.io/v1` kinds are served from now on, with a default
    /// VolumeSnapshotClass `csi-snapclass` for `driver` (deletionPolicy Delete). A snapshot
    /// controller makes every VolumeSnapshot of a bound claim ready at once, with its
    /// VolumeSnapshotContent; a claim whose `dataSource` names a VolumeSnapshot binds only
    /// once that snapshot is ready.
    pub fn install_volume_snapshots(&self, driver: &str) {
        let mut state = self.shared.lock();
        state.snapshots = true;
        state.store.seed(serde_json::json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass",
            "metadata": {"name": "csi-snapclass", "annotations": {
                snapshots::DEFAULT_CLASS: "true"}},
            "driver": driver, "deletionPolicy": "Delete",
        }));
    }

    /// Installs the Prometheus Operator's CRDs: `monitoring.coreos.com/v1` (PodMonitor) is
    /// served from now on, in discovery and OpenAPI too.
    pub fn install_prometheus_operator(&self) {
        self.shared.lock().monitoring = true;
    }

    /// The kinds served, as (apiVersion, kind).
    pub fn served_kinds() -> Vec<(String, &'static str)> {
        kinds::KINDS
            .iter()
            .map(|k| (k.api_version(), k.kind))
            .collect()
    }
}

fn request_line(req: &Request) -> String {
    let query: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if query.is_empty() {
        format!("{} {}", req.method, req.path)
    } else {
        format!("{} {}?{}", req.method, req.path, query.join("&"))
    }
}

fn handle(shared: &Arc<Shared>, req: Request) -> Response {
    let line = request_line(&req);
    let is_resource = route::is_resource_path(&req.path);
    // Access reviews ask a question and change nothing.
    let mutating = is_resource
        && matches!(req.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
        && !access::is_review(&req.path);
    // Kept to the end of the handling: a test's release returns once the request took effect.
    let passage = shared.gate.pass(usize::from(mutating));
    let release = passage.decision;
    let (latency, fault, crds) = {
        let mut state = shared.lock();
        state.requests.push(line.clone());
        state.mutating += usize::from(mutating);
        if release == Release::Drop {
            let message = "the server is currently unable to handle the request";
            return ApiError::for_code(503, message).to_response();
        }
        attach::reconcile(&mut state.store);
        rollout::refresh(&mut state.store);
        resizer::refresh(&mut state.store);
        let target = line.split_once(' ').map_or("", |(_, t)| t).to_string();
        let fault = state.faults.take(&req.method, &target);
        let latency = if is_resource {
            state.latency
        } else {
            Duration::ZERO
        };
        let crds = kinds::Crds {
            snapshots: state.snapshots,
            monitoring: state.monitoring,
        };
        (latency, fault, crds)
    };
    if !latency.is_zero() {
        std::thread::sleep(latency);
    }
    if let Some(injected) = fault {
        return injected.response(&line);
    }
    // A bug (or a seeded object of an odd shape) must not cost the client its answer.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| route(shared, &req, crds)))
        .unwrap_or_else(|_| {
            ApiError::for_code(500, format!("the emulator failed on {line}")).to_response()
        })
}

/// `crds`: the optional CRD groups installed (read with the request's other state).
fn route(shared: &Arc<Shared>, req: &Request, crds: kinds::Crds) -> Response {
    let path = req.path.trim_end_matches('/');
    let group = path
        .strip_prefix("/apis/")
        .or_else(|| path.strip_prefix("/openapi/v3/apis/"))
        .map(|rest| rest.split('/').next().unwrap_or(""));
    if group.is_some_and(|g| !crds.serves(g)) {
        // Not installed: the group does not exist, as on a cluster without the CRDs.
        return ApiError::no_route().to_response();
    }
    match path {
        "/version" => {
            let (major, minor) = shared.lock().server_version;
            return Response::json(200, &discovery::version(major, minor));
        }
        "/healthz" | "/livez" | "/readyz" => return Response::new(200, "text/plain", "ok"),
        _ => {}
    }
    if path == "/openapi/v2" {
        return openapi::v2(req.header("accept").unwrap_or(""));
    }
    if path == "/openapi/v3" || path.starts_with("/openapi/v3/") {
        return match openapi::handle(path, crds) {
            Some(doc) => Response::json(200, &doc),
            None => ApiError::no_route().to_response(),
        };
    }
    if access::is_review(path) {
        return access::review(&mut shared.lock().access, req);
    }
    if let Some(response) = stats::handle(&shared.lock(), req) {
        return response;
    }
    if let Some(response) = follow_log(shared, req) {
        return response;
    }
    if let Some(response) = proxy::handle(&mut shared.lock().store, req) {
        return response;
    }
    if route::is_resource_path(path) {
        let state = &mut *shared.lock();
        if let Err(e) = state.access.authorize(&state.store, req) {
            return e.to_response();
        }
    }
    if route::is_resource_path(path) && watch::is_watch(req) {
        return serve_watch(shared, req);
    }
    if route::is_resource_path(path) {
        let mut state = shared.lock();
        return match resource::handle(&mut state.store, req) {
            Ok(response) => response,
            Err(e) => e.to_response(),
        };
    }
    if req.method == "GET" {
        if let Some(response) = discovery::handle(req, crds) {
            return response;
        }
    }
    ApiError::no_route().to_response()
}

/// `GET …/pods/NAME/log?follow=true`: the lines so far, then, streamed, each new line as it
/// is added (looked for every 50 ms, without holding the lock in between), until the pod
/// goes or the emulator stops.
fn follow_log(shared: &Arc<Shared>, req: &Request) -> Option<Response> {
    if req.method != "GET" || req.query_param("follow") != Some("true") {
        return None;
    }
    let (ns, name, sub, rest) = proxy::pod_subresource(&req.path)?;
    if sub != "log" || !rest.is_empty() {
        return None;
    }
    let (ns, name) = (ns.to_string(), name.to_string());
    let (mut first, followed) = logs::follow_start(&shared.lock().store, req, &ns, &name);
    // The stream is written once; the cell hands its position over to that one writing.
    let cell = Mutex::new(Some(followed?));
    let (shared, req) = (shared.clone(), req.clone());
    let stream = move |out: &mut dyn std::io::Write| -> std::io::Result<()> {
        let taken = cell.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut followed) = taken else {
            return Ok(());
        };
        loop {
            std::thread::sleep(Duration::from_millis(50));
            if shared.stopped.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(());
            }
            let more = logs::follow_more(&shared.lock().store, &req, &ns, &name, &mut followed);
            match more {
                Some(text) if !text.is_empty() => out.write_all(text.as_bytes())?,
                Some(_) => {}
                None => return Ok(()),
            }
        }
    };
    first.stream = Some(crate::http::Stream(Arc::new(stream)));
    Some(first)
}

/// Polls the store (without holding the lock in between) until there are events to send or
/// the watch window closes.
fn serve_watch(shared: &Shared, req: &Request) -> Response {
    let deadline = std::time::Instant::now() + watch::window(req);
    loop {
        let polled = {
            let state = shared.lock();
            watch::poll(&state.store, req).map(|events| {
                if events.is_empty() && std::time::Instant::now() >= deadline {
                    watch::idle(&state.store, req)
                } else {
                    events
                }
            })
        };
        match polled {
            Err(e) => return e.to_response(),
            Ok(events) if !events.is_empty() || std::time::Instant::now() >= deadline => {
                return watch::response(&events)
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(25)),
        }
    }
}
