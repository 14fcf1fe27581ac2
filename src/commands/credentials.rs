//! `esk credentials`: the generated admin and ops passwords, read from the cluster's Secret.

use anyhow::Result;

use crate::adapters::kubectl::Kubectl;
use crate::cli::Global;
use crate::error::UsageError;
use crate::secrets;
use crate::spec::{Cloud, NodeCount};

/// `esk credentials`: the passwords, only when asked for, to stdout.
pub(super) fn run(g: &Global) -> Result<()> {
    let spec = g.spec(NodeCount::new(1)?, Some(Cloud::Gke))?;
    let kubectl = Kubectl::new(g.context.clone(), &g.namespace)?;
    let name = crate::names::credentials_secret(&spec);
    let secret = kubectl.get_json(&[
        "secret".to_string(),
        name.clone(),
        "--ignore-not-found".to_string(),
    ])?;
    let data = secrets::decode(&secret["data"]);
    match (data.get("admin-password"), data.get("ops-password")) {
        (Some(admin), Some(ops)) => {
            println!("admin: {admin}");
            println!("ops: {ops}");
            Ok(())
        }
        _ => Err(UsageError::new(format!(
            "no Secret {name} with passwords in namespace {} (clusters made with --insecure \
             have none)",
            spec.namespace
        ))
        .into()),
    }
}
