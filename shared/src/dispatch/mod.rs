//! Sending what a workflow step recorded, after its commit: Koji builds, Testing
//! Farm requests, PR flags and comments, Fedora CI messages. Each sender records
//! the upstream's answer in its own short transaction, so a crash between the
//! commit and a send leaves an unsent row the poller finishes.

pub mod ci_messages;
pub mod reporting;
pub mod submit;
