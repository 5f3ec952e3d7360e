//! Koji, Fedora's build system: the XML-RPC codec and the hub client our functions
//! use to start scratch builds and follow their tasks.

pub mod client;
pub mod xmlrpc;

pub use client::{Auth, BuildTarget, KojiClient, KojiError, TaskInfo};
pub use xmlrpc::{DecodeError, Fault, ResponseError, Value};
