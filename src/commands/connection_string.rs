//! `esk connection-string`: the client connection string of the cluster (the admin password
//! only when asked for).

use anyhow::{Context, Result};

use super::existing::existing;
use crate::cli::Global;
use crate::connection::connection_string;
use crate::error::UsageError;
use crate::secrets;

/// `esk connection-string [--show-password] [--ca-file PATH]`.
pub(super) fn run(g: &Global, show_password: bool, ca_file: &str) -> Result<()> {
    if ca_file.is_empty() || ca_file.contains(['\n', '\r', '\0']) {
        return Err(UsageError::new("--ca-file must be a single-line path").into());
    }
    let (spec, obs) = existing(g)?;
    let password = if show_password && spec.security.tls {
        let name = crate::names::credentials_secret(&spec);
        let secret = obs
            .objects
            .iter()
            .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == name.as_str());
        let password = secret.and_then(|s| secrets::decode(&s["data"]).remove("admin-password"));
        Some(password.with_context(|| {
            format!(
                "no admin password in Secret {name} in namespace {}",
                spec.namespace
            )
        })?)
    } else {
        None
    };
    println!("{}", connection_string(&spec, password.as_deref(), ca_file));
    if spec.security.tls && !show_password {
        eprintln!(
            "note: without credentials; --show-password adds the admin password (Secret {}); \
             `esk ca-cert -o {ca_file}` writes the CA file",
            crate::names::credentials_secret(&spec)
        );
    }
    Ok(())
}
