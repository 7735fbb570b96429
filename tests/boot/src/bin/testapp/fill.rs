//! A full disk for the logging tests.
//!
//! `cairn-testapp fill-state ROOM_MIB HOLD_SECS` fills `$STATE_DIR` with
//! 1 MiB files until the data partition is full (`testapp: fill: full after
//! N KiB`), and holds it full for HOLD_SECS (the logger measures free space
//! every 2 s). It then deletes ROOM_MIB of them (`testapp: fill: made room:
//! N KiB free`), waits HOLD_SECS again while other apps go on logging, and
//! writes as much as was free: the room it made must still be there, since
//! logs may not take an app's last free bytes (`testapp: fill: rewrote N
//! KiB`, or `... rewrite failed ...`). Last it deletes everything
//! (`testapp: fill: deleted N files`) and waits for SIGTERM.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::{say, wait_for_sigterm};

const MIB: usize = 1 << 20;

fn file_name(dir: &Path, n: usize) -> PathBuf {
    dir.join(format!("fill-{n:05}"))
}

/// Writes a file of `size` bytes and syncs it; the bytes written before an
/// error.
fn write_file(path: &Path, size: usize) -> Result<(), (usize, std::io::Error)> {
    let block = vec![0x5a_u8; 64 * 1024];
    let mut file = File::create(path).map_err(|e| (0, e))?;
    let mut written = 0;
    while written < size {
        let n = block.len().min(size - written);
        file.write_all(&block[..n]).map_err(|e| (written, e))?;
        written += n;
    }
    // Delayed allocation reports a full disk by the time of the sync at
    // the latest.
    file.sync_all().map_err(|e| (written, e))
}

/// KiB the app may still write on the filesystem of `dir`, for the record.
fn free_kib(dir: &Path) -> u64 {
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return 0;
    };
    // SAFETY: statvfs only writes into the zeroed struct we own, and the
    // path is a valid NUL-terminated string for the duration of the call.
    unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut stat) != 0 {
            return 0;
        }
        stat.f_bavail as u64 * stat.f_frsize as u64 / 1024
    }
}

/// Makes sure deleted files' blocks are free again (ext4 frees them when
/// the journal commits).
fn sync() {
    // SAFETY: sync(2) has no preconditions and cannot fail.
    unsafe { libc::sync() };
}

pub fn fill_state(room: &str, hold: &str) -> Result<ExitCode, String> {
    let room: usize = room.parse().map_err(|_| format!("bad MiB {room:?}"))?;
    let hold: u64 = hold.parse().map_err(|_| format!("bad seconds {hold:?}"))?;
    let dir = PathBuf::from(std::env::var("STATE_DIR").map_err(|_| "no STATE_DIR")?);

    let mut files = 0;
    let mut kib = 0;
    let full = loop {
        match write_file(&file_name(&dir, files), MIB) {
            Ok(()) => kib += MIB / 1024,
            Err((partial, err)) => {
                kib += partial / 1024;
                break err;
            }
        }
        files += 1;
    };
    say(&format!(
        "testapp: fill: full after {kib} KiB ({full}); {} KiB free",
        free_kib(&dir)
    ));
    if files < room {
        return Err(format!("only {files} whole files fit, fewer than {room}"));
    }
    std::thread::sleep(Duration::from_secs(hold));

    for n in 0..room {
        std::fs::remove_file(file_name(&dir, n)).map_err(|e| format!("remove: {e}"))?;
    }
    sync();
    // Less than what was deleted when root (the logger) wrote into the
    // blocks reserved for it after the app's writes had stopped.
    let free = free_kib(&dir);
    say(&format!(
        "testapp: fill: made room: {free} KiB free, holding {hold}s"
    ));
    std::thread::sleep(Duration::from_secs(hold));
    let room_file = dir.join("room");
    match write_file(&room_file, free as usize * 1024) {
        Ok(()) => say(&format!("testapp: fill: rewrote {free} KiB")),
        Err((written, err)) => say(&format!(
            "testapp: fill: rewrite failed after {} of {free} KiB: {err}",
            written / 1024
        )),
    }

    // The partial last file too.
    let _ = std::fs::remove_file(room_file);
    for n in 0..=files {
        let _ = std::fs::remove_file(file_name(&dir, n));
    }
    sync();
    say(&format!("testapp: fill: deleted {} files", files + 1));
    wait_for_sigterm()
}
