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
