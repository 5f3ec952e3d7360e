//! Pure decisions: no I/O, no database, no HTTP. Given a message, the
//! configuration and stored facts, they say what should happen.

pub mod commands;
pub mod package_settings;
pub mod policy;
pub mod suite;
