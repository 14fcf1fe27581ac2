//! How clients reach the cluster: the `+discover` connection string through the client Service
//! (`<name>-client.<ns>.svc.<domain>:2113`), in the scheme the profile's clients understand:
//! `kurrentdb+discover://` for KurrentDB 25+, `esdb+discover://` for EventStoreDB 20.10-24.x,
//! and the TCP client's `ConnectTo=discover://` for 5.x.

use serde::Serialize;

use crate::names::{ca_configmap, client_dns, credentials_secret};
use crate::spec::Spec;

/// The admin user whose password esk generates.
pub const USERNAME: &str = "admin";
/// The client port (HTTP and gRPC; 5.x: the external HTTP port gossip is read from).
pub const PORT: u16 = 2113;

/// The CA file a connection string names unless told otherwise.
pub const DEFAULT_CA_FILE: &str = "ca.crt";

/// Connection details for scripts (`esk status -o json`); never a password.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// Without credentials.
    pub connection_string: String,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// The user whose password is in `credentialsSecret` (secure clusters only).
    pub username: Option<String>,
    pub credentials_secret: Option<String>,
    /// ConfigMap holding the public CA certificate (`ca.crt`) clients must trust.
    pub ca_cert_config_map: Option<String>,
    /// The CA file the connection string names (`esk ca-cert -o FILE` writes it).
    pub ca_file: Option<String>,
}

/// Percent-encodes `text`, keeping ASCII letters, digits and the bytes of `keep`.
fn percent_encoded(text: &str, keep: &[u8]) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || keep.contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Percent-encodes a URL userinfo part.
fn userinfo(text: &str) -> String {
    percent_encoded(text, b"-._~")
}

/// Percent-encodes a query value (a file path).
fn query_value(text: &str) -> String {
    percent_encoded(text, b"-._~/")
}

impl Connection {
    pub fn of(spec: &Spec, ca_file: &str) -> Connection {
        let tls = spec.security.tls;
        let host = client_dns(spec);
        Connection {
            connection_string: connection_string(spec, None, ca_file),
            host,
            port: PORT,
            tls,
            username: tls.then(|| USERNAME.to_string()),
            credentials_secret: tls.then(|| credentials_secret(spec)),
            ca_cert_config_map: tls.then(|| ca_configmap(spec)),
            ca_file: tls.then(|| ca_file.to_string()),
        }
    }
}

/// The connection string, with `admin:<password>@` only when a password is given.
pub fn connection_string(spec: &Spec, password: Option<&str>, ca_file: &str) -> String {
    let host = client_dns(spec);
    let generation = spec.generation();
    if generation < 20 {
        // The 5.x TCP client discovers the nodes through the external HTTP port.
        let creds = password
            .map(|p| format!("{USERNAME}:{}@", userinfo(p)))
            .unwrap_or_default();
        return format!("ConnectTo=discover://{creds}{host}:{PORT}");
    }
    let scheme = if generation >= 25 {
        "kurrentdb+discover"
    } else {
        "esdb+discover"
    };
    let creds = password
        .map(|p| format!("{USERNAME}:{}@", userinfo(p)))
        .unwrap_or_default();
    let query = if spec.security.tls {
        format!("tlsCaFile={}", query_value(ca_file))
    } else {
        "tls=false".to_string()
    };
    format!("{scheme}://{creds}{host}:{PORT}?{query}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Global;
    use crate::spec::{Cloud, NodeCount};
    use clap::Parser;

    fn spec(args: &[&str]) -> Spec {
        #[derive(Parser)]
        struct Args {
            #[command(flatten)]
            g: Global,
        }
        let mut argv = vec!["esk"];
        argv.extend_from_slice(args);
        Args::parse_from(argv)
            .g
            .spec(NodeCount::new(3).unwrap(), Some(Cloud::Gke))
            .unwrap()
    }

    #[test]
    fn schemes_follow_the_profile() {
        assert_eq!(
            connection_string(&spec(&[]), None, "ca.crt"),
            "kurrentdb+discover://es-client.default.svc.cluster.local:2113?tlsCaFile=ca.crt"
        );
        assert_eq!(
            connection_string(
                &spec(&["--profile", "eventstore-24", "-n", "db"]),
                None,
                "c.pem"
            ),
            "esdb+discover://es-client.db.svc.cluster.local:2113?tlsCaFile=c.pem"
        );
        assert_eq!(
            connection_string(&spec(&["--insecure"]), None, "ca.crt"),
            "kurrentdb+discover://es-client.default.svc.cluster.local:2113?tls=false"
        );
        assert_eq!(
            connection_string(&spec(&["--profile", "eventstore-5"]), None, "ca.crt"),
            "ConnectTo=discover://es-client.default.svc.cluster.local:2113"
        );
    }

    #[test]
    fn passwords_are_encoded_and_only_where_asked() {
        let s = spec(&[]);
        assert_eq!(
            connection_string(&s, Some("p@ss word"), "/tmp/my ca.crt"),
            "kurrentdb+discover://admin:p%40ss%20word@es-client.default.svc.cluster.local:2113\
             ?tlsCaFile=/tmp/my%20ca.crt"
        );
        let c = Connection::of(&s, "ca.crt");
        assert!(!c.connection_string.contains('@'));
        assert_eq!(c.credentials_secret.as_deref(), Some("es-credentials"));
        assert_eq!(c.ca_cert_config_map.as_deref(), Some("es-ca-cert"));
    }
}
