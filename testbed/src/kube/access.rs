//! Authorization as a test sets it: every request is allowed unless a test denied its verb and
//! resource (`KubeEmulator::deny`), in which case it gets the API server's 403. The review
//! kinds (`SelfSubjectAccessReview`, `SelfSubjectRulesReview`, authorization.k8s.io/v1,
//! create-only, never stored) answer from the same deny list, as RBAC would.
//!
//! Request attributes follow the API server's request-info rules: GET is `get` with a name,
//! `list` without, `watch` with `watch=true`; POST `create`, PUT `update`, PATCH `patch`,
//! DELETE `delete` or `deletecollection`; `/pods/NAME/proxy/...` is subresource `proxy`; a
//! namespace's own URL carries that namespace. A server-side apply that creates its object is
//! authorized as `patch` and `create`.

use std::fmt;

use super::kinds::{by_kind, by_resource, KindInfo, KINDS, VERBS};
use super::status::{ApiError, FieldError};
use super::store::Store;
use crate::http::{Request, Response};
use serde_json::{json, Value};

const GROUP: &str = "authorization.k8s.io";
const ACCESS_REVIEWS: &str = "selfsubjectaccessreviews";
const RULES_REVIEWS: &str = "selfsubjectrulesreviews";
/// Who the emulator's callers are (the kubeconfig user has no credentials).
const USER: &str = "system:anonymous";

/// What one request (or one review) asks to do.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    /// The plural, e.g. `persistentvolumes`.
    pub resource: String,
    /// e.g. `proxy`, `log`, `status`; empty for the object itself.
    pub subresource: String,
    /// `None` at the cluster scope.
    pub namespace: Option<String>,
}

impl Attributes {
    /// `persistentvolumes`, `leases.coordination.k8s.io`, `pods/proxy`: the form
    /// [`Access::deny`] takes.
    pub fn resource_name(&self) -> String {
        let mut r = self.resource.clone();
        if !self.group.is_empty() {
            r = format!("{r}.{}", self.group);
        }
        if !self.subresource.is_empty() {
            r = format!("{r}/{}", self.subresource);
        }
        r
    }
}

impl fmt::Display for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource_name())?;
        match &self.namespace {
            Some(ns) => write!(f, " in {ns}"),
            None => write!(f, " cluster-wide"),
        }
    }
}

/// The deny list and what was asked of it.
#[derive(Default)]
pub struct Access {
    /// (verb, resource[.group][/subresource]); `*` matches anything.
    denied: Vec<(String, String)>,
    /// Every resource attribute a SelfSubjectAccessReview asked about.
    pub reviews: Vec<Attributes>,
    /// The attributes of every resource request served.
    pub requests: Vec<Attributes>,
}

impl Access {
    pub fn deny(&mut self, verb: &str, resource: &str) {
        self.denied.push((verb.to_string(), resource.to_string()));
    }

    pub fn allows(&self, a: &Attributes) -> bool {
        let name = a.resource_name();
        !self
            .denied
            .iter()
            .any(|(v, r)| (v == "*" || *v == a.verb) && (r == "*" || *r == name))
    }

    /// The attributes of a resource request, recorded; a 403 when one of them is denied.
    pub fn authorize(&mut self, store: &Store, req: &Request) -> Result<(), ApiError> {
        let Some((attributes, name)) = request_attributes(store, req) else {
            return Ok(());
        };
        self.requests.extend(attributes.iter().cloned());
        match attributes.iter().find(|a| !self.allows(a)) {
            Some(a) => Err(forbidden(a, name.as_deref())),
            None => Ok(()),
        }
    }
}

/// Whether `path` is one of the review kinds' collections.
pub fn is_review(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    [ACCESS_REVIEWS, RULES_REVIEWS]
        .iter()
        .any(|r| p == format!("/apis/{GROUP}/v1/{r}"))
}

/// Answers a review (any method on a review path; only POST is allowed).
pub fn review(access: &mut Access, req: &Request) -> Response {
    let path = req.path.trim_end_matches('/');
    let plural = path.rsplit('/').next().unwrap_or("");
    let Some(info) = by_resource(GROUP, "v1", plural) else {
        return ApiError::no_route().to_response();
    };
    if req.method != "POST" {
        return ApiError::method_not_allowed(&req.method).to_response();
    }
    let result = super::body::body_object(req, info).and_then(|body| {
        super::body::check_identity(info, &body, false)?;
        if plural == ACCESS_REVIEWS {
            access_review(access, info, body)
        } else {
            Ok(rules_review(access, body))
        }
    });
    match result {
        Ok(mut answer) => {
            answer["apiVersion"] = json!(format!("{GROUP}/v1"));
            answer["kind"] = json!(info.kind);
            answer["metadata"] = json!({"creationTimestamp": null});
            Response::json(201, &answer)
        }
        Err(e) => e.to_response(),
    }
}

fn access_review(access: &mut Access, info: &KindInfo, mut body: Value) -> Result<Value, ApiError> {
    let spec = &body["spec"];
    let resource = &spec["resourceAttributes"];
    let non_resource = &spec["nonResourceAttributes"];
    if resource.is_object() == non_resource.is_object() {
        return Err(ApiError::invalid(
            info,
            "",
            &[FieldError::invalid(
                "spec.resourceAttributes",
                &json!(null),
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )],
        ));
    }
    // Every caller may read discovery, version and health (system:discovery).
    let allowed = if resource.is_object() {
        let s = |k: &str| resource[k].as_str().unwrap_or("").to_string();
        let a = Attributes {
            verb: s("verb"),
            group: s("group"),
            resource: s("resource"),
            subresource: s("subresource"),
            namespace: Some(s("namespace")).filter(|n| !n.is_empty()),
        };
        let allowed = access.allows(&a);
        access.reviews.push(a);
        allowed
    } else {
        true
    };
    body["status"] = if allowed {
        json!({"allowed": true, "reason": "allowed by the test bed"})
    } else {
        json!({"allowed": false})
    };
    Ok(body)
}

/// The rules the deny list leaves: everything (as for cluster-admin) when nothing is denied,
/// else every served resource with the verbs not denied.
fn rules_review(access: &Access, mut body: Value) -> Value {
    let mut rules = Vec::new();
    if access.denied.is_empty() {
        rules.push(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}));
    } else {
        let namespace = body["spec"]["namespace"].as_str().map(str::to_string);
        let subresources = [("Pod", "proxy"), ("Pod", "log")];
        let mut targets: Vec<(&KindInfo, &str)> = KINDS
            .iter()
            .filter(|k| k.has_status())
            .map(|k| (k, ""))
            .collect();
        targets.extend(
            subresources
                .iter()
                .filter_map(|(kind, sub)| Some((by_kind(kind)?, *sub))),
        );
        for (k, sub) in targets {
            let verbs: Vec<&str> = VERBS
                .iter()
                .copied()
                .filter(|v| {
                    access.allows(&Attributes {
                        verb: v.to_string(),
                        group: k.group.to_string(),
                        resource: k.plural.to_string(),
                        subresource: sub.to_string(),
                        namespace: namespace.clone(),
                    })
                })
                .collect();
            if !verbs.is_empty() {
                let resource = if sub.is_empty() {
                    k.plural.to_string()
                } else {
                    format!("{}/{sub}", k.plural)
                };
                rules
                    .push(json!({"verbs": verbs, "apiGroups": [k.group], "resources": [resource]}));
            }
        }
    }
    body["status"] = json!({
        "resourceRules": rules,
        "nonResourceRules": [{
            "verbs": ["get"],
            "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                                "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]
        }],
        "incomplete": false
    });
    body
}

/// The attributes of a resource request and the object's name, or `None` for a path that
/// is not a resource.
fn request_attributes(store: &Store, req: &Request) -> Option<(Vec<Attributes>, Option<String>)> {
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        // A namespace's own URL (and its status and finalize) is in that namespace.
        ["namespaces", ns, sub, ..] if ["status", "finalize"].contains(sub) => {
            (Some(ns.to_string()), rest)
        }
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(ns.to_string()), tail),
        ["namespaces", ns] => (Some(ns.to_string()), rest),
        _ => (None, rest),
    };
    let (resource, name, subresource) = match rest {
        [] => return None,
        [resource] => (*resource, None, ""),
        [resource, name] => (*resource, Some(name.to_string()), ""),
        [resource, name, sub, ..] => (*resource, Some(name.to_string()), *sub),
    };
    let watch = req
        .query_param("watch")
        .is_some_and(|w| w == "true" || w == "1");
    let verb = match (req.method.as_str(), &name) {
        ("GET", _) if watch => "watch",
        ("GET", Some(_)) => "get",
        ("GET", None) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", Some(_)) => "delete",
        ("DELETE", None) => "deletecollection",
        _ => return None,
    };
    let one = |verb: &str| Attributes {
        verb: verb.to_string(),
        group: group.to_string(),
        resource: resource.to_string(),
        subresource: subresource.to_string(),
        namespace: namespace.clone(),
    };
    let mut out = vec![one(verb)];
    let applies = req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/apply-patch"));
    if verb == "patch" && applies && subresource.is_empty() {
        let info = by_resource(group, version, resource);
        let ns = namespace.as_deref().filter(|_| resource != "namespaces");
        let exists = match (info, &name) {
            (Some(info), Some(name)) => store.get(info, ns, name).is_some(),
            _ => true,
        };
        if !exists {
            out.push(one("create"));
        }
    }
    Some((out, name))
}

/// The API server's 403 for a denied request.
pub(super) fn forbidden(a: &Attributes, name: Option<&str>) -> ApiError {
    let subject = match name {
        Some(n) => format!("{} \"{n}\"", a.resource),
        None => a.resource.clone(),
    };
    let resource = if a.subresource.is_empty() {
        format!("resource \"{}\"", a.resource)
    } else {
        format!("resource \"{}/{}\"", a.resource, a.subresource)
    };
    let scope = match &a.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    let mut e = ApiError::new(
        403,
        "Forbidden",
        format!(
            "{subject} is forbidden: User \"{USER}\" cannot {} {resource} in API group \"{}\" {scope}",
            a.verb, a.group
        ),
    );
    e.details = Some(json!({"name": name.unwrap_or(""), "group": a.group, "kind": a.resource}));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, query: &[(&str, &str)]) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: Default::default(),
            body: Vec::new(),
        }
    }

    fn shown(r: &Request) -> Vec<String> {
        let store = Store::new();
        request_attributes(&store, r)
            .map(|(a, _)| a.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    #[test]
    fn requests_map_to_the_api_servers_verbs() {
        let pv = "/api/v1/persistentvolumes";
        assert_eq!(
            shown(&req("GET", pv, &[])),
            ["list persistentvolumes cluster-wide"]
        );
        assert_eq!(
            shown(&req("GET", pv, &[("watch", "true")])),
            ["watch persistentvolumes cluster-wide"]
        );
        assert_eq!(
            shown(&req("DELETE", &format!("{pv}/x"), &[])),
            ["delete persistentvolumes cluster-wide"]
        );
        assert_eq!(
            shown(&req(
                "GET",
                "/api/v1/namespaces/ns/pods/https:es-1:2113/proxy/gossip",
                &[]
            )),
            ["get pods/proxy in ns"]
        );
        assert_eq!(
            shown(&req(
                "PUT",
                "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l",
                &[]
            )),
            ["update leases.coordination.k8s.io in ns"]
        );
        assert_eq!(
            shown(&req("GET", "/api/v1/namespaces/kube-system", &[])),
            ["get namespaces in kube-system"]
        );
        let mut apply = req("PATCH", "/api/v1/namespaces/ns/configmaps/c", &[]);
        apply
            .headers
            .insert("content-type".into(), "application/apply-patch+yaml".into());
        assert_eq!(
            shown(&apply),
            ["patch configmaps in ns", "create configmaps in ns"]
        );
        assert!(shown(&req("GET", "/apis/apps/v1", &[])).is_empty());
    }

    #[test]
    fn denials_match_verb_and_qualified_resource() {
        let mut access = Access::default();
        access.deny("delete", "persistentvolumes");
        access.deny("*", "pods/proxy");
        let a = |verb: &str, resource: &str, sub: &str| Attributes {
            verb: verb.into(),
            group: String::new(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: None,
        };
        assert!(!access.allows(&a("delete", "persistentvolumes", "")));
        assert!(access.allows(&a("list", "persistentvolumes", "")));
        assert!(!access.allows(&a("get", "pods", "proxy")));
        assert!(access.allows(&a("get", "pods", "")));
        let e = forbidden(&a("delete", "persistentvolumes", ""), Some("pv-1"));
        assert_eq!(
            e.message,
            "persistentvolumes \"pv-1\" is forbidden: User \"system:anonymous\" cannot delete \
             resource \"persistentvolumes\" in API group \"\" at the cluster scope"
        );
    }
}
