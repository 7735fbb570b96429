//! Following a source's `current` as the logger appends to it, across
//! rotations: the open file is read to its end before the new `current`
//! is opened, so no line is lost when it is renamed away.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::files::CURRENT;

/// Bytes read from one file per poll at most; the rest waits for the next.
const MAX_READ: u64 = 1 << 20;
/// A line longer than this is passed on in pieces.
const MAX_LINE: usize = 64 * 1024;

#[derive(Debug)]
pub struct Follower {
    pub source: String,
    path: PathBuf,
    open: Option<Open>,
    partial: Vec<u8>,
}

#[derive(Debug)]
struct Open {
    file: File,
    inode: (u64, u64),
    offset: u64,
}

impl Follower {
    /// Starts at the current end of `<dir>/current` (or at the start of a
    /// `current` that does not exist yet). Returns where it starts, for the
    /// tail shown before following.
    pub fn new(source: String, dir: PathBuf) -> (Follower, Option<u64>) {
        let path = dir.join(CURRENT);
        let open = open_at_end(&path);
        let start = open.as_ref().map(|o| o.offset);
        (
            Follower {
                source,
                path,
                open,
                partial: Vec::new(),
            },
            start,
        )
    }

    /// Reads `current` from its start at the next poll.
    pub fn rewind(&mut self) {
        if let Some(open) = &mut self.open {
            open.offset = 0;
        }
    }

    /// The complete lines appended since the last poll.
    pub fn poll(&mut self) -> io::Result<Vec<Vec<u8>>> {
        let mut bytes = Vec::new();
        let now = fs::metadata(&self.path)
            .ok()
            .map(|m| ((m.dev(), m.ino()), m.len()));
        if let Some(open) = &mut self.open {
            if now.is_some_and(|(inode, len)| inode == open.inode && len < open.offset) {
                // Truncated in place: start again from its beginning.
                open.offset = 0;
            }
            read_new(open, &mut bytes)?;
        }
        let rotated = match (&self.open, now) {
            (Some(open), Some((inode, _))) => open.inode != inode,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        if rotated {
            // Whatever the old file still held was read above.
            self.open = open_from_start(&self.path);
            if let Some(open) = &mut self.open {
                read_new(open, &mut bytes)?;
            }
        }
        Ok(self.lines(bytes))
    }

    fn lines(&mut self, bytes: Vec<u8>) -> Vec<Vec<u8>> {
        self.partial.extend_from_slice(&bytes);
        let mut lines = Vec::new();
        while let Some(at) = self.partial.iter().position(|&b| b == b'\n') {
            let rest = self.partial.split_off(at + 1);
            lines.push(std::mem::replace(&mut self.partial, rest));
        }
        if self.partial.len() > MAX_LINE {
            let mut piece = std::mem::take(&mut self.partial);
            piece.push(b'\n');
            lines.push(piece);
        }
        lines
    }
}

fn open_at_end(path: &PathBuf) -> Option<Open> {
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    Some(Open {
        inode: (meta.dev(), meta.ino()),
        offset: meta.len(),
        file,
    })
}

fn open_from_start(path: &PathBuf) -> Option<Open> {
    let mut open = open_at_end(path)?;
    open.offset = 0;
    Some(open)
}

fn read_new(open: &mut Open, out: &mut Vec<u8>) -> io::Result<()> {
    open.file.seek(SeekFrom::Start(open.offset))?;
    let before = out.len();
    (&mut open.file).take(MAX_READ).read_to_end(out)?;
    open.offset += (out.len() - before) as u64;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn follows_appends_partial_lines_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let current = dir.path().join(CURRENT);
        fs::write(&current, "old\n").unwrap();
        let (mut follower, start) = Follower::new("web".into(), dir.path().to_owned());
        assert_eq!(start, Some(4));
        assert!(follower.poll().unwrap().is_empty());

        let mut file = fs::OpenOptions::new().append(true).open(&current).unwrap();
        file.write_all(b"one\ntw").unwrap();
        assert_eq!(follower.poll().unwrap(), [b"one\n".to_vec()]);
        file.write_all(b"o\nlast before rotation\n").unwrap();
        fs::rename(&current, dir.path().join("2026-01-01T00-00-00.000000Z.log")).unwrap();
        fs::write(&current, "after\n").unwrap();
        assert_eq!(
            follower.poll().unwrap(),
            [
                b"two\n".to_vec(),
                b"last before rotation\n".to_vec(),
                b"after\n".to_vec()
            ]
        );
        assert!(follower.poll().unwrap().is_empty());
    }

    #[test]
    fn a_source_that_appears_later_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let (mut follower, start) = Follower::new("job".into(), dir.path().to_owned());
        assert_eq!(start, None);
        assert!(follower.poll().unwrap().is_empty());
        fs::write(dir.path().join(CURRENT), "first\n").unwrap();
        assert_eq!(follower.poll().unwrap(), [b"first\n".to_vec()]);
    }
}
