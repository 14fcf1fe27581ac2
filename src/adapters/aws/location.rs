//! Where the volumes live on AWS: the region from the flags, an EKS context ARN or the AWS
//! environment; the zone from --zone, else the region's first.

use anyhow::Result;

use super::Aws;
use crate::adapters::process::Tool;
use crate::error::UsageError;
use crate::spec::{cloud_id, Spec};

impl Aws {
    /// Region from --region, the AWS environment or an EKS context ARN; zone from --zone,
    /// else the region's first zone (`<region>a`).
    pub fn offline(spec: &Spec, context: Option<&str>) -> Result<Aws> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let from_arn = context
            .and_then(|c| c.strip_prefix("arn:aws:eks:"))
            .and_then(|rest| rest.split(':').next())
            .map(str::to_string);
        let region = spec
            .location
            .region
            .clone()
            // The context ARN names the cluster's own region: it wins over the environment's.
            .or(from_arn)
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .ok_or_else(|| {
                UsageError::new("aws volumes need a region: pass --region or set AWS_REGION")
            })?;
        let region = cloud_id("region", &region)?;
        let zone = match &spec.location.zone {
            Some(z) => z.clone(),
            None => format!("{region}a"),
        };
        if !zone.starts_with(&region) {
            return Err(UsageError::new(format!(
                "availability zone {zone} is not in region {region}"
            ))
            .into());
        }
        Ok(Aws {
            tool: None,
            spec: spec.clone(),
            region,
            zone,
            restore: Default::default(),
            placement: Default::default(),
        })
    }

    pub fn new(spec: &Spec, context: Option<&str>) -> Result<Aws> {
        let mut a = Aws::offline(spec, context)?;
        a.tool = Some(Tool::find(
            "aws",
            "the AWS CLI (https://aws.amazon.com/cli/, or `pip install awscli`)",
        )?);
        Ok(a)
    }
}
