//! The run loop: PID 1's life after boot.
//!
//! One poll covers the apps' output pipes (inside the supervisor), the
//! signalfd, the power buttons, the logger's socket and the kernel's log (see
//! [`crate::logging`]) and, while lines wait, the console. Each round
//! reaps, restarts, marks readiness; blesses the boot when every app is ready
//! (and green where it has a health check), or says why it will not when an
//! app turned red first; and turns signals and button presses into a power-off or reboot, which
//! stops the apps while this same loop keeps running (so their last output
//! and a hammered Ctrl-Alt-Del are still seen). Before the final steps of a
//! shutdown, the logger is given a moment to write everything to disk.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::PollFlags;

use crate::mounts::MountTable;
use crate::partitions::Partition;
use crate::power::{signal_meaning, CadCounter, PowerButtons, SignalMeaning};
use crate::supervisor::{Supervisor, Verdict, Watch};
use crate::sys::power::PowerAction;
use crate::sys::signals::Signals;
use crate::{bless, console, logging, shutdown};

/// Longest wait of one round: reaping happens at least this often.
const ROUND: Duration = Duration::from_secs(1);
/// How long the logger gets at shutdown to write what it was sent.
const LOGGER_FLUSH: Duration = Duration::from_secs(3);

/// Everything the run loop owns.
#[derive(Debug)]
pub struct Runtime {
    pub supervisor: Supervisor,
    pub signals: Signals,
    pub buttons: PowerButtons,
    pub mounts: MountTable,
    pub esp: Option<Partition>,
    pub version: String,
    pub cad: CadCounter,
    /// Set once a power-off or reboot is under way.
    pub stopping: Option<PowerAction>,
}

fn signal_name(signo: i32) -> String {
    nix::sys::signal::Signal::try_from(signo)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {signo}"))
}

impl Runtime {
    /// Runs until a shutdown completes. Never returns.
    pub fn run(mut self) -> ! {
        let console_handle = console::poll_handle();
        logging::start(Path::new(crate::boot::MANIFEST_PATH));
        loop {
            let request = self.round(console_handle.as_ref());
            if let Some(action) = request {
                self.begin_shutdown(action);
            }
            if self.stopping.is_some() && self.supervisor.stop_finished() {
                self.supervisor.drain_output();
                logging::finish(LOGGER_FLUSH);
                let action = self.stopping.unwrap_or(PowerAction::PowerOff);
                shutdown::finish(action, &mut self.supervisor, &mut self.mounts);
            }
        }
    }

    fn begin_shutdown(&mut self, action: PowerAction) {
        if self.stopping.is_some() {
            tracing::info!("shutdown already under way");
            return;
        }
        tracing::info!(
            "{}",
            match action {
                PowerAction::PowerOff => "power off requested",
                PowerAction::Reboot => "reboot requested",
            }
        );
        self.stopping = Some(action);
        self.supervisor.begin_stop();
    }

    /// One poll round; returns a power request if one arrived.
    fn round(&mut self, console_handle: Option<&OwnedFd>) -> Option<PowerAction> {
        let button_fds = self.buttons.fds();
        let buttons = button_fds.len();
        let mut watches = vec![Watch::new(self.signals.as_fd(), PollFlags::POLLIN)];
        watches.extend(
            button_fds
                .iter()
                .map(|fd| Watch::new(*fd, PollFlags::POLLIN)),
        );
        if let Some(fd) = console_handle.filter(|_| console::has_pending()) {
            watches.push(Watch::new(fd.as_fd(), PollFlags::POLLOUT));
        }
        let logging_handles = logging::poll_handles();
        watches.extend(
            logging_handles
                .iter()
                .map(|(fd, events)| Watch::new(fd.as_fd(), *events)),
        );
        self.supervisor.turn(&mut watches, ROUND);
        let signalled = watches[0].ready;
        let pressed: Vec<usize> = (0..buttons).filter(|i| watches[1 + i].ready).collect();
        drop(watches);
        drop(button_fds);
        drop(logging_handles);
        logging::tick();
        console::flush();

        let mut request = None;
        if signalled {
            for signo in self.signals.drain() {
                match signal_meaning(signo) {
                    SignalMeaning::Child => self.supervisor.reap(),
                    SignalMeaning::Power(action) => {
                        tracing::info!("{} received", signal_name(signo));
                        request = Some(action);
                    }
                    SignalMeaning::CtrlAltDel => {
                        tracing::info!("ctrl-alt-del pressed");
                        if self.cad.press(Instant::now()) {
                            shutdown::force_reboot();
                        }
                        request = Some(PowerAction::Reboot);
                    }
                    SignalMeaning::Ignore => {
                        tracing::debug!("{} ignored", signal_name(signo));
                    }
                }
            }
        }
        for index in pressed {
            if self.buttons.pressed(index) {
                tracing::info!("power button pressed");
                request = Some(PowerAction::PowerOff);
            }
        }
        match self.supervisor.take_verdict() {
            Some(Verdict::Bless) => bless::bless(
                self.esp.as_ref(),
                Path::new("/dev"),
                &self.version,
                &mut self.mounts,
            ),
            Some(Verdict::Refuse(reason)) => tracing::warn!("not blessing: {reason}"),
            None => {}
        }
        request
    }
}
