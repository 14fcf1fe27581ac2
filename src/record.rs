//! The cluster record: what esk last made, kept in the cluster as a ConfigMap (as helm keeps a
//! release), so `delete` and `resize` know the cloud, size and disks without being told.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use crate::error::UsageError;
use crate::manifest::{Manifest, ObjectRef};
use crate::names::{labels, record_name};
use crate::spec::Spec;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub nodes: u8,
    /// The server generation the nodes run (0: unknown, a record from an older esk).
    pub generation: u64,
    pub cloud: String,
    pub profile: String,
    pub zone: String,
    pub disks: Vec<String>,
    /// "deployment" or "statefulset".
    pub workload: String,
    pub tls: bool,
    /// "required" or "preferred": decided once, so a changing node count cannot flip it and
    /// restart every node on a re-run.
    pub anti_affinity: String,
    /// The certificate rotation phase reached ("" when none is under way).
    pub rotation: String,
    /// Read-only replicas (`--read-only-replicas`): kept by re-runs that do not pass the flag.
    pub replicas: u8,
    /// A cluster spread over zones: the zones chosen (`--zones`, or the default), which later
    /// runs keep filling, and each node's zone. Empty for a cluster in one zone.
    pub zones: Vec<String>,
    pub node_zones: BTreeMap<u8, String>,
    /// A `node replace` under way (interrupted, it is finished by running it again).
    pub replacing: Option<Replacing>,
}

/// A node replacement under way, kept from before its new disk is made until the node is
/// back, so a re-run finishes it on the same disk instead of making another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacing {
    pub node: u8,
    /// The new disk's name.
    pub disk: String,
    /// The zone it is (to be) made in; "" for the cluster's one zone.
    pub zone: String,
    /// The backup it is made from; "" for an empty disk.
    pub from: String,
}

impl Replacing {
    fn parse(raw: &str) -> Option<Replacing> {
        let get = |key: &str| {
            raw.split(',')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        };
        Some(Replacing {
            node: crate::spec::parse_member(&get("node")?)?,
            disk: get("disk")?,
            zone: get("zone").unwrap_or_default(),
            from: get("from").unwrap_or_default(),
        })
    }

    fn format(&self) -> String {
        format!(
            "node={},disk={},zone={},from={}",
            self.node, self.disk, self.zone, self.from
        )
    }
}

impl Record {
    /// Reads the record from a ConfigMap's `data`.
    pub fn from_data(data: &BTreeMap<String, String>) -> Option<Record> {
        let profile = data.get("profile").cloned().unwrap_or_default();
        Some(Record {
            nodes: data.get("nodes")?.parse().ok()?,
            generation: data
                .get("generation")
                .and_then(|g| g.parse().ok())
                .or_else(|| crate::profile::upgrade::builtin_generation(&profile))
                .unwrap_or(0),
            cloud: data.get("cloud")?.clone(),
            profile,
            zone: data.get("zone").cloned().unwrap_or_default(),
            workload: data
                .get("workload")
                .cloned()
                .unwrap_or_else(|| "deployment".into()),
            tls: data.get("tls").is_none_or(|t| t == "true"),
            anti_affinity: data.get("antiAffinity").cloned().unwrap_or_default(),
            rotation: data.get("rotation").cloned().unwrap_or_default(),
            replicas: data
                .get("readOnlyReplicas")
                .and_then(|k| k.parse().ok())
                .unwrap_or(0),
            zones: comma_list(data, "zones"),
            node_zones: data
                .get("nodeZones")
                .map(|z| {
                    z.split(',')
                        .filter_map(|pair| pair.split_once('='))
                        .filter_map(|(i, zone)| {
                            Some((crate::spec::parse_member(i)?, zone.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            disks: comma_list(data, "disks"),
            replacing: data.get("replacing").and_then(|r| Replacing::parse(r)),
        })
    }

    /// Refuses a run that would silently change what the cluster was made with. `deleting`
    /// runs only need the same cloud; `profile_given` says --profile was passed (a deliberate
    /// change of version, which is allowed with a warning).
    pub fn check(
        &self,
        spec: &Spec,
        zone: &str,
        deleting: bool,
        profile_given: bool,
    ) -> Result<Vec<String>, UsageError> {
        let refuse = |what: String| Err(UsageError::new(format!("cluster {} {what}", spec.name)));
        if self.cloud != spec.cloud.as_str() {
            return refuse(format!(
                "was created with --cloud {0}; pass --cloud {0}",
                self.cloud
            ));
        }
        if deleting {
            return Ok(Vec::new());
        }
        let profile_changes = !self.profile.is_empty() && self.profile != spec.profile.name;
        if profile_changes && !profile_given {
            return refuse(format!(
                "was created with --profile {0}; pass --profile {0} (or the profile to move it to)",
                self.profile
            ));
        }
        let to = spec.generation();
        if self.generation != 0 {
            if let Some(why) = crate::profile::upgrade::refusal(self.generation, to) {
                return refuse(format!("runs server generation {}: {why}", self.generation));
            }
        }
        if self.workload != spec.workload.as_str() {
            return refuse(format!("runs as a {0}; pass --workload {0}", self.workload));
        }
        // A spread cluster keeps each node where its disk is, whatever --zone says.
        let spread = !self.zones.is_empty() || spec.location.zones.len() > 1;
        if !spread && !self.zone.is_empty() && !zone.is_empty() && self.zone != zone {
            return refuse(format!(
                "has its disks in zone {0}; pass --zone {0}",
                self.zone
            ));
        }
        if self.tls != spec.security.tls {
            return refuse(if self.tls {
                "runs with TLS; drop --insecure (switching needs delete --keep-disks, then create)"
                    .into()
            } else {
                "runs without TLS; pass --insecure (switching needs delete --keep-disks, then \
                 create)"
                    .into()
            });
        }
        let mut warnings = Vec::new();
        if profile_changes {
            warnings.push(format!(
                "warning: changing profile from {} to {}: every node restarts with the new settings, one at a time unless --all-at-once",
                self.profile, spec.profile.name
            ));
        }
        Ok(warnings)
    }

    pub fn manifest(&self, spec: &Spec) -> Manifest {
        let mut data = Mapping::new();
        let mut put = |k: &str, v: String| {
            data.insert(Value::String(k.into()), Value::String(v));
        };
        put("nodes", self.nodes.to_string());
        put("generation", self.generation.to_string());
        put("cloud", self.cloud.clone());
        put("profile", self.profile.clone());
        put("zone", self.zone.clone());
        put("disks", self.disks.join(","));
        put("workload", self.workload.clone());
        put("tls", self.tls.to_string());
        put("antiAffinity", self.anti_affinity.clone());
        if !self.rotation.is_empty() {
            put("rotation", self.rotation.clone());
        }
        // Absent means none, so a cluster without replicas keeps the record it always had.
        if self.replicas > 0 {
            put("readOnlyReplicas", self.replicas.to_string());
        }
        // Absent for a cluster in one zone, so its record stays as it always was.
        if !self.zones.is_empty() {
            put("zones", self.zones.join(","));
            let nodes: Vec<String> = self
                .node_zones
                .iter()
                .map(|(i, z)| format!("{}={z}", crate::spec::member_label(*i)))
                .collect();
            put("nodeZones", nodes.join(","));
        }
        if let Some(r) = &self.replacing {
            put("replacing", r.format());
        }
        put("eskVersion", env!("CARGO_PKG_VERSION").to_string());
        let labels: Mapping = labels(spec, "record", None)
            .into_iter()
            .map(|(k, v)| (Value::String(k), Value::String(v)))
            .collect();
        let mut metadata = Mapping::new();
        metadata.insert("name".into(), Value::String(record_name(spec)));
        metadata.insert(
            "namespace".into(),
            Value::String(spec.namespace.to_string()),
        );
        metadata.insert("labels".into(), Value::Mapping(labels));
        let mut value = Mapping::new();
        value.insert("apiVersion".into(), "v1".into());
        value.insert("kind".into(), "ConfigMap".into());
        value.insert("metadata".into(), Value::Mapping(metadata));
        value.insert("data".into(), Value::Mapping(data));
        Manifest {
            source: "record".into(),
            object: ObjectRef {
                kind: "ConfigMap".into(),
                name: record_name(spec),
            },
            value: Value::Mapping(value),
        }
    }
}

/// A comma-separated list under `key` (empty entries skipped), empty when absent.
fn comma_list(data: &BTreeMap<String, String>, key: &str) -> Vec<String> {
    data.get(key)
        .map(|v| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spread_cluster_keeps_its_zones_and_a_one_zone_record_is_unchanged() {
        let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let one = Record::from_data(&data(&[("nodes", "3"), ("cloud", "gke")])).unwrap();
        assert!(one.zones.is_empty() && one.node_zones.is_empty());
        let spread = Record::from_data(&data(&[
            ("nodes", "3"),
            ("cloud", "gke"),
            ("zones", "a-1-a,a-1-b"),
            ("nodeZones", "1=a-1-a,2=a-1-b,r1=a-1-a,x=bad"),
        ]))
        .unwrap();
        assert_eq!(spread.zones, ["a-1-a", "a-1-b"]);
        assert_eq!(spread.node_zones.len(), 3);
        let r = Replacing {
            node: 2,
            disk: "es-disk-2-r1".into(),
            zone: "a-1-c".into(),
            from: String::new(),
        };
        assert_eq!(Replacing::parse(&r.format()), Some(r));
        assert_eq!(Replacing::parse("node=x,disk=d"), None);
        assert_eq!(spread.node_zones[&2], "a-1-b");
        assert_eq!(
            spread.node_zones[&crate::spec::REPLICA_BASE.saturating_add(1)],
            "a-1-a"
        );
    }
}
