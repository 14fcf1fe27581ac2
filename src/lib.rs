//! esk: stand up and manage an EventStoreDB / KurrentDB cluster on Kubernetes.
//!
//! Data flows one way: CLI args → a validated [`spec::Spec`] → a pure [`plan::Plan`]
//! (printable for `--dry-run`) → [`execute::Executor`] over the adapters → a report.

pub mod adapters;
pub mod backup;
pub mod bundle;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod connection;
pub mod credentials5;
pub mod curl;
pub mod doctor;
pub mod domain;
pub mod error;
pub mod execute;
pub mod health;
pub mod lint;
pub mod lock;
pub mod manifest;
pub mod metrics;
pub mod names;
pub mod parallel;
pub mod plan;
pub mod profile;
pub mod quantity;
pub mod record;
pub mod render;
pub mod report;
pub mod roll;
pub mod rotation;
pub mod secrets;
pub mod signals;
pub mod spec;
pub mod tls;
