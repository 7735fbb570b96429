//! The crash path: what happens when PID 1 cannot go on.
//!
//! If PID 1 exits or unwinds out of main, the kernel panics and what went
//! wrong is lost. Instead, a panic anywhere (the release build aborts on
//! panic, after this hook) and every fatal error in boot come here: the
//! message goes to /dev/kmsg and the console as `cairn: FATAL: ...`, the
//! filesystems are synced, and after 10 seconds (time to read it) the machine
//! reboots. systemd-boot counts that as a failed try of this version, so a
//! version that keeps crashing falls back to the other bank. This never
//! returns; if even the reboot fails, PID 1 keeps reaping children forever.

use std::path::Path;
use std::time::Duration;

use crate::sys::power::{self, PowerAction};
use cairn_sys::process;

/// How long the last words stay on screen before the reboot.
const DELAY: Duration = Duration::from_secs(10);

/// Routes every panic to [`fatal`].
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        let text = info.to_string().replace('\n', " ");
        fatal(&text)
    }));
}

/// Logs `message`, syncs, waits, reboots. Never returns.
pub fn fatal(message: &str) -> ! {
    crate::log::emergency(message, Path::new("/dev/console"), Path::new("/dev/kmsg"));
    crate::log::console::flush_for(Duration::from_secs(2));
    if !process::is_pid1() {
        // Only PID 1 may reboot; anything else (a tool using this crate)
        // just stops.
        std::process::abort();
    }
    power::sync();
    std::thread::sleep(DELAY);
    power::sync();
    let err = power::reboot(PowerAction::Reboot);
    crate::log::console::write_line_emergency(
        &format!("cairn: FATAL: reboot failed: {err}; reaping only"),
        Path::new("/dev/console"),
    );
    loop {
        while let Ok(process::Reaped::Child { .. }) = process::reap_one() {}
        std::thread::sleep(Duration::from_secs(1));
    }
}
