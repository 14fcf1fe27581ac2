//! EventStore 5.x's user-management HTTP API, as a node behind the pod proxy answers it
//! (UsersController.cs at oss-v5.0.11, src/EventStore.Core/Services/Transport/Http/
//! Controllers/): `POST /users/{login}/command/reset-password` `{"newPassword": …}` (Admin),
//! `POST /users/{login}/command/change-password` `{"currentPassword", "newPassword"}` (the
//! user itself) and `GET /users/$current`. Every 5.x cluster starts with `admin` (in $admins)
//! and `ops` (in $ops), both with password `changeit`; credentials come in a Basic
//! `Authorization` header, and a request without valid ones is 401 with a
//! `WWW-Authenticate: Basic` challenge (BasicHttpAuthenticationProvider). Any node answers for
//! the cluster (a follower forwards to the master), so the users are kept per cluster.
//!
//! What reaches the node through the API server's pod proxy has no `Authorization` header: the
//! API server removes it once it has authenticated the request itself (k8s.io/apiserver,
//! pkg/endpoints/filters/authentication.go), so the proxy strips it before [`serve`].

use crate::http::{Request, Response};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The default password of `admin` and `ops` on a new 5.x cluster.
pub const DEFAULT_PASSWORD: &str = "changeit";

/// Each cluster's users (`namespace/instance` → login → password).
#[derive(Clone, Debug, Default)]
pub struct Users {
    clusters: BTreeMap<String, BTreeMap<String, String>>,
}

impl Users {
    fn of(&mut self, cluster: &str) -> &mut BTreeMap<String, String> {
        self.clusters.entry(cluster.to_string()).or_insert_with(|| {
            ["admin", "ops"]
                .iter()
                .map(|u| (u.to_string(), DEFAULT_PASSWORD.to_string()))
                .collect()
        })
    }

    /// The password `login` has on `cluster` (`namespace/instance`).
    pub fn password(&mut self, cluster: &str, login: &str) -> Option<String> {
        self.of(cluster).get(login).cloned()
    }
}

fn unauthorized() -> Response {
    let mut r = Response::new(401, "text/plain", "Unauthorized");
    r.headers
        .push(("WWW-Authenticate".into(), "Basic realm=\"ES\"".into()));
    r
}

/// The user a Basic `Authorization` header proves, if its password is right.
fn authenticate(users: &BTreeMap<String, String>, header: Option<&str>) -> Option<String> {
    let encoded = header?.strip_prefix("Basic ")?.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (login, password) = text.split_once(':')?;
    (users.get(login).map(String::as_str) == Some(password)).then(|| login.to_string())
}

fn result(status: u16, login: &str, error: &str) -> Response {
    Response::json(
        status,
        &json!({"loginName": login, "success": status == 200, "error": error}),
    )
}

/// Answers `method path` for `cluster` with the request's own `Authorization` header (None
/// when nothing sent one or a proxy removed it).
pub fn serve(
    users: &mut Users,
    cluster: &str,
    req: &Request,
    path: &str,
    authorization: Option<&str>,
) -> Response {
    let users = users.of(cluster);
    let Some(me) = authenticate(users, authorization) else {
        return unauthorized();
    };
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["users", "$current"]) => {
            Response::json(200, &json!({"data": {"loginName": me, "disabled": false}}))
        }
        ("POST", ["users", login, "command", "reset-password"]) => {
            if me != "admin" {
                return result(401, login, "Unauthorized");
            }
            let Some(new) = body["newPassword"].as_str().filter(|p| !p.is_empty()) else {
                return result(400, login, "InvalidArgument");
            };
            match users.get_mut(*login) {
                Some(p) => {
                    *p = new.to_string();
                    result(200, login, "Success")
                }
                None => result(404, login, "NotFound"),
            }
        }
        ("POST", ["users", login, "command", "change-password"]) => {
            let current = body["currentPassword"].as_str().unwrap_or_default();
            let Some(new) = body["newPassword"].as_str().filter(|p| !p.is_empty()) else {
                return result(400, login, "InvalidArgument");
            };
            if me != *login || users.get(*login).map(String::as_str) != Some(current) {
                return result(401, login, "Unauthorized");
            }
            users.insert(login.to_string(), new.to_string());
            result(200, login, "Success")
        }
        _ => Response::new(404, "text/plain", ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {token}")
    }

    fn post(body: Value) -> Request {
        Request {
            method: "POST".into(),
            path: String::new(),
            query: Vec::new(),
            headers: Default::default(),
            body: body.to_string().into_bytes(),
        }
    }

    #[test]
    fn defaults_work_until_reset_and_wrong_credentials_are_401() {
        let mut users = Users::default();
        let c = "legacy/old";
        let reset = "/users/ops/command/reset-password";
        let req = post(json!({"newPassword": "s3cret"}));
        assert_eq!(serve(&mut users, c, &req, reset, None).status, 401);
        let wrong = basic("admin", "nope");
        assert_eq!(serve(&mut users, c, &req, reset, Some(&wrong)).status, 401);
        let ops = basic("ops", DEFAULT_PASSWORD);
        assert_eq!(
            serve(&mut users, c, &req, reset, Some(&ops)).status,
            401,
            "only admin resets"
        );
        let admin = basic("admin", DEFAULT_PASSWORD);
        assert_eq!(serve(&mut users, c, &req, reset, Some(&admin)).status, 200);
        assert_eq!(users.password(c, "ops").as_deref(), Some("s3cret"));
        let current = Request {
            method: "GET".into(),
            ..post(Value::Null)
        };
        let me = "/users/$current";
        assert_eq!(serve(&mut users, c, &current, me, Some(&ops)).status, 401);
        let new_ops = basic("ops", "s3cret");
        assert_eq!(
            serve(&mut users, c, &current, me, Some(&new_ops)).status,
            200
        );
        // Another cluster keeps its own defaults.
        assert_eq!(
            users.password("legacy/other", "ops").as_deref(),
            Some("changeit")
        );
    }
}
