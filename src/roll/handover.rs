//! Carrying out a resignation (see [`super::resign`]): the request's Job, then gossip until
//! another node leads. Bounded throughout; a refusal or a timeout is reported in one line and
//! the roll goes on as before (the leader restarts while it leads, and the cluster elects).

use std::time::{Duration, Instant};

use anyhow::Result;

use super::resign::{self, Resignation};
use super::Roller;
use crate::adapters::kube_proxy::KubeProxy;
use crate::manifest::{COMPONENT, NODE_LABEL};

impl Roller<'_> {
    /// Asks node `index` (`name`, the leader) to resign and says how it went; returns the role
    /// to report it restarting in.
    pub(super) fn hand_over(&self, proxy: &KubeProxy, index: u8, name: &str) -> Result<String> {
        self.report.info(&format!(
            "asking {name} (leader) to resign before it restarts"
        ));
        Ok(match self.resign(proxy, index, name)? {
            Resignation::HandedOver { leader, secs } => {
                self.report
                    .info(&format!("{name} resigned: {leader} leads now ({secs:.1}s)"));
                format!("resigned, {leader} leads")
            }
            Resignation::NotDone(why) => {
                self.report.warn(&format!(
                    "{name} did not resign ({why}): restarting it as leader, so the cluster \
                     elects a new one after it goes"
                ));
                "Leader".to_string()
            }
        })
    }

    fn resign(&self, proxy: &KubeProxy, index: u8, name: &str) -> Result<Resignation> {
        let spec = self.spec;
        if spec.generation() < 20 {
            return Ok(Resignation::NotDone(
                "EventStore 5.x has no resign endpoint".into(),
            ));
        }
        let ca = if spec.security.tls {
            let name = crate::names::ca_configmap(spec);
            let stored = self.kubectl.get_json(&[
                "configmap".to_string(),
                name.clone(),
                "--ignore-not-found".to_string(),
            ])?;
            match resign::ca_bundle(&stored) {
                Some(bundle) => Some(bundle),
                None => {
                    return Ok(Resignation::NotDone(format!(
                        "ConfigMap {name} holds no CA certificate"
                    )))
                }
            }
        } else {
            None
        };
        let ops = if spec.security.tls {
            let secret = crate::names::credentials_secret(spec);
            let stored = self.kubectl.get_json(&[
                "secret".to_string(),
                secret.clone(),
                "--ignore-not-found".to_string(),
            ])?;
            match crate::secrets::decode(&stored["data"]).remove("ops-password") {
                Some(p) if !p.is_empty() => Some(p),
                _ => {
                    return Ok(Resignation::NotDone(format!(
                        "Secret {secret} holds no ops password"
                    )))
                }
            }
        } else {
            None
        };
        let (_, obs) = self.look(proxy)?;
        let host = obs
            .objects
            .iter()
            .find(|o| {
                o["kind"] == "Pod"
                    && o["metadata"]["labels"][COMPONENT] == "node"
                    && o["metadata"]["labels"][NODE_LABEL].as_str() == Some(&index.to_string())
            })
            .and_then(|p| p["spec"]["nodeName"].as_str());
        let image = spec.profile.str("image")?;
        let uid = spec.profile.u64("runAsUser")?;
        let config = resign::curl_config(spec, index, ops.as_deref());
        let leftovers = resign::leftovers(spec);
        let started = Instant::now();
        // A finished Job of the same name (an earlier roll's) would be immutable.
        self.kubectl.delete(&leftovers)?;
        self.kubectl.apply(&[
            resign::request_secret(spec, &config, ca.as_deref()),
            resign::job(spec, &image, uid, host),
        ])?;
        let job = resign::job_name(spec);
        let ended = loop {
            let state = self.kubectl.get_json(&[
                "job".to_string(),
                job.clone(),
                "--ignore-not-found".to_string(),
            ])?;
            if let Some(ok) = resign::job_end(&state) {
                break Some(ok);
            }
            if started.elapsed() >= resign::JOB_TIMEOUT {
                break None;
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        match ended {
            Some(true) => self.kubectl.delete(&leftovers)?,
            // The Job stays for its logs (it holds no secret; its TTL removes it).
            _ => self.kubectl.delete(&leftovers[1..])?,
        }
        match ended {
            Some(true) => {}
            Some(false) => {
                return Ok(Resignation::NotDone(format!(
                    "the node refused the request; `kubectl logs job/{job}` shows its answer"
                )))
            }
            None => {
                return Ok(Resignation::NotDone(format!(
                    "the request got no answer within {}s",
                    resign::JOB_TIMEOUT.as_secs()
                )))
            }
        }
        let asked = Instant::now();
        loop {
            let (health, _) = self.look(proxy)?;
            if let Some(leader) = health.leader.filter(|l| l != name) {
                return Ok(Resignation::HandedOver {
                    leader,
                    secs: resign::secs(started),
                });
            }
            if asked.elapsed() >= resign::HANDOVER_TIMEOUT {
                return Ok(Resignation::NotDone(format!(
                    "it accepted, but gossip showed no other leader within {}s",
                    resign::HANDOVER_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}
