//! Process calls only PID 1 makes: signalling every process, the hostname,
//! the kernel's release.

use std::io;

use cairn_sys::io_err;
use cairn_sys::process::is_pid1;
use nix::sys::signal::Signal;

/// `kill(-1, signal)`: every process but PID 1 itself. Refuses unless this is
/// PID 1; anywhere else it would hit every process of the user.
pub fn signal_everyone(signal: Signal) -> io::Result<()> {
    if !is_pid1() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "refusing to signal every process: not pid 1",
        ));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(-1), signal).map_err(io_err)
}

/// Sets the kernel's hostname.
pub fn set_hostname(name: &str) -> io::Result<()> {
    nix::unistd::sethostname(name).map_err(io_err)
}

/// The running kernel's release, e.g. "6.1.0-56-cloud-amd64".
pub fn kernel_release() -> io::Result<String> {
    let uts = nix::sys::utsname::uname().map_err(io_err)?;
    Ok(uts.release().to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_signal_everyone_when_not_pid1() {
        // The test runner is never PID 1; this must not kill anything.
        let err = signal_everyone(Signal::SIGCONT).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    }
}
