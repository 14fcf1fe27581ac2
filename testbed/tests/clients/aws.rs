//! The real `aws` CLI against moto_server behind the test bed's fault-injecting proxy
//! (testbed::moto). Each test has its own bed and moto (~0.5 s to start); an aws call costs
//! ~0.6 s.

use std::process::Output;
use std::time::{Duration, Instant};
use testbed::moto::AwsFault;
use testbed::TestBed;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

fn aws(bed: &TestBed, args: &[&str]) -> Run {
    let started = Instant::now();
    let Output {
        status,
        stdout,
        stderr,
    } = bed.run("aws", args, None);
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).trim().to_string(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        took: started.elapsed(),
    };
    eprintln!(
        "aws {args:?} -> {} in {:?}\n{}\n{}",
        run.code, run.took, run.stdout, run.stderr
    );
    run
}

fn create_volume(bed: &TestBed) -> String {
    let args = [
        "ec2",
        "create-volume",
        "--availability-zone=us-east-1a",
        "--size=10",
        "--query=VolumeId",
        "--output=text",
    ];
    let run = aws(bed, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

fn count(actions: &[String], action: &str) -> usize {
    actions.iter().filter(|a| *a == action).count()
}

/// moto itself refuses to delete an attached volume (VolumeInUse, exit 254 or 255); once
/// detached the delete works. The helper's own calls are not counted as the client's.
#[test]
fn moto_refuses_to_delete_an_attached_volume() {
    let bed = TestBed::start();
    bed.moto();
    let volume = create_volume(&bed);
    let instance = bed.moto().attach(&volume).expect("attach the volume");
    assert!(instance.starts_with("i-"), "{instance}");
    let state = aws(
        &bed,
        &[
            "ec2",
            "describe-volumes",
            "--volume-ids",
            &volume,
            "--query=Volumes[0].State",
            "--output=text",
        ],
    );
    assert_eq!(state.stdout, "in-use");

    let deleted = aws(&bed, &["ec2", "delete-volume", "--volume-id", &volume]);
    assert_eq!(deleted.code, 255, "{}", deleted.stderr);
    let message = format!(
        "An error occurred (VolumeInUse) when calling the DeleteVolume operation: Volume {volume} \
         is currently attached to {instance}"
    );
    assert!(deleted.stderr.contains(&message), "{}", deleted.stderr);

    bed.moto().detach(&volume).expect("detach");
    let deleted = aws(&bed, &["ec2", "delete-volume", "--volume-id", &volume]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    let actions = bed.moto().actions();
    assert_eq!(
        actions,
        [
            "CreateVolume",
            "DescribeVolumes",
            "DeleteVolume",
            "DeleteVolume"
        ]
    );
    assert_eq!(bed.moto().mutating_requests(), 3);
}

/// The proxy fails the 2nd and 3rd DeleteVolume with RequestLimitExceeded (HTTP 503): the aws
/// CLI retries throttling by itself (legacy mode: up to 5 attempts with backoff) and
/// succeeds; every attempt is counted.
#[test]
fn aws_retries_request_limit_exceeded_by_itself() {
    let bed = TestBed::start();
    bed.moto();
    let (first, second) = (create_volume(&bed), create_volume(&bed));
    bed.moto()
        .inject_fault_after(1, AwsFault::request_limit_exceeded("DeleteVolume", 2));
    let deleted = aws(&bed, &["ec2", "delete-volume", "--volume-id", &first]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    let deleted = aws(&bed, &["ec2", "delete-volume", "--volume-id", &second]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert_eq!(count(&bed.moto().actions(), "DeleteVolume"), 4);
    assert_eq!(bed.moto().mutating_requests(), 6);
    let left = aws(
        &bed,
        &[
            "ec2",
            "describe-volumes",
            "--query=Volumes[].VolumeId",
            "--output=text",
        ],
    );
    assert_eq!(left.stdout, "");
}

/// After 5 throttled attempts the aws CLI gives up: exit 255 and EC2's message, nothing
/// changed.
#[test]
fn aws_gives_up_after_five_throttled_attempts() {
    let bed = TestBed::start();
    bed.moto();
    let volume = create_volume(&bed);
    bed.moto()
        .inject_fault(AwsFault::request_limit_exceeded("DeleteVolume", 10));
    let deleted = aws(&bed, &["ec2", "delete-volume", "--volume-id", &volume]);
    assert_eq!(deleted.code, 255, "{}", deleted.stderr);
    let message = "An error occurred (RequestLimitExceeded) when calling the DeleteVolume \
                   operation (reached max retries: 4): Request limit exceeded.";
    assert!(deleted.stderr.contains(message), "{}", deleted.stderr);
    assert_eq!(count(&bed.moto().actions(), "DeleteVolume"), 5);
    let left = aws(
        &bed,
        &[
            "ec2",
            "describe-volumes",
            "--query=Volumes[].VolumeId",
            "--output=text",
        ],
    );
    assert_eq!(left.stdout, volume);
}

/// An injected VolumeInUse (HTTP 400) is not retried: exit 255 at once, the volume stays.
#[test]
fn an_injected_volume_in_use_is_not_retried() {
    let bed = TestBed::start();
    bed.moto();
    let volume = create_volume(&bed);
    let fault = AwsFault::volume_in_use("DeleteVolume", &volume, "i-0123456789abcdef0", 1);
    bed.moto().inject_fault(fault);
    let deleted = aws(&bed, &["ec2", "delete-volume", "--volume-id", &volume]);
    assert_eq!(deleted.code, 255, "{}", deleted.stderr);
    let message = format!(
        "An error occurred (VolumeInUse) when calling the DeleteVolume operation: Volume {volume} \
         is currently attached to i-0123456789abcdef0"
    );
    assert!(deleted.stderr.contains(&message), "{}", deleted.stderr);
    assert_eq!(count(&bed.moto().actions(), "DeleteVolume"), 1);
    let deleted = aws(&bed, &["ec2", "delete-volume", "--volume-id", &volume]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
}
