//! Profiles: the values a cluster is rendered with (versions, images, disk sizes, resources).
//! `profiles/default.yaml` defines every key; other built-in profiles, a profile file and
//! `--set key=value` only override keys that exist there, with a value of the same type, so a
//! typo is an error instead of a silently ignored setting.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use crate::error::UsageError;

const DEFAULT: &str = include_str!("../profiles/default.yaml");

/// Built-in profiles, as overlays on `default`.
const BUILT_IN: &[(&str, &str)] = &[
    ("default", DEFAULT),
    (
        "kurrentdb-26",
        include_str!("../profiles/kurrentdb-26.yaml"),
    ),
    (
        "kurrentdb-25",
        include_str!("../profiles/kurrentdb-25.yaml"),
    ),
    (
        "eventstore-24",
        include_str!("../profiles/eventstore-24.yaml"),
    ),
    (
        "eventstore-5",
        include_str!("../profiles/eventstore-5.yaml"),
    ),
];

#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// The built-in name or the file it came from.
    pub name: String,
    pub values: Mapping,
}

impl Profile {
    pub fn built_in_names() -> impl Iterator<Item = &'static str> {
        BUILT_IN.iter().map(|(name, _)| *name)
    }

    /// Loads a built-in profile by name, or a YAML file when `spec` names one.
    pub fn load(spec: &str) -> Result<Profile, UsageError> {
        let mut values = parse("default", DEFAULT)?;
        let overlay = if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == spec) {
            parse(spec, text)?
        } else if spec.ends_with(".yaml") || spec.ends_with(".yml") || spec.contains('/') {
            let text = std::fs::read_to_string(Path::new(spec))
                .map_err(|e| UsageError::new(format!("cannot read profile file {spec}: {e}")))?;
            parse(spec, &text)?
        } else {
            let known: Vec<_> = Self::built_in_names().collect();
            return Err(UsageError::new(format!(
                "unknown profile \"{}\": use one of {} or a path to a .yaml file",
                spec.escape_debug(),
                known.join(", ")
            )));
        };
        merge(&mut values, &overlay, "")?;
        Ok(Profile {
            name: spec.to_string(),
            values,
        })
    }

    /// Applies one `--set key.path=value`.
    pub fn set(&mut self, assignment: &str) -> Result<(), UsageError> {
        let (key, raw) = assignment.split_once('=').ok_or_else(|| {
            UsageError::new(format!(
                "--set takes key=value, got \"{}\"",
                assignment.escape_debug()
            ))
        })?;
        let value: Value = serde_yaml::from_str(raw).unwrap_or(Value::String(raw.to_string()));
        let mut overlay = Value::Null;
        let mut slot = &mut overlay;
        for part in key.split('.') {
            if part.is_empty() {
                return Err(UsageError::new(format!(
                    "--set key \"{}\" is not valid",
                    key.escape_debug()
                )));
            }
            let map = Mapping::from_iter([(Value::String(part.to_string()), Value::Null)]);
            *slot = Value::Mapping(map);
            slot = match slot {
                Value::Mapping(m) => m.values_mut().next().expect("just inserted"),
                _ => unreachable!("just assigned a mapping"),
            };
        }
        *slot = value;
        match overlay {
            Value::Mapping(m) => merge(&mut self.values, &m, ""),
            _ => Err(UsageError::new("--set needs a key")),
        }
    }

    /// A value by dotted path, e.g. `disk.sizeGb`.
    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut current = self.values.get(path.split('.').next()?)?;
        for part in path.split('.').skip(1) {
            current = current.as_mapping()?.get(part)?;
        }
        Some(current)
    }

    pub fn str(&self, path: &str) -> Result<String, UsageError> {
        match self.get(path) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(UsageError::new(format!(
                "profile {} has no string value at {path}",
                self.name
            ))),
        }
    }

    pub fn u64(&self, path: &str) -> Result<u64, UsageError> {
        self.get(path).and_then(Value::as_u64).ok_or_else(|| {
            UsageError::new(format!(
                "profile {} has no whole number at {path}",
                self.name
            ))
        })
    }
}

fn parse(name: &str, text: &str) -> Result<Mapping, UsageError> {
    match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Mapping(m)) => Ok(m),
        Ok(Value::Null) => Ok(Mapping::new()),
        Ok(_) => Err(UsageError::new(format!(
            "profile {name} must be a YAML mapping"
        ))),
        Err(e) => Err(UsageError::new(format!("profile {name}: {e}"))),
    }
}

/// Overlays `over` on `base`, refusing keys `base` lacks and values of another type.
fn merge(base: &mut Mapping, over: &Mapping, prefix: &str) -> Result<(), UsageError> {
    for (key, value) in over {
        let key_str = key.as_str().unwrap_or("?");
        let path = if prefix.is_empty() {
            key_str.to_string()
        } else {
            format!("{prefix}.{key_str}")
        };
        let Some(slot) = base.get_mut(key) else {
            return Err(UsageError::new(format!(
                "unknown profile key \"{}\"",
                path.escape_debug()
            )));
        };
        match (slot, value) {
            (Value::Mapping(b), Value::Mapping(o)) if path == SETTINGS => {
                for (k, v) in o {
                    check_setting(k, v)?;
                    b.insert(k.clone(), v.clone());
                }
            }
            (Value::Mapping(b), Value::Mapping(o)) => merge(b, o, &path)?,
            (slot @ Value::Mapping(_), Value::Null) if path == SETTINGS => {
                *slot = Value::Mapping(Mapping::new())
            }
            (slot, value) if same_type(slot, value) => *slot = value.clone(),
            // `--set node.cpuRequest=2` means the string "2".
            (slot @ Value::String(_), Value::Number(n)) => *slot = Value::String(n.to_string()),
            (slot, value) => {
                return Err(UsageError::new(format!(
                    "profile key {path} takes {}, got {}",
                    type_name(slot),
                    type_name(value)
                )))
            }
        }
    }
    Ok(())
}

/// The one free-form map: extra server settings, rendered as `<envPrefix><KEY>`.
const SETTINGS: &str = "node.settings";

/// Settings esk sets itself; overriding them through `node.settings` would make two values.
const RESERVED_SETTINGS: &[&str] = &[
    "CLUSTER_SIZE",
    "DISCOVER_VIA_DNS",
    "CLUSTER_DNS",
    "DB",
    "INDEX",
    "LOG",
    "CLUSTER_GOSSIP_PORT",
    "NODE_IP",
    "REPLICATION_IP",
    "NODE_HOST_ADVERTISE_AS",
    "CERTIFICATE_FILE",
    "CERTIFICATE_PRIVATE_KEY_FILE",
    "TRUSTED_ROOT_CERTIFICATES_PATH",
    "CERTIFICATE_RESERVED_NODE_COMMON_NAME",
    "DEFAULT_ADMIN_PASSWORD",
    "DEFAULT_OPS_PASSWORD",
    "INSECURE",
    "INT_IP",
    "EXT_IP",
    "INT_TCP_PORT",
    "EXT_TCP_PORT",
    "INT_HTTP_PORT",
    "EXT_HTTP_PORT",
    "INT_HTTP_PREFIXES",
    "EXT_HTTP_PREFIXES",
    "GOSSIP_ALLOWED_DIFFERENCE_MS",
];

/// A server setting: an upper-case environment name esk does not set itself, a scalar value.
fn check_setting(key: &Value, value: &Value) -> Result<(), UsageError> {
    let k = key.as_str().unwrap_or_default();
    let valid = k.starts_with(|c: char| c.is_ascii_uppercase())
        && k.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(UsageError::new(format!(
            "node.settings key \"{}\" must be an upper-case setting name such as RUN_PROJECTIONS",
            k.escape_debug()
        )));
    }
    if RESERVED_SETTINGS.contains(&k) {
        return Err(UsageError::new(format!(
            "node.settings.{k} is set by esk itself; use the matching flag or profile key"
        )));
    }
    if !matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
        return Err(UsageError::new(format!(
            "node.settings.{k} takes a string, number or true/false"
        )));
    }
    Ok(())
}

fn same_type(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.is_f64() == y.is_f64() || x.is_f64(),
        (Value::Sequence(_), Value::Sequence(_)) => true,
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_profile_loads() {
        for name in Profile::built_in_names() {
            let p = Profile::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                p.str("image").unwrap().contains(':'),
                "{name} image unpinned"
            );
        }
    }

    #[test]
    fn set_overrides_known_keys_with_the_same_type() {
        let mut p = Profile::load("default").unwrap();
        p.set("disk.sizeGb=50").unwrap();
        assert_eq!(p.u64("disk.sizeGb").unwrap(), 50);
        p.set("frontend.image=nginx:1.27.4").unwrap();
        assert_eq!(p.str("frontend.image").unwrap(), "nginx:1.27.4");
    }

    #[test]
    fn set_refuses_unknown_keys_and_wrong_types() {
        let mut p = Profile::load("default").unwrap();
        let err = p.set("disk.sizeGB=50").unwrap_err().to_string();
        assert!(err.contains("unknown profile key \"disk.sizeGB\""), "{err}");
        let err = p.set("disk.sizeGb=big").unwrap_err().to_string();
        assert!(err.contains("takes a number"), "{err}");
        assert!(p.set("nonsense").is_err());
        assert!(p.set(".x=1").is_err());
    }

    #[test]
    fn extra_settings_are_free_form_but_checked() {
        let mut p = Profile::load("default").unwrap();
        p.set("node.settings.RUN_PROJECTIONS=All").unwrap();
        p.set("node.settings.MAX_APPEND_SIZE=2048").unwrap();
        assert_eq!(p.str("node.settings.RUN_PROJECTIONS").unwrap(), "All");
        assert_eq!(p.u64("node.settings.MAX_APPEND_SIZE").unwrap(), 2048);
        assert!(p.set("node.settings.run_projections=All").is_err());
        let err = p
            .set("node.settings.CLUSTER_SIZE=9")
            .unwrap_err()
            .to_string();
        assert!(err.contains("set by esk itself"), "{err}");
        // Numbers where a string is expected are taken as strings.
        p.set("node.cpuRequest=2").unwrap();
        assert_eq!(p.str("node.cpuRequest").unwrap(), "2");
    }

    #[test]
    fn unknown_profiles_are_refused() {
        let err = Profile::load("prod").unwrap_err().to_string();
        assert!(err.contains("unknown profile \"prod\""), "{err}");
        assert!(Profile::load("/nonexistent/p.yaml").is_err());
    }
}
