//! The cluster record: what esk last made, kept in the cluster as a ConfigMap (as helm keeps a
//! release), so `delete` and `resize` know the cloud, size and disks without being told.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use crate::manifest::{Manifest, ObjectRef};
use crate::render::labels;
use crate::spec::Spec;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub nodes: u8,
    pub cloud: String,
    pub profile: String,
    pub zone: String,
    pub disks: Vec<String>,
    /// "deployment" or "statefulset".
    pub workload: String,
}

pub fn record_name(spec: &Spec) -> String {
    format!("esk.{}", spec.name)
}

impl Record {
    /// Reads the record from a ConfigMap's `data`.
    pub fn from_data(data: &BTreeMap<String, String>) -> Option<Record> {
        Some(Record {
            nodes: data.get("nodes")?.parse().ok()?,
            cloud: data.get("cloud")?.clone(),
            profile: data.get("profile").cloned().unwrap_or_default(),
            zone: data.get("zone").cloned().unwrap_or_default(),
            workload: data
                .get("workload")
                .cloned()
                .unwrap_or_else(|| "deployment".into()),
            disks: data
                .get("disks")
                .map(|d| {
                    d.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    pub fn manifest(&self, spec: &Spec) -> Manifest {
        let mut data = Mapping::new();
        let mut put = |k: &str, v: String| {
            data.insert(Value::String(k.into()), Value::String(v));
        };
        put("nodes", self.nodes.to_string());
        put("cloud", self.cloud.clone());
        put("profile", self.profile.clone());
        put("zone", self.zone.clone());
        put("disks", self.disks.join(","));
        put("workload", self.workload.clone());
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
