//! `--wait`: observe until the cluster is healthy, showing each node's state as it changes
//! (an indicatif display on a terminal, plain lines otherwise), and on timeout name every
//! stuck node and why.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{assess, clock, observe, state_hint, Health, NodeHealth, Observation, Verdict};
use crate::adapters::kube_proxy::KubeProxy;
use crate::adapters::kubectl::Kubectl;
use crate::error::Unhealthy;
use crate::report::Reporter;
use crate::spec::Spec;

/// How a wait ended: the last look, and (on timeout) what kept each node from being healthy.
pub struct Waited {
    pub health: Health,
    pub observation: Observation,
    pub stuck: Option<String>,
}

/// Seconds between looks: quick at first (a re-run is healthy at once), slower later.
fn pause(elapsed: Duration) -> Duration {
    match elapsed.as_secs() {
        0..=4 => Duration::from_millis(500),
        5..=29 => Duration::from_secs(1),
        _ => Duration::from_secs(2),
    }
}

/// A node in a few words, for the live display.
fn short(n: &NodeHealth) -> String {
    let state = n.member.as_ref().map(|m| m.state.clone());
    match (&n.problem, state) {
        (None, Some(s)) => s,
        (None, None) => "ok".into(),
        (Some(p), state) => {
            let first: String = p.lines().next().unwrap_or("").chars().take(100).collect();
            match state {
                Some(s) if !first.starts_with(&s) => format!("{s}; {first}"),
                _ => first,
            }
        }
    }
}

struct Progress<'a> {
    report: &'a Reporter,
    live: Option<(MultiProgress, ProgressBar, BTreeMap<u8, ProgressBar>)>,
    shown: BTreeMap<u8, String>,
    verdict: String,
}

impl<'a> Progress<'a> {
    fn new(report: &'a Reporter) -> Progress<'a> {
        let live = report.live().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let header = multi.add(ProgressBar::new_spinner());
            header.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            header.set_message("waiting: reading the cluster");
            header.enable_steady_tick(Duration::from_millis(100));
            (multi, header, BTreeMap::new())
        });
        Progress {
            report,
            live,
            shown: BTreeMap::new(),
            verdict: String::new(),
        }
    }

    fn show(&mut self, h: &Health) {
        let verdict = match &h.leader {
            Some(l) => format!(
                "cluster {}: {} (leader {l})",
                h.cluster.name,
                h.verdict.as_str()
            ),
            None => format!("cluster {}: {}", h.cluster.name, h.verdict.as_str()),
        };
        if let Some((multi, header, bars)) = &mut self.live {
            header.set_message(format!("waiting: {verdict}"));
            for n in &h.nodes {
                let bar = bars.entry(n.index).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {prefix:10} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(n.name.clone());
                    bar
                });
                bar.set_message(short(n));
            }
            return;
        }
        if verdict != self.verdict {
            self.report.info(&verdict);
            self.verdict = verdict;
        }
        for n in &h.nodes {
            let now = short(n);
            if self.shown.get(&n.index) != Some(&now) {
                self.report.info(&format!("  {}: {now}", n.name));
                self.shown.insert(n.index, now);
            }
        }
    }

    fn finish(&mut self) {
        if let Some((multi, header, bars)) = self.live.take() {
            for bar in bars.values() {
                bar.finish_and_clear();
            }
            header.finish_and_clear();
            let _ = multi.clear();
        }
    }
}

/// Looks until healthy or `timeout`; `proxy` stays open across looks.
pub fn poll(
    kubectl: &Kubectl,
    proxy: &KubeProxy,
    spec: &Spec,
    timeout: Duration,
    report: &Reporter,
) -> Result<Waited> {
    let started = Instant::now();
    let mut progress = Progress::new(report);
    // Since when each node has been in its current gossip state.
    let mut since: BTreeMap<u8, (Option<String>, Instant)> = BTreeMap::new();
    let result = loop {
        let obs = match observe::observe(kubectl, proxy, spec) {
            Ok(obs) => obs,
            Err(e) => break Err(e),
        };
        let health = assess(spec, &obs, clock::now());
        // A state seen on the first look has been there since the wait began.
        let first_look = since.is_empty();
        for n in &health.nodes {
            let state = n.member.as_ref().map(|m| m.state.clone());
            let seen = if first_look { started } else { Instant::now() };
            let entry = since.entry(n.index).or_insert((state.clone(), seen));
            if entry.0 != state {
                *entry = (state, Instant::now());
            }
        }
        progress.show(&health);
        if health.verdict == Verdict::Healthy {
            break Ok(Waited {
                health,
                observation: obs,
                stuck: None,
            });
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            let why = stuck(&health, &since, timeout);
            break Ok(Waited {
                health,
                observation: obs,
                stuck: Some(why),
            });
        }
        std::thread::sleep(pause(elapsed).min(timeout - elapsed));
    };
    progress.finish();
    result
}

/// Each stuck node and why, one per line.
fn stuck(h: &Health, since: &BTreeMap<u8, (Option<String>, Instant)>, timeout: Duration) -> String {
    let mut lines = vec![format!(
        "not healthy after {}s: {}",
        timeout.as_secs(),
        h.summary_head()
    )];
    lines.extend(h.reasons.iter().map(|r| format!("  {r}")));
    for n in h.nodes.iter().filter(|n| !n.ok) {
        let state = n.member.as_ref().map(|m| m.state.as_str());
        let unmoved = since
            .get(&n.index)
            .map_or(Duration::ZERO, |(_, t)| t.elapsed());
        let hinted = state.and_then(|s| state_hint(s).map(|h| (s, h)));
        let why = match hinted {
            Some((s, hint)) if unmoved >= timeout / 2 => {
                format!("stuck in {s} for {}s: {hint}", unmoved.as_secs().max(1))
            }
            _ => n.problem.clone().unwrap_or_else(|| "not ready".into()),
        };
        lines.push(format!("  {}: {}", n.name, why.replace('\n', "\n  ")));
    }
    lines.join("\n")
}

/// The wait step of `create --wait` and `resize --wait`: returns once the cluster is healthy,
/// or fails with the verdict's exit code naming each stuck node.
pub fn wait_healthy(
    spec: &Spec,
    kubectl: &Kubectl,
    timeout: Duration,
    report: &Reporter,
    label: &str,
) -> Result<()> {
    let started = Instant::now();
    let proxy = kubectl.proxy()?;
    let waited = poll(kubectl, &proxy, spec, timeout, report)?;
    let secs = started.elapsed().as_secs_f64();
    match waited.stuck {
        None => {
            report.info(&format!(
                "{label}: done ({secs:.1}s, leader {})",
                waited.health.leader.as_deref().unwrap_or("?")
            ));
            Ok(())
        }
        Some(why) => {
            report.info(&format!("{label}: failed ({secs:.1}s)"));
            Err(Unhealthy::new(waited.health.exit_code, why).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_slow_down() {
        assert_eq!(pause(Duration::from_secs(1)), Duration::from_millis(500));
        assert_eq!(pause(Duration::from_secs(60)), Duration::from_secs(2));
    }
}
