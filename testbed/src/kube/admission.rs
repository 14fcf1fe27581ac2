//! Validating admission a real API server runs after an update passes validation. Only the
//! claim-resize plugin so far (k8s.io/kubernetes plugin/pkg/admission/storage/persistentvolume/
//! resize): a claim may grow only when it is bound and its StorageClass allows expansion, so
//! a statically bound claim (`storageClassName: ""`, as esk makes them) cannot grow at all.

use super::immutable::parse_quantity;
use super::status::ApiError;
use super::store::Store;
use serde_json::Value;

/// Refuses a grown claim the way the PersistentVolumeClaimResize plugin does (403).
pub fn claim_resize(store: &Store, name: &str, old: &Value, new: &Value) -> Result<(), ApiError> {
    let size = |v: &Value| {
        v["spec"]["resources"]["requests"]["storage"]
            .as_str()
            .and_then(parse_quantity)
    };
    let (Some(before), Some(after)) = (size(old), size(new)) else {
        return Ok(());
    };
    if after <= before {
        return Ok(());
    }
    let forbidden = |why: &str| {
        Err(ApiError::new(
            403,
            "Forbidden",
            format!("persistentvolumeclaims \"{name}\" is forbidden: {why}"),
        ))
    };
    if old["status"]["phase"] != "Bound" {
        return forbidden("Only bound persistent volume claims can be expanded");
    }
    let class = old["spec"]["storageClassName"].as_str().unwrap_or("");
    let expandable = !class.is_empty()
        && store.objects().any(|o| {
            o["kind"] == "StorageClass"
                && o["metadata"]["name"] == class
                && o["allowVolumeExpansion"] == true
        });
    if !expandable {
        return forbidden(
            "only dynamically provisioned pvc can be resized and the storageclass that \
             provisions the pvc must support resize",
        );
    }
    Ok(())
}
