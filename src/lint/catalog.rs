//! The rule catalogue: every rule's stable id, severity, what it finds and its usual fix (the
//! README's table). Only data: the checks themselves are in `rules`, `cluster` and `netpol`.

use std::fmt;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Breaks the cluster or loses data: `esk lint` exits 5, `create` refuses.
    Error,
    /// Weakens it (availability, an unpinned cost): shown, exit 0.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One rule: a stable id, its severity, what it finds and the usual fix (README's table).
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub what: &'static str,
    pub fix: &'static str,
}

const fn rule(id: &'static str, severity: Severity, what: &'static str, fix: &'static str) -> Rule {
    Rule {
        id,
        severity,
        what,
        fix,
    }
}

use Severity::{Error as E, Warning as W};

/// Every rule. Ids are stable: never renumber, only add.
#[rustfmt::skip]
pub const RULES: &[Rule] = &[
    rule("ES001", E, "node data on a ReadWriteMany or ReadOnlyMany claim",
         "give each node its own ReadWriteOnce claim"),
    rule("ES002", E, "node data on emptyDir, hostPath, a generic ephemeral volume or the container's own filesystem",
         "mount a PersistentVolumeClaim at the data directory"),
    rule("ES003", W, "node data volume smaller than 10Gi",
         "request at least 10Gi (the database and its index grow)"),
    rule("ES004", E, "a NetworkPolicy blocks a client port of the nodes",
         "allow ingress to the client port (2113; 1113 on 5.x) from the clients"),
    rule("ES005", E, "a NetworkPolicy blocks gossip, replication or internal ports between the nodes",
         "allow the nodes to reach each other on those ports (ingress and egress)"),
    rule("ES006", W, "CPU request below 500m or memory request below 1Gi (or none)",
         "request at least 500m CPU and 1Gi memory for each node"),
    rule("ES007", E, "cluster size differs between nodes or from the number of nodes",
         "set CLUSTER_SIZE to the number of nodes on every node (lint the whole set)"),
    rule("ES008", E, "a 2-node cluster: it stops when either node does",
         "run 1 or 3 nodes"),
    rule("ES009", W, "an even number of nodes: no more failures survived than with one fewer",
         "run an odd number of nodes"),
    rule("ES010", E, "headless Service of the nodes without publishNotReadyAddresses: true",
         "set publishNotReadyAddresses: true (nodes are not Ready until gossip has elected a leader)"),
    rule("ES011", E, "discovery DNS name (CLUSTER_DNS) is not a headless Service selecting the nodes",
         "set CLUSTER_DNS to <headless-service>.<namespace>.svc.cluster.local"),
    rule("ES012", E, "PersistentVolume reclaim policy Delete or Recycle",
         "set persistentVolumeReclaimPolicy: Retain"),
    rule("ES013", W, "StorageClass that deletes its volumes (reclaimPolicy Delete or unset)",
         "use a StorageClass with reclaimPolicy: Retain for node data"),
    rule("ES014", E, "two servers can run on one disk: a Deployment rolling its node over a ReadWriteOnce disk, or several replicas on one claim",
         "use strategy Recreate and replicas: 1 per node Deployment (or a StatefulSet)"),
    rule("ES015", E, "node image untagged or :latest",
         "pin the image to a version tag or digest"),
    rule("ES016", W, "no PodDisruptionBudget covers a multi-node cluster",
         "add a PodDisruptionBudget with maxUnavailable: 1 over the nodes"),
    rule("ES017", W, "PodDisruptionBudget lets more than one node go down",
         "set maxUnavailable: 1"),
    rule("ES018", W, "no pod anti-affinity spreads the nodes",
         "add podAntiAffinity on kubernetes.io/hostname over the nodes' labels"),
    rule("ES019", E, "public LoadBalancer without source ranges",
         "set loadBalancerSourceRanges, or make the load balancer internal"),
    rule("ES020", W, "insecure mode: no TLS and no authentication",
         "remove INSECURE and give the nodes certificates"),
    rule("ES021", E, "removed API version (extensions/v1beta1, apps/v1beta1, apps/v1beta2, policy/v1beta1, batch/v1beta1, ...)",
         "use the kind's current version (the finding names it: apps/v1, batch/v1, policy/v1, networking.k8s.io/v1, ...)"),
    rule("ES022", W, "in-tree cloud disk volume (gcePersistentDisk, awsElasticBlockStore, azureDisk, cinder): served only through CSI migration",
         "use a PersistentVolume with the cloud's CSI driver (pd.csi.storage.gke.io, ebs.csi.aws.com, ...)"),
    rule("ES023", W, "public LoadBalancer whose source ranges include 0.0.0.0/0 or ::/0",
         "list only the client networks in loadBalancerSourceRanges"),
    rule("ES024", E, "a Service named eventstore/kurrentdb (or eventstore-*/kurrentdb-*) makes Kubernetes inject EVENTSTORE_*/KURRENTDB_* service-link variables, which 21.10+ servers refuse as unknown settings",
         "set enableServiceLinks: false on the server pods, or rename the Service"),
    rule("ES025", E, "a claim requests more storage than the PersistentVolume it names: it never binds",
         "request at most the volume's capacity (or grow the volume)"),
    rule("ES026", W, "the default credentials admin:changeit / ops:changeit in use",
         "change the admin and ops passwords and keep them in a Secret"),
    rule("ES027", W, "the nodes are spread over zones, yet one zone holds a quorum of them (by their volumes' or pods' node affinity): that zone's outage stops the cluster",
         "spread the voting nodes so that no zone holds a quorum: 3 zones for 3 or 5 nodes"),
];

pub fn rule_by_id(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}
