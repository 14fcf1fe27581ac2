//! Which kind of disks a cluster has: a cloud's (gke, aws), a node's own (kind), or whatever
//! the default StorageClass provisions (dynamic).

use std::fmt;
use std::str::FromStr;

use crate::error::UsageError;

/// Where the disks live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cloud {
    Gke,
    Aws,
    Kind,
    Dynamic,
}

/// The CSI drivers that bind esk's disks on the clouds it makes disks on.
pub const GKE_CSI_DRIVER: &str = "pd.csi.storage.gke.io";
pub const EBS_CSI_DRIVER: &str = "ebs.csi.aws.com";

impl Cloud {
    /// The CSI driver of the cloud's disks (gke, aws); kind's local volumes and dynamic
    /// claims have none of esk's.
    pub fn csi_driver(self) -> Option<&'static str> {
        match self {
            Cloud::Gke => Some(GKE_CSI_DRIVER),
            Cloud::Aws => Some(EBS_CSI_DRIVER),
            Cloud::Kind | Cloud::Dynamic => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Gke => "gke",
            Cloud::Aws => "aws",
            Cloud::Kind => "kind",
            Cloud::Dynamic => "dynamic",
        }
    }

    /// Guesses the cloud from a kube context name, as the managed services name them.
    pub fn from_context(context: &str) -> Option<Cloud> {
        if context.starts_with("gke_") {
            Some(Cloud::Gke)
        } else if context.starts_with("arn:aws:eks:") || context.contains(".eksctl.io") {
            Some(Cloud::Aws)
        } else if ["kind-", "minikube", "k3d-", "docker-desktop"]
            .iter()
            .any(|p| context.starts_with(p))
        {
            Some(Cloud::Kind)
        } else {
            None
        }
    }
}

impl FromStr for Cloud {
    type Err = UsageError;

    fn from_str(s: &str) -> Result<Cloud, UsageError> {
        match s {
            "gke" | "gcp" | "gcloud" => Ok(Cloud::Gke),
            "aws" | "eks" => Ok(Cloud::Aws),
            "kind" | "local" => Ok(Cloud::Kind),
            "dynamic" => Ok(Cloud::Dynamic),
            other => Err(UsageError::new(format!(
                "unknown cloud \"{}\": use gke, aws, kind or dynamic",
                other.escape_debug()
            ))),
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
