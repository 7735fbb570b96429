//! Shared fixtures of the integration tests: bundles, a device tree in a
//! temporary directory, certificates, a fake PID 1 and a TLS client.
#![allow(dead_code)]

pub mod bundle;
pub mod certs;
pub mod client;
pub mod device;
pub mod fake_pid1;
