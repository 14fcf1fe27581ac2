use super::*;

fn rules_of(yaml: &str) -> Vec<&'static str> {
    let docs = parse(yaml, "t.yaml").expect("parses");
    lint(&docs).iter().map(|f| f.rule).collect()
}

/// One KurrentDB node Pod `name` in namespace `n` of a cluster labelled `app: n`, with a spread
/// term, 20Gi claim and sane requests; `env` and `extra` (pod-spec keys) are appended.
fn pod(name: &str, size: u8, env: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: n, labels: {{app: n}}}}
spec:
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 1
        podAffinityTerm: {{topologyKey: kubernetes.io/hostname, labelSelector: {{matchLabels: {{app: n}}}}}}
  containers:
  - name: db
    image: docker.kurrent.io/kurrent-latest/kurrentdb:26.0.0
    env:
    - {{name: KURRENTDB_CLUSTER_SIZE, value: \"{size}\"}}
    - {{name: KURRENTDB_CLUSTER_DNS, value: n.n.svc.cluster.local}}
{env}
    ports: [{{name: web, containerPort: 2113}}, {{name: repl, containerPort: 1112}}]
    resources: {{requests: {{cpu: '1', memory: 4Gi}}}}
    volumeMounts: [{{name: data, mountPath: /var/lib/kurrentdb}}]
  volumes: [{{name: data, persistentVolumeClaim: {{claimName: {name}}}}}]
{extra}
---
"
    )
}

const SUPPORT: &str = "apiVersion: v1
kind: Service
metadata: {name: n, namespace: n}
spec: {clusterIP: None, publishNotReadyAddresses: true, selector: {app: n}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: n, namespace: n}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: n}}}
---
";

fn three(env: &str, extra: &str) -> String {
    let pods: String = (1..=3)
        .map(|i| pod(&format!("n-{i}"), 3, env, extra))
        .collect();
    format!("{SUPPORT}{pods}")
}

#[test]
fn a_sound_three_node_set_is_clean() {
    assert_eq!(rules_of(&three("", "")), Vec::<&str>::new());
}

#[test]
fn rule_ids_are_unique_and_every_rule_has_text() {
    let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), RULES.len());
    assert!(RULES
        .iter()
        .all(|r| !r.what.is_empty() && !r.fix.is_empty()));
}

#[test]
fn named_ports_and_port_ranges_in_policies_are_resolved() {
    let policy = |ingress: &str| {
        format!(
            "{}apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: p, namespace: n}}
spec:
  podSelector: {{matchLabels: {{app: n}}}}
  ingress:
{ingress}
",
            three("", "")
        )
    };
    // Named ports (the pod's own names) and an endPort range admit both ports to everyone.
    assert!(rules_of(&policy("  - ports: [{port: web}, {port: repl}]")).is_empty());
    assert!(rules_of(&policy("  - ports: [{port: 1000, endPort: 3000}]")).is_empty());
    // UDP is not TCP: nothing admitted.
    assert_eq!(
        rules_of(&policy(
            "  - ports: [{port: 1000, endPort: 3000, protocol: UDP}]"
        )),
        ["ES004", "ES005"]
    );
    // Replication only from other pods (not the nodes) is blocked between the nodes.
    let other = "  - ports: [{port: web}]\n  - from: [{podSelector: {matchLabels: {app: other}}}]\n    ports: [{port: 1112}]";
    assert_eq!(rules_of(&policy(other)), ["ES005"]);
    // From the nodes by namespace name and pod labels: admitted.
    let by_ns = "  - ports: [{port: web}]\n  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: n}}, podSelector: {matchLabels: {app: n}}}]\n    ports: [{port: 1112}]";
    assert!(rules_of(&policy(by_ns)).is_empty());
    let wrong_ns = by_ns.replace("metadata.name: n}", "metadata.name: elsewhere}");
    assert_eq!(rules_of(&policy(&wrong_ns)), ["ES005"]);
}

#[test]
fn an_egress_policy_must_let_the_nodes_reach_each_other() {
    let set = format!(
        "{}apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: out, namespace: n}}
spec:
  podSelector: {{}}
  policyTypes: [Egress]
  egress:
  - to: [{{podSelector: {{matchLabels: {{app: n}}}}}}]
    ports: [{{port: 2113}}]
",
        three("", "")
    );
    let docs = parse(&set, "t").unwrap();
    let found = lint(&docs);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, "ES005");
    assert!(
        found[0].message.contains("replication 1112 (egress)"),
        "{}",
        found[0].message
    );
}

#[test]
fn discovery_names_may_be_short_but_must_be_the_headless_services() {
    for dns in [
        "n",
        "n.n",
        "n.n.svc",
        "n.n.svc.example.org",
        "N.n.svc.cluster.local.",
    ] {
        let env = format!("    - {{name: KURRENTDB_CLUSTER_DNS, value: {dns}}}");
        assert!(rules_of(&three(&env, "")).is_empty(), "{dns}");
    }
    for dns in ["m.n.svc.cluster.local", "n.other.svc", "n.n.pod"] {
        let env = format!("    - {{name: KURRENTDB_CLUSTER_DNS, value: {dns}}}");
        assert_eq!(rules_of(&three(&env, "")), ["ES011"; 3], "{dns}");
    }
    // Gossip seeds instead of DNS: no name to check.
    let seeds = "    - {name: KURRENTDB_DISCOVER_VIA_DNS, value: 'false'}\n    - {name: KURRENTDB_CLUSTER_DNS, value: wrong}";
    assert!(rules_of(&three(seeds, "")).is_empty());
}

#[test]
fn budgets_count_percentages_and_min_available() {
    let with = |spec: &str| {
        let pods: String = (1..=5).map(|i| pod(&format!("n-{i}"), 5, "", "")).collect();
        let svc = SUPPORT.split("---").next().unwrap();
        format!(
            "{svc}---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: b, namespace: n}}\nspec: {{{spec}, selector: {{matchLabels: {{app: n}}}}}}\n---\n{pods}"
        )
    };
    assert!(rules_of(&with("maxUnavailable: 20%")).is_empty());
    assert_eq!(rules_of(&with("maxUnavailable: 21%")), ["ES017"]);
    assert!(rules_of(&with("minAvailable: 4")).is_empty());
    assert_eq!(rules_of(&with("minAvailable: 60%")), ["ES017"]);
}

#[test]
fn a_limit_is_the_request_and_max_surge_zero_never_runs_two_pods() {
    let limits = three("", "").replace(
        "requests: {cpu: '1', memory: 4Gi}",
        "limits: {cpu: '1', memory: 4Gi}",
    );
    assert!(rules_of(&limits).is_empty());
    let low = three("", "").replace("memory: 4Gi", "memory: 512Mi");
    assert_eq!(rules_of(&low), ["ES006"; 3]);
    let deployment = |strategy: &str| {
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata: {{name: d, namespace: n}}
spec:
  {strategy}
  template:
    spec:
      containers:
      - image: eventstore/eventstore:24.10.6
        resources: {{requests: {{cpu: '1', memory: 4Gi}}}}
        volumeMounts: [{{name: data, mountPath: /var/lib/eventstore}}]
      volumes: [{{name: data, persistentVolumeClaim: {{claimName: c}}}}]
"
        )
    };
    assert_eq!(rules_of(&deployment("replicas: 1")), ["ES014"]);
    assert_eq!(
        rules_of(&deployment("strategy: {type: RollingUpdate}")),
        ["ES014"]
    );
    assert!(rules_of(&deployment(
        "strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}"
    ))
    .is_empty());
    assert!(rules_of(&deployment("strategy: {type: Recreate}")).is_empty());
    let many = rules_of(&deployment("replicas: 3\n  strategy: {type: Recreate}"));
    assert!(
        many.contains(&"ES014") && many.contains(&"ES007"),
        "{many:?}"
    );
}

#[test]
fn settings_come_from_config_maps_and_either_prefix() {
    let config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: n}\ndata: {INSECURE: 'true'}\n---\n";
    let pods = three("", "").replace(
        "    env:\n",
        "    envFrom: [{configMapRef: {name: cfg}, prefix: EVENTSTORE_}]\n    env:\n",
    );
    assert_eq!(rules_of(&format!("{config}{pods}")), ["ES020"; 3]);
    // Without the ConfigMap in the input the value is unknown: nothing is assumed.
    assert!(rules_of(&pods).is_empty());
}

#[test]
fn lists_are_flattened_and_non_objects_refused() {
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: policy/v1beta1\n  kind: PodDisruptionBudget\n  metadata: {name: x}\n";
    assert_eq!(rules_of(list), ["ES021"]);
    assert!(parse("a: 1\n", "f")
        .unwrap_err()
        .to_string()
        .contains("document 1"));
    assert!(parse("---\n---\n", "f").unwrap().is_empty());
}

#[test]
fn refuse_on_errors_refuses_unless_forced_and_returns_warnings() {
    let manifest = |yaml: &str| Manifest {
        source: "t.j2".into(),
        object: crate::manifest::ObjectRef {
            kind: "Pod".into(),
            name: "x".into(),
        },
        value: serde_yaml::from_str(yaml).unwrap(),
    };
    let four: String = (1..=4).map(|i| pod(&format!("n-{i}"), 4, "", "")).collect();
    let docs = parse(&format!("{SUPPORT}{four}"), "t").unwrap();
    let ms: Vec<Manifest> = docs
        .iter()
        .map(|d| manifest(&serde_yaml::to_string(&d.value).unwrap()))
        .collect();
    let warnings = refuse_on_errors(&ms, false).unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with("warning: lint ES009 Pod/n/n-1: "),
        "{warnings:?}"
    );

    let bad = manifest(
        "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: i, namespace: n}",
    );
    let err = refuse_on_errors(std::slice::from_ref(&bad), false).unwrap_err();
    assert!(err.downcast_ref::<Refused>().is_some());
    assert!(err.to_string().contains("ES021 Ingress/n/i"), "{err}");
    let forced = refuse_on_errors(&[bad], true).unwrap();
    assert!(
        forced[0].contains("lint error ES021") && forced[0].contains("--force"),
        "{forced:?}"
    );
}

/// Node `i`'s claim `n-i`, bound to a CSI PersistentVolume pinned to `zone`.
fn pinned_storage(i: usize, zone: &str) -> String {
    format!(
        "apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: n-{i}, namespace: n}}
spec: {{accessModes: [ReadWriteOnce], storageClassName: '', volumeName: pv-{i}, resources: {{requests: {{storage: 20Gi}}}}}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: pv-{i}}}
spec:
  capacity: {{storage: 20Gi}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  csi: {{driver: pd.csi.storage.gke.io, volumeHandle: projects/p/zones/{zone}/disks/d-{i}}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{{key: topology.gke.io/zone, operator: In, values: [{zone}]}}]
---
"
    )
}

fn three_in(zones: [&str; 3]) -> String {
    let storage: String = zones
        .iter()
        .enumerate()
        .map(|(i, z)| pinned_storage(i + 1, z))
        .collect();
    format!("{}{storage}", three("", ""))
}

#[test]
fn a_quorum_pinned_to_one_of_several_zones_is_es027_once() {
    assert_eq!(rules_of(&three_in(["a", "a", "b"])), ["ES027"]);
    let docs = parse(&three_in(["a", "a", "b"]), "t.yaml").expect("parses");
    let found = lint(&docs);
    assert!(
        found[0]
            .message
            .contains("2 of the cluster's 3 voting nodes are pinned to zone a"),
        "{}",
        found[0].message
    );
    // Spread so that no zone holds a quorum, or deliberately in one zone: nothing to say.
    assert_eq!(rules_of(&three_in(["a", "b", "c"])), Vec::<&str>::new());
    assert_eq!(rules_of(&three_in(["a", "a", "a"])), Vec::<&str>::new());
}

#[test]
fn pods_pinned_by_a_node_selector_count_too() {
    let five = |zones: [&str; 5]| -> String {
        let pods: String = zones
            .iter()
            .enumerate()
            .map(|(i, z)| {
                let extra = format!("  nodeSelector: {{topology.kubernetes.io/zone: {z}}}");
                pod(&format!("n-{}", i + 1), 5, "", &extra)
            })
            .collect();
        format!("{SUPPORT}{pods}")
    };
    // 5 nodes over 2 zones: one of them always holds 3, a quorum.
    assert_eq!(rules_of(&five(["a", "a", "a", "b", "b"])), ["ES027"]);
    assert_eq!(
        rules_of(&five(["a", "a", "b", "b", "c"])),
        Vec::<&str>::new()
    );
    // 4 nodes need 3: over 2 zones, losing either zone stops the cluster.
    let four: String = ["a", "a", "b", "b"]
        .iter()
        .enumerate()
        .map(|(i, z)| {
            let extra = format!("  nodeSelector: {{topology.kubernetes.io/zone: {z}}}");
            pod(&format!("n-{}", i + 1), 4, "", &extra)
        })
        .collect();
    let rules = rules_of(&format!("{SUPPORT}{four}"));
    assert_eq!(
        rules.iter().filter(|r| **r == "ES027").count(),
        2,
        "{rules:?}"
    );
}
