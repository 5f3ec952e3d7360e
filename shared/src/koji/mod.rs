//! Koji, Fedora's build system: the XML-RPC codec and the hub client our functions
//! use to start scratch builds and follow their tasks.

pub mod xmlrpc;

pub use xmlrpc::{DecodeError, Fault, ResponseError, Value};
