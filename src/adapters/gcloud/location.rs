//! Where the disks live on GCE: the project and zone from the flags, gcloud's environment, the
//! `gke_P_Z_C` context name, or (only when those do not say) `gcloud config`.

use anyhow::{Context, Result};
use serde_json::Value;

use super::Gcloud;
use crate::adapters::process::{args, Tool};
use crate::error::UsageError;
use crate::spec::{cloud_id, Spec};

/// Project and zone from flags, gcloud's environment variables, or a `gke_P_Z_C` context name,
/// without running anything. `None` where they must come from `gcloud config`.
pub fn location_without_io(spec: &Spec, context: Option<&str>) -> (Option<String>, Option<String>) {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let from_context: Vec<&str> = context
        .filter(|c| c.starts_with("gke_"))
        .map(|c| c.split('_').collect())
        .unwrap_or_default();
    let ctx_project = from_context.get(1).map(|s| s.to_string());
    // Only zonal clusters name a zone (us-central1-a); regional ones name a region.
    let ctx_zone = from_context
        .get(2)
        .filter(|z| z.matches('-').count() >= 2)
        .map(|s| s.to_string());
    // The context names the cluster's own project and zone: it wins over gcloud's defaults.
    let project = spec
        .location
        .project
        .clone()
        .or(ctx_project)
        .or_else(|| env("CLOUDSDK_CORE_PROJECT"));
    let zone = spec
        .location
        .zone
        .clone()
        .or(ctx_zone)
        .or_else(|| env("CLOUDSDK_COMPUTE_ZONE"));
    (project, zone)
}

impl Gcloud {
    /// For `render`: no gcloud needed, project and zone must be known without asking it.
    pub fn offline(spec: &Spec, context: Option<&str>) -> Result<Gcloud> {
        let (project, zone) = location_without_io(spec, context);
        let (Some(project), Some(zone)) = (project, zone) else {
            return Err(UsageError::new(
                "gke volumes need a project and a zone: pass --project and --zone (or set \
                 CLOUDSDK_CORE_PROJECT and CLOUDSDK_COMPUTE_ZONE)",
            )
            .into());
        };
        Ok(Gcloud {
            tool: None,
            spec: spec.clone(),
            project: cloud_id("project", &project)?,
            zone: cloud_id("zone", &zone)?,
            restore: Default::default(),
            placement: Default::default(),
        })
    }

    /// For commands that touch disks: finds gcloud and, if needed, asks it for project/zone.
    pub fn new(spec: &Spec, context: Option<&str>) -> Result<Gcloud> {
        let tool = Tool::find(
            "gcloud",
            "the Google Cloud CLI (https://cloud.google.com/sdk)",
        )?;
        let (mut project, mut zone) = location_without_io(spec, context);
        if project.is_none() || zone.is_none() {
            let out = tool.run_retry(&args(["config", "list", "--format=json"]), None)?;
            let config: Value = serde_json::from_str(&out).context("gcloud config list")?;
            project = project.or_else(|| config["core"]["project"].as_str().map(str::to_string));
            zone = zone.or_else(|| config["compute"]["zone"].as_str().map(str::to_string));
        }
        let mut g = Gcloud::offline(
            &Spec {
                location: crate::spec::Location {
                    project,
                    zone,
                    ..spec.location.clone()
                },
                ..spec.clone()
            },
            None,
        )?;
        g.tool = Some(tool);
        g.spec = spec.clone();
        Ok(g)
    }
}
