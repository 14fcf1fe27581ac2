//! The zones Compute Engine has, by region, as `gcloud compute zones list` shows them: a call
//! in any other zone is refused as GCE refuses it (zones.get: 404 `notFound`; a disk made or
//! listed there: 400 `invalid`, "Unknown zone").

use super::values::{invalid, not_found, ApiError};

/// A region and its zones' suffixes (us-central1 has no zone d or e).
const REGIONS: [(&str, &str); 12] = [
    ("us-central1", "abcf"),
    ("us-east1", "bcd"),
    ("us-east4", "abc"),
    ("us-west1", "abc"),
    ("europe-west1", "bcd"),
    ("europe-west2", "abc"),
    ("europe-west3", "abc"),
    ("europe-west4", "abc"),
    ("europe-north1", "abc"),
    ("asia-east1", "abc"),
    ("asia-northeast1", "abc"),
    ("asia-southeast1", "abc"),
];

/// Whether `zone` is a zone of a known region.
pub(super) fn exists(zone: &str) -> bool {
    let Some((region, suffix)) = zone.rsplit_once('-') else {
        return false;
    };
    let mut chars = suffix.chars();
    let (Some(letter), None) = (chars.next(), chars.next()) else {
        return false;
    };
    REGIONS
        .iter()
        .any(|(r, letters)| *r == region && letters.contains(letter))
}

/// The error of a `zones.get` of an unknown zone.
pub(super) fn zone_not_found(project: &str, zone: &str) -> ApiError {
    not_found(&format!("projects/{project}/zones/{zone}"))
}

/// The error of a disk made or listed in an unknown zone.
pub(super) fn unknown_zone(zone: &str) -> ApiError {
    invalid(format!(
        "Invalid value for field 'zone': '{zone}'. Unknown zone."
    ))
}

#[cfg(test)]
mod tests {
    use super::exists;

    #[test]
    fn only_a_regions_real_zones_exist() {
        assert!(exists("us-central1-a") && exists("us-central1-f") && exists("europe-west1-d"));
        assert!(!exists("us-central1-d") && !exists("europe-west1-a") && !exists("z"));
        assert!(!exists("mars-north1-a") && !exists("us-central1-ab"));
    }
}
