//! The system calls that start a sandboxed instance: the clone, the steps in
//! the child between clone and exec, and the reaper that is pid 1 of each
//! instance's namespace. Everything in the child is async-signal-safe and
//! works on data prepared before the clone.

mod app_start;
pub mod ns_reaper;
pub mod sandbox_child;
mod signal_mask;
pub mod spawn;
