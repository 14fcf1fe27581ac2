//! Rules on the server container itself: its resource requests (ES006) and a pinned image
//! (ES015).

use serde_yaml::Value;

use super::Push;
use crate::lint::model::{at, text};
use crate::lint::node::{image_ref, Node};
use crate::quantity::{self, GI};

/// ES006: requests (a limit alone is also the request, as Kubernetes defaults it).
pub fn resources(node: &Node, push: &mut Push) {
    let r = node.container.get("resources");
    let get = |key: &str| {
        at(r.unwrap_or(&Value::Null), &["requests", key])
            .or_else(|| at(r.unwrap_or(&Value::Null), &["limits", key]))
    };
    let mut low = Vec::new();
    for (key, floor, shown_floor) in [("cpu", 0.5, "500m"), ("memory", GI, "1Gi")] {
        let value = get(key);
        match value.and_then(quantity::parse) {
            Some(q) if q >= floor => {}
            Some(_) => low.push(format!(
                "{key} {} (< {shown_floor})",
                text(value).unwrap_or_default()
            )),
            None => low.push(format!("no {key} request")),
        }
    }
    if !low.is_empty() {
        push(
            "ES006",
            format!("the server container has {}", low.join(", ")),
        );
    }
}

/// ES015.
pub fn image(node: &Node, push: &mut Push) {
    let Some(image) = text(node.container.get("image")) else {
        return;
    };
    let r = image_ref(&image);
    if r.digest {
        return;
    }
    match r.tag.as_deref() {
        None => push(
            "ES015",
            format!("image {image} has no tag: any version may start"),
        ),
        Some("latest") => push(
            "ES015",
            format!("image {image} follows :latest: any version may start"),
        ),
        Some(_) => {}
    }
}
