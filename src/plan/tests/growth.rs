//! Growing disks in plans: sizes compared as quantities, claims of esk's class grown, older
//! claims migrated first, and what is refused.

use super::*;

fn live(request: &str, class: &str) -> crate::domain::LiveClaim {
    crate::domain::LiveClaim {
        request: request.into(),
        capacity: Some(request.into()),
        class: Some(class.into()),
    }
}

/// A 1-node gke cluster whose claim is live as given, planned with `--set disk.sizeGb=gb`.
fn grown(gb: &str, claim: crate::domain::LiveClaim) -> Result<Plan, crate::error::UsageError> {
    grown_as(crate::spec::Workload::Deployment, gb, claim)
}

fn grown_as(
    workload: crate::spec::Workload,
    gb: &str,
    claim: crate::domain::LiveClaim,
) -> Result<Plan, crate::error::UsageError> {
    let mut s = spec("1");
    s.workload = workload;
    s.profile.set(&format!("disk.sizeGb={gb}")).unwrap();
    let mut observed = running(1);
    observed.claims.insert(crate::names::pvc_name(&s, 1), claim);
    let mut plan = create(&s, &observed, None).unwrap();
    plan_growth(&s, &observed, &mut plan).map(|()| plan)
}

#[test]
fn claims_are_compared_as_quantities_the_api_server_rewrites() {
    // The API server keeps a request of 1024Gi as 1Ti: the same size, not a growth.
    let plan = grown("1024", live("1Ti", "esk.default.es")).unwrap();
    assert!(plan.grow.is_empty() && plan.is_noop());
    let plan = grown("2048", live("1Ti", "esk.default.es")).unwrap();
    assert_eq!(plan.grow.len(), 1);
    assert_eq!(
        (plan.grow[0].from.as_str(), plan.grow[0].to.as_str()),
        ("1Ti", "2048Gi")
    );
    assert!(!plan.is_noop());
    let err = grown("10", live("20Gi", "esk.default.es")).unwrap_err();
    assert!(
        err.to_string()
            .contains("holds 20Gi and this run asks for 10Gi"),
        "{err}"
    );
}

#[test]
fn only_claims_of_an_expanding_class_grow() {
    // A claim an earlier esk made without a class is re-made with esk's first, then grows;
    // it is rendered (and linted) with the class it will have.
    let plan = grown("50", live("10Gi", "")).unwrap();
    assert_eq!(
        plan.migrate,
        [crate::plan::Migration {
            node: 1,
            claim: "es-data-1".into(),
            pv: crate::names::pv_name(&spec("1"), 1),
            class: "esk.default.es".into(),
        }]
    );
    assert_eq!(plan.grow.len(), 1);
    assert_eq!(plan.claims[&1].class.as_deref(), Some("esk.default.es"));
    // Not growing, it is left as it is.
    let plan = grown("10", live("10Gi", "")).unwrap();
    assert!(plan.migrate.is_empty() && plan.is_noop());
    assert_eq!(plan.claims[&1].class.as_deref(), Some(""));
    let err = grown("50", live("10Gi", "standard")).unwrap_err();
    assert!(err.to_string().contains("not esk's"), "{err}");
    // A growth interrupted after the patch: the request is there, the volume not yet.
    let mut claim = live("50Gi", "esk.default.es");
    claim.capacity = Some("10Gi".into());
    let plan = grown("50", claim).unwrap();
    assert_eq!(plan.grow.len(), 1);
    // A StatefulSet's volumeClaimTemplates cannot change: refused before any change, while
    // the same size is no growth and passes.
    let statefulset = crate::spec::Workload::StatefulSet;
    let err = grown_as(statefulset, "50", live("10Gi", "esk.default.es")).unwrap_err();
    assert!(err.to_string().contains("StatefulSet"), "{err}");
    assert!(grown_as(statefulset, "10", live("10Gi", "esk.default.es")).is_ok());
}

#[test]
fn a_missing_claim_is_a_migration_only_where_its_volume_has_no_class() {
    // A create stopped between applying a volume (of esk's class) and its claim: the apply
    // makes the claim; nothing to migrate, so no roll waits for nodes that never ran.
    let s = spec("1");
    let mut observed = running(1);
    observed.claims.clear();
    let mut plan = create(&s, &observed, None).unwrap();
    plan_growth(&s, &observed, &mut plan).unwrap();
    assert!(plan.migrate.is_empty(), "{:?}", plan.migrate);
    // A migration stopped after the claim went, before the volume got the class: resumed.
    let pv = crate::names::pv_name(&s, 1);
    observed.classless_volumes.insert(pv.clone());
    let mut plan = create(&s, &observed, None).unwrap();
    plan_growth(&s, &observed, &mut plan).unwrap();
    assert_eq!(plan.migrate.len(), 1);
    assert_eq!(plan.migrate[0].pv, pv);
}

#[test]
fn volumes_keep_their_live_capacity_and_a_claim_made_again_grows() {
    // Node 2's claim went (a stopped migration) beside its 20Gi volume of esk's class; nodes
    // 1 and 3 are an earlier esk's, so they migrate and node 2 is re-made with them.
    let mut s = spec("3");
    s.profile.set("disk.sizeGb=50").unwrap();
    let mut observed = running(3);
    observed.claims.clear();
    for i in [1, 3] {
        observed
            .claims
            .insert(crate::names::pvc_name(&s, i), live("20Gi", ""));
    }
    for i in 1..=3 {
        let pv = crate::names::pv_name(&s, i);
        observed.volume_capacities.insert(pv, "20Gi".into());
    }
    let mut plan = create(&s, &observed, None).unwrap();
    plan_growth(&s, &observed, &mut plan).unwrap();
    let nodes = |v: Vec<u8>| v;
    assert_eq!(
        nodes(plan.migrate.iter().map(|m| m.node).collect()),
        [1, 2, 3]
    );
    assert_eq!(nodes(plan.grow.iter().map(|g| g.node).collect()), [1, 2, 3]);
    assert_eq!(plan.grow[1].from, "20Gi");
    // Every volume is rendered as it is; lint sees them grown.
    let held: Vec<Option<String>> = plan
        .node_disks()
        .into_iter()
        .map(|n| n.volume_capacity)
        .collect();
    assert_eq!(held, vec![Some("20Gi".to_string()); 3]);
    assert!(plan
        .node_disks_grown()
        .iter()
        .all(|n| n.volume_capacity.as_deref() == Some("50Gi")));
    // With no other node migrating, the apply makes node 2's claim again: only a growth.
    for i in [1, 3] {
        observed.claims.insert(
            crate::names::pvc_name(&s, i),
            live("50Gi", "esk.default.es"),
        );
        let pv = crate::names::pv_name(&s, i);
        observed.volume_capacities.insert(pv, "50Gi".into());
    }
    let mut plan = create(&s, &observed, None).unwrap();
    plan_growth(&s, &observed, &mut plan).unwrap();
    assert!(plan.migrate.is_empty(), "{:?}", plan.migrate);
    assert_eq!(nodes(plan.grow.iter().map(|g| g.node).collect()), [2]);
}
