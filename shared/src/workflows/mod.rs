//! What an event does, shared by the functions and the poller so a lost message
//! is repaired by the same code that handles it.

pub mod build_state;
pub mod log_analysis;
pub mod lookups;
pub mod supersede;
pub mod test_state;
