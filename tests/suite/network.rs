//! Nothing esk runs contacts any address but 127.0.0.1: every connect(2) made by esk, gcloud,
//! aws and kubectl (and their children) during a create and a delete is traced with strace.

use crate::common::*;

/// Runs esk under `strace -f -e trace=connect` and returns every inet address connected to.
fn traced(bed: &TestBed, args: &[&str]) -> Vec<String> {
    let log = bed.dir().join(format!("strace-{}.log", args.join("-")));
    let log_arg = log.display().to_string();
    let mut argv = vec!["-f", "-qq", "-e", "trace=connect", "-o", &log_arg, ESK];
    argv.extend_from_slice(args);
    let out = bed.run("strace", &argv, None);
    assert!(out.status.success(), "{}", text(&out));
    let trace = std::fs::read_to_string(&log).expect("strace log");
    let mut addrs = Vec::new();
    for line in trace.lines().filter(|l| l.contains("AF_INET")) {
        let addr = ["inet_addr(\"", "inet_pton(AF_INET6, \""]
            .iter()
            .find_map(|p| line.split(p).nth(1))
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("unparsed connect: {line}"));
        addrs.push(addr.to_string());
    }
    addrs
}

fn assert_loopback_only(addrs: &[String]) {
    assert!(!addrs.is_empty(), "no connections traced at all");
    let loopback = ["127.0.0.1", "::ffff:127.0.0.1", "::1"];
    let others: Vec<&String> = addrs
        .iter()
        .filter(|a| !loopback.contains(&a.as_str()))
        .collect();
    assert!(
        others.is_empty(),
        "connections beyond 127.0.0.1: {others:?}"
    );
}

#[test]
fn gke_create_and_delete_stay_on_loopback() {
    let bed = TestBed::start();
    assert_loopback_only(&traced(&bed, &["create", "3"]));
    assert_loopback_only(&traced(&bed, &["delete", "--yes"]));
}

#[test]
fn aws_create_and_delete_stay_on_loopback() {
    let bed = TestBed::with_context("arn:aws:eks:us-east-1:123456789012:cluster/net");
    bed.moto();
    assert_loopback_only(&traced(&bed, &["create", "3"]));
    assert_loopback_only(&traced(&bed, &["delete", "--yes"]));
}
