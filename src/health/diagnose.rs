//! Why a pod is not serving, in the words of what the API already says: the scheduler's
//! reason for a Pending pod, the container's waiting reason, the last lines a crash-looping
//! container printed.

use super::facts::PodFacts;

/// A Pending pod's scheduling message, explained.
pub fn scheduling(message: &str, claim: Option<(&str, &str)>) -> String {
    let lower = message.to_ascii_lowercase();
    let why = if lower.contains("volume node affinity conflict") {
        "no schedulable Kubernetes node can mount its disk (volume node affinity conflict: \
         the disk is in a zone, or on a node, the pod cannot run in)"
            .to_string()
    } else if lower.contains("unbound") && lower.contains("persistentvolumeclaim") {
        match claim {
            Some((name, phase)) => format!("its claim {name} is not bound ({phase})"),
            None => "its claim is not bound".to_string(),
        }
    } else if lower.contains("insufficient cpu") || lower.contains("insufficient memory") {
        "no Kubernetes node has enough free CPU or memory for it (lower node.cpuRequest / \
         node.memoryRequest, or add nodes)"
            .to_string()
    } else if lower.contains("anti-affinity") {
        "required anti-affinity and fewer Kubernetes nodes than EventStore nodes".to_string()
    } else {
        return format!("Pending: {message}");
    };
    format!("Pending: {why}: {message}")
}

/// The problem with a pod, or None when it runs and is Ready.
pub fn pod_problem(
    pod: &PodFacts,
    events: &[(String, String)],
    claim: Option<(&str, &str)>,
    previous_logs: Option<&str>,
) -> Option<String> {
    let latest = |reasons: &[&str]| {
        events
            .iter()
            .rev()
            .find(|(r, _)| reasons.contains(&r.as_str()))
            .map(|(_, m)| m.as_str())
    };
    if pod.deleting {
        return Some("terminating".into());
    }
    if let Some(message) = &pod.unscheduled {
        return Some(scheduling(message, claim));
    }
    if let Some((reason, message)) = &pod.waiting {
        return Some(match reason.as_str() {
            "CrashLoopBackOff" => {
                let mut text = format!("crash-looping ({} restarts)", pod.restarts);
                match previous_logs.map(str::trim_end).filter(|l| !l.is_empty()) {
                    Some(logs) => {
                        text.push_str("; last lines of the previous container:");
                        for line in logs.lines() {
                            text.push_str("\n    ");
                            text.push_str(line);
                        }
                    }
                    None => text.push_str("; the previous container left no logs"),
                }
                text
            }
            "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" => {
                let detail = latest(&["Failed"]).unwrap_or(message);
                format!("cannot pull image {}: {detail}", pod.image)
            }
            "ContainerCreating" | "PodInitializing" => {
                match latest(&["FailedMount", "FailedAttachVolume"]) {
                    Some(m) => format!("{reason}: {m}"),
                    None => format!("starting ({reason})"),
                }
            }
            _ if message.is_empty() => reason.clone(),
            _ => format!("{reason}: {message}"),
        });
    }
    match pod.phase.as_str() {
        "Pending" => Some(match latest(&["FailedScheduling"]) {
            Some(m) => scheduling(m, claim),
            None => "Pending".into(),
        }),
        "Running" if !pod.ready => Some("running but not Ready".into()),
        "Running" | "Succeeded" => None,
        other => Some(format!("pod {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_pods_say_why() {
        let zone = "0/3 nodes are available: 3 node(s) had volume node affinity conflict.";
        let text = scheduling(zone, None);
        assert!(
            text.starts_with("Pending: no schedulable Kubernetes node can mount its disk"),
            "{text}"
        );
        assert!(text.ends_with(zone));
        let unbound = "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.";
        assert_eq!(
            scheduling(unbound, Some(("es-data-2", "Pending"))),
            format!("Pending: its claim es-data-2 is not bound (Pending): {unbound}")
        );
        let cpu = scheduling("0/3 nodes are available: 3 Insufficient cpu.", None);
        assert!(cpu.contains("node.cpuRequest"), "{cpu}");
        assert_eq!(scheduling("something new", None), "Pending: something new");
    }

    #[test]
    fn crash_loops_carry_the_last_log_lines() {
        let pod = PodFacts {
            phase: "Running".into(),
            restarts: 6,
            waiting: Some(("CrashLoopBackOff".into(), "back-off".into())),
            ..PodFacts::default()
        };
        let text = pod_problem(&pod, &[], None, Some("a\nb\n")).unwrap();
        assert_eq!(
            text,
            "crash-looping (6 restarts); last lines of the previous container:\n    a\n    b"
        );
    }

    #[test]
    fn image_pulls_use_the_kubelets_words() {
        let pod = PodFacts {
            phase: "Pending".into(),
            image: "x:1".into(),
            waiting: Some(("ImagePullBackOff".into(), "Back-off pulling image".into())),
            ..PodFacts::default()
        };
        let events = [(
            "Failed".to_string(),
            "not found: manifest unknown".to_string(),
        )];
        assert_eq!(
            pod_problem(&pod, &events, None, None).unwrap(),
            "cannot pull image x:1: not found: manifest unknown"
        );
        let ready = PodFacts {
            phase: "Running".into(),
            ready: true,
            ..PodFacts::default()
        };
        assert_eq!(pod_problem(&ready, &[], None, None), None);
    }
}
