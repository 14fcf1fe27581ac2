//! The real clients against the emulators, one module per client, in one test binary so
//! their tests share one pool of threads. One module: `cargo test -p testbed --test clients
//! gcloud::`.

mod aws;
mod gce_snapshots;
mod gcloud;
mod kubectl;
mod resizer;
