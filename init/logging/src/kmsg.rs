//! The kernel's log, read from /dev/kmsg into the record stream.
//!
//! Each read returns one record: `PRIORITY,SEQ,MICROSECONDS,FLAGS;TEXT`,
//! possibly followed by continuation lines (` KEY=VALUE`) that are skipped.
//! Only facility 0 (the kernel) is taken: what userspace wrote to /dev/kmsg
//! (PID 1's own lines among them) reaches the stream directly.

use std::time::Duration;

/// One kernel log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelLine {
    pub severity: u8,
    /// Time since boot, on the kernel's clock.
    pub since_boot: Duration,
    pub text: String,
}

/// Parses one /dev/kmsg read; None for userspace records and malformed input.
pub fn parse(raw: &[u8]) -> Option<KernelLine> {
    let text = String::from_utf8_lossy(raw);
    let (header, body) = text.split_once(';')?;
    let mut fields = header.split(',');
    let priority: u32 = fields.next()?.parse().ok()?;
    let _seq = fields.next()?;
    let micros: u64 = fields.next()?.parse().ok()?;
    if priority >> 3 != 0 {
        return None;
    }
    let line = body.split('\n').next().unwrap_or_default();
    Some(KernelLine {
        severity: u8::try_from(priority & 7).unwrap_or(6),
        since_boot: Duration::from_micros(micros),
        text: crate::record::clean(line),
    })
}

/// The wall-clock time of a kernel timestamp, given the clocks now.
pub fn wall_time(since_boot: Duration, monotonic_now: Duration, wall_now: Duration) -> Duration {
    wall_now.saturating_sub(monotonic_now.saturating_sub(since_boot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_records_are_taken_and_userspace_ones_skipped() {
        let line =
            parse(b"4,812,2345678,-;virtio_net virtio0: link up\n SUBSYSTEM=virtio\n").unwrap();
        assert_eq!(line.severity, 4);
        assert_eq!(line.since_boot, Duration::from_micros(2_345_678));
        assert_eq!(line.text, "virtio_net virtio0: link up");
        // `<6>cairn: ...` written by PID 1 arrives with facility user (1).
        assert_eq!(parse(b"14,813,2345999,-;cairn: hello\n"), None);
        assert_eq!(parse(b"garbage"), None);
    }

    #[test]
    fn kernel_time_becomes_wall_time() {
        let wall = wall_time(
            Duration::from_secs(2),
            Duration::from_secs(10),
            Duration::from_secs(1_700_000_010),
        );
        assert_eq!(wall, Duration::from_secs(1_700_000_002));
    }
}
