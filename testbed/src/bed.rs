//! The harness every test uses: both emulators on free 127.0.0.1 ports, a private kubeconfig,
//! gcloud config dir, HOME and (on demand) moto_server, and a `Command` builder that runs a
//! real binary against them with a clean environment. Dropping the bed stops everything.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::gce::GceEmulator;
use crate::kube::KubeEmulator;
use crate::moto::Moto;

pub const PROJECT: &str = "p";
pub const ZONE: &str = "us-central1-a";
pub const AWS_REGION: &str = "us-east-1";
pub const AWS_ZONE: &str = "us-east-1a";
/// A GKE-style context name, so tools that guess the cloud from it see GKE.
pub const GKE_CONTEXT: &str = "gke_p_us-central1-a_test";
/// How many Kubernetes nodes a GKE or EKS bed starts with (a kind bed has one).
pub const CLOUD_NODES: usize = 3;
pub const GKE_CSI_DRIVER: &str = "pd.csi.storage.gke.io";
pub const EBS_CSI_DRIVER: &str = "ebs.csi.aws.com";

pub struct TestBed {
    pub gce: GceEmulator,
    pub kube: KubeEmulator,
    /// Shared (weakly) with the kube emulator's resizer, which grows EBS volumes through it.
    moto: std::sync::Arc<OnceLock<Moto>>,
    dir: tempfile::TempDir,
    context: String,
}

impl TestBed {
    /// Starts a bed whose kube context looks like GKE.
    pub fn start() -> TestBed {
        TestBed::with_context(GKE_CONTEXT)
    }

    /// A GKE or EKS bed (by `context`, as [`TestBed::with_context`]) whose Kubernetes nodes are
    /// spread over `zones` of the region, `per_zone` in each (a regional GKE cluster, an EKS
    /// node group over several AZs). An empty `per_zone` zone is not seeded at all.
    pub fn with_zones(context: &str, zones: &[&str], per_zone: usize) -> TestBed {
        let bed = TestBed::bare(context);
        seed_cluster(&bed.kube, context, zones, per_zone);
        bed
    }

    /// Starts a bed with the given kube context name (e.g. "kind-dev", an EKS ARN), holding
    /// what such a cluster has before anything is applied (see [`seed_cluster`]).
    pub fn with_context(context: &str) -> TestBed {
        let bed = TestBed::bare(context);
        seed_cluster(&bed.kube, context, &[], CLOUD_NODES);
        bed
    }

    /// Both emulators and the bed's files, with nothing seeded yet.
    fn bare(context: &str) -> TestBed {
        let dir = tempfile::Builder::new()
            .prefix("esk-bed-")
            .tempdir()
            .expect("temp dir for the test bed");
        for sub in ["home", "gcloud", "kubecache"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("bed dirs");
        }
        let gce = GceEmulator::start().expect("start the Compute Engine emulator");
        let kube = KubeEmulator::start().expect("start the Kubernetes emulator");
        kube.write_kubeconfig(&dir.path().join("kubeconfig"), context)
            .expect("write kubeconfig");
        let moto = std::sync::Arc::new(OnceLock::new());
        kube.set_volume_expander(volume_expander(&gce, &moto));
        TestBed {
            gce,
            kube,
            moto,
            dir,
            context: context.to_string(),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn context(&self) -> &str {
        &self.context
    }

    /// moto_server, started the first time a test needs AWS (it costs ~0.5 s).
    pub fn moto(&self) -> &Moto {
        self.moto
            .get_or_init(|| Moto::start(&base_env(), self.dir.path()).expect("start moto_server"))
    }

    /// The environment the real CLIs run in: nothing from the developer's own config, every
    /// endpoint on 127.0.0.1, no metadata-server probes.
    pub fn env(&self) -> Vec<(String, String)> {
        let d = self.dir.path();
        let p = |sub: &str| d.join(sub).display().to_string();
        let mut env = base_env();
        let mut set = |k: &str, v: String| env.push((k.to_string(), v));
        set("HOME", p("home"));
        set("KUBECONFIG", p("kubeconfig"));
        set("KUBECACHEDIR", p("kubecache"));
        set("CLOUDSDK_CONFIG", p("gcloud"));
        set(
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE",
            self.gce.endpoint(),
        );
        set("CLOUDSDK_AUTH_DISABLE_CREDENTIALS", "true".into());
        set("CLOUDSDK_CORE_PROJECT", PROJECT.into());
        set("CLOUDSDK_COMPUTE_ZONE", ZONE.into());
        set("CLOUDSDK_CORE_DISABLE_PROMPTS", "1".into());
        set("CLOUDSDK_CORE_CHECK_GCE_METADATA", "false".into());
        set("CLOUDSDK_METRICS_ENVIRONMENT", "esk-testbed".into());
        set("CLOUDSDK_CORE_DISABLE_USAGE_REPORTING", "true".into());
        set(
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK",
            "true".into(),
        );
        set("GCE_METADATA_ROOT", "127.0.0.1:9".into());
        set("GCE_METADATA_IP", "127.0.0.1:9".into());
        set("AWS_ACCESS_KEY_ID", "testing".into());
        set("AWS_SECRET_ACCESS_KEY", "testing".into());
        set("AWS_DEFAULT_REGION", AWS_REGION.into());
        set("AWS_EC2_METADATA_DISABLED", "true".into());
        set("AWS_CONFIG_FILE", p("aws-config-missing"));
        set("AWS_SHARED_CREDENTIALS_FILE", p("aws-credentials-missing"));
        set("AWS_PAGER", String::new());
        set("NO_COLOR", "1".into());
        // esk's retries wait 1 s and more between tries; the bed's faults are instant.
        set("ESK_RETRY_BASE_MS", "20".into());
        if let Some(moto) = self.moto.get() {
            set("AWS_ENDPOINT_URL", moto.url());
        } else {
            // Nothing may reach AWS by accident: an unused port on loopback.
            set("AWS_ENDPOINT_URL", "http://127.0.0.1:9".into());
        }
        env
    }

    /// A command for `program` (a path or a name on PATH) in the bed's environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .envs(self.env())
            .current_dir(self.dir.path());
        cmd
    }

    /// Runs `program args…` in the bed with `stdin` (empty if None) and returns its output.
    pub fn run(
        &self,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Output {
        use std::io::Write;
        let mut cmd = self.command(program);
        cmd.args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn a command in the bed");
        if let Some(mut pipe) = child.stdin.take() {
            if let Some(text) = stdin {
                pipe.write_all(text.as_bytes()).expect("write stdin");
            }
        }
        child
            .wait_with_output()
            .expect("wait for a command in the bed")
    }

    /// Mutating requests seen by every emulator so far (GCE, Kubernetes and, if started, EC2).
    /// The cluster lock's Lease writes are not counted: a run that changes nothing still takes
    /// and releases its lock, and leaves nothing behind.
    pub fn mutating_requests(&self) -> usize {
        self.gce.mutating_requests() + self.kube.mutating_requests() - self.lock_requests()
            + self.moto.get().map_or(0, Moto::mutating_requests)
    }

    /// Writes of `coordination.k8s.io` Leases (esk's cluster lock) seen by the kube emulator.
    pub fn lock_requests(&self) -> usize {
        self.kube
            .requests()
            .iter()
            .filter(|r| {
                let (method, path) = r.split_once(' ').unwrap_or(("", ""));
                matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
                    && path.starts_with("/apis/coordination.k8s.io/")
            })
            .count()
    }
}

/// The CSI drivers' `ControllerExpandVolume` for the kube emulator's resizer: a GCE PD grows
/// in the Compute Engine emulator, an EBS volume in moto (ModifyVolume); a volume of any
/// other driver has no cloud disk here, so growing it is only the volume's capacity.
fn volume_expander(
    gce: &GceEmulator,
    moto: &std::sync::Arc<OnceLock<Moto>>,
) -> crate::kube::VolumeExpander {
    let gce = gce.volume_expander();
    let moto = std::sync::Arc::downgrade(moto);
    std::sync::Arc::new(
        move |driver: &str, handle: &str, size_gb: u64| match driver {
            GKE_CSI_DRIVER => gce(handle, size_gb),
            EBS_CSI_DRIVER => {
                let moto = moto.upgrade().ok_or("the bed is gone")?;
                let moto = moto.get().ok_or("moto_server is not running")?;
                moto.modify_volume_size(handle, size_gb)
                    .map_err(|e| e.to_string())
            }
            _ => Ok(()),
        },
    )
}

/// A real cluster always has Nodes, and a managed one its cloud's disk CSI driver. What the
/// context name says the cluster is decides which:
/// - GKE (`gke_P_LOCATION_NAME`): [`CLOUD_NODES`] nodes in the context's zone (else [`ZONE`])
///   labelled `topology.kubernetes.io/zone` and `topology.gke.io/zone`, and CSIDriver
///   `pd.csi.storage.gke.io`;
/// - EKS (`arn:aws:eks:REGION:ACCOUNT:cluster/NAME`): [`CLOUD_NODES`] nodes in `<REGION>a`,
///   and CSIDriver `ebs.csi.aws.com` (the EBS CSI add-on, which esk needs);
/// - kind (`kind-NAME`): one node `NAME-control-plane`, no CSI driver;
/// - anything else: one node `node-1`.
///
/// `zones` (GKE and EKS only; empty: the one zone above) spreads the cloud's nodes, `per_zone`
/// in each zone, named per zone as the clouds name them (a GKE instance group per zone).
pub fn seed_cluster(kube: &KubeEmulator, context: &str, zones: &[&str], per_zone: usize) {
    let gke: Vec<&str> = context.split('_').collect();
    let eks_region = context
        .strip_prefix("arn:aws:eks:")
        .and_then(|rest| rest.split(':').next());
    let region_of = |zone: &str| zone.rsplit_once('-').map_or(zone, |(r, _)| r).to_string();
    // (node name, zone if the cloud has zones), the region, the CSI driver, kubelet version
    let (nodes, region, driver, version) = if gke.len() == 4 && gke[0] == "gke" {
        let zone = if gke[2].matches('-').count() >= 2 {
            gke[2].to_string()
        } else {
            ZONE.to_string()
        };
        let cluster = dns_label(gke[3]);
        let spread: Vec<String> = if zones.is_empty() {
            vec![zone.clone()]
        } else {
            zones.iter().map(|z| z.to_string()).collect()
        };
        let mut nodes = Vec::new();
        for (k, z) in spread.iter().enumerate() {
            // One managed instance group per zone, each with its own hash.
            let group = ["5f6d3a21", "8c1e7b40", "d2a9f613", "47be0c58"][k % 4];
            for suffix in ["9xkq", "m2vt", "r7wd", "c4hn", "x8pz"]
                .iter()
                .cycle()
                .take(per_zone)
            {
                nodes.push((
                    format!("gke-{cluster}-default-pool-{group}-{suffix}"),
                    Some(z.clone()),
                ));
            }
        }
        let region = region_of(&zone);
        (nodes, region, Some(GKE_CSI_DRIVER), "v1.32.0-gke.1000000")
    } else if let Some(region) = eks_region {
        let domain = if region == "us-east-1" {
            "ec2.internal".to_string()
        } else {
            format!("{region}.compute.internal")
        };
        let spread: Vec<String> = if zones.is_empty() {
            vec![format!("{region}a")]
        } else {
            zones.iter().map(|z| z.to_string()).collect()
        };
        let mut nodes = Vec::new();
        for (k, z) in spread.iter().enumerate() {
            for i in 0..per_zone {
                // Each AZ has its own subnet.
                let name = format!("ip-192-168-{}-{}.{domain}", 10 + 32 * k + i, 20 + 7 * i);
                nodes.push((name, Some(z.clone())));
            }
        }
        (
            nodes,
            region.to_string(),
            Some(EBS_CSI_DRIVER),
            "v1.32.0-eks-1000000",
        )
    } else if let Some(name) = context.strip_prefix("kind-") {
        let node = format!("{}-control-plane", dns_label(name));
        (vec![(node, None)], String::new(), None, "v1.32.0")
    } else {
        (
            vec![("node-1".to_string(), None)],
            String::new(),
            None,
            "v1.32.0",
        )
    };
    for (name, zone) in &nodes {
        let mut labels = serde_json::json!({
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
        });
        match (zone, driver) {
            (Some(zone), Some(GKE_CSI_DRIVER)) => {
                labels["topology.kubernetes.io/zone"] = zone.as_str().into();
                labels["topology.kubernetes.io/region"] = region.as_str().into();
                labels["topology.gke.io/zone"] = zone.as_str().into();
                labels["cloud.google.com/gke-nodepool"] = "default-pool".into();
            }
            (Some(zone), _) => {
                labels["topology.kubernetes.io/zone"] = zone.as_str().into();
                labels["topology.kubernetes.io/region"] = region.as_str().into();
                labels["topology.ebs.csi.aws.com/zone"] = zone.as_str().into();
                labels["eks.amazonaws.com/nodegroup"] = "ng-1".into();
            }
            (None, _) if name.ends_with("-control-plane") => {
                labels["node-role.kubernetes.io/control-plane"] = "".into();
            }
            (None, _) => {}
        }
        kube.seed(serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "spec": {},
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                "nodeInfo": {"kubeletVersion": version},
            },
        }));
    }
    if let Some(driver) = driver {
        kube.seed(serde_json::json!({
            "apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver",
            "metadata": {"name": driver},
            "spec": {"attachRequired": true, "podInfoOnMount": false,
                     "volumeLifecycleModes": ["Persistent"]},
        }));
    }
}

/// `name` as a DNS label, for node names made from a context.
fn dns_label(name: &str) -> String {
    let label: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    label.trim_matches('-').chars().take(40).collect()
}

/// The few variables passed through from the host: where the programs are, and pyenv's root
/// (the `aws` and `moto_server` shims find their Python through it, and HOME is replaced).
fn base_env() -> Vec<(String, String)> {
    let mut env = Vec::new();
    for key in ["PATH", "LANG", "LC_ALL", "TMPDIR", "PYENV_VERSION"] {
        if let Ok(v) = std::env::var(key) {
            env.push((key.to_string(), v));
        }
    }
    let pyenv_root = std::env::var("PYENV_ROOT").ok().or_else(|| {
        let home = PathBuf::from(std::env::var("HOME").ok()?);
        let root = home.join(".pyenv");
        root.is_dir().then(|| root.display().to_string())
    });
    if let Some(root) = pyenv_root {
        env.push(("PYENV_ROOT".into(), root));
    }
    env
}
