//! The fixed users of the OS's own services. Apps and jobs get uids from a
//! hash of their names, from 200000 up (see `cairn_manifest::app_uid`);
//! the services' uids sit below that range, so they never collide.

/// The control API (`cairn-control api`): no capabilities, no root.
pub const CONTROL_UID: u32 = 990;
/// The load balancer.
pub const BALANCER_UID: u32 = 991;
