//! Profiles: the values a cluster is rendered with (versions, images, disk sizes, resources).
//! `profiles/default.yaml` defines every key; other built-in profiles, a profile file and
//! `--set key=value` only override keys that exist there, with a value of the same type, so a
//! typo is an error instead of a silently ignored setting.

mod locate;
mod owned_settings;
mod rules;
pub mod upgrade;
mod upgrade_paths;

pub(crate) use locate::line_at;

use std::path::Path;

use serde_yaml::{Mapping, Value};

use crate::error::UsageError;
use rules::{check_setting, shown};

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
        let text;
        let (file, text) = if let Some((_, t)) = BUILT_IN.iter().find(|(n, _)| *n == spec) {
            (spec.to_string(), *t)
        } else if spec.ends_with(".yaml") || spec.ends_with(".yml") || spec.contains('/') {
            let file = shown(spec);
            text = std::fs::read_to_string(Path::new(spec))
                .map_err(|e| UsageError::new(format!("cannot read profile file {file}: {e}")))?;
            (file, text.as_str())
        } else {
            let known: Vec<_> = Self::built_in_names().collect();
            return Err(UsageError::new(format!(
                "unknown profile \"{}\": use one of {} or a path to a .yaml file",
                shown(spec),
                known.join(", ")
            )));
        };
        let overlay = parse(&file, text)?;
        merge(&mut values, &overlay, &[]).map_err(|bad| {
            let at = locate::line_of_key(text, &bad.path)
                .map(|line| format!(" line {line}"))
                .unwrap_or_default();
            UsageError::new(format!("profile {file}{at}: {}", bad.message))
        })?;
        Ok(Profile {
            name: spec.to_string(),
            values,
        })
    }

    /// Applies one `--set key.path=value`. The value is read as YAML (so `50` is a number and
    /// `"50"` a string), except where YAML would change the text: a server setting
    /// (`node.settings.X`, environment text), a value spanning lines (YAML folds them) or one
    /// starting with a tag, anchor or alias (`!!x`, `&a`, `*a`) is taken as written.
    pub fn set(&mut self, assignment: &str) -> Result<(), UsageError> {
        let (key, raw) = assignment.split_once('=').ok_or_else(|| {
            UsageError::new(format!(
                "--set takes key=value, got \"{}\"",
                shown(assignment)
            ))
        })?;
        let literal = key.starts_with(&format!("{SETTINGS}."))
            || raw.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
            || raw.trim_start().starts_with(['!', '&', '*']);
        let value: Value = match serde_yaml::from_str(raw) {
            Ok(v) if !literal => v,
            _ => Value::String(raw.to_string()),
        };
        let mut overlay = Value::Null;
        let mut slot = &mut overlay;
        for part in key.split('.') {
            if part.is_empty() {
                return Err(UsageError::new(format!(
                    "--set key \"{}\" is not valid",
                    shown(key)
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
            Value::Mapping(m) => {
                merge(&mut self.values, &m, &[]).map_err(|bad| UsageError::new(bad.message))
            }
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

/// Parses a profile's text: one YAML mapping. Errors name the file and the line.
fn parse(file: &str, text: &str) -> Result<Mapping, UsageError> {
    let at = |line: Option<usize>| line.map(|l| format!(" line {l}")).unwrap_or_default();
    match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Mapping(m)) => Ok(m),
        Ok(Value::Null) => Ok(Mapping::new()),
        Ok(other) => Err(UsageError::new(format!(
            "profile {file} line 1: must be a YAML mapping of keys, not {}",
            type_name(&other)
        ))),
        Err(e) => {
            let line = e
                .location()
                .map(|l| locate::line_at(text, l))
                .or_else(|| locate::line_of_second_document(text));
            Err(UsageError::new(format!(
                "profile {file}{}: {}",
                at(line),
                without_position(&e.to_string())
            )))
        }
    }
}

/// serde_yaml's message without its "at line L column C" parts, for messages that name the
/// line first.
pub(crate) fn without_position(msg: &str) -> String {
    let mut out = String::new();
    let mut rest = msg;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + " at line ".len()..];
        let skip_digits = |t: &str| t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let after_line = &tail[tail.len() - skip_digits(tail)..];
        rest = match after_line.strip_prefix(" column ") {
            Some(t) => &t[t.len() - skip_digits(t)..],
            None => after_line,
        };
    }
    out.push_str(rest);
    out
}

/// Why an overlay was refused, and at which key (to find its line in a file).
struct Bad {
    path: Vec<String>,
    message: String,
}

/// A mapping key as paths and messages show it.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        _ => "?".into(),
    }
}

/// Overlays `over` on `base`, refusing keys `base` lacks, values of another type and values
/// outside their key's alphabet.
fn merge(base: &mut Mapping, over: &Mapping, prefix: &[String]) -> Result<(), Bad> {
    for (key, value) in over {
        let mut at = prefix.to_vec();
        at.push(key_text(key));
        let path = at.join(".");
        let bad = |message: String| Bad {
            path: at.clone(),
            message,
        };
        let Some(slot) = base.get_mut(key) else {
            return Err(bad(format!("unknown profile key \"{}\"", shown(&path))));
        };
        match (slot, value) {
            (Value::Mapping(b), Value::Mapping(o)) if path == SETTINGS => {
                for (k, v) in o {
                    check_setting(k, v).map_err(|message| Bad {
                        path: [at.clone(), vec![key_text(k)]].concat(),
                        message,
                    })?;
                    // Kept as the text the server gets: a template printing a YAML number or
                    // boolean would write `1000.0` for 1e3 and `True` for true.
                    b.insert(k.clone(), Value::String(key_text(v)));
                }
            }
            (Value::Mapping(b), Value::Mapping(o)) => merge(b, o, &at)?,
            (slot @ Value::Mapping(_), Value::Null) if path == SETTINGS => {
                *slot = Value::Mapping(Mapping::new())
            }
            (slot, value) if same_type(slot, value) => {
                rules::check(&path, value).map_err(bad)?;
                *slot = value.clone()
            }
            // `--set node.cpuRequest=2` means the string "2".
            (slot @ Value::String(_), Value::Number(n)) => {
                let text = Value::String(n.to_string());
                rules::check(&path, &text).map_err(bad)?;
                *slot = text
            }
            (slot, value) => {
                return Err(bad(format!(
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
        p.set("node.settings.ENABLE_ATOM_PUB_OVER_HTTP=true")
            .unwrap();
        p.set("node.settings.CHUNK_SIZE=1e3").unwrap();
        assert_eq!(p.str("node.settings.RUN_PROJECTIONS").unwrap(), "All");
        // Server settings are environment text, exactly as written.
        assert_eq!(p.get("node.settings.MAX_APPEND_SIZE"), Some(&"2048".into()));
        assert_eq!(
            p.get("node.settings.ENABLE_ATOM_PUB_OVER_HTTP"),
            Some(&"true".into())
        );
        assert_eq!(p.get("node.settings.CHUNK_SIZE"), Some(&"1e3".into()));
        assert!(p.set("node.settings.run_projections=All").is_err());
        let err = p
            .set("node.settings.CLUSTER_SIZE=9")
            .unwrap_err()
            .to_string();
        assert!(err.contains("esk owns this setting"), "{err}");
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
