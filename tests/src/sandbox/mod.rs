//! Stand-ins for the services the functions talk to (Koji, Pagure, FASJSON,
//! Testing Farm), run in-process by the end-to-end tests.

pub mod spnego;
