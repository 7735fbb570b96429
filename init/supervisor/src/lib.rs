//! Cairn's supervisor: runs the apps and jobs of a manifest as it says, in
//! PID 1 on a booted system and in `cairn dev` on a developer's machine.
//!
//! - [`supervisor`]: the state machine that starts every instance, reads its
//!   output, restarts it per policy with backoff and a circuit breaker, knows
//!   when everything is ready, and stops it all in order;
//! - [`sandbox`]: each instance's own namespaces, root, uid and grants;
//! - [`cgroup`] and [`portguard`]: its limits and the ports it may bind;
//! - [`health`] and [`notify`]: health checks and readiness messages;
//! - [`jobs`]: scheduled runs with their history.
//!
//! What the supervisor does to processes goes through [`supervisor::Processes`]
//! and what it has to say goes to a [`supervisor::Sink`], both handed in by
//! the program that embeds it, so the crate keeps no global state and its
//! decisions are tested without real processes.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
// An out-of-range index panics, and a panic in PID 1 is the crash path.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

pub mod cgroup;
pub mod health;
pub mod jobs;
pub mod json;
pub(crate) mod mountinfo;
pub mod notify;
pub mod portguard;
pub mod sandbox;
pub mod supervisor;
pub mod sys;

pub use supervisor::{Sink, Supervisor, SupervisorConfig, Verdict, Watch};
