//! PID 1's queue of records for the logger, bounded, with drops counted.
//!
//! Records are packed into numbered batches. A batch stays in the outbox
//! after it is sent, until the logger acknowledges it (after writing it), so
//! a logger that dies loses nothing: its successor is sent every batch that
//! was not acknowledged. When the outbox holds `cap` bytes, new records are
//! dropped and counted per source; once it has drained to half, the counts
//! are handed out to be logged.

use std::collections::{BTreeMap, VecDeque};

use crate::record::Record;

/// First byte of a batch from PID 1: `B`, sequence number (u64 LE), records.
pub const BATCH: u8 = b'B';
/// First byte of an acknowledgement from the logger: `A`, sequence number.
pub const ACK: u8 = b'A';
/// First byte of records the logger sends back (its own notices): `R`, records.
pub const RECORDS: u8 = b'R';

#[derive(Debug)]
struct Batch {
    seq: u64,
    bytes: Vec<u8>,
}

#[derive(Debug)]
pub struct Outbox {
    cap: usize,
    batch_max: usize,
    batches: VecDeque<Batch>,
    /// Index in `batches` of the first batch not yet sent.
    unsent: usize,
    open: Vec<u8>,
    held: usize,
    next_seq: u64,
    dropped: BTreeMap<String, u64>,
}

fn header(seq: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(64 * 1024);
    bytes.push(BATCH);
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes
}

/// Reads the sequence number of an `A` message.
pub fn parse_ack(message: &[u8]) -> Option<u64> {
    match message {
        [ACK, rest @ ..] => Some(u64::from_le_bytes(rest.get(..8)?.try_into().ok()?)),
        _ => None,
    }
}

/// An `A` message for `seq`.
pub fn ack_message(seq: u64) -> [u8; 9] {
    let mut out = [0u8; 9];
    out[0] = ACK;
    out[1..].copy_from_slice(&seq.to_le_bytes());
    out
}

/// Splits a `B` message into its sequence number and records.
pub fn parse_batch(message: &[u8]) -> Option<(u64, &[u8])> {
    match message {
        [BATCH, rest @ ..] => {
            let (seq, records) = rest.split_first_chunk::<8>()?;
            Some((u64::from_le_bytes(*seq), records))
        }
        _ => None,
    }
}

impl Outbox {
    /// Holds at most `cap` bytes; batches are at most about `batch_max`.
    pub fn new(cap: usize, batch_max: usize) -> Outbox {
        Outbox {
            cap,
            batch_max,
            batches: VecDeque::new(),
            unsent: 0,
            open: header(1),
            held: 0,
            next_seq: 1,
            dropped: BTreeMap::new(),
        }
    }

    /// Queues `record`; false when it was dropped (and counted) for lack of room.
    pub fn push(&mut self, record: &Record) -> bool {
        let before = self.open.len();
        record.encode(&mut self.open);
        let size = self.open.len() - before;
        if self.held + size > self.cap || !self.dropped.is_empty() {
            // While drops are pending, keep dropping: the notice must come
            // before anything newer, or the gap would sit in the wrong place.
            self.open.truncate(before);
            *self.dropped.entry(record.source.clone()).or_default() += 1;
            return false;
        }
        self.held += size;
        if self.open.len() >= self.batch_max {
            self.seal();
        }
        true
    }

    /// Closes the open batch so it can be sent.
    pub fn seal(&mut self) {
        if self.open.len() <= 9 {
            return;
        }
        self.next_seq += 1;
        let bytes = std::mem::replace(&mut self.open, header(self.next_seq));
        self.batches.push_back(Batch {
            seq: self.next_seq - 1,
            bytes,
        });
    }

    /// The next batch to send, if any.
    pub fn next_unsent(&self) -> Option<&[u8]> {
        self.batches.get(self.unsent).map(|b| b.bytes.as_slice())
    }

    /// The batch from [`next_unsent`](Outbox::next_unsent) went out.
    pub fn mark_sent(&mut self) {
        self.unsent = (self.unsent + 1).min(self.batches.len());
    }

    /// The logger has written every batch up to `seq`.
    pub fn ack(&mut self, seq: u64) {
        while self.batches.front().is_some_and(|b| b.seq <= seq) && self.unsent > 0 {
            if let Some(batch) = self.batches.pop_front() {
                self.held = self.held.saturating_sub(batch.bytes.len() - 9);
            }
            self.unsent -= 1;
        }
    }

    /// A new logger: everything not acknowledged goes out again.
    pub fn rewind(&mut self) {
        self.unsent = 0;
    }

    /// Records dropped per source, once the outbox has drained to half:
    /// the caller logs them (which queues the notices first).
    pub fn take_drops(&mut self) -> Vec<(String, u64)> {
        if self.dropped.is_empty() || self.held > self.cap / 2 {
            return Vec::new();
        }
        std::mem::take(&mut self.dropped).into_iter().collect()
    }

    /// Something waits to be sent.
    pub fn has_unsent(&self) -> bool {
        self.unsent < self.batches.len() || self.open.len() > 9
    }

    /// Nothing is waiting for the logger: every batch sent was acknowledged.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty() && self.open.len() <= 9
    }

    /// Bytes of records held.
    pub fn held(&self) -> usize {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Stream;

    fn line(source: &str, text: &str) -> Record {
        Record::new(source, 0, Stream::Stdout, text.to_string())
    }

    fn send_all(outbox: &mut Outbox) -> Vec<(u64, Vec<Record>)> {
        outbox.seal();
        let mut sent = Vec::new();
        while let Some(bytes) = outbox.next_unsent() {
            let (seq, body) = parse_batch(bytes).unwrap();
            sent.push((seq, Record::decode_all(body).0));
            outbox.mark_sent();
        }
        sent
    }

    #[test]
    fn unacknowledged_batches_are_sent_again_to_a_new_logger() {
        let mut outbox = Outbox::new(1 << 20, 100);
        for i in 0..10 {
            assert!(outbox.push(&line("web", &format!("line {i}"))));
        }
        let first = send_all(&mut outbox);
        assert!(first.len() > 1, "small batches");
        assert!(!outbox.has_unsent());
        // The logger wrote the first batch, then died.
        outbox.ack(first[0].0);
        outbox.rewind();
        let again = send_all(&mut outbox);
        assert_eq!(again, first[1..].to_vec());
        let lines: Vec<String> = first
            .iter()
            .flat_map(|(_, r)| r.iter().map(|r| r.line.clone()))
            .collect();
        assert_eq!(lines.len(), 10);
        outbox.ack(again.last().unwrap().0);
        assert!(outbox.is_empty());
        assert_eq!(outbox.held(), 0);
    }

    #[test]
    fn a_full_outbox_drops_counts_and_reports_after_draining() {
        let mut outbox = Outbox::new(1000, 200);
        let mut accepted = 0;
        for i in 0..100 {
            if outbox.push(&line("web", &format!("flood {i:04}"))) {
                accepted += 1;
            }
        }
        assert!(!outbox.push(&line("db", "quiet")));
        assert!(accepted > 10 && accepted < 100, "{accepted}");
        assert!(outbox.take_drops().is_empty(), "still full");
        let sent = send_all(&mut outbox);
        outbox.ack(sent.last().unwrap().0);
        assert_eq!(
            outbox.take_drops(),
            vec![("db".to_string(), 1), ("web".to_string(), 100 - accepted)]
        );
        assert!(outbox.take_drops().is_empty(), "reported once");
        assert!(outbox.push(&line("web", "after")));
    }

    #[test]
    fn messages_parse() {
        assert_eq!(parse_ack(&ack_message(77)), Some(77));
        assert_eq!(parse_ack(b"A12"), None);
        assert_eq!(parse_batch(b"B"), None);
    }
}
