//! EventStore 5.x has no insecure mode: every cluster has the users `admin` and `ops` with the
//! well-known password `changeit` (created on first start; `POST /users/{login}/command/
//! reset-password` with `{"newPassword": …}`, Admin only, and `…/change-password` with
//! `{"currentPassword", "newPassword"}` change them: UsersController.cs at oss-v5.0.11,
//! src/EventStore.Core/Services/Transport/Http/Controllers/). Its external ports (2113 HTTP,
//! 1113 TCP) are open to clients, so those credentials reach the cluster's admin.
//!
//! esk cannot change them through the Kubernetes API server's pod proxy, the route it reads
//! gossip by: the API server removes the `Authorization` header from a request once it has
//! authenticated it (k8s.io/apiserver, pkg/endpoints/filters/authentication.go: "authorization
//! header is not required anymore in case of a successful authentication"), so the server
//! behind the proxy never sees Basic credentials. `esk create` therefore changes them from
//! inside the cluster (`commands::default_credentials`) and marks the credentials Secret;
//! until then `status` warns.

use serde_json::Value;

use crate::spec::Spec;

/// The well-known default password of 5.x's `admin` and `ops`.
pub const DEFAULT_PASSWORD: &str = "changeit";

/// Set on Secret `<name>-credentials` once the generated passwords replaced the defaults.
pub const REPLACED_ANNOTATION: &str = "esk.io/default-credentials";
pub const REPLACED: &str = "replaced";

/// The `status` warning for a 5.x cluster whose default credentials esk has not replaced
/// (the credentials Secret, among `secrets`, lacks the mark).
pub fn default_credentials_warning(spec: &Spec, secrets: &[Value]) -> Option<String> {
    if spec.generation() >= 20 {
        return None;
    }
    let name = crate::names::credentials_secret(spec);
    let replaced = secrets.iter().any(|s| {
        s["metadata"]["name"] == name.as_str()
            && s["metadata"]["annotations"][REPLACED_ANNOTATION] == REPLACED
    });
    (!replaced).then(|| {
        format!(
            "warning: default credentials still active on 5.x: users admin and ops have \
             password \"{DEFAULT_PASSWORD}\" on ports 2113/1113; run `esk create {n}` again once \
             the cluster has a leader, which sets the generated passwords from Secret {name}",
            n = spec.nodes,
        )
    })
}
