//! Kubernetes resource quantities (`500m`, `4Gi`, `1e9`, `2`), as numbers: the API server
//! writes them back in canonical form (`1024Gi` is `1Ti`), so they are compared as numbers.

use serde_yaml::Value;

/// The quantity's value in base units (cores, bytes); `None` if it is not a quantity.
pub fn parse(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_str(s.trim()),
        _ => None,
    }
}

/// The same for a quantity as text (`20Gi`).
pub fn parse_str(s: &str) -> Option<f64> {
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let (number, factor) = SUFFIXES
        .iter()
        .find_map(|(suffix, f)| s.strip_suffix(suffix).map(|n| (n, *f)))
        .unwrap_or((s, 1.0));
    let valid = !number.is_empty()
        && number
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !valid {
        return None;
    }
    number.parse::<f64>().ok().map(|n| n * factor)
}

pub const GI: f64 = 1073741824.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Option<f64> {
        parse(&Value::String(s.into()))
    }

    #[test]
    fn reads_binary_decimal_and_milli_quantities() {
        assert_eq!(q("4Gi"), Some(4.0 * GI));
        assert_eq!(q("500m"), Some(0.5));
        assert_eq!(q("1"), Some(1.0));
        assert_eq!(q("0.25"), Some(0.25));
        assert_eq!(q("10G"), Some(1e10));
        assert_eq!(q("1e3"), Some(1000.0));
        assert_eq!(parse(&serde_yaml::from_str("2").unwrap()), Some(2.0));
        assert_eq!(q("lots"), None);
        assert_eq!(q(""), None);
        assert_eq!(q("Gi"), None);
    }
}
