//! The vendor's online rolling upgrade table: for each target release line, the release
//! lines a running cluster may roll to it from directly, node by node.
//!
//! From the "Upgrade guide" (`docs/server/quick-start/upgrade-guide.md`) in
//! github.com/kurrent-io/KurrentDB, "You can perform an online rolling upgrade directly to …
//! from these earlier versions":
//! - at tag v26.0.0 (to 26.0): 25.1, 25.0, 24.10, 23.10, 22.10 (the page says "to KurrentDB
//!   25.1" there, a leftover from the previous release: it is the 26.0 page and lists 25.1);
//! - at tag v25.1.0 (to 25.1): 25.0, 24.10, 23.10, 22.10;
//! - at tag v24.10.6 (to 24.10): 24.6, 24.2, 23.10, 22.10, 21.10.
//!
//! esk knows a server by its generation (the major version): 24 is EventStoreDB 24.10
//! (`eventstore-24`), 25 KurrentDB 25.0/25.1 (`kurrentdb-25`), 26 KurrentDB 26.0, and 21–23 the
//! LTS lines 21.10, 22.10, 23.10 a custom profile may name.

/// (to, the generations it rolls from directly).
pub const DIRECT: &[(u64, &[u64])] = &[
    (26, &[25, 24, 23, 22]),
    (25, &[24, 23, 22]),
    (24, &[23, 22, 21]),
];

/// Whether a cluster on generation `from` may roll straight to `to` (an upgrade; the same
/// generation always may).
pub fn direct(from: u64, to: u64) -> bool {
    from == to
        || DIRECT
            .iter()
            .any(|(target, sources)| *target == to && sources.contains(&from))
}

/// The fewest supported steps from `from` to `to` (the generations after `from`), if there is
/// a route through the table at all.
pub fn route(from: u64, to: u64) -> Option<Vec<u64>> {
    // Breadth-first over the few generations the table names.
    let mut paths: Vec<Vec<u64>> = vec![vec![from]];
    for _ in 0..DIRECT.len() {
        let mut next = Vec::new();
        for path in &paths {
            let last = *path.last()?;
            for (target, _) in DIRECT.iter().filter(|(t, _)| direct(last, *t) && *t > last) {
                if *target > to {
                    continue;
                }
                let mut p = path.clone();
                p.push(*target);
                if *target == to {
                    return Some(p[1..].to_vec());
                }
                next.push(p);
            }
        }
        paths = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guides_table() {
        for from in [25, 24, 23, 22] {
            assert!(direct(from, 26), "{from} → 26");
        }
        for from in [24, 23, 22] {
            assert!(direct(from, 25), "{from} → 25");
        }
        assert!(!direct(21, 26));
        assert!(!direct(21, 25));
        assert!(direct(21, 24));
        assert!(!direct(5, 24));
        assert!(!direct(26, 25), "no downgrade");
        assert_eq!(route(21, 26), Some(vec![24, 26]));
        assert_eq!(route(21, 25), Some(vec![24, 25]));
        assert_eq!(route(5, 26), None);
    }
}
