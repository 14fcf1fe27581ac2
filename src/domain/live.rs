//! What a live node workload's pods were made from: the hashes esk stamps on every node
//! workload (see `roll::stamp`), as the API server gives them back.

/// The annotation holding the hash of the rendered pod spec.
pub const POD_SPEC: &str = "esk.io/pod-spec";
/// The annotation holding the hash of the template set the pod spec came from.
pub const TEMPLATE: &str = "esk.io/template";

/// What a live node workload's pods were made from (empty: stamped by no esk yet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveTemplate {
    pub pod_spec: String,
    pub template: String,
}

/// A live PersistentVolumeClaim as far as growing it goes, as the API server gives it back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveClaim {
    /// `spec.resources.requests.storage` (`10Gi`; the API server may rewrite it, `1Ti`).
    pub request: String,
    /// `status.capacity.storage`: what the volume holds now (none until the claim is bound).
    pub capacity: Option<String>,
    /// `spec.storageClassName`: `Some("")` for a claim pre-bound without a class (as an
    /// earlier esk, before it had a StorageClass of its own, made them), `None` when unset.
    pub class: Option<String>,
}
