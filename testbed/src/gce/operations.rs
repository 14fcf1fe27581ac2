//! Zone operations: what an insert, delete or setLabels returns, RUNNING for the configured
//! latency and then DONE (with `error` if a fault said so).

use super::values::{not_found, timestamp, ApiError};
use super::{key, path, Key, State, LINK_BASE};
use crate::http;
use serde_json::{json, Value};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub(super) struct Operation {
    pub done_at: Instant,
    /// The operation as it reads once DONE.
    pub done: Value,
}

impl Operation {
    pub(super) fn render(&self) -> Value {
        let mut value = self.done.clone();
        if Instant::now() < self.done_at {
            if let Some(fields) = value.as_object_mut() {
                for name in [
                    "endTime",
                    "error",
                    "httpErrorStatusCode",
                    "httpErrorMessage",
                ] {
                    fields.remove(name);
                }
            }
            value["status"] = json!("RUNNING");
            value["progress"] = json!(0);
        }
        value
    }
}

impl State {
    /// Starts an operation on the disk (or, zone empty, the snapshot) `target`, DONE after the latency, and returns it.
    pub(super) fn start_operation(
        &mut self,
        op_type: &str,
        target: &Key,
        target_id: u64,
        error: Option<ApiError>,
    ) -> Value {
        self.seq += 1;
        let (seq, started) = (self.seq, SystemTime::now());
        let millis = started
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let name = format!(
            "operation-{millis}-{seq:013x}-{:08x}",
            seq * 2_654_435_761 % (1 << 32)
        );
        let k = key(&target.0, &target.1, &name);
        // A target without a zone is a snapshot, and its operation is a global one.
        let collection = if target.1.is_empty() {
            "snapshots"
        } else {
            "disks"
        };
        let mut done = json!({
            "kind": "compute#operation", "id": (7_300_000_000_000_000_000 + seq).to_string(),
            "name": name, "operationType": op_type,
            "targetLink": format!("{LINK_BASE}{}", path(target, collection)),
            "targetId": target_id.to_string(), "status": "DONE", "progress": 100,
            "user": "esk-testbed@example.iam.gserviceaccount.com",
            "insertTime": timestamp(started), "startTime": timestamp(started),
            "endTime": timestamp(started + self.latency),
            "selfLink": format!("{LINK_BASE}{}", path(&k, "operations")),
        });
        if !k.1.is_empty() {
            done["zone"] = json!(format!("{LINK_BASE}projects/{}/zones/{}", k.0, k.1));
        }
        if let Some(e) = error {
            done["error"] = json!({"errors": [{"code": e.reason, "message": e.message}]});
            done["httpErrorStatusCode"] = json!(e.status);
            done["httpErrorMessage"] = json!(http::reason(e.status).to_ascii_uppercase());
        }
        let done_at = Instant::now() + self.latency;
        let operation = Operation { done_at, done };
        let value = operation.render();
        self.operations.insert(k, operation);
        value
    }

    pub(super) fn find_operation(&self, k: &Key) -> Result<&Operation, ApiError> {
        self.operations
            .get(k)
            .ok_or_else(|| not_found(&path(k, "operations")))
    }
}
