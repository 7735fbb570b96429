//! A source's log files as the logger leaves them:
//!
//! ```text
//! <logs>/<source>/current                          being written
//! <logs>/<source>/2026-11-23T09-45-10.123456Z.log  rotated, named by when
//! <logs>/<source>/2026-11-23T09-45-10.123456Z+.log rotated again that microsecond
//! ```
//!
//! and the last lines of them, read backwards so a long history costs only
//! what is shown.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::names::is_log_source;

pub const CURRENT: &str = "current";
const BLOCK: u64 = 64 * 1024;
/// At most this much is read for one request, over all its sources,
/// whatever `lines` says.
pub const MAX_BYTES: u64 = 16 << 20;

/// Every source that has a log directory, sorted.
pub fn sources(logs: &Path) -> Vec<String> {
    let Ok(items) = fs::read_dir(logs) else {
        return Vec::new();
    };
    let mut names: Vec<String> = items
        .flatten()
        .filter(|i| i.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|i| i.file_name().into_string().ok())
        .filter(|n| is_log_source(n))
        .collect();
    names.sort();
    names
}

/// A rotated file's sort key: its time, then how many `+` it took to make
/// the name unique (later rotations of the same microsecond have more).
fn rotated_key(name: &str) -> Option<(String, usize)> {
    let stem = name.strip_suffix(".log")?;
    if !stem.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let base = stem.trim_end_matches('+');
    Some((base.to_owned(), stem.len() - base.len()))
}

/// The rotated files of a source, oldest first.
pub fn rotated(dir: &Path) -> Vec<PathBuf> {
    let Ok(items) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<((String, usize), PathBuf)> = items
        .flatten()
        .filter(|i| i.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|i| {
            let name = i.file_name().into_string().ok()?;
            Some((rotated_key(&name)?, i.path()))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, path)| path).collect()
}

/// The last `want` complete lines of a source, oldest first, reading
/// `current` up to `current_end` (where a follower starts) and the rotated
/// files before it as needed, and at most `budget` bytes (less what it read).
pub fn tail(
    dir: &Path,
    want: usize,
    current_end: Option<u64>,
    budget: &mut u64,
) -> io::Result<Vec<Vec<u8>>> {
    let mut files: Vec<(PathBuf, Option<u64>)> =
        rotated(dir).into_iter().map(|p| (p, None)).collect();
    files.push((dir.join(CURRENT), current_end));
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for (path, end) in files.iter().rev() {
        if lines.len() >= want || *budget == 0 {
            break;
        }
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let end = end.map_or(len, |e| e.min(len));
        let mut older = last_lines(&mut file, end, want - lines.len(), budget)?;
        older.append(&mut lines);
        lines = older;
    }
    Ok(lines)
}

/// The last `want` lines of `file` before `end`, oldest first. A last line
/// without its newline is still being written and is left for later.
fn last_lines(
    file: &mut File,
    end: u64,
    want: usize,
    budget: &mut u64,
) -> io::Result<Vec<Vec<u8>>> {
    let mut tail: Vec<u8> = Vec::new();
    let mut start = end;
    loop {
        let newlines = tail.iter().filter(|&&b| b == b'\n').count();
        // One more newline than lines wanted: the line before the first
        // one kept ends there.
        if newlines > want || start == 0 || *budget == 0 {
            break;
        }
        let step = BLOCK.min(start).min(*budget);
        start -= step;
        *budget -= step;
        let mut block = vec![0u8; step as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&tail);
        tail = block;
    }
    let complete = match tail.iter().rposition(|&b| b == b'\n') {
        Some(at) => &tail[..=at],
        None => &[][..],
    };
    let mut lines: Vec<Vec<u8>> = complete
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    // The first piece is whole only if it starts the file.
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(want);
    Ok(lines.split_off(skip))
}

/// A line's time, for merging sources: its first word.
pub fn time_of(line: &[u8]) -> &[u8] {
    line.split(|&b| b == b' ').next().unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_across_rotated_files_and_skips_a_partial_line() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("2026-01-01T00-00-00.000001Z.log"), "a1\na2\n").unwrap();
        fs::write(d.join("2026-01-01T00-00-00.000001Z+.log"), "b1\n").unwrap();
        fs::write(d.join("2026-01-02T00-00-00.000001Z.log"), "c1\nc2\n").unwrap();
        fs::write(d.join(CURRENT), "d1\nd2\npartial").unwrap();
        fs::write(d.join("notes.txt"), "x\n").unwrap();
        let got = |want| -> Vec<String> {
            tail(d, want, None, &mut MAX_BYTES.clone())
                .unwrap()
                .into_iter()
                .map(|l| String::from_utf8(l).unwrap())
                .collect()
        };
        assert_eq!(got(1), ["d2\n"]);
        assert_eq!(got(3), ["c2\n", "d1\n", "d2\n"]);
        assert_eq!(
            got(100),
            ["a1\n", "a2\n", "b1\n", "c1\n", "c2\n", "d1\n", "d2\n"]
        );
        assert_eq!(got(0), Vec::<String>::new());
        let until: Vec<_> = tail(d, 2, Some(3), &mut MAX_BYTES.clone()).unwrap();
        let mut small = 11;
        assert_eq!(tail(d, 5, None, &mut small).unwrap(), [b"d2\n".to_vec()]);
        assert_eq!(until, [b"c2\n".to_vec(), b"d1\n".to_vec()]);
    }

    #[test]
    fn long_files_are_read_backwards_in_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..20000).map(|i| format!("line {i:06}\n")).collect();
        fs::write(dir.path().join(CURRENT), &text).unwrap();
        let lines = tail(dir.path(), 10001, None, &mut MAX_BYTES.clone()).unwrap();
        assert_eq!(lines.len(), 10001);
        assert_eq!(lines[0], b"line 009999\n");
        assert_eq!(lines[10000], b"line 019999\n");
    }
}
