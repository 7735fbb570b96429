//! What asks PID 1 to power off or reboot: signals, Ctrl-Alt-Del and the ACPI
//! power button.
//!
//! Signals (documented for operators in the architecture page):
//! - SIGTERM, SIGUSR2, SIGPWR: power off. SIGUSR2 is the BusyBox convention,
//!   SIGPWR what a UPS daemon sends.
//! - SIGINT: reboot. The kernel sends it for Ctrl-Alt-Del once PID 1 has
//!   disabled the hard reset. Seven or more within two seconds force an
//!   immediate reboot (someone is hammering the keys because shutdown hangs).
//! - SIGUSR1: reboot. BusyBox means "halt" by it, but an appliance that halts
//!   without powering off is just stuck, so Cairn offers the explicit reboot
//!   request instead and keeps SIGINT for the keyboard.
//! - SIGHUP, SIGWINCH: ignored (a hung-up console, the keyboard request key).
//!
//! A press of the power button (see `crate::sys::input`) is a power-off request.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::sys::power::PowerAction;

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalMeaning {
    /// A child ended: reap.
    Child,
    Power(PowerAction),
    /// Ctrl-Alt-Del (SIGINT): reboot, counted for the force escalation.
    CtrlAltDel,
    Ignore,
}

/// The meaning of a signal number for PID 1.
pub fn signal_meaning(signo: i32) -> SignalMeaning {
    match signo {
        libc::SIGCHLD => SignalMeaning::Child,
        libc::SIGTERM | libc::SIGUSR2 | libc::SIGPWR => SignalMeaning::Power(PowerAction::PowerOff),
        libc::SIGUSR1 => SignalMeaning::Power(PowerAction::Reboot),
        libc::SIGINT => SignalMeaning::CtrlAltDel,
        _ => SignalMeaning::Ignore,
    }
}

/// Counts Ctrl-Alt-Del presses in a sliding window.
#[derive(Debug)]
pub struct CadCounter {
    window: Duration,
    limit: usize,
    presses: VecDeque<Instant>,
}

impl Default for CadCounter {
    fn default() -> Self {
        CadCounter {
            window: Duration::from_secs(2),
            limit: 7,
            presses: VecDeque::new(),
        }
    }
}

impl CadCounter {
    /// Records a press; true when it makes `limit` presses within the window.
    pub fn press(&mut self, now: Instant) -> bool {
        self.presses.push_back(now);
        while let Some(&first) = self.presses.front() {
            if now.duration_since(first) > self.window {
                self.presses.pop_front();
            } else {
                break;
            }
        }
        self.presses.len() >= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_signals_to_requests() {
        use SignalMeaning::*;
        assert_eq!(signal_meaning(libc::SIGTERM), Power(PowerAction::PowerOff));
        assert_eq!(signal_meaning(libc::SIGUSR2), Power(PowerAction::PowerOff));
        assert_eq!(signal_meaning(libc::SIGPWR), Power(PowerAction::PowerOff));
        assert_eq!(signal_meaning(libc::SIGUSR1), Power(PowerAction::Reboot));
        assert_eq!(signal_meaning(libc::SIGINT), CtrlAltDel);
        assert_eq!(signal_meaning(libc::SIGCHLD), Child);
        assert_eq!(signal_meaning(libc::SIGHUP), Ignore);
    }

    #[test]
    fn seven_presses_within_two_seconds_force_a_reboot() {
        let mut cad = CadCounter::default();
        let t0 = Instant::now();
        for i in 0..6 {
            assert!(!cad.press(t0 + Duration::from_millis(i * 300)));
        }
        assert!(cad.press(t0 + Duration::from_millis(1900)));

        let mut slow = CadCounter::default();
        let hits: Vec<bool> = (0..10)
            .map(|i| slow.press(t0 + Duration::from_millis(i * 500)))
            .collect();
        assert!(
            hits.iter().all(|h| !h),
            "one press every 500 ms never forces"
        );
    }
}
