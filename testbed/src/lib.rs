//! The esk test bed: local emulators of the Compute Engine disks API and the Kubernetes API,
//! moto_server for EC2, and a harness that points the real `gcloud`, `aws` and `kubectl` at
//! them on 127.0.0.1. Test support only; never shipped.

mod armed;
pub mod bed;
mod civil;
pub mod gate;
pub mod gce;
pub mod http;
pub mod kube;
pub mod moto;
mod sha256;

pub use bed::TestBed;
pub use gate::Release;
