//! Submitting recorded work (Koji builds, Testing Farm requests) and reporting it:
//! the one code path used right after recording and by the poller for retries.

pub mod build;
pub mod tests;
pub mod waiting;

pub use build::{Submitted, cancel_build, submit_build};

/// "1 minute", "4 minutes".
pub(crate) fn minutes(n: u64) -> String {
    if n == 1 { "1 minute".to_owned() } else { format!("{n} minutes") }
}

/// Minutes until `delay` has passed, at least one (for the flag text).
pub(crate) fn whole_minutes(delay: std::time::Duration) -> u64 {
    delay.as_secs().div_ceil(60).max(1)
}
