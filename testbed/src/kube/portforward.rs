//! `/api/v1/namespaces/NS/pods/NAME/portforward`: the upgrade `kubectl port-forward` asks for.
//!
//! kubectl 1.31+ first tries a WebSocket (GET, `Upgrade: websocket`, subprotocol
//! `SPDY/3.1+portforward.k8s.io`) and falls back to SPDY when that upgrade fails with any
//! answer but 101 (client-go `portforward.NewFallbackDialer` over
//! `httpstream.IsUpgradeFailure`), as against a server without the `PortForwardWebsockets`
//! feature. The emulator serves only the SPDY upgrade (POST, `Upgrade: SPDY/3.1`,
//! `X-Stream-Protocol-Version: portforward.k8s.io`): 101 with the headers client-go's SPDY
//! round tripper checks, after which the connection is held open. kubectl then listens
//! locally and prints `Forwarding from …`; no stream is ever served (a connection to the
//! local port gets nothing back), which is enough to prove who was forwarded to. The request
//! line is in the emulator's request log like any other.

use super::kinds::by_kind;
use super::status::ApiError;
use super::store::Store;
use crate::http::{Request, Response};

const PROTOCOL: &str = "portforward.k8s.io";

pub fn serve(store: &Store, req: &Request, ns: &str, name: &str) -> Response {
    let info = by_kind("Pod").expect("Pod is served");
    let Some(pod) = store.get(info, Some(ns), name) else {
        return ApiError::not_found(info, name).to_response();
    };
    let upgrade = req.header("upgrade").unwrap_or("").to_ascii_lowercase();
    let spdy = req.method == "POST"
        && upgrade.contains("spdy/3.1")
        && req
            .header("x-stream-protocol-version")
            .is_some_and(|v| v.split(',').any(|p| p.trim() == PROTOCOL));
    if !spdy {
        return ApiError::bad_request("Upgrade request required").to_response();
    }
    if pod["status"]["phase"] != "Running" {
        return ApiError::bad_request(format!(
            "unable to upgrade connection: pod {name} is not running"
        ))
        .to_response();
    }
    let mut response = Response::new(101, "text/plain", Vec::new());
    response.headers = vec![
        ("Connection".into(), "Upgrade".into()),
        ("Upgrade".into(), "SPDY/3.1".into()),
        ("X-Stream-Protocol-Version".into(), PROTOCOL.into()),
    ];
    response
}
