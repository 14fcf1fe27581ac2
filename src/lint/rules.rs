//! The rules about one node (its disk, resources, image, mode) and about single objects
//! (volumes, storage classes, load balancers, API versions). Cluster-wide rules are in
//! `cluster`, NetworkPolicy reachability in `netpol`.
//!
//! This file runs them all over the inventory; each concept's checks are in a file of its
//! own: `storage` (where the database lives), `container` (the server container's requests
//! and image), `services` (what leads to the nodes), `security` (insecure mode, default
//! credentials) and `api_version` (removed API versions).

mod api_version;
mod container;
mod security;
mod services;
mod storage;

use api_version::removed_api;
use container::{image, resources};
use security::{default_credentials, insecure};
use services::{leads_to_server, load_balancer, service_links};
use storage::{claim_fits, in_tree_pv, in_tree_volumes, persistent_volume, storage, storage_class};

use super::inventory::Inventory;
use super::node::Data;
use super::Finding;

/// Every rule over the inventory.
pub fn run(inv: &Inventory) -> Vec<Finding> {
    let mut out = Vec::new();
    for node in &inv.nodes {
        let mut push = |rule, message| {
            out.push(Finding::new(
                rule,
                &node.item.object,
                node.item.file,
                message,
            ));
        };
        storage(inv, node, &mut push);
        resources(node, &mut push);
        image(node, &mut push);
        insecure(node, &mut push);
    }
    for node in &inv.nodes {
        // ES025 on the claim: that is what to change.
        if let Data::Claim(name) = node.data() {
            if let Some(claim) = inv.claim(node, &name) {
                if let Some(m) = inv.bound_volume(claim).and_then(|v| claim_fits(claim, v)) {
                    out.push(Finding::new("ES025", &claim.object, claim.file, m));
                }
            }
        }
        for (message, fix) in in_tree_volumes(node) {
            out.push(
                Finding::new("ES022", &node.item.object, node.item.file, message).with_fix(fix),
            );
        }
    }
    super::cluster::check(inv, &mut out);
    super::netpol::check(inv, &mut out);
    for item in &inv.items {
        if let Some((message, fix)) = removed_api(item) {
            out.push(Finding::new("ES021", &item.object, item.file, message).with_fix(fix));
        }
        if item.kind() == "PersistentVolume" {
            if let Some((message, fix)) = in_tree_pv(item) {
                out.push(Finding::new("ES022", &item.object, item.file, message).with_fix(fix));
            }
        }
        let mut push = |rule, message| {
            out.push(Finding::new(rule, &item.object, item.file, message));
        };
        match item.kind() {
            "PersistentVolume" => persistent_volume(item, &mut push),
            "StorageClass" => storage_class(item, &mut push),
            "Service" => {
                if leads_to_server(inv, item) {
                    load_balancer(item, &mut push);
                }
                service_links(inv, item, &mut push);
            }
            _ => {}
        }
        default_credentials(item, &mut push);
    }
    out
}

/// How a check reports on the object it was handed: the rule and the message.
type Push<'p> = dyn FnMut(&'static str, String) + 'p;
