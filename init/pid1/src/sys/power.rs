//! reboot(2), sync(2) and the Ctrl-Alt-Del switch.

use std::io;

use cairn_sys::io_err;
use cairn_sys::process::is_pid1;

/// What the machine does when PID 1 is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    PowerOff,
    Reboot,
}

/// Makes the kernel send SIGINT to PID 1 on Ctrl-Alt-Del instead of
/// rebooting at once, so the reboot can be orderly.
pub fn disable_ctrl_alt_del() -> io::Result<()> {
    nix::sys::reboot::set_cad_enabled(false).map_err(io_err)
}

/// Flushes every filesystem's dirty data.
pub fn sync() {
    nix::unistd::sync();
}

/// Powers off or reboots the machine. Only returns on failure. Refuses to act
/// unless this process is PID 1, so a test or a mistaken run on a developer's
/// machine can never take the host down.
pub fn reboot(action: PowerAction) -> io::Error {
    if !is_pid1() {
        return io::Error::new(
            io::ErrorKind::PermissionDenied,
            "refusing to reboot: not pid 1",
        );
    }
    let mode = match action {
        PowerAction::PowerOff => nix::sys::reboot::RebootMode::RB_POWER_OFF,
        PowerAction::Reboot => nix::sys::reboot::RebootMode::RB_AUTOBOOT,
    };
    match nix::sys::reboot::reboot(mode) {
        Ok(never) => match never {},
        Err(err) => io_err(err),
    }
}
