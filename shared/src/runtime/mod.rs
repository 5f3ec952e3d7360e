//! The HTTP side of a function: `main`, serving, CloudEvent intake and the
//! answers a handler gives.

pub mod app;
pub mod error;
pub mod intake;
pub mod request_scope;
pub mod serve;
