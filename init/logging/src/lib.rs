//! The OS's logging layer: every app's output, PID 1's own log and the
//! kernel's, as one stream of records, to the console, an in-memory ring per
//! source, files on the data partition and remote syslog collectors.
//!
//! PID 1 owns the app pipes (the supervisor splits their bytes into lines,
//! [`line`]) and turns the lines into [`Record`]s in the [`hub`]. The sinks
//! that do slow or risky I/O (files, the network, TLS) live in a separate
//! process, `cairn-logd` ([`daemon`]): PID 1 starts it by executing its own
//! binary, feeds it over a non-blocking socket and restarts it when it dies,
//! sending again whatever it had not acknowledged. Nothing here ever makes
//! PID 1 or an app wait: when a bound is reached, lines are dropped, counted,
//! and the count is logged. docs/logging.md describes the model and its
//! guarantees.
//!
//! This crate keeps no global state: PID 1 holds its one [`hub::Hub`] and
//! says where the hub's own notices go ([`hub::Hub::with_console`]).

// An out-of-range index panics, and a panic in PID 1 is the crash path.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

pub mod console;
pub mod daemon;
pub mod files;
pub mod hub;
pub mod kmsg;
pub mod line;
pub mod outbox;
pub mod ratelimit;
pub mod record;
pub mod remote;
pub mod syslog;
pub mod text;
pub mod tls;

pub use self::record::{Record, Stream};
