//! EventStore 5.x has no insecure mode: every cluster has the users `admin` and `ops` with the
//! well-known password `changeit` (created on first start; `POST /users/{login}/command/
//! reset-password` with `{"newPassword": …}`, Admin only, and `…/change-password` with
//! `{"currentPassword", "newPassword"}` change them: UsersController.cs at oss-v5.0.11,
//! src/EventStore.Core/Services/Transport/Http/Controllers/). Its external ports (2113 HTTP,
//! 1113 TCP) are open to clients, so those credentials reach the cluster's admin.
//!
//! esk cannot change them for the user through the Kubernetes API server's pod proxy, the
//! route it reads gossip by: the API server removes the `Authorization` header from a request
//! once it has authenticated it (k8s.io/apiserver, pkg/endpoints/filters/authentication.go:
//! "authorization header is not required anymore in case of a successful authentication"), so
//! the server behind the proxy never sees Basic credentials. Until esk changes them another
//! way (an in-cluster Job or `kubectl exec`), `status` says so on every 5.x cluster.

use crate::spec::Spec;

/// The well-known default password of 5.x's `admin` and `ops`.
pub const DEFAULT_PASSWORD: &str = "changeit";

/// The `status` warning for a 5.x cluster, whose default credentials esk leaves in place.
pub fn default_credentials_warning(spec: &Spec) -> Option<String> {
    (spec.generation() < 20).then(|| {
        format!(
            "warning: default credentials still active on 5.x unless you changed them: users \
             admin and ops have password \"{DEFAULT_PASSWORD}\" and ports 2113/1113 accept \
             them; change both from inside the cluster (POST \
             http://{}-1.{}:2113/users/admin/command/reset-password as admin, then the same \
             for ops); 20.10+ profiles get generated passwords from esk",
            spec.name,
            crate::render::cluster_dns(spec),
        )
    })
}
