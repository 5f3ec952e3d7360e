//! The library every Fedora CI function uses.
//!
//! The data path reads the same in every function: CloudEvent ([`intake`]) →
//! typed message ([`messages`]) → policy checks → effect with an idempotency key in
//! one transaction ([`store`]) → outbound call → report. A function's crate only
//! wires those steps for its event.

pub mod amqp;
pub mod app;
pub mod build_state;
pub mod bus;
pub mod ci_messages;
pub mod clients;
pub mod commands;
pub mod config;
#[cfg(feature = "dev")]
pub mod devamqp;
#[cfg(feature = "dev")]
pub mod devdb;
pub mod error;
pub mod fasjson;
pub mod intake;
pub mod json_input;
pub mod kerberos;
pub mod koji;
pub mod koji_instances;
pub mod log_analysis;
pub mod log_detective;
pub mod lookups;
pub mod messages;
pub mod package_settings;
pub mod pagure;
pub mod policy;
pub mod reporting;
pub mod retry;
pub mod secret;
pub mod serve;
pub mod store;
pub mod submit;
pub mod suite;
pub mod supersede;
pub mod telemetry;
pub mod test_state;
#[cfg(feature = "dev")]
pub mod testing;
pub mod testing_farm;

pub use app::Context;
pub use config::Config;
pub use error::{HandlerError, Outcome};
pub use secret::Secret;
