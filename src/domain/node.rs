//! Node indices: voting nodes 1..=99 and read-only replicas, in one `u8` space, and how a
//! member is written on labels and tags.

/// The most voting nodes (and the most read-only replicas) a cluster has.
pub const MAX_NODES: u8 = 99;

/// Members are numbered in one `u8` space: voting nodes 1..=99, read-only replica j as
/// `REPLICA_BASE + j`. Outside the process (labels, tags) a replica is `r<j>`, which older
/// esk versions cannot read as a node number, so they never count, prune or reuse it as one.
pub const REPLICA_BASE: u8 = 100;

/// The replica number j of member `i`, if it is a replica.
pub fn replica_of(i: u8) -> Option<u8> {
    (i > REPLICA_BASE).then(|| i - REPLICA_BASE)
}

/// Member `i` as its `esk.io/node` label or `esk-node` disk label/tag writes it.
pub fn member_label(i: u8) -> String {
    match replica_of(i) {
        Some(j) => format!("r{j}"),
        None => i.to_string(),
    }
}

/// Reads a member label back (`3`, `r2`); anything else is no member.
pub fn parse_member(s: &str) -> Option<u8> {
    let (base, digits) = match s.strip_prefix('r') {
        Some(rest) => (REPLICA_BASE, rest),
        None => (0, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 2 {
        return None;
    }
    let n: u8 = digits.parse().ok()?;
    (1..=MAX_NODES).contains(&n).then_some(base + n)
}
