//! The end-to-end suites, one module each, in one test binary: the harness then runs every
//! suite's tests from one pool of threads, instead of one binary after another each ending
//! on its slowest test with a core idle. Run one suite with `cargo test --test suite rolling::`.

mod common;

mod aws;
mod backup;
mod bad_input;
mod completions;
mod crash;
mod doctor;
mod dynamic;
mod examples;
mod gke;
mod grow;
mod grow_migrate;
mod hardening;
mod in_use;
mod interrupt;
mod json_output;
mod kind;
mod layout;
mod lint;
mod lock;
mod logs;
mod metrics;
mod network;
mod node_replace;
mod output;
mod report;
mod restarts;
mod retries;
mod rolling;
mod security;
mod soak;
mod status;
mod status_day2;
mod ui;
mod wait;
mod zone_evacuate;
mod zones;
mod zones_more;
