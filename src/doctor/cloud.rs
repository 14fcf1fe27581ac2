//! The cloud CLIs: their versions, where they would make disks, and who they act as.

use serde_json::Value;

use super::kube::version_numbers;
use super::{Check, MIN_AWS_V1, MIN_AWS_V2, MIN_GCLOUD};

/// A cloud CLI's version against its minimum; `version` is `None` when it is not on PATH.
pub fn tool_version(
    name: &'static str,
    version: Option<Result<&str, &str>>,
    install: &str,
) -> Check {
    let text = match version {
        None => return Check::fail(name, "not found on PATH", format!("install {install}")),
        Some(Err(e)) => {
            return Check::fail(
                name,
                format!("could not tell its version: {e}"),
                "reinstall it",
            )
        }
        Some(Ok(text)) => text,
    };
    let Some((major, minor, patch)) = version_numbers(text) else {
        return Check::fail(name, format!("unreadable version {text:?}"), "reinstall it");
    };
    let minimum = match (name, major) {
        ("aws", 1) => MIN_AWS_V1,
        ("aws", _) => MIN_AWS_V2,
        _ => MIN_GCLOUD,
    };
    let shown = format!("{major}.{minor}.{patch}");
    if (major, minor) >= minimum {
        Check::pass(name, shown)
    } else {
        Check::fail(
            name,
            format!("{shown} is older than {}.{}", minimum.0, minimum.1),
            format!("update it ({install})"),
        )
    }
}

/// Who gcloud acts as, from `gcloud config list --format=json`: an account, or the
/// environment's token file, credential file or disabled credentials. Values are never shown
/// but the account name.
pub fn gcloud_identity(config: &Value) -> Option<String> {
    let auth = &config["auth"];
    if let Some(account) = config["core"]["account"].as_str().filter(|a| !a.is_empty()) {
        Some(format!("account {account}"))
    } else if auth["access_token_file"].is_string() {
        Some("an access token file (auth/access_token_file)".into())
    } else if auth["credential_file_override"].is_string() {
        Some("a credential file (auth/credential_file_override)".into())
    } else if auth["disable_credentials"] == "true" || auth["disable_credentials"] == true {
        Some("no credentials (auth/disable_credentials, as for an emulator)".into())
    } else {
        None
    }
}

/// gcloud can act and read the disks' zone.
pub fn gcloud_access(
    identity: Option<&str>,
    zone_read: Option<&Result<(), String>>,
    project: &str,
    zone: &str,
) -> Check {
    let Some(identity) = identity else {
        return Check::fail(
            "gcloud credentials",
            "no active account",
            "run `gcloud auth login` (or set CLOUDSDK_AUTH_ACCESS_TOKEN_FILE)",
        );
    };
    match zone_read {
        Some(Ok(())) => Check::pass(
            "gcloud credentials",
            format!("{identity} reads zone {zone} of project {project}"),
        ),
        Some(Err(e)) => Check::fail(
            "gcloud credentials",
            format!("{identity} cannot read zone {zone} of project {project}: {e}"),
            "check `gcloud auth list`, the project and the zone",
        ),
        None => Check::skip("gcloud credentials", "gcloud did not run"),
    }
}

/// One check for several zones: the first that fails, else one pass naming them all.
pub fn all_zones(name: &'static str, each: Vec<Check>) -> Check {
    if each.len() < 2 {
        return each
            .into_iter()
            .next()
            .unwrap_or_else(|| Check::skip(name, "no zone"));
    }
    if let Some(bad) = each.iter().find(|c| c.status != super::Status::Pass) {
        return bad.clone();
    }
    let details: Vec<&str> = each.iter().map(|c| c.detail.as_str()).collect();
    Check::pass(name, details.join("; "))
}

/// AWS: the availability zone exists in the region and is available.
pub fn aws_zone(zones: &Result<Value, String>, region: &str, zone: &str) -> Check {
    match zones {
        Err(e) => Check::fail(
            "AWS zone",
            format!("could not look up {zone} in region {region}: {e}"),
            "check the region, the zone and the credentials",
        ),
        Ok(v) => {
            let found = v["AvailabilityZones"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|z| z["ZoneName"] == zone);
            match found.map(|z| z["State"].as_str().unwrap_or("?")) {
                Some("available") => Check::pass(
                    "AWS zone",
                    format!("{zone} in region {region} is available"),
                ),
                Some(state) => Check::fail(
                    "AWS zone",
                    format!("{zone} is {state}"),
                    "pass --zone with an available zone",
                ),
                None => Check::fail(
                    "AWS zone",
                    format!("no availability zone {zone} in region {region}"),
                    "pass --zone with one of the region's zones (`aws ec2 \
                     describe-availability-zones`)",
                ),
            }
        }
    }
}

/// AWS: the credentials work (`sts get-caller-identity`); only the account number is shown.
pub fn aws_credentials(identity: &Result<Value, String>) -> Check {
    match identity {
        Ok(v) => Check::pass(
            "AWS credentials",
            format!("account {}", v["Account"].as_str().unwrap_or("?")),
        ),
        Err(e) => Check::fail(
            "AWS credentials",
            e.clone(),
            "configure credentials (`aws configure`, `aws sso login`, AWS_PROFILE)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;
    use serde_json::json;

    #[test]
    fn cloud_clis_below_their_minimum_fail() {
        let status = |name, text| tool_version(name, Some(Ok(text)), "it").status;
        assert_eq!(status("aws", "aws-cli/1.28.0 x"), Status::Fail);
        assert_eq!(status("aws", "aws-cli/1.45.11 x"), Status::Pass);
        assert_eq!(status("aws", "aws-cli/2.12.0 x"), Status::Fail);
        assert_eq!(status("aws", "aws-cli/2.15.0 x"), Status::Pass);
        assert_eq!(status("gcloud", "399.0.0"), Status::Fail);
        assert_eq!(status("gcloud", "528.0.0"), Status::Pass);
        assert_eq!(tool_version("gcloud", None, "g").status, Status::Fail);
    }

    #[test]
    fn credentials_are_named_never_shown() {
        let config = json!({"core": {"account": "me@example.com"}, "auth": {"access_token_file": "/secret/path"}});
        assert_eq!(
            gcloud_identity(&config).as_deref(),
            Some("account me@example.com")
        );
        let token = json!({"auth": {"access_token_file": "/secret/path"}});
        let shown = gcloud_identity(&token).unwrap_or_default();
        assert!(!shown.contains("/secret/path"), "{shown}");
        assert_eq!(gcloud_identity(&json!({})), None);
        assert_eq!(gcloud_access(None, None, "p", "z").status, Status::Fail);
    }
}
