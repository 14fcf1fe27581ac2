//! Resource URLs: `/api/v1/[namespaces/NS/]PLURAL[/NAME[/SUBRESOURCE]]` and the same under
//! `/apis/GROUP/VERSION`.

use super::kinds::{by_resource, KindInfo};
use super::status::ApiError;

/// A parsed resource URL.
pub struct Route {
    pub info: &'static KindInfo,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Whether `path` addresses a resource (as opposed to discovery of a group-version).
pub fn is_resource_path(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.first() {
        Some(&"api") => segments.len() > 2,
        Some(&"apis") => segments.len() > 3,
        _ => false,
    }
}

pub fn parse_route(path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::no_route()),
    };
    let namespaced_route = match rest {
        ["namespaces", ns, plural, tail @ ..] => by_resource(group, version, plural)
            .filter(|k| k.namespaced)
            .map(|info| (info, Some(ns.to_string()), tail)),
        _ => None,
    };
    let (info, namespace, tail) = match namespaced_route {
        Some(found) => found,
        None => match rest {
            [plural, tail @ ..] => {
                let info = by_resource(group, version, plural).ok_or_else(ApiError::no_route)?;
                (info, None, tail)
            }
            [] => return Err(ApiError::no_route()),
        },
    };
    let (name, subresource) = match tail {
        [] => (None, None),
        [name] => (Some(name.to_string()), None),
        [name, sub] => (Some(name.to_string()), Some(sub.to_string())),
        _ => return Err(ApiError::no_route()),
    };
    if name.as_deref() == Some("") {
        return Err(ApiError::no_route());
    }
    Ok(Route {
        info,
        namespace,
        name,
        subresource,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = parse_route("/apis/apps/v1/namespaces/ns/deployments/es").expect("route");
        assert_eq!(r.info.kind, "Deployment");
        assert_eq!(r.namespace.as_deref(), Some("ns"));
        assert_eq!(r.name.as_deref(), Some("es"));
        let r = parse_route("/api/v1/namespaces/ns").expect("route");
        assert_eq!((r.info.kind, r.name.as_deref()), ("Namespace", Some("ns")));
        let r = parse_route("/api/v1/namespaces/ns/status").expect("route");
        assert_eq!(r.subresource.as_deref(), Some("status"));
        let r = parse_route("/api/v1/persistentvolumes").expect("route");
        assert_eq!((r.info.kind, r.name), ("PersistentVolume", None));
        assert!(parse_route("/apis/extensions/v1beta1/namespaces/d/deployments").is_err());
        assert!(parse_route("/api/v1/namespaces/d/persistentvolumes/x").is_err());
    }
}
