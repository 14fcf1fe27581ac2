//! Server settings esk owns: the ports, discovery, cluster size, advertised names, certificate
//! paths, security mode, credentials and data paths it renders itself, and the settings that
//! would switch off the anonymous gossip esk reads. A value for one of them in `node.settings`
//! would be a second, conflicting value (or break `status`, `--wait`, rolls and backups), so it
//! is refused naming what owns it.
//!
//! Names as the servers spell them in their options (as environment names, without the
//! `EVENTSTORE_` / `KURRENTDB_` prefix): `ClusterVNodeOptions.cs` at v24.10.6
//! (src/EventStore.Core/Configuration/; NodePort/HttpPort, ReplicationPort/IntTcpPort,
//! NodeHostAdvertiseAs, ReplicationHostAdvertiseAs/IntHostAdvertiseAs, DisableGossipOnHttp,
//! OverrideAnonymousEndpointAccessForGossip, the Certificate* options), v25.1.0 and v26.0.0
//! (src/KurrentDB.Core/Configuration/), and `ClusterNodeOptions.cs` at oss-v5.0.11
//! (src/EventStore.ClusterNode/; Int/Ext Ip, TcpPort, SecureTcpPort, HttpPort, their
//! *AdvertiseAs, Int/Ext HttpPrefixes).

struct Owned {
    names: &'static [&'static str],
    owner: &'static str,
}

const OWNED: &[Owned] = &[
    Owned {
        names: &[
            "NODE_PORT",
            "REPLICATION_PORT",
            "HTTP_PORT",
            "INT_TCP_PORT",
            "EXT_TCP_PORT",
            "INT_SECURE_TCP_PORT",
            "EXT_SECURE_TCP_PORT",
            "INT_HTTP_PORT",
            "EXT_HTTP_PORT",
            "INT_HTTP_PREFIXES",
            "EXT_HTTP_PREFIXES",
            "NODE_PORT_ADVERTISE_AS",
            "REPLICATION_TCP_PORT_ADVERTISE_AS",
            "HTTP_PORT_ADVERTISE_AS",
            "INT_TCP_PORT_ADVERTISE_AS",
            "EXT_TCP_PORT_ADVERTISE_AS",
            "INT_SECURE_TCP_PORT_ADVERTISE_AS",
            "EXT_SECURE_TCP_PORT_ADVERTISE_AS",
            "INT_HTTP_PORT_ADVERTISE_AS",
            "EXT_HTTP_PORT_ADVERTISE_AS",
            "ADVERTISE_NODE_PORT_TO_CLIENT_AS",
            "ADVERTISE_HTTP_PORT_TO_CLIENT_AS",
            "ADVERTISE_TCP_PORT_TO_CLIENT_AS",
        ],
        owner: "the ports are fixed by esk's templates (2113 and 1112; 5.x also 1113 and 2112), \
                which the Services, probes, NetworkPolicy and frontend use; no option changes them",
    },
    Owned {
        names: &[
            "DISABLE_GOSSIP_ON_HTTP",
            "OVERRIDE_ANONYMOUS_ENDPOINT_ACCESS_FOR_GOSSIP",
        ],
        owner: "esk reads every node's gossip anonymously over HTTP (status, --wait, rolling \
                changes, backups), so it stays on",
    },
    Owned {
        names: &["CLUSTER_SIZE"],
        owner: "use the node count (`esk create N`, `esk resize M`)",
    },
    Owned {
        names: &[
            "DISCOVER_VIA_DNS",
            "CLUSTER_DNS",
            "GOSSIP_SEED",
            "CLUSTER_GOSSIP_PORT",
        ],
        owner: "nodes discover each other through esk's headless Service; use --name, \
                --namespace and --set clusterDomain=…",
    },
    Owned {
        names: &[
            "NODE_HOST_ADVERTISE_AS",
            "REPLICATION_HOST_ADVERTISE_AS",
            "INT_HOST_ADVERTISE_AS",
            "EXT_HOST_ADVERTISE_AS",
            "ADVERTISE_HOST_TO_CLIENT_AS",
            "INT_IP_ADVERTISE_AS",
            "EXT_IP_ADVERTISE_AS",
            "NODE_IP",
            "REPLICATION_IP",
            "INT_IP",
            "EXT_IP",
        ],
        owner: "each node binds and advertises its stable DNS name (the name its certificate \
                carries), made from --name, --namespace and --set clusterDomain=…",
    },
    Owned {
        names: &[
            "CERTIFICATE_FILE",
            "CERTIFICATE_PRIVATE_KEY_FILE",
            "CERTIFICATE_PASSWORD",
            "CERTIFICATE_PRIVATE_KEY_PASSWORD",
            "TRUSTED_ROOT_CERTIFICATES_PATH",
            "CERTIFICATE_RESERVED_NODE_COMMON_NAME",
            "CERTIFICATE_STORE_LOCATION",
            "CERTIFICATE_STORE_NAME",
            "CERTIFICATE_SUBJECT_NAME",
            "CERTIFICATE_THUMBPRINT",
            "TRUSTED_ROOT_CERTIFICATE_STORE_LOCATION",
            "TRUSTED_ROOT_CERTIFICATE_STORE_NAME",
            "TRUSTED_ROOT_CERTIFICATE_SUBJECT_NAME",
            "TRUSTED_ROOT_CERTIFICATE_THUMBPRINT",
        ],
        owner: "esk issues and mounts the node certificates; use --set certPath=… to move \
                them and `esk create --rotate-certs` to reissue them",
    },
    Owned {
        names: &["INSECURE", "DEV"],
        owner: "use --insecure",
    },
    Owned {
        names: &["DEFAULT_ADMIN_PASSWORD", "DEFAULT_OPS_PASSWORD"],
        owner: "esk generates them into Secret <name>-credentials (`esk credentials` prints them)",
    },
    Owned {
        names: &["DB", "INDEX", "LOG"],
        owner: "use --set dataPath=… or --set logPath=… (both on the node's disk)",
    },
    Owned {
        names: &["READ_ONLY_REPLICA"],
        owner: "use --read-only-replicas K",
    },
    Owned {
        names: &["GOSSIP_ALLOWED_DIFFERENCE_MS"],
        owner: "esk sets it on 5.x",
    },
];

/// The server prefixes a key may be written with; the template adds the profile's own.
const PREFIXES: &[&str] = &["EVENTSTORE_", "KURRENTDB_"];

/// If `key` (any case, with or without a server prefix) names a setting esk owns: the
/// one-line refusal naming what owns it.
pub fn refusal(key: &str) -> Option<String> {
    let upper = key.trim().to_ascii_uppercase();
    let bare = PREFIXES
        .iter()
        .find_map(|p| upper.strip_prefix(p))
        .unwrap_or(&upper);
    let owned = OWNED.iter().find(|o| o.names.contains(&bare))?;
    Some(format!(
        "node.settings {}: esk owns this setting; {}",
        key.escape_debug(),
        owned.owner
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_settings_are_refused_in_any_spelling() {
        for key in [
            "NODE_PORT",
            "node_port",
            "KURRENTDB_NODE_PORT",
            "eventstore_replication_port",
            "EXT_TCP_PORT",
            "DISABLE_GOSSIP_ON_HTTP",
            "OVERRIDE_ANONYMOUS_ENDPOINT_ACCESS_FOR_GOSSIP",
            "GOSSIP_SEED",
            "REPLICATION_HOST_ADVERTISE_AS",
            "Certificate_File",
            "INSECURE",
        ] {
            let why = refusal(key).unwrap_or_else(|| panic!("{key} accepted"));
            assert!(
                why.starts_with(&format!("node.settings {key}: esk owns")),
                "{why}"
            );
            assert!(!why.contains('\n'), "{why}");
        }
        let port = refusal("NODE_PORT").unwrap_or_default();
        assert!(port.contains("2113"), "{port}");
        assert!(refusal("CLUSTER_SIZE")
            .unwrap_or_default()
            .contains("esk create N"));
        for free in [
            "RUN_PROJECTIONS",
            "MAX_APPEND_SIZE",
            "NODE_PORTS",
            "KURRENTDB_",
        ] {
            assert_eq!(refusal(free), None, "{free}");
        }
    }
}
