//! The disks calls: zones.get, disks.list/aggregatedList, insert, delete and setLabels, and
//! how a disk reads in the API.

use super::paging::Page;
use super::values::{api_error, check_name, fingerprint, invalid, parse_body, parse_labels};
use super::values::{not_ready, ApiResult};
use super::{key, path, DiskRecord, Key, State, LINK_BASE};
use crate::http::Request;
use serde_json::{json, Map, Value};
use std::time::Instant;

pub(super) fn zone(project: &str, zone: &str) -> Value {
    let region = zone.rsplit_once('-').map_or(zone, |(region, _)| region);
    json!({
        "kind": "compute#zone", "id": "2000", "name": zone, "description": zone, "status": "UP",
        "creationTimestamp": "1969-12-31T16:00:00.000-08:00",
        "region": format!("{LINK_BASE}projects/{project}/regions/{region}"),
        "selfLink": format!("{LINK_BASE}projects/{project}/zones/{zone}"),
    })
}

pub(super) fn render_disk(record: &DiskRecord) -> Value {
    let d = &record.disk;
    let zone = format!("{LINK_BASE}projects/{}/zones/{}", d.project, d.zone);
    let mut value = json!({
        "kind": "compute#disk", "id": d.id.to_string(), "name": d.name,
        "creationTimestamp": record.created, "sizeGb": d.size_gb.to_string(),
        "status": record.status(), "selfLink": format!("{zone}/disks/{}", d.name),
        "type": format!("{zone}/diskTypes/{}", d.disk_type), "zone": zone,
        "labelFingerprint": fingerprint(&d.labels), "physicalBlockSizeBytes": "4096",
    });
    record.users.render(&mut value);
    if !d.labels.is_empty() {
        value["labels"] = json!(d.labels);
    }
    if let (Some(name), Some(id)) = (&d.source_snapshot, record.source_snapshot_id) {
        let link = format!(
            "{LINK_BASE}{}",
            path(&key(&d.project, "", name), "snapshots")
        );
        value["sourceSnapshot"] = json!(link);
        value["sourceSnapshotId"] = json!(id.to_string());
    }
    if let Some(description) = &record.description {
        value["description"] = json!(description);
    }
    value
}

impl State {
    /// `disks.list` (one zone) or `disks.aggregatedList` (`zone` None; items keyed "zones/Z").
    /// `maxResults`/`pageToken` page through the disks; `filter` is accepted and ignored, which
    /// only widens the answer: gcloud applies its `--filter` to what comes back.
    pub(super) fn list(&self, project: &str, zone: Option<&str>, req: &Request) -> ApiResult {
        let page = Page::of(req)?;
        let in_scope =
            |r: &&DiskRecord| r.disk.project == project && zone.is_none_or(|z| r.disk.zone == z);
        let all: Vec<&DiskRecord> = self.disks.values().filter(in_scope).collect();
        let (kind, id, items) = match zone {
            Some(z) => {
                let items: Vec<Value> = page.of_items(&all).map(|r| render_disk(r)).collect();
                (
                    "compute#diskList",
                    format!("projects/{project}/zones/{z}/disks"),
                    json!(items),
                )
            }
            None => {
                let mut scopes = Map::new();
                for r in page.of_items(&all) {
                    let scope = format!("zones/{}", r.disk.zone);
                    let scope = scopes.entry(scope).or_insert(json!({"disks": []}));
                    if let Some(disks) = scope["disks"].as_array_mut() {
                        disks.push(render_disk(r));
                    }
                }
                let id = format!("projects/{project}/aggregated/disks");
                ("compute#diskAggregatedList", id, Value::Object(scopes))
            }
        };
        let self_link = format!("{LINK_BASE}{id}");
        let mut value = json!({"kind": kind, "id": id, "items": items, "selfLink": self_link});
        page.link_next(&mut value, all.len());
        Ok(value)
    }

    pub(super) fn insert(&mut self, project: &str, zone: &str, body: &[u8]) -> ApiResult {
        let body = parse_body(body)?;
        let name = body["name"].as_str().unwrap_or_default();
        check_name(name)?;
        let disk_type = body["type"].as_str().unwrap_or("pd-standard");
        let disk_type = disk_type.rsplit('/').next().unwrap_or(disk_type);
        // A disk from a snapshot is the snapshot's size unless a larger one is asked for.
        let from = match body["sourceSnapshot"].as_str() {
            Some(link) => Some(self.source_snapshot(project, link)?),
            None => None,
        };
        let size_gb = match &body["sizeGb"] {
            Value::Null if from.is_some() => from.as_ref().map_or(0, |f| f.1),
            // The API's defaults for a disk without size or source.
            Value::Null if disk_type == "pd-standard" => 500,
            Value::Null if disk_type == "pd-extreme" => 1000,
            Value::Null => 100,
            Value::String(s) => s.parse().unwrap_or(0),
            other => other.as_u64().unwrap_or(0),
        };
        if size_gb == 0 {
            let message = format!(
                "Invalid value for field 'resource.sizeGb': {}",
                body["sizeGb"]
            );
            return Err(invalid(message));
        }
        if let Some((snapshot, size, _)) = &from {
            if size_gb < *size {
                let message = format!(
                    "Requested disk size cannot be smaller than the snapshot size ({size} GB) of \
                     {snapshot}"
                );
                return Err(invalid(message));
            }
        }
        let labels = parse_labels(&body["labels"])?;
        let k = key(project, zone, name);
        if self.disks.contains_key(&k) {
            let message = format!("The resource '{}' already exists", path(&k, "disks"));
            return Err(api_error(409, "alreadyExists", message));
        }
        let record = self.add_disk(k.clone(), size_gb, disk_type, labels);
        record.description = body["description"].as_str().map(str::to_string);
        if let Some((snapshot, _, id)) = from {
            record.disk.source_snapshot = Some(snapshot);
            record.source_snapshot_id = Some(id);
        }
        let id = record.disk.id;
        Ok(self.start_operation("insert", &k, id, None))
    }

    pub(super) fn delete(&mut self, k: &Key) -> ApiResult {
        let gone_at = Instant::now() + self.latency;
        let record = self.find_disk_mut(k)?;
        if record.status() != "READY" {
            return Err(not_ready(&path(k, "disks")));
        }
        if let Some(in_use) = record.users.in_use_error(&path(k, "disks")) {
            record.users.refused_delete();
            return Err(in_use);
        }
        record.gone_at = Some(gone_at);
        let id = record.disk.id;
        Ok(self.start_operation("delete", k, id, None))
    }

    /// Replaces the labels if `labelFingerprint` is the current one, else 412 like the API.
    pub(super) fn set_labels(&mut self, k: &Key, body: &[u8]) -> ApiResult {
        let body = parse_body(body)?;
        let labels = parse_labels(&body["labels"])?;
        let record = self.find_disk_mut(k)?;
        if body["labelFingerprint"].as_str() != Some(&fingerprint(&record.disk.labels)) {
            let message = "Labels fingerprint either invalid or resource labels have changed";
            return Err(api_error(412, "conditionNotMet", message));
        }
        record.disk.labels = labels;
        let id = record.disk.id;
        Ok(self.start_operation("setLabels", k, id, None))
    }
}

#[cfg(test)]
mod tests {
    use super::super::handle;
    use super::*;
    use crate::http;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    fn call(state: &Mutex<State>, method: &str, target: &str, body: &str) -> (u16, Value) {
        let (path, query) = http::split_target(target);
        let (method, headers, body) = (method.to_string(), BTreeMap::new(), body.into());
        let req = Request {
            method,
            path,
            query,
            headers,
            body,
        };
        let response = handle(state, req);
        let value = serde_json::from_slice(&response.body).unwrap_or_default();
        (response.status, value)
    }

    #[test]
    fn set_labels_checks_the_fingerprint_and_bad_input_is_a_400() {
        let state = Mutex::new(State::default());
        let disks = "/compute/v1/projects/p/zones/us-central1-a/disks";
        let (status, _) = call(&state, "POST", disks, r#"{"name":"d","labels":{"a":"b"}}"#);
        assert_eq!(status, 200);
        let (_, disk) = call(&state, "GET", &format!("{disks}/d"), "");
        let fp = disk["labelFingerprint"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let set = |fp: &str| format!(r#"{{"labels":{{"c":"d"}},"labelFingerprint":"{fp}"}}"#);
        let set_labels = format!("{disks}/d/setLabels");
        assert_eq!(
            call(&state, "POST", &set_labels, &set("AAAAAAAAAAA=")).0,
            412
        );
        assert_eq!(call(&state, "POST", &set_labels, &set(&fp)).0, 200);
        assert_eq!(call(&state, "POST", &set_labels, &set(&fp)).0, 412);
        let (_, disk) = call(&state, "GET", &format!("{disks}/d"), "");
        assert_eq!(disk["labels"], json!({"c": "d"}));
        assert_eq!(call(&state, "POST", disks, "{not json").0, 400);
        assert_eq!(call(&state, "POST", disks, r#"{"name":"Bad_Name"}"#).0, 400);
        assert_eq!(
            call(&state, "POST", disks, r#"{"name":"e","sizeGb":"x"}"#).0,
            400
        );
        let (status, error) = call(&state, "GET", &format!("{disks}?maxResults=x"), "");
        assert_eq!(
            (status, &error["error"]["errors"][0]["reason"]),
            (400, &json!("invalid"))
        );
        let (status, error) = call(&state, "GET", &format!("{disks}/nope"), "");
        assert_eq!(
            (status, &error["error"]["errors"][0]["reason"]),
            (404, &json!("notFound"))
        );
    }
}
