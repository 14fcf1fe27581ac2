//! What each profile value may hold. Profile values reach manifests (always JSON-escaped) and
//! command lines (`gcloud --type`, `aws --volume-type`, paths and UIDs in the kind disk Jobs),
//! so each known key has an alphabet, checked when the value is merged: a bad value is refused
//! naming the key that set it (and, in a profile file, its line).

use serde_yaml::{Number, Value};

use super::{key_text, type_name, SETTINGS};
use crate::domain::Cloud;
use crate::manifest::is_dns_subdomain;

/// Checks `value` for the key at dotted `path`; `Err` is the reason, starting with the key.
pub fn check(path: &str, value: &Value) -> Result<(), String> {
    match value {
        // Server settings are free-form; numbers there are the server's business.
        Value::Number(_) if path.starts_with("node.settings.") => Ok(()),
        Value::Number(n) => whole_number(path, n),
        Value::String(s) => text(path, s),
        _ => Ok(()),
    }
}

/// A server setting: an upper-case environment name esk does not set itself, a scalar value.
pub fn check_setting(key: &Value, value: &Value) -> Result<(), String> {
    let k = key.as_str().unwrap_or_default();
    // Settings esk owns first, in any spelling: the refusal names what owns them.
    if let Some(why) = super::owned_settings::refusal(k) {
        return Err(why);
    }
    let valid = k.starts_with(|c: char| c.is_ascii_uppercase())
        && k.len() <= 100
        && k.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(format!(
            "node.settings key \"{}\" must be an upper-case setting name such as RUN_PROJECTIONS",
            shown(&key_text(key))
        ));
    }
    if !matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
        return Err(format!(
            "node.settings.{k} takes a string, number or true/false, got {}",
            type_name(value)
        ));
    }
    check(&format!("{SETTINGS}.{k}"), value)
}

/// Every whole number esk renders fits the int32 fields Kubernetes has for them.
fn whole_number(path: &str, n: &Number) -> Result<(), String> {
    let min = if path == "disk.sizeGb" { 1 } else { 0 };
    match n.as_u64() {
        Some(v) if (min..=i32::MAX as u64).contains(&v) => Ok(()),
        _ => Err(format!(
            "{path} takes a whole number from {min} to {}, got {n}",
            i32::MAX
        )),
    }
}

fn text(path: &str, s: &str) -> Result<(), String> {
    let (ok, wants) = match path {
        "image" | "frontend.image" => (
            is_image(s),
            "a container image such as nginx:1.27 (letters, digits and . _ - / : @)",
        ),
        "envPrefix" => (
            is_env_prefix(s),
            "an upper-case setting prefix such as KURRENTDB_",
        ),
        "dataPath" | "logPath" | "certPath" | "disk.localPath" => (
            is_path(s),
            "an absolute path of letters, digits, '/', '-', '_' and '.'",
        ),
        "cloud" => {
            return s
                .parse::<Cloud>()
                .map(|_| ())
                .map_err(|e| format!("{path}: {e}"))
        }
        "clusterDomain" => (is_dns_subdomain(s), "a DNS name such as cluster.local"),
        "disk.fsType" => (is_word(s, 16, false), "a file system type such as ext4"),
        "disk.gkeType" | "disk.awsType" => (
            is_word(s, 63, true),
            "a disk type such as pd-ssd or gp3 (lower-case letters, digits and '-')",
        ),
        "disk.storageClass" => (
            s.is_empty() || is_dns_subdomain(s),
            "a StorageClass name, or \"\" for the cluster's default",
        ),
        "disk.snapshotClass" => (
            s.is_empty() || is_dns_subdomain(s),
            "a VolumeSnapshotClass name, or \"\" for the cluster's default",
        ),
        "node.cpuRequest" | "node.memoryRequest" | "node.memoryLimit" => (
            is_quantity(s),
            "a Kubernetes quantity such as 500m, 2 or 4Gi",
        ),
        "node.antiAffinity" => (
            matches!(s, "required" | "preferred" | "auto"),
            "required, preferred or auto",
        ),
        // Free text (node.settings values): rendered escaped, but no process environment can
        // hold a NUL.
        _ => (!s.contains('\0'), "text without NUL characters"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{path} takes {wants}, got \"{}\"", shown(s)))
    }
}

/// A value as an error message shows it: escaped onto one line, and cut short.
pub fn shown(s: &str) -> String {
    const MAX: usize = 60;
    let escaped = s.escape_debug().to_string();
    match escaped.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &escaped[..cut]),
        None => escaped,
    }
}

fn is_image(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b))
}

fn is_env_prefix(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn is_path(s: &str) -> bool {
    s.starts_with('/')
        && (2..=255).contains(&s.len())
        && !s.split('/').any(|part| part == "..")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
}

fn is_word(s: &str, max: usize, dashes: bool) -> bool {
    (1..=max).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || (dashes && b == b'-'))
}

/// A Kubernetes resource quantity: a decimal number and an optional SI, binary-SI or
/// exponent suffix (`500m`, `1.5`, `4Gi`, `1e3`).
fn is_quantity(s: &str) -> bool {
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    let number_ok = !number.is_empty()
        && number != "."
        && number.matches('.').count() <= 1
        && number.len() <= 20;
    let exponent_ok = |e: &str| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        (1..=3).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_digit())
    };
    let suffix_ok = matches!(
        suffix,
        "" | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
            | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
    ) || suffix.strip_prefix(['e', 'E']).is_some_and(exponent_ok);
    number_ok && suffix_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    #[test]
    fn known_keys_take_their_alphabet_only() {
        for (path, good, bad) in [
            ("image", "eventstore/eventstore:24.10.6", "nginx\n- name: x"),
            ("image", "reg:5000/a/b@sha256:0f", "a b"),
            ("envPrefix", "KURRENTDB_", "kurrentdb_"),
            ("dataPath", "/var/lib/kurrentdb", "/var/../etc"),
            ("disk.localPath", "/var/lib/esk", "relative/path"),
            ("disk.gkeType", "pd-balanced", "pd-ssd --labels=x"),
            ("disk.awsType", "gp3", "gp3,io2"),
            ("disk.fsType", "xfs", "ext4;"),
            ("disk.storageClass", "", "Fast SSD"),
            ("disk.storageClass", "fast-ssd", "-x"),
            ("node.cpuRequest", "500m", "1 cpu"),
            ("node.memoryLimit", "4Gi", "4GiB"),
            ("node.memoryRequest", "1.5e3", "e3"),
            ("node.antiAffinity", "auto", "always"),
            ("cloud", "kind", "azure"),
            ("clusterDomain", "cluster.local", "cluster..local"),
            (
                "node.settings.RUN_PROJECTIONS",
                "a\nb: \"c\" {{ x }}",
                "a\0b",
            ),
        ] {
            assert!(check(path, &s(good)).is_ok(), "{path}={good:?} refused");
            let err = check(path, &s(bad)).expect_err(bad);
            assert!(err.starts_with(path) && !err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn numbers_fit_kubernetes_int32_fields() {
        let n = |v: i64| Value::Number(v.into());
        assert!(check("runAsUser", &n(1001)).is_ok());
        assert!(check("runAsUser", &n(-1)).is_err());
        assert!(check("frontend.replicas", &n(i64::from(i32::MAX) + 1)).is_err());
        assert!(check("disk.sizeGb", &n(0)).is_err());
        assert!(check("disk.sizeGb", &n(1)).is_ok());
    }

    #[test]
    fn shown_values_are_short_and_on_one_line() {
        let long = "x\n".repeat(1000);
        let out = shown(&long);
        assert!(out.chars().count() <= 61 && !out.contains('\n'), "{out}");
    }
}
