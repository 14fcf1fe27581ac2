//! APIs a cluster may or may not serve (a CRD installed by an operator): whether discovery
//! lists a resource, and removing esk's objects of such a resource.

use anyhow::Result;
use serde_json::Value;

use super::{Kubectl, RawAnswer, RawVerb};
use crate::adapters::process::args;

impl Kubectl {
    /// Whether the API server serves `resource` (a plural, e.g. `podmonitors`) in
    /// `group_version` (e.g. `monitoring.coreos.com/v1`), from its discovery document; a
    /// group-version it does not serve at all is `false`, not an error.
    pub fn serves(&self, group_version: &str, resource: &str) -> Result<bool> {
        let path = format!("/apis/{group_version}");
        Ok(match self.raw(RawVerb::Get, &path, None)? {
            RawAnswer::Ok(body) => {
                let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                doc["resources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|r| r["name"] == resource)
            }
            _ => false,
        })
    }

    /// Deletes every object of `resource` (e.g. `podmonitors.monitoring.coreos.com`) in the
    /// namespace that matches `selector`; none is fine.
    pub fn delete_labelled(&self, resource: &str, selector: &str) -> Result<()> {
        let mut a = self.base();
        a.extend(args([
            "delete",
            resource,
            "--ignore-not-found",
            "-l",
            selector,
        ]));
        self.tool.run_retry(&a, None)?;
        Ok(())
    }
}
