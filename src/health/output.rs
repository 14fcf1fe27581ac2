//! `esk status` output: a table for people, one JSON or YAML document for scripts (field names
//! documented in README).

use std::str::FromStr;

use serde::Serialize;

use super::clock::age;
use super::Health;
use crate::connection::Connection;
use crate::error::UsageError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

impl FromStr for Format {
    type Err = UsageError;

    fn from_str(s: &str) -> Result<Format, UsageError> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "yaml" => Ok(Format::Yaml),
            other => Err(UsageError::new(format!(
                "-o takes table, json or yaml, got \"{}\"",
                other.escape_debug()
            ))),
        }
    }
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    health: &'a Health,
    connection: Option<&'a Connection>,
}

/// The whole status in `format`.
pub fn render(
    health: &Health,
    connection: Option<&Connection>,
    format: Format,
) -> anyhow::Result<String> {
    let doc = Document { health, connection };
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(&doc)? + "\n",
        Format::Yaml => serde_yaml::to_string(&doc)?,
        Format::Table => table(health, connection),
    })
}

/// Rows padded into columns two spaces apart.
fn columns(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..rows.first().map_or(0, Vec::len))
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn or_dash(v: Option<String>) -> String {
    v.filter(|s| !s.is_empty()).unwrap_or_else(|| "-".into())
}

pub fn table(h: &Health, connection: Option<&Connection>) -> String {
    let c = &h.cluster;
    let mut out = format!(
        "cluster {} in namespace {}: {}",
        c.name,
        c.namespace,
        h.verdict.as_str()
    );
    if let Some(l) = &h.leader {
        out.push_str(&format!(" (leader {l})"));
    }
    out.push('\n');
    let mut facts = vec![format!("{} node(s)", c.nodes)];
    if c.read_only_replicas > 0 {
        facts.push(format!("{} read-only replica(s)", c.read_only_replicas));
    }
    let mut push = |label: &str, v: &Option<String>| {
        if let Some(v) = v {
            facts.push(format!("{label}{v}"));
        }
    };
    push("profile ", &c.profile);
    push("server ", &c.server_version);
    push("cloud ", &c.cloud);
    push("zone ", &c.zone);
    push("", &c.workload);
    push(
        "",
        &c.tls.map(|t| if t { "TLS" } else { "no TLS" }.to_string()),
    );
    push("spreading ", &c.anti_affinity);
    push("created ", &c.created);
    push("changed ", &c.changed);
    push(
        "last backup ",
        &c.last_backup.as_ref().map(|b| match b.age_seconds {
            Some(a) => format!("{} ({} ago)", b.name, age(a)),
            None => b.name.clone(),
        }),
    );
    out.push_str(&format!("  {}\n", facts.join(" · ")));
    if let Some(z) = &h.zones {
        out.push_str(&format!("  {}\n", z.line(u64::from(c.nodes))));
    }
    if !h.nodes.is_empty() {
        let mut storage = vec![[
            "NODE", "DISK", "ID", "SIZE", "USED", "ZONE", "OWNER", "CLAIM", "VOLUME",
        ]
        .map(String::from)
        .to_vec()];
        let mut runtime = vec![[
            "NODE",
            "POD",
            "PHASE",
            "READY",
            "RESTARTS",
            "K8S NODE",
            "AGE",
            "STATE",
            "ALIVE",
            "CHECKPOINT",
            "LAG",
            "VERSION",
        ]
        .map(String::from)
        .to_vec()];
        for n in &h.nodes {
            let d = n.disk.as_ref();
            storage.push(vec![
                n.name.clone(),
                or_dash(d.map(|d| d.name.clone())),
                or_dash(d.map(|d| d.id.clone())),
                or_dash(d.and_then(|d| d.size.clone())),
                or_dash(n.disk_use.map(|u| format!("{}%", u.used_percent))),
                or_dash(d.and_then(|d| d.zone.clone())),
                or_dash(d.map(|d| d.owner.clone())),
                or_dash(n.claim.as_ref().map(|c| c.phase.clone())),
                or_dash(n.volume.as_ref().map(|v| v.phase.clone())),
            ]);
            let p = n.pod.as_ref();
            let m = n.member.as_ref();
            runtime.push(vec![
                n.name.clone(),
                or_dash(p.map(|p| p.name.clone())),
                or_dash(p.map(|p| p.phase.clone())),
                or_dash(p.map(|p| if p.ready { "yes" } else { "no" }.into())),
                or_dash(p.map(|p| p.restarts.to_string())),
                or_dash(p.and_then(|p| p.node.clone())),
                or_dash(p.and_then(|p| p.age_seconds).map(age)),
                or_dash(m.map(|m| m.state.clone())),
                or_dash(m.map(|m| if m.alive { "yes" } else { "no" }.into())),
                or_dash(m.and_then(|m| m.writer_checkpoint).map(|c| c.to_string())),
                or_dash(m.and_then(|m| m.lag).map(|l| l.to_string())),
                or_dash(m.and_then(|m| m.version.clone())),
            ]);
        }
        out.push('\n');
        out.push_str(&columns(&storage));
        out.push('\n');
        out.push_str(&columns(&runtime));
    }
    let problems: Vec<String> = h
        .reasons
        .iter()
        .cloned()
        .chain(
            h.nodes
                .iter()
                .filter_map(|n| n.problem.as_ref().map(|p| format!("{}: {p}", n.name))),
        )
        .collect();
    if !problems.is_empty() {
        out.push_str("\nproblems:\n");
        for p in problems {
            out.push_str(&format!("  {}\n", p.replace('\n', "\n  ")));
        }
    }
    if !h.warnings.is_empty() {
        out.push('\n');
        for w in &h.warnings {
            out.push_str(&format!("{w}\n"));
        }
    }
    if let Some(conn) = connection {
        out.push_str(&format!("\nconnect: {}\n", conn.connection_string));
        if let (Some(secret), Some(cm)) = (&conn.credentials_secret, &conn.ca_cert_config_map) {
            out.push_str(&format!(
                "  password: `esk connection-string --show-password` (Secret {secret}); CA: \
                 `esk ca-cert -o {}` (ConfigMap {cm})\n",
                conn.ca_file.as_deref().unwrap_or("ca.crt")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let rows = vec![
            vec!["A".to_string(), "BB".to_string(), "C".to_string()],
            vec!["long".to_string(), "x".to_string(), "".to_string()],
        ];
        assert_eq!(columns(&rows), "A     BB  C\nlong  x\n");
    }

    #[test]
    fn formats_are_checked() {
        assert_eq!("json".parse::<Format>().unwrap(), Format::Json);
        assert!("xml".parse::<Format>().is_err());
    }
}
