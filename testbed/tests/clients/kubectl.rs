//! The real `kubectl` against the Kubernetes API emulator (testbed::kube). Each test has its
//! own emulator, kubeconfig, KUBECACHEDIR and HOME, so they run in parallel. A kubectl process
//! costs ~60–120 ms.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testbed::kube::{Fault, KubeEmulator};

struct Bed {
    kube: KubeEmulator,
    dir: tempfile::TempDir,
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Run {
        assert_eq!(self.code, 0, "kubectl failed: {self:?}");
        self
    }

    fn failed(self) -> Run {
        assert_ne!(self.code, 0, "kubectl should have failed: {self:?}");
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).expect("kubectl printed JSON")
    }
}

impl Bed {
    fn new() -> Bed {
        let bed = Bed {
            kube: KubeEmulator::start().expect("start the emulator"),
            dir: tempfile::tempdir().expect("tempdir"),
        };
        bed.kube
            .write_kubeconfig(&bed.dir.path().join("kubeconfig"), "gke_p_us-central1-a_c")
            .expect("write kubeconfig");
        bed
    }

    fn kubectl_with_input(&self, args: &[&str], input: &str) -> Run {
        let mut command = Command::new("kubectl");
        for proxy in ["http_proxy", "https_proxy", "all_proxy", "no_proxy"] {
            command.env_remove(proxy).env_remove(proxy.to_uppercase());
        }
        command
            .args(args)
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .env("HOME", self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .expect("kubectl runs (it comes with google-cloud-cli)");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).expect("write stdin");
        }
        let out = child.wait_with_output().expect("kubectl finishes");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn kubectl(&self, args: &[&str]) -> Run {
        self.kubectl_with_input(args, "")
    }

    fn apply(&self, manifest: &str) -> Run {
        self.kubectl_with_input(
            &["apply", "--server-side", "--field-manager=esk", "-f", "-"],
            manifest,
        )
    }

    fn resource_version(&self, kind: &str, namespace: Option<&str>, name: &str) -> String {
        let object = self
            .kube
            .get(kind, namespace, name)
            .unwrap_or_else(|| panic!("{kind} {name} is stored"));
        object["metadata"]["resourceVersion"]
            .as_str()
            .expect("resourceVersion")
            .to_string()
    }

    /// (kind, namespace, name) → resourceVersion of every stored object.
    fn versions(&self) -> BTreeMap<String, String> {
        self.kube
            .objects()
            .iter()
            .map(|o| {
                let m = &o["metadata"];
                (
                    format!("{}/{}/{}", o["kind"], m["namespace"], m["name"]),
                    m["resourceVersion"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    names.sort();
    names
}

/// The manifest esk renders for one node: Namespace, ConfigMap, headless Service, a static
/// CSI PersistentVolume, a PVC pre-bound to it and a Deployment.
fn manifest(nginx_upstream: &str, disk: &str, node_label: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: es
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: nginx
  namespace: es
  labels: {{app.kubernetes.io/instance: es, app.kubernetes.io/managed-by: esk}}
data:
  nginx.conf: "upstream {nginx_upstream};"
---
apiVersion: v1
kind: Service
metadata:
  name: es
  namespace: es
  labels: {{app.kubernetes.io/instance: es}}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {{app.kubernetes.io/instance: es}}
  ports:
  - {{name: http, port: 2113}}
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: es-1
  labels: {{app.kubernetes.io/instance: es}}
spec:
  capacity: {{storage: 10Gi}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {{namespace: es, name: data-es-1}}
  csi:
    driver: pd.csi.storage.gke.io
    volumeHandle: projects/p/zones/us-central1-a/disks/{disk}
    fsType: ext4
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data-es-1
  namespace: es
  labels: {{app.kubernetes.io/instance: es}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeName: es-1
  resources: {{requests: {{storage: 10Gi}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: es-1
  namespace: es
  labels: {{app.kubernetes.io/instance: es, node: "1"}}
spec:
  replicas: 1
  strategy: {{type: Recreate}}
  selector:
    matchLabels: {{app.kubernetes.io/instance: es, node: "{node_label}"}}
  template:
    metadata:
      labels: {{app.kubernetes.io/instance: es, node: "{node_label}"}}
    spec:
      hostname: es-1
      subdomain: es
      containers:
      - name: es
        image: docker.kurrent.io/kurrent-latest/kurrentdb:25.0.0
        env:
        - {{name: KURRENTDB_CLUSTER_SIZE, value: "3"}}
        volumeMounts: [{{name: data, mountPath: /var/lib/kurrentdb}}]
      volumes:
      - name: data
        persistentVolumeClaim: {{claimName: data-es-1}}
"#
    )
}

fn default_manifest() -> String {
    manifest("es.es.svc.cluster.local:2113", "esdisk-1", "1")
}

fn deployment(name: &str, labels: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: default
  labels: {{{labels}}}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers: [{{name: c, image: "nginx:1.27"}}]
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: default
  labels: {{{labels}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80}}]
"#
    )
}

#[test]
fn server_side_apply_stores_objects_and_a_rerun_changes_nothing() {
    let bed = Bed::new();
    let run = bed.apply(&default_manifest()).ok();
    assert!(
        run.stdout
            .contains("deployment.apps/es-1 serverside-applied"),
        "{run:?}"
    );

    let svc = bed.kube.get("Service", Some("es"), "es").expect("service");
    assert_eq!(svc["spec"]["clusterIP"], "None");
    assert_eq!(svc["spec"]["publishNotReadyAddresses"], true);
    let pvc = bed
        .kube
        .get("PersistentVolumeClaim", Some("es"), "data-es-1")
        .expect("pvc");
    assert_eq!(pvc["status"]["phase"], "Bound");
    let pv = bed.kube.get("PersistentVolume", None, "es-1").expect("pv");
    assert_eq!(pv["status"]["phase"], "Bound");
    assert_eq!(pv["spec"]["claimRef"]["uid"], pvc["metadata"]["uid"]);
    let deploy = bed
        .kube
        .get("Deployment", Some("es"), "es-1")
        .expect("deployment");
    assert_eq!(deploy["metadata"]["generation"], 1);
    assert_eq!(deploy["status"]["readyReplicas"], 1);
    assert!(bed.kube.requests().iter().any(|r| r
        == "PATCH /apis/apps/v1/namespaces/es/deployments/es-1?fieldManager=esk&fieldValidation=Strict&force=false"));

    let before = bed.versions();
    let mutating = bed.kube.mutating_requests();
    bed.apply(&default_manifest()).ok();
    assert_eq!(
        bed.versions(),
        before,
        "a re-apply must not change any object"
    );
    assert_eq!(bed.kube.mutating_requests(), mutating + 6);

    let cm_before = bed.resource_version("ConfigMap", Some("es"), "nginx");
    bed.apply(&manifest("es.es.svc.cluster.local:2114", "esdisk-1", "1"))
        .ok();
    let after = bed.versions();
    let changed: Vec<&String> = after
        .keys()
        .filter(|k| after.get(*k) != before.get(*k))
        .collect();
    assert_eq!(changed, vec!["\"ConfigMap\"/\"es\"/\"nginx\""]);
    assert_ne!(
        bed.resource_version("ConfigMap", Some("es"), "nginx"),
        cm_before
    );
    let cm = bed
        .kube
        .get("ConfigMap", Some("es"), "nginx")
        .expect("configmap");
    assert_eq!(
        cm["data"]["nginx.conf"],
        "upstream es.es.svc.cluster.local:2114;"
    );
}

#[test]
fn get_by_label_returns_exactly_the_labelled_objects() {
    let bed = Bed::new();
    bed.kube.seed(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "unlabelled", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "x"}}}
    }));
    bed.kube.seed(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "other", "namespace": "default", "labels": {"app.kubernetes.io/instance": "other"}},
        "spec": {"ports": [{"port": 80}]}
    }));
    let mut manifests = String::new();
    for node in 1..=3 {
        manifests += &deployment(
            &format!("es-{node}"),
            &format!("app.kubernetes.io/instance: es, node: \"{node}\""),
        );
        manifests += "---\n";
    }
    bed.apply(&manifests).ok();

    let run = bed
        .kubectl(&[
            "get",
            "deploy,svc",
            "-n",
            "default",
            "-l",
            "app.kubernetes.io/instance=es",
            "-o",
            "json",
        ])
        .ok();
    assert_eq!(
        names(&run.json()),
        vec![
            "Deployment/es-1",
            "Deployment/es-2",
            "Deployment/es-3",
            "Service/es-1",
            "Service/es-2",
            "Service/es-3"
        ]
    );
    let run = bed
        .kubectl(&[
            "get",
            "deploy",
            "-A",
            "-l",
            "app.kubernetes.io/instance=es,node in (2,3)",
            "-o",
            "json",
        ])
        .ok();
    assert_eq!(
        names(&run.json()),
        vec!["Deployment/es-2", "Deployment/es-3"]
    );
    let run = bed
        .kubectl(&["get", "deploy", "-l", "node notin (2),node", "-o", "json"])
        .ok();
    assert_eq!(
        names(&run.json()),
        vec!["Deployment/es-1", "Deployment/es-3"]
    );
    let run = bed
        .kubectl(&["get", "svc", "-l", "!node", "-o", "json"])
        .ok();
    assert_eq!(names(&run.json()), vec!["Service/other"]);
    let run = bed
        .kubectl(&["get", "deploy", "-l", "node!=1", "-o", "json"])
        .ok();
    assert_eq!(
        names(&run.json()),
        vec![
            "Deployment/es-2",
            "Deployment/es-3",
            "Deployment/unlabelled"
        ]
    );
    let run = bed
        .kubectl(&[
            "get",
            "deploy",
            "--field-selector",
            "metadata.name=es-2",
            "-o",
            "json",
        ])
        .ok();
    assert_eq!(names(&run.json()), vec!["Deployment/es-2"]);
    let run = bed.kubectl(&["get", "deploy", "-l", "node in 2"]).failed();
    assert!(run.stderr.contains("BadRequest"), "{run:?}");
}

#[test]
fn delete_by_label_removes_only_labelled_objects_and_reruns_cleanly() {
    let bed = Bed::new();
    bed.apply(&deployment("es-1", "app.kubernetes.io/instance: es"))
        .ok();
    bed.apply(&deployment("keep", "app.kubernetes.io/instance: other"))
        .ok();
    bed.kube.seed(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "nginx", "namespace": "default", "labels": {"app.kubernetes.io/instance": "es"}},
        "data": {"a": "b"}
    }));

    let args = [
        "delete",
        "deploy,svc,cm",
        "-l",
        "app.kubernetes.io/instance=es",
        "--ignore-not-found",
    ];
    let run = bed.kubectl(&args).ok();
    assert!(
        run.stdout.contains("deployment.apps \"es-1\" deleted"),
        "{run:?}"
    );
    assert!(bed
        .kube
        .get("Deployment", Some("default"), "es-1")
        .is_none());
    assert!(bed.kube.get("Service", Some("default"), "es-1").is_none());
    assert!(bed
        .kube
        .get("ConfigMap", Some("default"), "nginx")
        .is_none());
    assert!(bed
        .kube
        .get("Deployment", Some("default"), "keep")
        .is_some());
    assert!(bed.kube.get("Service", Some("default"), "keep").is_some());

    bed.kubectl(&args).ok();
    let run = bed.kubectl(&["delete", "deploy", "es-1"]).failed();
    assert!(run.stderr.contains("NotFound"), "{run:?}");
}

#[test]
fn refuses_what_a_real_api_server_refuses() {
    let bed = Bed::new();
    bed.apply(&default_manifest()).ok();
    let before = bed.versions();

    let run = bed
        .apply(&manifest("es.es.svc.cluster.local:2113", "esdisk-1", "one"))
        .failed();
    assert!(
        run.stderr.contains("spec.selector") && run.stderr.contains("field is immutable"),
        "{run:?}"
    );
    let deploy = bed
        .kube
        .get("Deployment", Some("es"), "es-1")
        .expect("deployment");
    assert_eq!(deploy["spec"]["selector"]["matchLabels"]["node"], "1");

    let run = bed
        .apply(&manifest("es.es.svc.cluster.local:2113", "esdisk-9", "1"))
        .failed();
    assert!(run.stderr.contains("immutable"), "{run:?}");
    let pv = bed.kube.get("PersistentVolume", None, "es-1").expect("pv");
    assert_eq!(
        pv["spec"]["csi"]["volumeHandle"],
        "projects/p/zones/us-central1-a/disks/esdisk-1"
    );
    assert_eq!(bed.versions(), before, "refused applies change nothing");

    let old_api = "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: old, namespace: es}\n\
                   spec:\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: c, image: x}]}\n";
    let run = bed.apply(old_api).failed();
    assert!(
        run.stderr
            .contains("no matches for kind \"Deployment\" in version \"extensions/v1beta1\""),
        "{run:?}"
    );

    let run = bed
        .apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Es_1, namespace: es}\n")
        .failed();
    assert!(
        run.stderr
            .contains("metadata.name: Invalid value: \"Es_1\""),
        "{run:?}"
    );
    let run = bed.apply("apiVersion: v1\nkind: Service\nmetadata: {name: 1es, namespace: es}\nspec: {ports: [{port: 1}]}\n").failed();
    assert!(run.stderr.contains("DNS-1035"), "{run:?}");

    let run = bed
        .apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: es}\ndata: {a: b}\nbogus: 1\n")
        .failed();
    assert!(
        run.stderr.contains(".bogus: field not declared in schema"),
        "{run:?}"
    );
    let run = bed
        .kubectl_with_input(
            &["create", "-f", "-"],
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: es, labelz: {}}\n",
        )
        .failed();
    assert!(
        run.stderr
            .contains("strict decoding error: unknown field \"metadata.labelz\""),
        "{run:?}"
    );

    let run = bed
        .apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: nope}\n")
        .failed();
    assert!(
        run.stderr.contains("namespaces \"nope\" not found"),
        "{run:?}"
    );

    let run = bed
        .kubectl_with_input(
            &["create", "-f", "-"],
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nginx, namespace: es}\n",
        )
        .failed();
    assert!(run.stderr.contains("AlreadyExists"), "{run:?}");
    assert!(bed.kube.get("ConfigMap", Some("es"), "x").is_none());
}

#[test]
fn immutable_configmaps_and_claims_stay_as_they_are() {
    let bed = Bed::new();
    bed.apply(&default_manifest()).ok();
    let immutable = |value: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: frozen, namespace: es}}\nimmutable: true\ndata: {{a: \"{value}\"}}\n")
    };
    bed.apply(&immutable("1")).ok();
    let run = bed.apply(&immutable("2")).failed();
    assert!(
        run.stderr
            .contains("field is immutable when `immutable` is set"),
        "{run:?}"
    );

    let claim = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data-es-1, namespace: es}\n\
                 spec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: standard\n  volumeName: es-1\n  resources: {requests: {storage: 10Gi}}\n";
    let run = bed.apply(claim).failed();
    assert!(
        run.stderr.contains("spec is immutable after creation"),
        "{run:?}"
    );
}

#[test]
fn nodes_and_storage_classes_are_listed() {
    let bed = Bed::new();
    for name in ["gke-c-pool-1", "gke-c-pool-2"] {
        bed.kube.seed(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"topology.gke.io/zone": "us-central1-a"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }));
    }
    bed.kube.seed(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "standard-rwo", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "pd.csi.storage.gke.io", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"
    }));
    let run = bed.kubectl(&["get", "nodes", "-o", "json"]).ok();
    assert_eq!(
        names(&run.json()),
        vec!["Node/gke-c-pool-1", "Node/gke-c-pool-2"]
    );
    let run = bed
        .kubectl(&[
            "get",
            "no",
            "-l",
            "topology.gke.io/zone=us-central1-a",
            "-o",
            "name",
        ])
        .ok();
    assert_eq!(run.stdout, "node/gke-c-pool-1\nnode/gke-c-pool-2\n");
    let run = bed.kubectl(&["get", "sc"]).ok();
    assert!(run.stdout.contains("standard-rwo"), "{run:?}");
    let run = bed
        .kubectl(&["get", "storageclass", "standard-rwo", "-o", "json"])
        .ok();
    assert_eq!(run.json()["provisioner"], "pd.csi.storage.gke.io");
    assert_eq!(bed.kube.mutating_requests(), 0);
}

#[test]
fn claims_are_provisioned_from_the_default_storage_class() {
    let bed = Bed::new();
    bed.kube.seed(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Delete"
    }));
    let claim =
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: default}\n\
                 spec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 5Gi}}\n";
    bed.apply(claim).ok();
    let pvc = bed
        .kube
        .get("PersistentVolumeClaim", Some("default"), "data")
        .expect("pvc");
    assert_eq!(pvc["status"]["phase"], "Bound");
    assert_eq!(pvc["spec"]["storageClassName"], "standard");
    let volume = pvc["spec"]["volumeName"]
        .as_str()
        .expect("bound")
        .to_string();
    let pv = bed
        .kube
        .get("PersistentVolume", None, &volume)
        .expect("provisioned pv");
    assert_eq!(pv["spec"]["csi"]["driver"], "ebs.csi.aws.com");
    assert_eq!(pv["spec"]["capacity"]["storage"], "5Gi");

    let before = bed.versions();
    bed.apply(claim).ok();
    assert_eq!(
        bed.versions(),
        before,
        "re-applying a bound claim changes nothing"
    );

    bed.kubectl(&["delete", "pvc", "data"]).ok();
    assert!(
        bed.kube.get("PersistentVolume", None, &volume).is_none(),
        "Delete policy removes the volume"
    );
}

#[test]
fn volume_snapshots_are_served_only_once_installed_and_restore_claims_wait_for_them() {
    let bed = Bed::new();
    bed.kube.seed(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "pd.csi.storage.gke.io", "reclaimPolicy": "Delete"
    }));
    let snapshot = "apiVersion: snapshot.storage.k8s.io/v1\nkind: VolumeSnapshot\n\
                    metadata: {name: snap, namespace: default, labels: {esk-backup: snap}}\n\
                    spec: {source: {persistentVolumeClaimName: data}}\n";
    let missing = bed.kubectl(&["get", "volumesnapshots"]).failed();
    assert!(
        missing.stderr.contains("doesn't have a resource type"),
        "{missing:?}"
    );
    bed.apply(snapshot).failed();

    bed.kube.install_volume_snapshots("pd.csi.storage.gke.io");
    // A snapshot of a claim that does not exist yet is not ready, and says why.
    bed.apply(snapshot).ok();
    let vs = bed
        .kube
        .get("VolumeSnapshot", Some("default"), "snap")
        .unwrap();
    assert_eq!(vs["status"]["readyToUse"], false);
    assert!(vs["status"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not found"));
    // A claim restored from it waits.
    let restored = "apiVersion: v1\nkind: PersistentVolumeClaim\n\
                    metadata: {name: restored, namespace: default}\n\
                    spec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 5Gi}}\n  \
                    dataSource: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: snap}\n";
    bed.apply(restored).ok();
    let phase = |name: &str| {
        bed.kube
            .get("PersistentVolumeClaim", Some("default"), name)
            .unwrap()["status"]["phase"]
            .clone()
    };
    assert_eq!(phase("restored"), "Pending");

    let claim =
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: default}\n\
                 spec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 5Gi}}\n";
    bed.apply(claim).ok();
    let vs = bed
        .kube
        .get("VolumeSnapshot", Some("default"), "snap")
        .unwrap();
    assert_eq!(vs["status"]["readyToUse"], true, "{vs}");
    assert_eq!(vs["status"]["restoreSize"], "5Gi");
    let content_name = vs["status"]["boundVolumeSnapshotContentName"]
        .as_str()
        .unwrap();
    let content = bed
        .kube
        .get("VolumeSnapshotContent", None, content_name)
        .unwrap();
    assert_eq!(content["spec"]["driver"], "pd.csi.storage.gke.io");
    assert_eq!(content["spec"]["volumeSnapshotClassName"], "csi-snapclass");
    assert_eq!(
        phase("restored"),
        "Bound",
        "the restore binds once the snapshot is ready"
    );

    let listed = bed
        .kubectl(&[
            "get",
            "volumesnapshots",
            "-l",
            "esk-backup=snap",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(names(&listed), ["VolumeSnapshot/snap"]);
    bed.kubectl(&["delete", "volumesnapshot", "snap"]).ok();
    assert!(
        bed.kube
            .get("VolumeSnapshotContent", None, content_name)
            .is_none(),
        "deletionPolicy Delete removes the content with its snapshot"
    );
}

#[test]
fn deleting_a_namespace_removes_its_objects_and_releases_volumes() {
    let bed = Bed::new();
    bed.apply(&default_manifest()).ok();
    bed.kubectl(&["delete", "namespace", "es"]).ok();
    assert!(bed
        .kube
        .objects()
        .iter()
        .all(|o| o["metadata"]["namespace"] != "es"));
    let pv = bed
        .kube
        .get("PersistentVolume", None, "es-1")
        .expect("Retain keeps the volume");
    assert_eq!(pv["status"]["phase"], "Released");

    // A released volume keeps the old claim's uid, so a new claim of the same name stays
    // Pending, as on a real cluster.
    bed.apply(&default_manifest()).ok();
    let pvc = bed
        .kube
        .get("PersistentVolumeClaim", Some("es"), "data-es-1")
        .expect("pvc");
    assert_eq!(pvc["status"]["phase"], "Pending");
}

#[test]
fn injected_faults_fail_the_apply_and_latency_slows_requests() {
    let bed = Bed::new();
    bed.kube.inject_fault(Fault {
        method: Some("PATCH".into()),
        path_contains: "/configmaps/nginx".into(),
        status: 500,
        times: 1,
    });
    let run = bed.apply(&default_manifest()).failed();
    assert!(run.stderr.contains("injected fault"), "{run:?}");
    assert!(bed.kube.get("ConfigMap", Some("es"), "nginx").is_none());
    assert!(
        bed.kube.get("Deployment", Some("es"), "es-1").is_some(),
        "kubectl goes on after a failure"
    );
    bed.apply(&default_manifest()).ok();
    assert!(bed.kube.get("ConfigMap", Some("es"), "nginx").is_some());

    bed.kube.inject_fault(Fault {
        method: None,
        path_contains: "/deployments".into(),
        status: 503,
        times: 1,
    });
    let run = bed
        .kubectl(&["get", "deploy", "-n", "es", "-o", "json"])
        .failed();
    assert!(run.stderr.contains("injected fault"), "{run:?}");

    bed.kube.set_latency(Duration::from_millis(300));
    let started = Instant::now();
    bed.kubectl(&["get", "cm", "nginx", "-n", "es", "-o", "json"])
        .ok();
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn reads_are_not_mutating_requests() {
    let bed = Bed::new();
    bed.kube.seed(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}}));
    bed.kubectl(&["get", "cm", "-o", "json"]).ok();
    bed.kubectl(&[
        "get",
        "deploy,svc,pvc,pv",
        "-A",
        "-l",
        "app=x",
        "-o",
        "json",
    ])
    .ok();
    bed.kubectl(&["get", "cm", "missing", "--ignore-not-found"])
        .ok();
    bed.kubectl(&["api-resources"]).ok();
    assert_eq!(bed.kube.mutating_requests(), 0);
    assert!(bed
        .kube
        .requests()
        .iter()
        .any(|r| r.starts_with("GET /api/v1/namespaces/default/configmaps")));
}

#[test]
fn waits_and_rollouts_see_changes_without_watch_noise() {
    let bed = Bed::new();
    bed.apply(&default_manifest()).ok();
    let run = bed
        .kubectl(&[
            "rollout",
            "status",
            "deploy/es-1",
            "-n",
            "es",
            "--timeout=10s",
        ])
        .ok();
    assert!(run.stdout.contains("successfully rolled out"), "{run:?}");
    assert_eq!(run.stderr, "");
    let by_label = [
        "wait",
        "--for=condition=Available",
        "deploy",
        "-l",
        "app.kubernetes.io/instance=es",
        "-n",
        "es",
        "--timeout=10s",
    ];
    assert_eq!(bed.kubectl(&by_label).ok().stderr, "");
    let bound = [
        "wait",
        "--for=jsonpath={.status.phase}=Bound",
        "pvc/data-es-1",
        "-n",
        "es",
    ];
    assert_eq!(bed.kubectl(&bound).ok().stderr, "");

    let seen_before = bed.kube.requests().len();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            bed.kubectl(&[
                "wait",
                "--for=delete",
                "cm/nginx",
                "-n",
                "es",
                "--timeout=20s",
            ])
        });
        // Delete only once the waiter has looked at the object (a fixed sleep races under load).
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !bed.kube.requests()[seen_before..]
            .iter()
            .any(|r| r.starts_with("GET") && r.contains("nginx"))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the waiter never asked"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        bed.kubectl(&["delete", "cm", "nginx", "-n", "es", "--wait=false"])
            .ok();
        let run = waiter.join().expect("the waiter finishes").ok();
        assert!(run.stdout.contains("condition met"), "{run:?}");
    });

    let pending = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: pending, namespace: es}\n\
                   spec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: \"\"\n  resources: {requests: {storage: 1Gi}}\n";
    bed.apply(pending).ok();
    let run = bed
        .kubectl(&[
            "wait",
            "--for=jsonpath={.status.phase}=Bound",
            "pvc/pending",
            "-n",
            "es",
            "--timeout=1500ms",
        ])
        .failed();
    assert!(
        run.stderr.starts_with("error: timed out waiting"),
        "{run:?}"
    );
}

#[test]
fn imperative_commands_and_tables_work() {
    let bed = Bed::new();
    let first = bed
        .kubectl_with_input(&["apply", "-f", "-"], &default_manifest())
        .ok();
    assert_eq!(
        first.stderr, "",
        "client-side apply computes its patches quietly"
    );
    let again = bed
        .kubectl_with_input(&["apply", "-f", "-"], &default_manifest())
        .ok();
    assert!(
        again.stdout.contains("deployment.apps/es-1 unchanged"),
        "{again:?}"
    );

    bed.kubectl(&["scale", "deploy/es-1", "-n", "es", "--replicas=3"])
        .ok();
    let deploy = bed
        .kube
        .get("Deployment", Some("es"), "es-1")
        .expect("deployment");
    assert_eq!(
        (
            deploy["spec"]["replicas"].as_i64(),
            deploy["metadata"]["generation"].as_i64()
        ),
        (Some(3), Some(2))
    );
    bed.kubectl(&["label", "cm", "nginx", "-n", "es", "tier=web"])
        .ok();
    bed.kubectl(&[
        "patch",
        "cm",
        "nginx",
        "-n",
        "es",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/data/x","value":"1"}]"#,
    ])
    .ok();
    bed.kubectl(&[
        "patch",
        "cm",
        "nginx",
        "-n",
        "es",
        "--type=merge",
        "-p",
        r#"{"data":{"x":null}}"#,
    ])
    .ok();
    let cm = bed
        .kube
        .get("ConfigMap", Some("es"), "nginx")
        .expect("configmap");
    assert_eq!(cm["metadata"]["labels"]["tier"], "web");
    assert!(cm["data"]["x"].is_null());

    let run = bed.kubectl(&["get", "pv,pvc", "-A"]).ok();
    let pv_row = run
        .stdout
        .lines()
        .find(|l| l.contains("persistentvolume/es-1"))
        .expect("a pv row");
    assert!(
        pv_row.contains("10Gi") && pv_row.contains("Bound") && pv_row.contains("es/data-es-1"),
        "{run:?}"
    );
    let run = bed.kubectl(&["get", "deploy", "es-1", "-n", "es"]).ok();
    assert!(
        run.stdout
            .starts_with("NAME   READY   UP-TO-DATE   AVAILABLE   AGE\nes-1   3/3"),
        "{run:?}"
    );
}

/// One raw HTTP/1.1 request; returns (status, content type, body).
fn http(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, Value) {
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    request += "\r\n";
    request += body;
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    let (head, body) = response.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or("")
        .to_string();
    (
        status,
        content_type,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[test]
fn answers_raw_requests_like_an_api_server() {
    let kube = KubeEmulator::start().expect("start");
    let url = kube.url();
    let (code, _, version) = http(&url, "GET", "/version", &[], "");
    assert_eq!((code, version["minor"].as_str()), (200, Some("32")));

    let accept = [(
        "Accept",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
    )];
    let (code, content_type, apis) = http(&url, "GET", "/apis", &accept, "");
    assert_eq!(code, 200);
    assert_eq!(
        content_type,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert!(apis["items"]
        .as_array()
        .expect("groups")
        .iter()
        .any(|g| g["metadata"]["name"] == "apps"));
    let (_, _, legacy) = http(&url, "GET", "/apis/apps/v1", &[], "");
    assert!(legacy["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .any(|r| r["shortNames"] == json!(["deploy"])));

    let (code, _, status) = http(
        &url,
        "GET",
        "/api/v1/namespaces/default/configmaps/nope",
        &[],
        "",
    );
    assert_eq!(code, 404);
    assert_eq!(status["reason"], "NotFound");
    assert_eq!(status["message"], "configmaps \"nope\" not found");

    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}"#;
    let apply = [("Content-Type", "application/apply-patch+yaml")];
    let (code, _, status) = http(
        &url,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/a",
        &apply,
        cm,
    );
    assert_eq!((code, status["reason"].as_str()), (422, Some("Invalid")));
    assert!(status["message"]
        .as_str()
        .unwrap_or("")
        .contains("fieldManager: Required value"));
    let (code, _, created) = http(
        &url,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/a?fieldManager=t",
        &apply,
        cm,
    );
    assert_eq!(code, 201);
    let (code, _, same) = http(
        &url,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/a?fieldManager=t",
        &apply,
        cm,
    );
    assert_eq!(code, 200);
    assert_eq!(
        same["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );
    let (code, _, _) = http(
        &url,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/a?fieldManager=t",
        &apply,
        "kind: ConfigMap\n",
    );
    assert_eq!(code, 415);

    let json_body = [("Content-Type", "application/json")];
    let (code, _, status) = http(
        &url,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &json_body,
        cm,
    );
    assert_eq!(
        (code, status["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );
    let merge = [("Content-Type", "application/merge-patch+json")];
    let (code, _, patched) = http(
        &url,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/a",
        &merge,
        r#"{"data":{"k":null,"n":"1"}}"#,
    );
    assert_eq!(code, 200);
    assert_eq!(patched["data"], json!({"n": "1"}));
    let shapes = [
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":"x"}"#,
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b","labels":{"n":1}}}"#,
        r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"b"},"spec":{"ports":[80]}}"#,
    ];
    for body in shapes {
        let path = if body.contains("Service") {
            "services"
        } else {
            "configmaps"
        };
        let (code, _, status) = http(
            &url,
            "POST",
            &format!("/api/v1/namespaces/default/{path}"),
            &json_body,
            body,
        );
        assert_eq!(
            (code, status["reason"].as_str()),
            (400, Some("BadRequest")),
            "{body}: {status}"
        );
    }
    let (code, _, gone) = http(
        &url,
        "DELETE",
        "/api/v1/namespaces/default/configmaps/a",
        &[],
        "",
    );
    assert_eq!((code, gone["status"].as_str()), (200, Some("Success")));
    let (code, _, _) = http(
        &url,
        "GET",
        "/apis/extensions/v1beta1/namespaces/default/deployments",
        &[],
        "",
    );
    assert_eq!(code, 404);
    assert_eq!(kube.mutating_requests(), 10);
}

fn config_maps(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {n}, namespace: default}}\ndata: {{k: v}}\n")
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn config_map_names(bed: &Bed) -> Vec<String> {
    let mut names: Vec<String> = bed
        .kube
        .objects()
        .iter()
        .filter(|o| o["kind"] == "ConfigMap")
        .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

fn patches(bed: &Bed, path: &str) -> usize {
    bed.kube
        .requests()
        .iter()
        .filter(|r| r.starts_with("PATCH ") && r.contains(path))
        .count()
}

/// `inject_fault_after` lets the first matching apply through and fails the second; kubectl
/// goes on with the third and exits 1.
#[test]
fn a_fault_after_one_apply_fails_only_the_second_object() {
    let bed = Bed::new();
    let fault = Fault {
        method: Some("PATCH".into()),
        path_contains: "/configmaps/".into(),
        status: 500,
        times: 1,
    };
    bed.kube.inject_fault_after(1, fault);
    let run = bed.apply(&config_maps(&["a", "b", "c"])).failed();
    assert_eq!(run.code, 1);
    let message = "Error from server (InternalError): injected fault: 500 for PATCH \
                   /api/v1/namespaces/default/configmaps/b";
    assert!(run.stderr.contains(message), "{run:?}");
    assert_eq!(config_map_names(&bed), ["a", "c"]);
    assert_eq!(patches(&bed, "/configmaps/"), 3, "kubectl retried");
}

/// kubectl retries a 429 or 5xx by itself only when the answer has Retry-After (as a real
/// API server's throttling does): at most 10 retries, then exit 1 with the last error. Without
/// Retry-After it fails at once.
#[test]
fn kubectl_retries_throttling_only_with_retry_after() {
    let bed = Bed::new();
    bed.apply(&config_maps(&["a"])).ok();
    let fault = |times| Fault {
        method: Some("GET".into()),
        path_contains: "/configmaps/a".into(),
        status: 429,
        times,
    };
    let gets = |bed: &Bed| {
        let requests = bed.kube.requests();
        requests
            .iter()
            .filter(|r| r.starts_with("GET ") && r.contains("/configmaps/a"))
            .count()
    };
    bed.kube.inject_fault(fault(1));
    let run = bed.kubectl(&["get", "cm", "a", "-o", "name"]).failed();
    let message = "Error from server (TooManyRequests): injected fault: 429";
    assert!(run.stderr.contains(message), "{run:?}");
    assert_eq!(gets(&bed), 1);

    // Retry-After: 0 keeps the test fast; a real server says 1 (kubectl then waits 1 s a try).
    bed.kube.set_fault_retry_after(Some(0));
    bed.kube.inject_fault(fault(2));
    let run = bed.kubectl(&["get", "cm", "a", "-o", "name"]).ok();
    assert_eq!(run.stdout.trim(), "configmap/a");
    assert_eq!(gets(&bed), 4);

    bed.kube.inject_fault(fault(20));
    let run = bed.kubectl(&["get", "cm", "a", "-o", "name"]).failed();
    assert!(run.stderr.contains(message), "{run:?}");
    assert_eq!(gets(&bed), 4 + 11);

    let patch = Fault {
        method: Some("PATCH".into()),
        path_contains: "/configmaps/b".into(),
        status: 503,
        times: 2,
    };
    bed.kube.inject_fault(patch);
    bed.apply(&config_maps(&["b"])).ok();
    assert_eq!(patches(&bed, "/configmaps/b"), 3);
}

fn spawn_kubectl(bed: &Bed, args: &[&str], input: &str) -> std::process::Child {
    let mut command = Command::new("kubectl");
    command
        .args(args)
        .env("KUBECONFIG", bed.dir.path().join("kubeconfig"))
        .env("KUBECACHEDIR", bed.dir.path().join("cache"))
        .env("HOME", bed.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn kubectl");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    child
}

fn finish(child: std::process::Child) -> Run {
    let out = child.wait_with_output().expect("kubectl finishes");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The crash-test gate: the 2nd mutating request is held; killing kubectl and dropping it
/// leaves only the first object. Apply lets a held request through; Drop answers 503.
#[test]
fn the_gate_holds_the_kth_mutation_until_released() {
    use testbed::kube::Release;
    let bed = Bed::new();
    let apply = ["apply", "--server-side", "--field-manager=esk", "-f", "-"];
    let timeout = Duration::from_secs(30);
    bed.kube.block_mutating_at(2);
    let mut kubectl = spawn_kubectl(&bed, &apply, &config_maps(&["a", "b", "c"]));
    assert!(bed.kube.wait_blocked(timeout), "nothing was held");
    assert_eq!(config_map_names(&bed), ["a"]);
    kubectl.kill().expect("kill kubectl");
    let _ = kubectl.wait();
    assert!(bed.kube.release(Release::Drop));
    assert_eq!(config_map_names(&bed), ["a"]);
    // The released request is counted on the server's own thread: give it a moment.
    let counted = Instant::now();
    while bed.kube.mutating_requests() < 2 && counted.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(bed.kube.mutating_requests(), 2);
    assert!(!bed.kube.release(Release::Drop), "nothing is held any more");

    bed.kube.block_mutating_at(1);
    let kubectl = spawn_kubectl(&bed, &apply, &config_maps(&["b"]));
    assert!(bed.kube.wait_blocked(timeout));
    assert_eq!(config_map_names(&bed), ["a"]);
    assert!(bed.kube.release(Release::Apply));
    let run = finish(kubectl).ok();
    assert!(
        run.stdout.contains("configmap/b serverside-applied"),
        "{run:?}"
    );
    assert_eq!(config_map_names(&bed), ["a", "b"]);

    bed.kube.block_mutating_at(1);
    let kubectl = spawn_kubectl(&bed, &["delete", "cm", "a", "--wait=false"], "");
    assert!(bed.kube.wait_blocked(timeout));
    assert!(bed.kube.release(Release::Drop));
    let run = finish(kubectl).failed();
    let message = "Error from server (ServiceUnavailable): the server is currently unable to \
                   handle the request";
    assert!(run.stderr.contains(message), "{run:?}");
    assert_eq!(config_map_names(&bed), ["a", "b"]);
    assert_eq!(bed.kube.mutating_requests(), 4);
}

/// Dropping the emulator answers a held request instead of leaving its thread blocked.
#[test]
fn dropping_the_emulator_does_not_hang_on_a_held_request() {
    let kube = KubeEmulator::start().expect("start");
    kube.block_mutating_at(1);
    let addr = kube.url().trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    let request = format!(
        "DELETE /api/v1/namespaces/default HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send");
    assert!(kube.wait_blocked(Duration::from_secs(10)));
    let started = Instant::now();
    drop(kube);
    assert!(started.elapsed() < Duration::from_secs(5));
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 503"),
        "{answer}"
    );
}

/// With `set_attachment_linger`, a running workload's CSI volume has a VolumeAttachment that
/// real kubectl lists; once the workload is gone the attachment is deleting, then gone after
/// the linger. Off by default.
#[test]
fn volume_attachments_follow_workloads_and_linger_after_them() {
    let bed = Bed::new();
    bed.apply(&default_manifest()).ok();
    let run = bed
        .kubectl(&["get", "volumeattachments", "-o", "json"])
        .ok();
    assert_eq!(names(&run.json()), Vec::<String>::new(), "on by default");

    bed.kube.seed(json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "gke-c-pool-1", "labels": {"topology.gke.io/zone": "us-central1-a"}}}));
    bed.kube
        .set_attachment_linger(Some(Duration::from_millis(500)));
    let run = bed
        .kubectl(&["get", "volumeattachments", "-o", "json"])
        .ok();
    let list = run.json();
    assert_eq!(list["kind"], "List", "{list}");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{list}");
    let attachment = &items[0];
    assert_eq!(attachment["apiVersion"], "storage.k8s.io/v1");
    let name = attachment["metadata"]["name"].as_str().expect("name");
    assert!(name.starts_with("csi-") && name.len() == 68, "{name}");
    assert_eq!(
        attachment["spec"],
        json!({"attacher": "pd.csi.storage.gke.io", "nodeName": "gke-c-pool-1",
            "source": {"persistentVolumeName": "es-1"}})
    );
    assert_eq!(attachment["status"]["attached"], true);
    let table = bed.kubectl(&["get", "volumeattachment"]).ok();
    let header = table.stdout.lines().next().unwrap_or("");
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        columns,
        ["NAME", "ATTACHER", "PV", "NODE", "ATTACHED", "AGE"]
    );
    assert!(table.stdout.contains("es-1"), "{table:?}");

    bed.kubectl(&["delete", "deploy", "es-1", "-n", "es"]).ok();
    let run = bed
        .kubectl(&["get", "volumeattachment", name, "-o", "json"])
        .ok();
    assert!(run.json()["metadata"]["deletionTimestamp"].is_string());
    std::thread::sleep(Duration::from_millis(600));
    let run = bed.kubectl(&["get", "volumeattachment", name]).failed();
    assert!(run.stderr.contains("NotFound"), "{run:?}");

    bed.apply(&default_manifest()).ok();
    assert!(
        bed.kube.get("VolumeAttachment", None, name).is_some(),
        "a new workload attaches the volume again"
    );
}

/// A one-node-per-Deployment cluster like esk's: three Deployments es-1..es-3 of one instance.
fn node_deployments(image: &str) -> String {
    (1..=3)
        .map(|i| {
            format!(
                r#"---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: es-{i}
  namespace: default
  labels: {{app.kubernetes.io/instance: es, app.kubernetes.io/component: node, esk.io/node: "{i}"}}
spec:
  replicas: 1
  strategy: {{type: Recreate}}
  selector:
    matchLabels: {{app.kubernetes.io/instance: es, esk.io/node: "{i}"}}
  template:
    metadata:
      labels: {{app.kubernetes.io/instance: es, app.kubernetes.io/component: node, esk.io/node: "{i}"}}
    spec:
      hostname: es-{i}
      subdomain: es
      containers:
      - name: eventstore
        image: {image}
        env:
        - {{name: KURRENTDB_NODE_HOST_ADVERTISE_AS, value: es-{i}.es.default.svc.cluster.local}}
        ports: [{{name: http, containerPort: 2113}}]
"#
            )
        })
        .collect()
}

/// The pods of the emulator's default namespace, by name.
fn pods(bed: &Bed) -> Vec<Value> {
    let list = bed.kubectl(&["get", "pods", "-o", "json"]).ok().json();
    list["items"].as_array().expect("items").clone()
}

fn pod_of(bed: &Bed, deployment: &str) -> Value {
    pods(bed)
        .into_iter()
        .find(|p| {
            p["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("{deployment}-")))
        })
        .unwrap_or_else(|| panic!("no pod of {deployment}"))
}

#[test]
fn workloads_have_pods_that_follow_them() {
    let bed = Bed::new();
    bed.kube.seed(json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "us-central1-a"}}}));
    bed.apply(&node_deployments("kurrentdb:26.0.0")).ok();
    let listed = pods(&bed);
    assert_eq!(listed.len(), 3, "{listed:?}");
    let pod = pod_of(&bed, "es-2");
    let name = pod["metadata"]["name"].as_str().unwrap();
    // <deployment>-<pod-template-hash>-<5 characters>, as the ReplicaSet controller names them.
    let hash = pod["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap();
    assert_eq!(hash.len(), 10);
    let suffix = name.strip_prefix(&format!("es-2-{hash}-")).expect(name);
    assert_eq!(suffix.len(), 5, "{name}");
    assert_eq!(pod["metadata"]["labels"]["esk.io/node"], "2");
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
    assert_eq!(
        pod["metadata"]["ownerReferences"][0]["name"],
        format!("es-2-{hash}")
    );
    assert_eq!(pod["spec"]["nodeName"], "n1");
    assert_eq!(pod["spec"]["hostname"], "es-2");
    assert_eq!(pod["status"]["phase"], "Running");
    assert!(pod["status"]["podIP"].as_str().unwrap().starts_with("10."));
    assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0);
    let ready = pod["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(ready["status"], "True");
    let run = bed.kubectl(&["get", "pods"]).ok();
    assert!(run.stdout.contains(name), "{run:?}");

    // A re-apply keeps the pods; a changed template replaces them; scaling adds and removes.
    let before = bed.versions();
    bed.apply(&node_deployments("kurrentdb:26.0.0")).ok();
    assert_eq!(bed.versions(), before, "a re-apply changed pods");
    bed.apply(&node_deployments("kurrentdb:26.0.1")).ok();
    let replaced = pod_of(&bed, "es-2");
    assert_ne!(replaced["metadata"]["name"], pod["metadata"]["name"]);
    assert_eq!(pods(&bed).len(), 3);
    bed.kubectl(&["scale", "deployment", "es-1", "--replicas=2"])
        .ok();
    assert_eq!(pods(&bed).len(), 4);
    bed.kubectl(&["scale", "deployment", "es-1", "--replicas=0"])
        .ok();
    assert_eq!(pods(&bed).len(), 2);
    bed.kubectl(&["delete", "deployment", "es-2", "es-3"]).ok();
    assert!(pods(&bed).is_empty());

    // StatefulSet pods are <set>-<ordinal>, with the claims of the claim templates.
    let sts = r#"apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: "kurrentdb:26.0.0"}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"#;
    bed.apply(sts).ok();
    let mut names: Vec<String> = pods(&bed)
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["db-0", "db-1"]);
    let db1 = pods(&bed)
        .into_iter()
        .find(|p| p["metadata"]["name"] == "db-1")
        .unwrap();
    assert_eq!(db1["spec"]["hostname"], "db-1");
    assert_eq!(db1["spec"]["subdomain"], "db");
    assert!(db1["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["persistentVolumeClaim"]["claimName"] == "data-db-1"));
    bed.kubectl(&["scale", "statefulset", "db", "--replicas=1"])
        .ok();
    assert_eq!(pods(&bed).len(), 1);
}

#[test]
fn pod_states_events_and_logs_are_what_tests_set() {
    use testbed::kube::PodState;
    let bed = Bed::new();
    bed.apply(&node_deployments("kurrentdb:26.0.0")).ok();
    let affinity = "0/3 nodes are available: 3 node(s) had volume node affinity conflict.";
    bed.kube
        .set_pod_state("es-2", PodState::unschedulable(affinity));
    bed.kube.set_pod_state(
        "es-3",
        PodState::crash_looping(7, "starting\nloading certificate\nfatal: no such file\n"),
    );

    let pending = pod_of(&bed, "es-2");
    assert_eq!(pending["status"]["phase"], "Pending");
    assert!(pending["spec"]["nodeName"].is_null());
    assert!(pending["status"]["podIP"].is_null());
    let scheduled = &pending["status"]["conditions"][0];
    assert_eq!(
        (
            &scheduled["type"],
            &scheduled["status"],
            &scheduled["reason"]
        ),
        (
            &json!("PodScheduled"),
            &json!("False"),
            &json!("Unschedulable")
        )
    );
    assert_eq!(scheduled["message"], affinity);
    let name = pending["metadata"]["name"].as_str().unwrap();
    let selector = format!("involvedObject.name={name}");
    let events = bed
        .kubectl(&["get", "events", "--field-selector", &selector, "-o", "json"])
        .ok()
        .json();
    let event = &events["items"][0];
    assert_eq!(event["reason"], "FailedScheduling");
    assert_eq!(event["message"], affinity);
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["involvedObject"]["kind"], "Pod");

    let looping = pod_of(&bed, "es-3");
    let status = &looping["status"]["containerStatuses"][0];
    assert_eq!(looping["status"]["phase"], "Running");
    assert_eq!(status["restartCount"], 7);
    assert_eq!(status["state"]["waiting"]["reason"], "CrashLoopBackOff");
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 1);
    let name = looping["metadata"]["name"].as_str().unwrap().to_string();
    let run = bed.kubectl(&["logs", &name, "--previous", "--tail=2"]).ok();
    assert_eq!(run.stdout, "loading certificate\nfatal: no such file\n");
    let healthy = pod_of(&bed, "es-1");
    let run = bed
        .kubectl(&[
            "logs",
            healthy["metadata"]["name"].as_str().unwrap(),
            "--previous",
        ])
        .failed();
    assert!(
        run.stderr
            .contains("previous terminated container \"eventstore\" in pod"),
        "{run:?}"
    );

    // The state belongs to the node, not the pod: a replaced pod keeps it, until cleared.
    bed.apply(&node_deployments("kurrentdb:26.0.1")).ok();
    let replaced = pod_of(&bed, "es-3");
    assert_ne!(replaced["metadata"]["name"].as_str(), Some(name.as_str()));
    assert_eq!(
        replaced["status"]["containerStatuses"][0]["restartCount"],
        7
    );
    bed.kube.clear_pod_state("es-3");
    assert_eq!(
        pod_of(&bed, "es-3")["status"]["containerStatuses"][0]["ready"],
        true
    );
}

fn raw_gossip(bed: &Bed, pod: &str, scheme: &str) -> Run {
    let path = format!("/api/v1/namespaces/default/pods/{scheme}:{pod}:2113/proxy/gossip");
    bed.kubectl(&["get", "--raw", &path])
}

#[test]
fn the_pod_proxy_serves_gossip_to_get_raw() {
    use testbed::kube::{Gossip, PodState};
    let bed = Bed::new();
    bed.apply(&node_deployments("kurrentdb:26.0.0")).ok();
    let es1 = pod_of(&bed, "es-1")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let es3 = pod_of(&bed, "es-3")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();

    // By default: the healthy view of the running pods, node 1 leading, advertised names.
    let doc = raw_gossip(&bed, &es3, "https").ok().json();
    let members = doc["members"].as_array().unwrap();
    let states: Vec<(&str, &str)> = members
        .iter()
        .map(|m| {
            (
                m["httpEndPointIp"].as_str().unwrap(),
                m["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("es-1.es.default.svc.cluster.local", "Leader"),
            ("es-2.es.default.svc.cluster.local", "Follower"),
            ("es-3.es.default.svc.cluster.local", "Follower")
        ]
    );
    assert_eq!(members[0]["esVersion"], "26.0.0");
    assert_eq!(members[0]["isAlive"], true);
    assert_eq!(doc["serverIp"], "es-3.es.default.svc.cluster.local");

    // A view per node: es-3 sees itself leading.
    bed.kube.set_gossip(
        "es-3",
        Gossip::healthy(&[
            "es-3.es.default.svc.cluster.local",
            "es-1.es.default.svc.cluster.local",
        ]),
    );
    let doc = raw_gossip(&bed, &es3, "https").ok().json();
    assert_eq!(
        doc["members"][0]["httpEndPointIp"],
        "es-3.es.default.svc.cluster.local"
    );
    assert_eq!(doc["members"][0]["state"], "Leader");
    let doc = raw_gossip(&bed, &es1, "https").ok().json();
    assert_eq!(
        doc["members"][0]["httpEndPointIp"],
        "es-1.es.default.svc.cluster.local"
    );

    // /health/live answers 204: get --raw prints nothing and succeeds.
    let live = format!("/api/v1/namespaces/default/pods/https:{es1}:2113/proxy/health/live");
    let run = bed.kubectl(&["get", "--raw", &live]).ok();
    assert_eq!(run.stdout, "");

    // Nothing listening: the API server's 503 Status; kubectl exits 1 and prints its message.
    bed.kube.set_unreachable("es-1", true);
    let run = raw_gossip(&bed, &es1, "https");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with(
            "Error from server (ServiceUnavailable): error trying to reach service: dial tcp 10."
        ) && run.stderr.contains(":2113: connect: connection refused"),
        "{run:?}"
    );
    // …and the unreachable node drops out of the others' derived views.
    bed.kube.clear_gossip();
    bed.kube.set_unreachable("es-1", true);
    let doc = raw_gossip(&bed, &es3, "https").ok().json();
    assert_eq!(doc["members"].as_array().unwrap().len(), 2);
    assert_eq!(doc["members"][0]["state"], "Leader");
    bed.kube.set_unreachable("es-1", false);

    // Plain http to a TLS server, an unknown pod, a pod without an IP.
    let run = raw_gossip(&bed, &es1, "http").failed();
    assert!(run.stderr.contains("ServiceUnavailable"), "{run:?}");
    let run = raw_gossip(&bed, "es-9-nope", "https").failed();
    assert!(
        run.stderr.contains("pods \"es-9-nope\" not found"),
        "{run:?}"
    );
    bed.kube
        .set_pod_state("es-2", PodState::unschedulable("0/1 nodes are available"));
    let es2 = pod_of(&bed, "es-2")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let run = raw_gossip(&bed, &es2, "https").failed();
    assert!(run.stderr.contains("address not allowed"), "{run:?}");
}

/// One GET over a Unix socket; returns (status, body).
fn unix_get(socket: &std::path::Path, path: &str) -> (u16, String) {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    let (head, body) = response.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, body.to_string())
}

#[test]
fn kubectl_proxy_on_a_unix_socket_passes_the_pod_proxy_through() {
    let bed = Bed::new();
    bed.apply(&node_deployments("kurrentdb:26.0.0")).ok();
    let es2 = pod_of(&bed, "es-2")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let socket = bed.dir.path().join("proxy.sock");
    let mut child = Command::new("kubectl")
        .args(["proxy", "--unix-socket"])
        .arg(&socket)
        .env("KUBECONFIG", bed.dir.path().join("kubeconfig"))
        .env("KUBECACHEDIR", bed.dir.path().join("cache"))
        .env("HOME", bed.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl proxy");
    let started = Instant::now();
    while !socket.exists() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let path = format!("/api/v1/namespaces/default/pods/https:{es2}:2113/proxy/gossip");
    let (status, body) = unix_get(&socket, &path);
    let doc: Value = serde_json::from_str(&body).expect("gossip JSON");
    assert_eq!(status, 200);
    assert_eq!(doc["members"][1]["state"], "Follower");
    bed.kube.set_unreachable("es-2", true);
    let (status, body) = unix_get(&socket, &path);
    let error: Value = serde_json::from_str(&body).expect("a Status");
    assert_eq!(status, 503);
    assert_eq!(error["reason"], "ServiceUnavailable");
    let log = format!("/api/v1/namespaces/default/pods/{es2}/log?tailLines=1");
    assert_eq!(unix_get(&socket, &log).0, 200);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn claims_grow_only_through_an_expanding_class_and_never_shrink() {
    let bed = Bed::new();
    for (name, expands) in [("fixed", false), ("growing", true)] {
        bed.kube.seed(json!({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": name}, "provisioner": "pd.csi.storage.gke.io",
            "reclaimPolicy": "Delete", "allowVolumeExpansion": expands
        }));
    }
    let claim = |class: &str, size: &str| {
        format!(
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: data-{class}, namespace: default}}\n\
             spec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: {class}\n  resources: {{requests: {{storage: {size}}}}}\n"
        )
    };
    let size = |class: &str| {
        bed.kube
            .get(
                "PersistentVolumeClaim",
                Some("default"),
                &format!("data-{class}"),
            )
            .expect("claim")["spec"]["resources"]["requests"]["storage"]
            .clone()
    };
    for class in ["fixed", "growing"] {
        bed.apply(&claim(class, "10Gi")).ok();
    }
    // The resize admission plugin's answer, word for word, for a class that does not expand.
    let run = bed.apply(&claim("fixed", "50Gi")).failed();
    assert!(
        run.stderr.contains(
            "persistentvolumeclaims \"data-fixed\" is forbidden: only dynamically provisioned \
             pvc can be resized and the storageclass that provisions the pvc must support resize"
        ),
        "{run:?}"
    );
    assert_eq!(size("fixed"), "10Gi");
    bed.apply(&claim("growing", "50Gi")).ok();
    assert_eq!(size("growing"), "50Gi");
    let run = bed.apply(&claim("growing", "20Gi")).failed();
    assert!(
        run.stderr
            .contains("field can not be less than status.capacity"),
        "{run:?}"
    );
    assert_eq!(size("growing"), "50Gi");
}

#[test]
fn the_resizer_grows_a_bound_volume_and_its_disk_only_while_the_volume_holds_less() {
    let bed = Bed::new();
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String, u64)>::new()));
    let seen = calls.clone();
    bed.kube
        .set_volume_expander(std::sync::Arc::new(move |driver, handle, gib| {
            seen.lock()
                .unwrap()
                .push((driver.into(), handle.into(), gib));
            Ok(())
        }));
    bed.kube.seed(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "growing"}, "provisioner": "pd.csi.storage.gke.io",
        "reclaimPolicy": "Retain", "allowVolumeExpansion": true
    }));
    let volume = |name: &str, class: &str, size: &str| {
        format!(
            "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {name}}}\nspec:\n  \
             capacity: {{storage: {size}}}\n  accessModes: [ReadWriteOnce]\n  \
             persistentVolumeReclaimPolicy: Retain\n  storageClassName: \"{class}\"\n  \
             claimRef: {{namespace: default, name: {name}}}\n  \
             csi: {{driver: pd.csi.storage.gke.io, volumeHandle: disk-{name}}}\n"
        )
    };
    let claim = |name: &str, class: &str, size: &str| {
        format!(
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}, namespace: default}}\n\
             spec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: \"{class}\"\n  \
             volumeName: {name}\n  resources: {{requests: {{storage: {size}}}}}\n"
        )
    };
    let sizes = |name: &str| {
        let c = bed
            .kube
            .get("PersistentVolumeClaim", Some("default"), name)
            .expect("claim");
        let pv = bed.kube.get("PersistentVolume", None, name).expect("pv");
        (
            c["status"]["capacity"]["storage"].clone(),
            pv["spec"]["capacity"]["storage"].clone(),
        )
    };
    bed.apply(&volume("a", "growing", "10Gi")).ok();
    bed.apply(&claim("a", "growing", "10Gi")).ok();
    assert_eq!(sizes("a"), (json!("10Gi"), json!("10Gi")));
    bed.apply(&claim("a", "growing", "50Gi")).ok();
    assert_eq!(sizes("a"), (json!("50Gi"), json!("50Gi")));
    assert_eq!(
        *calls.lock().unwrap(),
        [("pd.csi.storage.gke.io".into(), "disk-a".into(), 50)]
    );
    // A volume whose capacity someone raised holds what the claim asks: no disk is grown.
    bed.apply(&volume("a", "growing", "80Gi")).ok();
    bed.apply(&claim("a", "growing", "80Gi")).ok();
    assert_eq!(calls.lock().unwrap().len(), 1);
    // A claim pre-bound without a class keeps none: its class cannot change.
    bed.apply(&volume("b", "", "10Gi")).ok();
    bed.apply(&claim("b", "", "10Gi")).ok();
    let run = bed.apply(&claim("b", "growing", "10Gi")).failed();
    assert!(run.stderr.contains("Forbidden"), "{run:?}");
}

/// A GCE PD attaches only in its own zone: a volume whose node affinity pins it to another
/// zone than its disk's leaves its pod Pending with the attach error; pinned to the disk's
/// zone, the pod runs.
#[test]
fn a_gce_disk_is_used_only_in_its_own_zone() {
    let pinned = |zone: &str| {
        default_manifest().replace(
            "    fsType: ext4\n",
            &format!(
                "    fsType: ext4\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      \
                 - matchExpressions:\n        - {{key: topology.gke.io/zone, operator: In, \
                 values: [{zone}]}}\n"
            ),
        )
    };
    for (zone, runs) in [("us-central1-b", false), ("us-central1-a", true)] {
        let bed = Bed::new();
        for z in ["us-central1-a", "us-central1-b"] {
            bed.kube.seed(json!({"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": format!("gke-{z}"), "labels": {"topology.gke.io/zone": z}}}));
        }
        bed.apply(&pinned(zone)).ok();
        let pods = bed.kube.pods("es");
        let pod = pods
            .iter()
            .find(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("es-1-"))
            })
            .expect("es-1's pod");
        assert_eq!(pod["status"]["phase"] == "Running", runs, "{zone}: {pod}");
        if !runs {
            assert!(pod.to_string().contains("Could not find disk"), "{pod}");
        }
    }
}
