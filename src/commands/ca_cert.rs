//! `esk ca-cert [-o FILE]`: the public CA certificate clients trust.

use std::path::Path;

use anyhow::{Context, Result};

use super::existing::existing;
use crate::cli::Global;
use crate::error::UsageError;
use crate::health;

/// `esk ca-cert [-o FILE]`: the public CA certificate clients trust (never its key).
pub(super) fn run(g: &Global, output: Option<&Path>) -> Result<()> {
    let (spec, obs) = existing(g)?;
    if !spec.security.tls {
        return Err(UsageError::new(format!(
            "cluster {} runs without TLS: it has no CA",
            spec.name
        ))
        .into());
    }
    let name = crate::names::ca_configmap(&spec);
    let pem = obs
        .objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == name.as_str())
        .and_then(|cm| cm["data"]["ca.crt"].as_str())
        .with_context(|| {
            format!(
                "no ca.crt in ConfigMap {name} in namespace {}",
                spec.namespace
            )
        })?;
    if health::certificate_expiry(pem).is_none() {
        anyhow::bail!("ConfigMap {name} holds no PEM certificate in ca.crt");
    }
    match output {
        None => print!("{pem}"),
        Some(path) if path == Path::new("-") => print!("{pem}"),
        Some(path) => {
            std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote the CA certificate of cluster {} to {}",
                spec.name,
                path.display()
            );
        }
    }
    Ok(())
}
