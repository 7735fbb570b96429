//! The end of an orderly shutdown, after the apps have been stopped.
//!
//! Whatever is still alive (daemons apps left behind, anything that escaped
//! its process group) gets SIGTERM and SIGCONT, a short grace, then SIGKILL,
//! and is reaped. Then: sync, unmount everything PID 1 mounted in reverse
//! order (detaching what is busy), sync again, and reboot(2). The final line
//! says which, so the console shows the system went down cleanly.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::boot::mounts::{MountTable, Unmounted};
use crate::sys::power::{self, PowerAction};
use cairn_supervisor::supervisor::Supervisor;
use cairn_sys::mount::Linux;
use cairn_sys::process;

/// How long leftover processes get after SIGTERM, and to be reaped after SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

/// Keeps reaping (and reading output) until no child is left or `limit` passes.
fn reap_for(supervisor: &mut Supervisor, limit: Duration) {
    let deadline = Instant::now() + limit;
    while process::has_children() && Instant::now() < deadline {
        supervisor.turn(&mut [], Duration::from_millis(50));
    }
    supervisor.reap();
}

/// Kills every remaining process (PID 1 only; elsewhere this is a no-op).
fn kill_everyone(supervisor: &mut Supervisor) {
    if !process::is_pid1() {
        return;
    }
    let _ = crate::sys::process::signal_everyone(Signal::SIGTERM);
    let _ = crate::sys::process::signal_everyone(Signal::SIGCONT);
    reap_for(supervisor, GRACE);
    if process::has_children() {
        tracing::warn!("killing the processes left");
    }
    let _ = crate::sys::process::signal_everyone(Signal::SIGKILL);
    reap_for(supervisor, GRACE);
    supervisor.drain_output();
}

/// Finishes the shutdown and powers off or reboots. Never returns.
pub fn finish(action: PowerAction, supervisor: &mut Supervisor, mounts: &mut MountTable) -> ! {
    kill_everyone(supervisor);
    power::sync();
    for (target, outcome) in mounts.unmount_all(&mut Linux) {
        match outcome {
            Unmounted::Clean => {}
            Unmounted::Detached => tracing::debug!("{} busy, detached", target.display()),
            Unmounted::Failed(err) => {
                tracing::warn!("cannot unmount {}: {err}", target.display());
            }
        }
    }
    let verb = match action {
        PowerAction::PowerOff => "powering off",
        PowerAction::Reboot => "rebooting",
    };
    tracing::info!("unmounted, syncing, {verb}");
    power::sync();
    crate::log::console::flush_for(Duration::from_secs(2));
    let err = power::reboot(action);
    crate::run::crash::fatal(&format!("{verb} failed: {err}"))
}

/// Ctrl-Alt-Del hammered: sync and reboot at once, without stopping apps.
pub fn force_reboot() -> ! {
    tracing::warn!("ctrl-alt-del pressed 7 times: forcing a reboot now");
    power::sync();
    crate::log::console::flush_for(Duration::from_millis(500));
    let err = power::reboot(PowerAction::Reboot);
    crate::run::crash::fatal(&format!("forced reboot failed: {err}"))
}
