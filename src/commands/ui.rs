//! `esk ui [--node I] [--port P]`: the Admin UI of one node. The frontend spreads requests
//! over the nodes, so the UI behind it keeps switching node; this forwards a local port to
//! one node's pod (the leader, from gossip, unless `--node`), prints the URL to open and stays
//! in the foreground until interrupted.

use anyhow::Result;

use super::existing::{found, open};
use super::logs::node_number;
use crate::cli::Global;
use crate::error::{exit, Unhealthy, UsageError};
use crate::health::{self, clock, observe};

/// The server's HTTP port (the UI, gossip and the HTTP API; 20.10+, and 5.x's external HTTP).
const HTTP_PORT: u16 = 2113;

fn local_port(raw: &str) -> Result<u16, UsageError> {
    raw.parse::<u16>().map_err(|_| {
        UsageError::new(format!(
            "--port takes a local port from 0 (any free one) to 65535, got \"{}\"",
            raw.escape_debug()
        ))
    })
}

pub(super) fn run(g: &Global, node: Option<&str>, port: &str) -> Result<()> {
    let only = node.map(node_number).transpose()?;
    let local = local_port(port)?;
    let (base, kubectl, _) = open(g)?;
    let proxy = kubectl.proxy()?;
    let mut obs = observe::read_objects(&kubectl, &base)?;
    let spec = found(g, base, &obs)?;
    if only.is_none() {
        observe::read_gossip(&proxy, &spec, &mut obs);
    }
    drop(proxy);
    let h = health::assess(&spec, &obs, clock::now());
    let target = match only {
        Some(i) => h
            .nodes
            .iter()
            .find(|n| !n.read_only_replica && n.index == i)
            .ok_or_else(|| {
                UsageError::new(format!(
                    "cluster {} has no node {i} (it has nodes 1 to {})",
                    spec.name,
                    spec.nodes.get()
                ))
            })?,
        None => {
            let leader = h.leader.as_deref().ok_or_else(|| {
                Unhealthy::new(
                    exit::DOWN,
                    format!(
                        "cluster {} has no leader to open the UI of; choose a node with --node I",
                        spec.name
                    ),
                )
            })?;
            h.nodes
                .iter()
                .find(|n| n.name == leader)
                .ok_or_else(|| anyhow::anyhow!("the leader {leader} is not one of the nodes"))?
        }
    };
    let pod = target
        .pod
        .as_ref()
        .map(|p| p.name.clone())
        .ok_or_else(|| anyhow::anyhow!("node {} has no pod to forward to", target.name))?;
    let role = if only.is_none() { " (leader)" } else { "" };
    let scheme = if spec.security.tls { "https" } else { "http" };
    let name = target.name.clone();
    let forwarded = kubectl.port_forward(&pod, local, HTTP_PORT, |port| {
        println!("{name}{role}: {scheme}://localhost:{port}/ (pod {pod}; Ctrl-C stops)");
        if spec.security.tls {
            eprintln!(
                "note: the node's certificate is signed by the cluster CA (`esk ca-cert -o \
                 ca.crt`); a browser that does not trust it warns first"
            );
        }
    })?;
    forwarded.map_err(|why| anyhow::anyhow!("the port-forward to {name} ended: {why}"))
}
