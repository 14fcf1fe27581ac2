//! `kubectl port-forward`: a local port to one pod's port, for as long as it runs.

use anyhow::Result;

use super::{first_line, Kubectl};

impl Kubectl {
    /// Forwards 127.0.0.1:`local` (0: a free port kubectl picks) to `pod`:`remote` until
    /// the forward ends (interrupted, or the pod went); `on_ready` gets the local port once
    /// kubectl listens. `Err` with kubectl's message when it failed.
    pub fn port_forward(
        &self,
        pod: &str,
        local: u16,
        remote: u16,
        mut on_ready: impl FnMut(u16),
    ) -> Result<Result<(), String>> {
        let mut a = self.base();
        a.push("port-forward".into());
        a.push(format!("pod/{pod}"));
        a.push(if local == 0 {
            format!(":{remote}")
        } else {
            format!("{local}:{remote}")
        });
        a.push("--address=127.0.0.1".into());
        // kubectl prints `Forwarding from 127.0.0.1:PORT -> REMOTE` once it listens.
        let out = self.tool.stream_lines(&a, |line| {
            let port = line
                .strip_prefix("Forwarding from 127.0.0.1:")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|p| p.parse::<u16>().ok());
            if let Some(port) = port {
                on_ready(port);
            }
        })?;
        Ok(if out.success() {
            Ok(())
        } else {
            Err(first_line(&out.stderr))
        })
    }
}
