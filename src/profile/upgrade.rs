//! Which server version changes may roll: only the vendor's supported online upgrades (the
//! table in `upgrade_paths`: e.g. EventStoreDB 24.10 → KurrentDB 25.x or straight to 26.x, or
//! within one release line). 5.x → 20.10+
//! changes the replication protocol, the settings and the ports, so old and new nodes cannot
//! form one cluster; downgrades would hand newer data files to an older server.

/// The generation a built-in profile runs (for records written before esk kept it).
pub fn builtin_generation(profile: &str) -> Option<u64> {
    match profile {
        "default" | "kurrentdb-26" => Some(26),
        "kurrentdb-25" => Some(25),
        "eventstore-24" => Some(24),
        "eventstore-5" => Some(5),
        _ => None,
    }
}

fn profile_of(generation: u64) -> &'static str {
    match generation {
        5 => "eventstore-5",
        24 => "eventstore-24",
        25 => "kurrentdb-25",
        _ => "default",
    }
}

/// Why moving a running cluster from generation `from` to `to` cannot roll, with the route.
pub fn refusal(from: u64, to: u64) -> Option<String> {
    if from == to {
        return None;
    }
    if from < 20 {
        return Some(format!(
            "cannot roll from EventStore {from}.x to a 20.10+ server: the replication protocol, \
             settings and ports change, so old and new nodes cannot form one cluster. Back up, \
             then follow the vendor's offline migration to a new cluster"
        ));
    }
    if to < from {
        return Some(format!(
            "cannot downgrade from generation {from} to {to}: the newer server may have \
             rewritten the data files; restore a backup taken before the upgrade instead"
        ));
    }
    // The vendor's table (see upgrade_paths: the upgrade guide at v26.0.0, v25.1.0, v24.10.6).
    if super::upgrade_paths::direct(from, to) {
        return None;
    }
    let Some(route) = super::upgrade_paths::route(from, to) else {
        return Some(format!(
            "no supported online upgrade from generation {from} to {to} (the vendor's upgrade \
             guide lists none); back up, then restore into a new cluster"
        ));
    };
    let route: Vec<String> = route
        .iter()
        .map(|g| format!("--profile {}", profile_of(*g)))
        .collect();
    Some(format!(
        "upgrading from generation {from} to {to} skips a supported step; upgrade one at a \
         time: {}",
        route.join(", then ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_vendors_steps_roll() {
        assert_eq!(refusal(25, 25), None);
        assert_eq!(refusal(24, 25), None);
        assert_eq!(refusal(25, 26), None);
        // The v26.0.0 upgrade guide: 24.10 → 26.0 directly.
        assert_eq!(refusal(24, 26), None);
        let skip = refusal(21, 26).unwrap_or_default();
        assert!(
            skip.contains("--profile eventstore-24, then --profile default"),
            "{skip}"
        );
        assert!(refusal(5, 24).unwrap_or_default().contains("protocol"));
        assert!(refusal(26, 25).unwrap_or_default().contains("downgrade"));
    }
}
