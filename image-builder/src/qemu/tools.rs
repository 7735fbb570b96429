//! The host programs and firmware QEMU needs, found up front with errors that
//! say which Debian package to install.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::QemuError;
pub use crate::which::find_program;

/// The emulator.
pub const QEMU_SYSTEM: (&str, &str) = ("qemu-system-x86_64", "qemu-system-x86");
/// The disk image tool (overlays, conversions).
pub const QEMU_IMG: (&str, &str) = ("qemu-img", "qemu-utils");
/// The package that ships the UEFI firmware files.
pub const FIRMWARE_PACKAGE: &str = "ovmf";

/// How long opening `/dev/kvm` may take before KVM counts as unusable.
const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Finds a program on PATH, or says which package ships it.
pub fn require_program((program, package): (&str, &str)) -> Result<PathBuf, QemuError> {
    find_program(program).ok_or_else(|| QemuError::MissingTool {
        tool: program.to_string(),
        package: package.to_string(),
    })
}

/// Checks that a firmware file exists, or says which package ships it.
pub fn require_firmware(path: &Path) -> Result<(), QemuError> {
    if path.is_file() {
        Ok(())
    } else {
        Err(QemuError::MissingFirmware {
            path: path.to_path_buf(),
            package: FIRMWARE_PACKAGE.to_string(),
        })
    }
}

/// The accelerator to pass to QEMU for a requested one. `tcg` is always
/// available. `kvm` is used only when `/dev/kvm` opens for reading and writing
/// within a short time; otherwise this warns and falls back to `tcg`, because
/// on some hosts the device exists but is unusable, and a probe must never
/// hang the caller.
pub fn resolve_accel(requested: &str) -> String {
    if requested != "kvm" {
        return requested.to_string();
    }
    match probe_kvm(Path::new("/dev/kvm"), KVM_PROBE_TIMEOUT) {
        Ok(()) => "kvm".to_string(),
        Err(reason) => {
            eprintln!("warning: kvm is not usable ({reason}); falling back to tcg");
            "tcg".to_string()
        }
    }
}

/// Opens `device` read-write on a helper thread and gives up after `timeout`.
fn probe_kvm(device: &Path, timeout: Duration) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let device = device.to_path_buf();
    thread::spawn(move || {
        let result = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&device)
            .map(drop)
            .map_err(|e| format!("{}: {e}", device.display()));
        let _ = tx.send(result);
    });
    rx.recv_timeout(timeout)
        .unwrap_or_else(|_| Err("opening the device did not answer in time".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_program_names_its_package() {
        let err = require_program(("cairn-no-such-program", "cairn-pkg"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cairn-no-such-program"), "{err}");
        assert!(err.contains("apt-get install cairn-pkg"), "{err}");
    }

    #[test]
    fn finds_a_program_on_path() {
        assert!(find_program("sh").is_some());
    }

    #[test]
    fn missing_firmware_names_ovmf() {
        let err = require_firmware(Path::new("/nonexistent/OVMF_CODE.fd"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("apt-get install ovmf"), "{err}");
    }

    #[test]
    fn tcg_is_passed_through_and_a_missing_kvm_device_fails_the_probe() {
        assert_eq!(resolve_accel("tcg"), "tcg");
        assert!(probe_kvm(Path::new("/nonexistent/kvm"), Duration::from_secs(1)).is_err());
    }
}
