//! Turning an app's raw output bytes into console lines.
//!
//! Apps write arbitrary bytes. The console gets one line per line of output,
//! prefixed with the app's name, and never a line that could corrupt it: lines
//! longer than [`MAX_LINE`] bytes are split (at a character boundary), bytes
//! that are not UTF-8 and control characters (an ANSI escape, a bell) are
//! shown as `\xNN`, a trailing carriage return is dropped, and a last line
//! without a newline is still printed when the pipe closes.

use std::collections::VecDeque;

/// The longest line, in bytes of input, that goes out as one console line.
pub const MAX_LINE: usize = 4096;

/// How many of its last stderr lines an instance's crash report keeps.
pub const TAIL_LINES: usize = 20;

/// The last lines of a stream, oldest first: what a crash report shows (and,
/// holding records, the logging layer's ring of recent lines).
#[derive(Debug, Clone)]
pub struct Tail<T = String> {
    cap: usize,
    lines: VecDeque<T>,
}

impl<T: Clone> Tail<T> {
    pub fn new(cap: usize) -> Tail<T> {
        Tail {
            cap,
            lines: VecDeque::with_capacity(cap.min(64)),
        }
    }

    /// Keeps `line`, forgetting the oldest one when full.
    pub fn push(&mut self, line: T) {
        if self.cap == 0 {
            return;
        }
        if self.lines.len() == self.cap {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The kept lines, oldest first, leaving the tail empty.
    pub fn take(&mut self) -> Vec<T> {
        self.lines.drain(..).collect()
    }

    pub fn clear(&mut self) {
        self.lines.clear();
    }

    /// A copy of the kept lines, oldest first.
    pub fn peek(&self) -> Vec<T> {
        self.lines.iter().cloned().collect()
    }

    /// The kept lines, oldest first, without copying them.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.lines.iter()
    }
}

impl Default for Tail {
    fn default() -> Self {
        Tail::new(TAIL_LINES)
    }
}

/// Accumulates bytes and yields complete lines.
#[derive(Debug, Default)]
pub struct LineBuffer {
    buf: Vec<u8>,
}

impl LineBuffer {
    /// Adds `data`; calls `emit` with every line completed (or split) by it.
    pub fn push(&mut self, data: &[u8], emit: &mut impl FnMut(String)) {
        self.buf.extend_from_slice(data);
        let mut pending = self.buf.as_slice();
        while let Some((line, rest)) = next_line(pending) {
            emit(render(line));
            pending = rest;
        }
        let used = self.buf.len() - pending.len();
        self.buf.drain(..used);
    }

    /// Emits what is left (a last line without newline), at end of stream.
    pub fn finish(&mut self, emit: &mut impl FnMut(String)) {
        if !self.buf.is_empty() {
            emit(render(&self.buf));
            self.buf.clear();
        }
    }
}

/// The next line to emit from `pending` (without its newline) and what
/// follows it: a complete line, or the first `MAX_LINE` bytes (cut where no
/// character is torn) of one that has grown too long. None until either.
fn next_line(pending: &[u8]) -> Option<(&[u8], &[u8])> {
    let window = pending.get(..=MAX_LINE).unwrap_or(pending);
    match window.iter().position(|&b| b == b'\n') {
        Some(pos) => {
            let (line, rest) = pending.split_at_checked(pos)?;
            Some((line, rest.get(1..)?))
        }
        None if pending.len() > MAX_LINE => {
            let cut = split_point(pending.get(..MAX_LINE)?);
            pending.split_at_checked(cut)
        }
        None => None,
    }
}

/// Where to cut a full chunk so a multi-byte character is not torn in two.
fn split_point(chunk: &[u8]) -> usize {
    match std::str::from_utf8(chunk) {
        Ok(_) => chunk.len(),
        Err(err) if err.error_len().is_none() && err.valid_up_to() > 0 => err.valid_up_to(),
        Err(_) => {
            // The tail is invalid anyway, or the chunk starts with it; look
            // back at most 3 bytes for the start of a sequence.
            let tail = chunk.len().saturating_sub(3);
            (tail..chunk.len())
                .rev()
                .find(|&i| match chunk.get(i..) {
                    Some(rest @ [lead, ..]) => {
                        lead & 0xC0 == 0xC0 && std::str::from_utf8(rest).is_err()
                    }
                    _ => false,
                })
                .filter(|&i| i > 0)
                .unwrap_or(chunk.len())
        }
    }
}

/// One line of output as console text.
pub fn render(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // Most lines are printable ASCII: they go through as they are, without
    // looking at each character again.
    if line
        .iter()
        .all(|&b| (b' '..0x7f).contains(&b) || b == b'\t')
    {
        if let Ok(text) = std::str::from_utf8(line) {
            return text.to_owned();
        }
    }
    let mut out = String::with_capacity(line.len());
    for chunk in line.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() && c != '\t' {
                if let Ok(byte) = u8::try_from(u32::from(c)) {
                    out.push_str(&format!("\\x{byte:02x}"));
                } else {
                    out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
                }
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(chunks: &[&[u8]]) -> Vec<String> {
        let mut buf = LineBuffer::default();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.push(chunk, &mut |l| out.push(l));
        }
        buf.finish(&mut |l| out.push(l));
        out
    }

    #[test]
    fn joins_partial_writes_and_flushes_the_tail() {
        assert_eq!(
            lines_of(&[b"hel", b"lo\nwor", b"ld\n\nlast"]),
            vec!["hello", "world", "", "last"]
        );
        assert_eq!(lines_of(&[b"done\n"]), vec!["done"]);
    }

    #[test]
    fn splits_long_lines_at_the_limit() {
        let long = vec![b'a'; MAX_LINE * 2 + 10];
        let mut data = long.clone();
        data.push(b'\n');
        let out = lines_of(&[&data]);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].len(), MAX_LINE);
        assert_eq!(out[1].len(), MAX_LINE);
        assert_eq!(out[2].len(), 10);
        // A line of exactly MAX_LINE bytes stays whole.
        let mut exact = vec![b'b'; MAX_LINE];
        exact.push(b'\n');
        assert_eq!(lines_of(&[&exact]), vec!["b".repeat(MAX_LINE)]);
    }

    #[test]
    fn never_tears_a_character_when_splitting() {
        let mut data = vec![b'a'; MAX_LINE - 1];
        data.extend_from_slice("é".as_bytes()); // 2 bytes across the limit
        data.extend_from_slice(b"z\n");
        let out = lines_of(&[&data]);
        assert_eq!(out[0].len(), MAX_LINE - 1);
        assert_eq!(out[1], "éz");
    }

    #[test]
    fn a_tail_keeps_the_last_lines_in_order() {
        let mut tail = Tail::new(3);
        assert!(tail.take().is_empty());
        for i in 1..=5 {
            tail.push(format!("line {i}"));
        }
        assert_eq!(tail.take(), ["line 3", "line 4", "line 5"]);
        assert!(tail.take().is_empty(), "take empties it");
        tail.push("again".into());
        tail.clear();
        assert!(tail.take().is_empty());
        let mut none: Tail = Tail::new(0);
        none.push("x".into());
        assert!(none.take().is_empty());
        assert_eq!(Tail::default().cap, TAIL_LINES);
    }

    #[test]
    fn escapes_invalid_utf8_and_control_characters() {
        assert_eq!(render(b"ok \xff\xfe end"), "ok \\xff\\xfe end");
        assert_eq!(render(b"\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
        assert_eq!(render(b"tab\tkept\r"), "tab\tkept");
        assert_eq!(render("caf\u{e9} \u{9b}".as_bytes()), "caf\u{e9} \\x9b");
    }
}
