//! The system calls and devices only PID 1 uses, behind small safe functions:
//! block devices, kernel modules, the malloc arena, power, its signalfd and
//! the power buttons. Calls that would be harmful on a developer's machine
//! (`reboot`, `kill(-1)`) refuse to run unless the process really is PID 1.
//! What the supervisor and the logger share lives in `cairn-sys`.

pub(crate) mod block;
pub(crate) mod input;
pub(crate) mod kmod;
pub(crate) mod malloc;
pub(crate) mod power;
pub(crate) mod process;
pub(crate) mod signals;
