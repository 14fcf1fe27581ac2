//! The note of the last backup esk made, which `esk status` shows: a small ConfigMap beside
//! the record, with the cluster's labels (so `esk delete` removes it with the cluster). Not an
//! annotation on the record: the record belongs to `create`'s apply, and a backup is not a
//! change to the cluster (status's "changed" stays when esk was last applied).

use serde_json::json;

use crate::domain::{LAST_BACKUP_NAME_KEY, LAST_BACKUP_TIME_KEY};
use crate::health::clock::rfc3339;
use crate::manifest::Manifest;
use crate::names::{labels, last_backup_name};
use crate::spec::Spec;

/// The note saying `backup` was made at `created` (seconds since the epoch).
pub fn note(spec: &Spec, backup: &str, created: i64) -> Manifest {
    let name = last_backup_name(spec);
    let value = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": spec.namespace.as_str(),
            "labels": labels(spec, "backup", None),
        },
        "data": {LAST_BACKUP_NAME_KEY: backup, LAST_BACKUP_TIME_KEY: rfc3339(created)},
    });
    Manifest::built("backup", "ConfigMap", &name, value)
}
