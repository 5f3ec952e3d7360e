//! The library every Fedora CI function uses, in layers (ARCHITECTURE.md at the
//! repository root draws them). Each layer imports only from the layers above it
//! in this list:
//!
//! - [`config`]: environment → typed settings, and [`config::secret::Secret`].
//! - [`telemetry`]: logs, traces, Sentry, metrics.
//! - [`messages`]: typed Fedora Messaging bodies and the JSON input checks.
//! - [`clients`]: Koji, Pagure, Testing Farm, FASJSON, Log Detective, the AMQP bus.
//! - [`store`]: all SQL (idempotency keys, rows, outboxes, the poller's claims).
//! - [`rules`]: pure decisions (policy, commands, suite, package settings).
//! - [`context`]: the dependencies a workflow step runs with.
//! - [`lookups`]: read-only questions to upstreams (FAS groups, ELN lists,
//!   Koji targets, composes, `.fedora-ci.yaml`), cached in the store.
//! - [`dispatch`]: sends what a step recorded (builds, tests, flags, comments,
//!   messages) and records each answer.
//! - [`workflows`]: what an event does: plan → record → commit → dispatch.
//! - [`runtime`]: HTTP serving, CloudEvent intake, handler errors, `main`.
//! - [`dev`] (feature `dev`): the throwaway Postgres and broker of tests and `make run`.
//!
//! A function's crate only wires those steps for its event.

pub mod clients;
pub mod config;
pub mod context;
#[cfg(feature = "dev")]
pub mod dev;
pub mod dispatch;
pub mod lookups;
pub mod messages;
pub mod rules;
pub mod runtime;
pub mod store;
pub mod telemetry;
pub mod workflows;

pub use config::Config;
pub use config::secret::Secret;
pub use context::Context;
pub use runtime::error::{HandlerError, Outcome};
