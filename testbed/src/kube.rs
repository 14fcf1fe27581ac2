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

mod body;
mod controllers;
mod defaults;
mod discovery;
mod gossip;
mod immutable;
mod kinds;
mod kubelet;
mod openapi;
mod patch;
mod pods;
mod proxy;
mod resource;
mod route;
mod scale;
mod schema;
mod selector;
mod status;
mod store;
mod table;
mod time;
mod validate;
mod watch;

use crate::http::{Request, Response, Server};
use serde_json::Value;
use status::ApiError;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use store::Store;

pub use gossip::{Gossip, GossipMember};
pub use pods::PodState;
pub use selector::LabelSelector;

/// Makes the next `times` requests whose method matches (any, if `None`) and whose
/// `path?query` contains `path_contains` fail with `status` and a proper `Status` body.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Option<String>,
    pub path_contains: String,
    pub status: u16,
    pub times: usize,
}

struct State {
    store: Store,
    requests: Vec<String>,
    mutating: usize,
    latency: Duration,
    faults: Vec<Fault>,
}

struct Shared {
    state: Mutex<State>,
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
                faults: Vec::new(),
            }),
        });
        let handler_state = shared.clone();
        let server = Server::start(Arc::new(move |req: Request| handle(&handler_state, req)))?;
        Ok(KubeEmulator { server, shared })
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
        self.shared.lock().store.objects().cloned().collect()
    }

    /// One stored object by kind (`Deployment`), namespace (`None` for cluster-scoped kinds)
    /// and name.
    pub fn get(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let info = kinds::by_kind(kind)?;
        self.shared.lock().store.get(info, namespace, name).cloned()
    }

    /// Stores an object as given (namespace defaults to `default`), without validation; uid,
    /// resourceVersion and creationTimestamp are filled in. Panics if the kind is not served
    /// (see [`KubeEmulator::served_kinds`]).
    pub fn seed(&self, object: Value) {
        self.shared.lock().store.seed(object);
    }

    /// POST/PUT/PATCH/DELETE requests on resources so far, successful or refused.
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

    pub fn inject_fault(&self, f: Fault) {
        self.shared.lock().faults.push(f);
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

fn handle(shared: &Shared, req: Request) -> Response {
    let line = request_line(&req);
    let is_resource = route::is_resource_path(&req.path);
    let (latency, fault) = {
        let mut state = shared.lock();
        state.requests.push(line.clone());
        if is_resource && matches!(req.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
            state.mutating += 1;
        }
        let target = line.split_once(' ').map_or("", |(_, t)| t).to_string();
        let fault = state.faults.iter_mut().find(|f| {
            f.times > 0
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(&req.method))
                && target.contains(&f.path_contains)
        });
        let fault = fault.map(|f| {
            f.times -= 1;
            f.status
        });
        state.faults.retain(|f| f.times > 0);
        (
            if is_resource {
                state.latency
            } else {
                Duration::ZERO
            },
            fault,
        )
    };
    if !latency.is_zero() {
        std::thread::sleep(latency);
    }
    if let Some(code) = fault {
        return ApiError::for_code(code, format!("injected fault: {code} for {line}"))
            .to_response();
    }
    // A bug (or a seeded object of an odd shape) must not cost the client its answer.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| route(shared, &req))).unwrap_or_else(
        |_| ApiError::for_code(500, format!("the emulator failed on {line}")).to_response(),
    )
}

fn route(shared: &Shared, req: &Request) -> Response {
    let path = req.path.trim_end_matches('/');
    match path {
        "/version" => return Response::json(200, &discovery::version()),
        "/healthz" | "/livez" | "/readyz" => return Response::new(200, "text/plain", "ok"),
        _ => {}
    }
    if path == "/openapi/v2" {
        return openapi::v2(req.header("accept").unwrap_or(""));
    }
    if path == "/openapi/v3" || path.starts_with("/openapi/v3/") {
        return match openapi::handle(path) {
            Some(doc) => Response::json(200, &doc),
            None => ApiError::no_route().to_response(),
        };
    }
    if let Some(response) = proxy::handle(&shared.lock().store, req) {
        return response;
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
        if let Some(response) = discovery::handle(req) {
            return response;
        }
    }
    ApiError::no_route().to_response()
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
