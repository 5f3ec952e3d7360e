//! Everything the end-to-end tests and `make run` share: the set of function
//! binaries and how to start them together, and a throwaway Kerberos realm
//! ([`realm`]). The sandboxes (Koji, Pagure, FASJSON, Testing Farm) join
//! [`sandbox`] as their issues land.

pub mod bench;
pub mod broker;
pub mod cases;
pub mod demo;
pub mod deploy;
#[cfg(feature = "fuzz")]
pub mod fuzz;
pub mod harness;
pub mod json_logs;
pub mod kustomize;
pub mod realm;
pub mod sandbox;
pub mod secret_scan;
pub mod seed;
pub mod stack;
pub mod story;
pub mod triggers;
