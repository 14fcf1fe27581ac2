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

pub struct TestBed {
    pub gce: GceEmulator,
    pub kube: KubeEmulator,
    moto: OnceLock<Moto>,
    dir: tempfile::TempDir,
    context: String,
}

impl TestBed {
    /// Starts a bed whose kube context looks like GKE.
    pub fn start() -> TestBed {
        TestBed::with_context(GKE_CONTEXT)
    }

    /// Starts a bed with the given kube context name (e.g. "kind-dev", an EKS ARN).
    pub fn with_context(context: &str) -> TestBed {
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
        TestBed {
            gce,
            kube,
            moto: OnceLock::new(),
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
