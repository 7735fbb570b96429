//! Starting QEMU for a built image, used by `cairn run` and the boot tests.
//!
//! QEMU runs in its own process group, with its stdin on /dev/null and the
//! guest's serial console on its stdout, either passed through to the
//! caller's terminal or captured line by line. A QMP socket lets the caller
//! press the power button, send Ctrl-Alt-Delete, or stop QEMU at once.
//! Dropping a [`Qemu`] kills the process.

mod disk;
mod qmp;
mod serial;
mod tools;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub use disk::{
    parse_size, prepare_run_disk, RunDisk, RunDiskState, OLD_RUN_DISK, RUN_DISK, RUN_VARS,
};
pub use qmp::{Qmp, QmpError};
pub use serial::{SerialLine, SerialLog, WaitError};
pub use tools::{
    find_program, require_firmware, require_program, resolve_accel, FIRMWARE_PACKAGE, QEMU_IMG,
    QEMU_SYSTEM,
};

/// How long QEMU gets to create its QMP socket.
const QMP_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Everything that can go wrong starting or driving QEMU.
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("`{tool}` is not installed; install it with `apt-get install {package}`")]
    MissingTool { tool: String, package: String },
    #[error("firmware {} is missing; install it with `apt-get install {package}`", .path.display())]
    MissingFirmware { path: PathBuf, package: String },
    #[error("`{command}` failed ({status}){}", if .stderr.is_empty() { String::new() } else { format!(": {}", .stderr) })]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Qmp(#[from] QmpError),
    #[error("waiting for a console line matching {pattern:?}: {reason}")]
    Wait { pattern: String, reason: WaitError },
    #[error("qemu did not exit within {0:?}")]
    ExitTimeout(Duration),
    #[error("the serial console is not captured (started with Serial::Inherit)")]
    NotCaptured,
    #[error("{0}")]
    Invalid(String),
}

impl QemuError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> QemuError {
        let context = context.into();
        move |source| QemuError::Io { context, source }
    }
}

/// Where the guest's serial console goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serial {
    /// Straight to this process's stdout (the terminal, for `cairn run`).
    Inherit,
    /// Into a [`SerialLog`] that can be waited on and read.
    Capture,
    /// Captured, and each line also echoed to stderr as it arrives.
    CaptureAndEcho,
}

/// How to start a machine.
#[derive(Debug, Clone, PartialEq)]
pub struct QemuOptions {
    /// The disk to boot: the run disk, a qcow2 overlay (see [`prepare_run_disk`]).
    pub disk: PathBuf,
    /// UEFI firmware code, read-only.
    pub ovmf_code: PathBuf,
    /// A writable copy of the UEFI variable store.
    pub ovmf_vars: PathBuf,
    /// As QEMU's `-m` takes it, e.g. "512M".
    pub memory: String,
    pub cpus: u32,
    /// e.g. "q35".
    pub machine: String,
    /// "tcg" or "kvm"; "kvm" falls back to "tcg" when it is not usable.
    pub accel: String,
    /// (host port on 127.0.0.1, guest port) TCP forwards.
    pub forwards: Vec<(u16, u16)>,
    pub qmp_socket: PathBuf,
    pub serial: Serial,
}

impl QemuOptions {
    /// The options for a board's QEMU settings, with no forwards and the
    /// console captured.
    pub fn for_board(
        board: &crate::board::QemuConfig,
        run: &RunDisk,
        qmp_socket: PathBuf,
    ) -> QemuOptions {
        QemuOptions {
            disk: run.disk.clone(),
            ovmf_code: board.firmware_code.clone(),
            ovmf_vars: run.vars.clone(),
            memory: board.memory.clone(),
            cpus: board.cpus,
            machine: board.machine.clone(),
            accel: board.accel.clone(),
            forwards: Vec::new(),
            qmp_socket,
            serial: Serial::Capture,
        }
    }

    /// QEMU's arguments for these options, with `accel` as resolved.
    pub fn arguments(&self, accel: &str) -> Vec<String> {
        let mut args: Vec<String> = [
            "-machine",
            &self.machine,
            "-accel",
            accel,
            "-m",
            &self.memory,
            "-smp",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(self.cpus.to_string());
        args.extend(
            [
                "-display",
                "none",
                "-no-user-config",
                "-nodefaults",
                "-serial",
                "stdio",
                "-monitor",
                "none",
            ]
            .map(String::from),
        );
        args.push("-qmp".into());
        args.push(format!(
            "unix:{},server=on,wait=off",
            self.qmp_socket.display()
        ));
        args.push("-drive".into());
        args.push(format!(
            "if=pflash,format=raw,readonly=on,file={}",
            self.ovmf_code.display()
        ));
        args.push("-drive".into());
        args.push(format!(
            "if=pflash,format=raw,file={}",
            self.ovmf_vars.display()
        ));
        args.push("-drive".into());
        args.push(format!(
            "file={},if=none,id=d0,format=qcow2",
            self.disk.display()
        ));
        args.extend(["-device", "virtio-blk-pci,drive=d0"].map(String::from));
        let mut netdev = String::from("user,id=n0");
        for (host, guest) in &self.forwards {
            netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
        }
        args.push("-netdev".into());
        args.push(netdev);
        args.extend(
            [
                "-device",
                // No PXE option ROM: the firmware would try a network boot
                // when the disk fails, and loading the ROM slows every boot.
                "virtio-net-pci,netdev=n0,romfile=",
                "-device",
                "virtio-rng-pci",
            ]
            .map(String::from),
        );
        args
    }
}

/// A running QEMU. Dropping it kills the process.
#[derive(Debug)]
pub struct Qemu {
    child: Child,
    qmp: Option<Qmp>,
    qmp_socket: PathBuf,
    log: Option<SerialLog>,
    started: Instant,
    status: Option<ExitStatus>,
}

impl Qemu {
    /// Starts QEMU with `opts` and connects to its QMP socket.
    pub fn start(opts: &QemuOptions) -> Result<Qemu, QemuError> {
        let program = require_program(QEMU_SYSTEM)?;
        require_firmware(&opts.ovmf_code)?;
        // unix sockets have a short path limit; say so instead of letting
        // QEMU fail obscurely.
        if opts.qmp_socket.as_os_str().len() > 100 {
            return Err(QemuError::Invalid(format!(
                "qmp socket path is too long for a unix socket: {}",
                opts.qmp_socket.display()
            )));
        }
        let _ = std::fs::remove_file(&opts.qmp_socket);
        let accel = resolve_accel(&opts.accel);
        let mut command = Command::new(program);
        command
            .args(opts.arguments(&accel))
            .stdin(Stdio::null())
            // Its own process group: a Ctrl-C in the terminal reaches only the
            // caller, who decides how to stop the machine.
            .process_group(0);
        let capture = opts.serial != Serial::Inherit;
        if capture {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        let started = Instant::now();
        let mut child = command
            .spawn()
            .map_err(QemuError::io("cannot start qemu-system-x86_64"))?;
        let log = if capture {
            let echo = opts.serial == Serial::CaptureAndEcho;
            let log = SerialLog::new(started);
            if let Some(stdout) = child.stdout.take() {
                log.capture(stdout, "", echo);
            }
            if let Some(stderr) = child.stderr.take() {
                log.capture(stderr, "qemu: ", echo);
            }
            Some(log)
        } else {
            None
        };
        let mut qemu = Qemu {
            child,
            qmp: None,
            qmp_socket: opts.qmp_socket.clone(),
            log,
            started,
            status: None,
        };
        qemu.connect_qmp()?;
        Ok(qemu)
    }

    fn connect_qmp(&mut self) -> Result<(), QemuError> {
        let deadline = Instant::now() + QMP_CONNECT_TIMEOUT;
        loop {
            match Qmp::connect(&self.qmp_socket, Duration::from_millis(500)) {
                Ok(qmp) => {
                    self.qmp = Some(qmp);
                    return Ok(());
                }
                Err(err) => {
                    if let Some(status) = self.try_wait()? {
                        let detail = self
                            .log
                            .as_ref()
                            .map(|log| format!(":\n{}", log.render()))
                            .unwrap_or_default();
                        return Err(QemuError::Invalid(format!(
                            "qemu exited at start ({status}){detail}"
                        )));
                    }
                    if Instant::now() >= deadline {
                        return Err(err.into());
                    }
                }
            }
        }
    }

    fn qmp(&mut self) -> Result<&mut Qmp, QemuError> {
        self.qmp
            .as_mut()
            .ok_or_else(|| QemuError::Invalid("qmp is not connected".into()))
    }

    /// Presses the ACPI power button.
    pub fn powerdown(&mut self) -> Result<(), QemuError> {
        Ok(self.qmp()?.system_powerdown()?)
    }

    /// Sends Ctrl-Alt-Delete to the guest's keyboard.
    pub fn ctrl_alt_delete(&mut self) -> Result<(), QemuError> {
        Ok(self.qmp()?.ctrl_alt_delete()?)
    }

    /// Stops QEMU at once through QMP, or kills it if QMP does not answer.
    pub fn quit(&mut self) -> Result<(), QemuError> {
        if self.qmp()?.quit().is_err() {
            self.kill()?;
        }
        Ok(())
    }

    /// Kills QEMU (SIGKILL) and reaps it.
    pub fn kill(&mut self) -> Result<(), QemuError> {
        if self.status.is_none() {
            let _ = self.child.kill();
            let status = self
                .child
                .wait()
                .map_err(QemuError::io("cannot wait for qemu"))?;
            self.status = Some(status);
        }
        Ok(())
    }

    /// QEMU's exit status if it has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, QemuError> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .map_err(QemuError::io("cannot wait for qemu"))?;
        }
        Ok(self.status)
    }

    /// Waits up to `timeout` for QEMU to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, QemuError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(QemuError::ExitTimeout(timeout));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// QEMU's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Time since QEMU was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The captured console, if it is captured.
    pub fn log(&self) -> Option<&SerialLog> {
        self.log.as_ref()
    }

    /// A snapshot of every console line so far (empty when not captured).
    pub fn lines(&self) -> Vec<SerialLine> {
        self.log.as_ref().map(SerialLog::lines).unwrap_or_default()
    }

    /// Waits for a console line containing `needle`; returns the line.
    pub fn wait_for_line(&self, needle: &str, timeout: Duration) -> Result<String, QemuError> {
        self.wait_for_match(0, needle, &|line| line.contains(needle), timeout)
            .map(|(_, line)| line)
    }

    /// Waits for a line at index `from` or later that satisfies `matches`
    /// (`description` names it in the error); returns its index and text.
    pub fn wait_for_match(
        &self,
        from: usize,
        description: &str,
        matches: &dyn Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<(usize, String), QemuError> {
        let log = self.log.as_ref().ok_or(QemuError::NotCaptured)?;
        log.wait_for(from, matches, timeout)
            .map_err(|reason| QemuError::Wait {
                pattern: description.to_string(),
                reason,
            })
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.kill();
        let _ = std::fs::remove_file(&self.qmp_socket);
    }
}

/// A QMP socket path for `run_dir`, or one in the temporary directory when
/// the run directory's path is too long for a unix socket.
pub fn qmp_socket_path(run_dir: &Path) -> PathBuf {
    let preferred = run_dir.join("qmp.sock");
    if preferred.as_os_str().len() <= 100 {
        preferred
    } else {
        std::env::temp_dir().join(format!("cairn-qmp-{}.sock", std::process::id()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> QemuOptions {
        QemuOptions {
            disk: "/r/disk.qcow2".into(),
            ovmf_code: "/fw/CODE.fd".into(),
            ovmf_vars: "/r/VARS.fd".into(),
            memory: "512M".into(),
            cpus: 2,
            machine: "q35".into(),
            accel: "tcg".into(),
            forwards: vec![(18080, 8080), (2222, 22)],
            qmp_socket: "/r/qmp.sock".into(),
            serial: Serial::Capture,
        }
    }

    #[test]
    fn command_line() {
        let args = options().arguments("tcg").join(" ");
        assert_eq!(
            args,
            "-machine q35 -accel tcg -m 512M -smp 2 -display none -no-user-config -nodefaults \
             -serial stdio -monitor none -qmp unix:/r/qmp.sock,server=on,wait=off \
             -drive if=pflash,format=raw,readonly=on,file=/fw/CODE.fd \
             -drive if=pflash,format=raw,file=/r/VARS.fd \
             -drive file=/r/disk.qcow2,if=none,id=d0,format=qcow2 -device virtio-blk-pci,drive=d0 \
             -netdev user,id=n0,hostfwd=tcp:127.0.0.1:18080-:8080,hostfwd=tcp:127.0.0.1:2222-:22 \
             -device virtio-net-pci,netdev=n0,romfile= -device virtio-rng-pci"
        );
    }

    #[test]
    fn short_run_dirs_keep_the_socket_inside() {
        assert_eq!(qmp_socket_path(Path::new("/r")), Path::new("/r/qmp.sock"));
        let long = PathBuf::from(format!("/{}", "x".repeat(120)));
        assert!(qmp_socket_path(&long).starts_with(std::env::temp_dir()));
    }
}
