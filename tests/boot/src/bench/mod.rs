//! The benchmarks of `cairn-bench` beyond build and boot: starting one app
//! instance on the host ([`launch`]) and PID 1's memory with many
//! supervised instances ([`instances`]), and the cost of a job's next fire
//! ([`nextfire`]), logging throughput against svlogd ([`logging`]), and
//! the update writer's throughput against dd ([`apply`]), and deploy and
//! rollback times under QEMU ([`deploy`]).

pub mod apply;
pub mod deploy;
pub mod instances;
pub mod launch;
pub mod logging;
pub mod nextfire;
pub mod stats;
