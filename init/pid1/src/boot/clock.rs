//! The wall clock: when it can be trusted for calendar fires, and setting it.
//!
//! A machine without a battery-backed clock, or with a flat battery, boots
//! in 1970 or at some stale time. Calendar jobs must not fire from such a
//! clock (they would fire, be recorded as handled, and then the real time
//! arrives). So the scheduler waits until the clock is *plausible*: it reads
//! no earlier than a floor (this release's floor, or the time the booted
//! image was built, whichever is later), or SNTP has set it.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use cairn_schedule::jiff::{SignedDuration, Timestamp};

/// No Cairn system runs before 2025-01-01T00:00:00Z: a clock reading
/// earlier is wrong.
pub const RELEASE_FLOOR_SECS: i64 = 1_735_689_600;

/// The file in a bank whose modification time is the image's build time
/// (`SOURCE_DATE_EPOCH`, or 0 when that was not set).
pub const BUILD_STAMP: &str = cairn_layout::bank::VERSION_PATH;

static SYNCED: AtomicBool = AtomicBool::new(false);

/// The earliest plausible time: the release floor, or the modification time
/// of `stamp` when it is later.
pub fn floor(stamp: Option<&Path>) -> Timestamp {
    let release = Timestamp::from_second(RELEASE_FLOOR_SECS).unwrap_or(Timestamp::UNIX_EPOCH);
    let built = stamp
        .and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok())
        .and_then(|t| Timestamp::try_from(t).ok());
    built.map_or(release, |b| b.max(release))
}

/// Set once SNTP has set (or confirmed) the clock in this boot; the job
/// runtime watches it.
pub fn synced_flag() -> &'static AtomicBool {
    &SYNCED
}

/// Records that the clock was set from the network.
pub fn mark_synced() {
    SYNCED.store(true, Ordering::Relaxed);
}

/// The wall clock now.
pub fn now() -> Timestamp {
    Timestamp::now()
}

/// Steps the wall clock by `offset` (CLOCK_REALTIME). Needs CAP_SYS_TIME.
pub fn step_by(offset: SignedDuration) -> io::Result<Timestamp> {
    let target = now()
        .checked_add(offset)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    set_wall(target)?;
    Ok(target)
}

/// Sets the wall clock (CLOCK_REALTIME) to `at`.
pub fn set_wall(at: Timestamp) -> io::Result<()> {
    let spec = nix::sys::time::TimeSpec::new(at.as_second(), i64::from(at.subsec_nanosecond()));
    nix::time::clock_settime(nix::time::ClockId::CLOCK_REALTIME, spec).map_err(cairn_sys::io_err)
}

/// Smaller offsets are left alone (a step would only add jitter).
pub const STEP_MIN: SignedDuration = SignedDuration::from_millis(128);

/// Takes the offset a time server gave: steps the clock when it is off by
/// [`STEP_MIN`] or more, and marks it trusted either way.
pub fn adopt(server: &str, offset: SignedDuration) {
    if offset.abs() < STEP_MIN {
        tracing::info!(
            "sntp: clock confirmed by {server} (off by {} ms)",
            offset.as_millis()
        );
        mark_synced();
        return;
    }
    match step_by(offset) {
        Ok(now) => {
            tracing::info!(
                "sntp: clock set from {server} to {now} (stepped by {} ms)",
                offset.as_millis()
            );
            mark_synced();
        }
        Err(err) => tracing::warn!("sntp: cannot set the clock: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_the_later_of_release_and_build() {
        let release = Timestamp::from_second(RELEASE_FLOOR_SECS).unwrap();
        assert_eq!(floor(None), release);
        assert_eq!(floor(Some(Path::new("/nonexistent/stamp"))), release);
        let dir = tempfile::tempdir().unwrap();
        let stamp = dir.path().join("version");
        std::fs::write(&stamp, "1\n").unwrap();
        // Just written: its mtime is now, later than the release floor.
        let built = floor(Some(&stamp));
        assert!(built > release);
        assert!(built <= now());
        // An image built with SOURCE_DATE_EPOCH=0 has mtime 1970.
        let old = std::fs::File::options().write(true).open(&stamp).unwrap();
        old.set_modified(std::time::UNIX_EPOCH).unwrap();
        assert_eq!(floor(Some(&stamp)), release);
    }

    #[test]
    fn synced_is_sticky() {
        mark_synced();
        assert!(synced_flag().load(Ordering::Relaxed));
    }
}
