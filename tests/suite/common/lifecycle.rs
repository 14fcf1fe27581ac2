//! The scenario every disk adapter must pass: create → re-run → delete --keep-disks →
//! create (same disks) → resize up → resize down (surplus kept) → delete --yes.

use super::*;

/// `disks` lists this cluster's disks as (name, id), sorted by name.
pub fn lifecycle(bed: &TestBed, flags: &[&str], disks: &dyn Fn() -> Vec<(String, String)>) {
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(flags);
        esk_ok(bed, &all)
    };
    let sizes = |n: usize| {
        let nodes = node_deployments(bed, "es");
        assert_eq!(nodes.len(), n, "node workloads");
        for d in &nodes {
            assert_eq!(env_value(d, "CLUSTER_SIZE"), Some(n.to_string()));
        }
    };

    run(&["create", "3"]);
    let three = disks();
    assert_eq!(three.len(), 3, "{three:?}");
    sizes(3);

    let versions = resource_versions(bed);
    let again = run(&["create", "3"]);
    assert_eq!(disks(), three, "a re-run changed the disks");
    assert_eq!(resource_versions(bed), versions, "a re-run changed objects");
    assert!(stdout(&again).contains("0 created"), "{}", text(&again));

    let ca = ca_cert(bed).expect("a CA after create");
    run(&["delete", "--keep-disks"]);
    assert_eq!(all_esk_objects(bed, "es"), KEPT_WITH_DISKS, "objects left");
    assert_eq!(disks(), three, "delete --keep-disks lost a disk");

    run(&["create", "3"]);
    assert_eq!(
        disks(),
        three,
        "create after keep-disks did not reuse the disks"
    );
    sizes(3);

    run(&["resize", "5"]);
    let five = disks();
    assert_eq!(five.len(), 5);
    assert_eq!(&five[..3], &three[..], "resize replaced disks");
    assert_eq!(ca_cert(bed).as_ref(), Some(&ca), "resize replaced the CA");
    sizes(5);

    let out = run(&["resize", "3"]);
    assert!(stderr(&out).contains("are kept"), "{}", text(&out));
    assert_eq!(disks(), five, "shrinking lost disks");
    sizes(3);

    run(&["delete", "--yes"]);
    assert!(disks().is_empty(), "delete --yes left disks: {:?}", disks());
    assert!(all_esk_objects(bed, "es").is_empty());
}
