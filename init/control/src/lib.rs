//! Cairn's in-image services, one static binary with two commands:
//!
//! - `cairn-control api`: the mutual-TLS HTTPS control API
//!   (`docs/control-api.md`), unprivileged, as `CONTROL_UID`;
//! - `cairn-control writer`: the update writer, as root, which takes a
//!   bundle over a unix socket from the API, verifies it and writes it into
//!   the inactive bank and the ESP.
//!
//! Both read the same configuration file ([`config`]), which PID 1 writes
//! at boot. Neither talks to the other except over the writer's socket, so
//! the network-facing process never holds a privilege the writer has.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod api;
pub mod config;
pub mod log;
pub mod names;
pub mod pid1;
pub mod protocol;
pub mod time;
pub mod writer;
