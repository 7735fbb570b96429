//! A booted machine under test: waiting for console lines, talking to its
//! forwarded ports, pressing its buttons.

use std::process::ExitStatus;
use std::time::Duration;

use cairn_image_builder::qemu::{Qemu, SerialLine};
use regex::Regex;

use crate::http::{self, Response};

/// How long a boot may take to reach a milestone under TCG on a busy host.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(150);
/// How long a step after boot (a shutdown, a restart) may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// A console line that matched, with its index (to wait for later lines
/// from) and its time since QEMU started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub index: usize,
    pub text: String,
    pub at: Duration,
}

/// A running QEMU with the console captured. Dropping it kills QEMU.
#[derive(Debug)]
pub struct Machine {
    qemu: Qemu,
    forwards: Vec<(u16, u16)>,
}

impl Machine {
    pub(crate) fn new(qemu: Qemu, forwards: Vec<(u16, u16)>) -> Machine {
        Machine { qemu, forwards }
    }

    /// The host port forwarded to `guest_port`.
    pub fn host_port(&self, guest_port: u16) -> u16 {
        self.forwards
            .iter()
            .find(|(_, guest)| *guest == guest_port)
            .map(|(host, _)| *host)
            .unwrap_or_else(|| {
                panic!(
                    "guest port {guest_port} is not forwarded: {:?}",
                    self.forwards
                )
            })
    }

    /// Waits (up to [`BOOT_TIMEOUT`]) for a line containing `needle`.
    pub fn wait_for(&self, needle: &str) -> Found {
        self.wait_for_after(0, needle, BOOT_TIMEOUT)
    }

    /// Waits for a line containing `needle` at index `from` or later.
    pub fn wait_for_after(&self, from: usize, needle: &str, timeout: Duration) -> Found {
        self.wait_until(
            from,
            &format!("{needle:?}"),
            &|line| line.contains(needle),
            timeout,
        )
    }

    /// Waits for a line matching the regular expression `pattern` at index
    /// `from` or later.
    pub fn wait_for_regex(&self, from: usize, pattern: &str, timeout: Duration) -> Found {
        let re = Regex::new(pattern).unwrap_or_else(|e| panic!("bad regex {pattern:?}: {e}"));
        self.wait_until(
            from,
            &format!("/{pattern}/"),
            &|line| re.is_match(line),
            timeout,
        )
    }

    fn wait_until(
        &self,
        from: usize,
        description: &str,
        matches: &dyn Fn(&str) -> bool,
        timeout: Duration,
    ) -> Found {
        match self
            .qemu
            .wait_for_match(from, description, matches, timeout)
        {
            Ok((index, text)) => {
                let at = self.lines().get(index).map(|l| l.at).unwrap_or_default();
                Found { index, text, at }
            }
            Err(e) => panic!(
                "{e} (after {:.1}s of qemu)",
                self.qemu.elapsed().as_secs_f64()
            ),
        }
    }

    /// Every console line so far.
    pub fn lines(&self) -> Vec<SerialLine> {
        self.qemu.lines()
    }

    /// The text of every line so far that matches `pattern`.
    pub fn lines_matching(&self, pattern: &str) -> Vec<String> {
        let re = Regex::new(pattern).unwrap_or_else(|e| panic!("bad regex {pattern:?}: {e}"));
        self.lines()
            .into_iter()
            .map(|l| l.text)
            .filter(|t| re.is_match(t))
            .collect()
    }

    /// How many lines have arrived (an index to wait from).
    pub fn line_count(&self) -> usize {
        self.qemu.log().map(|l| l.len()).unwrap_or(0)
    }

    /// `GET path` on the host port forwarded to `guest_port`, retried for
    /// up to 30 s while the connection fails.
    pub fn http_get(&self, guest_port: u16, path: &str) -> Response {
        let port = self.host_port(guest_port);
        http::get_until(port, path, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("GET {path} on host port {port} (guest {guest_port}): {e}"))
    }

    /// Presses the power button (QMP `system_powerdown`).
    pub fn powerdown(&mut self) {
        self.qemu
            .powerdown()
            .unwrap_or_else(|e| panic!("powerdown: {e}"));
    }

    /// Presses the power button and waits for an orderly power off: PID 1's
    /// last line, then QEMU exiting 0. Returns the index of that last line.
    pub fn power_off(&mut self) -> usize {
        let mark = self.line_count();
        self.powerdown();
        let done = self.wait_for_after(
            mark,
            "cairn: unmounted, syncing, powering off",
            STEP_TIMEOUT,
        );
        let status = self.wait_exit(STEP_TIMEOUT);
        assert!(status.success(), "qemu exited with {status}");
        done.index
    }

    /// Sends Ctrl-Alt-Delete (QMP `send-key`).
    pub fn ctrl_alt_del(&mut self) {
        self.qemu
            .ctrl_alt_delete()
            .unwrap_or_else(|e| panic!("ctrl-alt-delete: {e}"));
    }

    /// Waits for QEMU to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        self.qemu
            .wait_exit(timeout)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The QEMU handle, for anything else.
    pub fn qemu(&mut self) -> &mut Qemu {
        &mut self.qemu
    }
}
