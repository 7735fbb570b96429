//! The file sink: one directory per source under /data/logs, rotated by
//! size, pruned by count, and paused before the data partition fills.
//!
//! ```text
//! /data/logs/<app>/current                          being written
//! /data/logs/<app>/2026-11-23T09-45-10.123456Z.log  rotated, named by when
//! ```
//!
//! `current` is rotated before a write would take it past `max_size`; a
//! directory keeps `keep` rotated files besides `current`. Every write
//! first makes sure the partition keeps its reserve free ([`Space`]): when it
//! runs low, the oldest rotated files of any app go first; when that is not
//! enough, log files pause (the lines are counted) until there is room again,
//! so app state writes never fail because of logs.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::record::{rfc3339, Record};

/// The file being written in each directory.
pub const CURRENT: &str = "current";
/// How often free space is measured at most, and after how many bytes.
const CHECK_EVERY: Duration = Duration::from_secs(2);
const CHECK_BYTES: u64 = 256 * 1024;

/// The free-space policy, measured in bytes available to unprivileged writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Never let logs take the partition below this.
    pub reserve: u64,
    /// Logs resume (and pruning aims for) reserve + headroom.
    pub headroom: u64,
}

impl Space {
    /// 5% of the partition, at least 16 MiB and at most 1 GiB, is kept free;
    /// the headroom is two rotations' worth.
    pub fn for_partition(total: u64, max_size: u64) -> Space {
        Space {
            reserve: (total / 20).clamp(16 << 20, 1 << 30),
            headroom: max_size.saturating_mul(2).max(1 << 20),
        }
    }

    /// Given `free` bytes and the rotated files (oldest first, with sizes):
    /// the files to delete to get back to reserve + headroom, and the free
    /// bytes after deleting them.
    pub fn plan<'a>(&self, free: u64, rotated: &'a [(PathBuf, u64)]) -> (Vec<&'a Path>, u64) {
        let target = self.reserve + self.headroom;
        let mut free = free;
        let mut delete = Vec::new();
        for (path, size) in rotated {
            if free >= target {
                break;
            }
            delete.push(path.as_path());
            free += size;
        }
        (delete, free)
    }
}

#[derive(Debug)]
struct Current {
    file: File,
    size: u64,
}

/// What the sink has to say, for the logger to log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Notices(pub Vec<(u8, String)>);

#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    max_size: u64,
    keep: u32,
    space: Space,
    open: BTreeMap<String, Current>,
    pending: BTreeMap<String, String>,
    paused: bool,
    not_written: u64,
    checked: Option<Instant>,
    since_check: u64,
    /// Measures free bytes; replaced in tests.
    free_bytes: fn(&Path) -> io::Result<u64>,
}

/// Bytes available to unprivileged writers on the filesystem of `path`.
pub fn statvfs_free(path: &Path) -> io::Result<u64> {
    let stat = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    Ok(stat.blocks_available() * stat.fragment_size())
}

/// The partition's size in bytes.
pub fn statvfs_total(path: &Path) -> io::Result<u64> {
    let stat = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    Ok(stat.blocks() * stat.fragment_size())
}

fn rotated_name(time: Duration) -> String {
    format!("{}.log", rfc3339(time).replace(':', "-"))
}

fn is_rotated(name: &str) -> bool {
    name.ends_with(".log") && name.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

impl FileSink {
    pub fn new(dir: PathBuf, max_size: u64, keep: u32, space: Space) -> FileSink {
        FileSink {
            dir,
            max_size: max_size.max(1),
            keep: keep.max(1),
            space,
            open: BTreeMap::new(),
            pending: BTreeMap::new(),
            paused: false,
            not_written: 0,
            checked: None,
            since_check: 0,
            free_bytes: statvfs_free,
        }
    }

    /// Measures free space with `probe` instead of statvfs (tests).
    pub fn with_free_probe(mut self, probe: fn(&Path) -> io::Result<u64>) -> FileSink {
        self.free_bytes = probe;
        self
    }

    /// Queues `record` for its source's file.
    pub fn add(&mut self, record: &Record) {
        let text = self.pending.entry(record.source.clone()).or_default();
        record.file_line(text);
        text.push('\n');
    }

    /// Writes everything queued; returns what should be logged about it.
    pub fn flush(&mut self, now: Instant) -> Notices {
        let mut notices = Notices::default();
        let pending = std::mem::take(&mut self.pending);
        let bytes: u64 = pending.values().map(|t| t.len() as u64).sum();
        if bytes == 0 {
            return notices;
        }
        self.since_check += bytes;
        if self
            .checked
            .is_none_or(|t| now.duration_since(t) >= CHECK_EVERY)
            || self.since_check >= CHECK_BYTES
        {
            self.check_space(now, &mut notices);
        }
        for (source, text) in pending {
            if self.paused {
                self.not_written += text.lines().count() as u64;
                continue;
            }
            if let Err(err) = self.write_source(&source, &text) {
                if err.raw_os_error() == Some(libc::ENOSPC) {
                    self.pause(&mut notices, "the data partition is full");
                } else {
                    notices.0.push((3, format!("log file for {source}: {err}")));
                }
                self.not_written += text.lines().count() as u64;
            }
        }
        notices
    }

    fn pause(&mut self, notices: &mut Notices, why: &str) {
        if !self.paused {
            self.paused = true;
            self.open.clear();
            notices.0.push((
                4,
                format!("log files paused: {why}; lines are counted until there is room"),
            ));
        }
    }

    fn check_space(&mut self, now: Instant, notices: &mut Notices) {
        self.checked = Some(now);
        self.since_check = 0;
        let free = match (self.free_bytes)(&self.dir) {
            Ok(free) => free,
            Err(_) => return,
        };
        if free >= self.space.reserve + self.space.headroom && !self.paused {
            return;
        }
        let rotated = self.rotated_files();
        let (delete, after) = self.space.plan(free, &rotated);
        let mut freed = 0;
        for path in &delete {
            if fs::remove_file(path).is_ok() {
                freed += 1;
            }
        }
        if freed > 0 {
            notices.0.push((
                4,
                format!(
                    "data partition low on space: deleted the {freed} oldest rotated log files"
                ),
            ));
        }
        if !self.paused && after < self.space.reserve {
            self.pause(
                notices,
                &format!(
                    "{} MiB free on the data partition, {} MiB kept in reserve",
                    free >> 20,
                    self.space.reserve >> 20
                ),
            );
        } else if self.paused && after >= self.space.reserve + self.space.headroom {
            self.paused = false;
            notices.0.push((
                5,
                format!(
                    "log files resumed; {} lines were not written while paused",
                    std::mem::take(&mut self.not_written)
                ),
            ));
        }
    }

    /// Every rotated file of every source, oldest first (by name: the time
    /// it was rotated).
    fn rotated_files(&self) -> Vec<(PathBuf, u64)> {
        let mut files: Vec<(String, PathBuf, u64)> = Vec::new();
        let Ok(dirs) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        for dir in dirs.flatten() {
            let Ok(entries) = fs::read_dir(dir.path()) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if is_rotated(&name) {
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    files.push((name, entry.path(), size));
                }
            }
        }
        files.sort();
        files
            .into_iter()
            .map(|(_, path, size)| (path, size))
            .collect()
    }

    fn write_source(&mut self, source: &str, text: &str) -> io::Result<()> {
        let mut rest = text;
        let max_size = self.max_size;
        while !rest.is_empty() {
            let current = self.current(source)?;
            let room = max_size.saturating_sub(current.size);
            // Whole lines that fit; at least one line into an empty file.
            let mut take = 0;
            for line in rest.split_inclusive('\n') {
                if (take + line.len()) as u64 > room && (take > 0 || current.size > 0) {
                    break;
                }
                take += line.len();
            }
            if take > 0 {
                // `take` ends a line, so the split always succeeds; were it
                // not to, the whole rest goes into this file rather than
                // looping.
                let (head, tail) = rest.split_at_checked(take).unwrap_or((rest, ""));
                current.file.write_all(head.as_bytes())?;
                current.size += head.len() as u64;
                rest = tail;
            }
            if !rest.is_empty() {
                self.rotate(source)?;
            }
        }
        Ok(())
    }

    fn current(&mut self, source: &str) -> io::Result<&mut Current> {
        if !self.open.contains_key(source) {
            let dir = self.dir.join(source);
            fs::create_dir_all(&dir)?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(CURRENT))?;
            let size = file.metadata()?.len();
            self.open.insert(source.to_string(), Current { file, size });
        }
        self.open
            .get_mut(source)
            .ok_or_else(|| io::Error::other("log file vanished"))
    }

    /// Renames `current` to its rotated name and prunes to `keep` files.
    fn rotate(&mut self, source: &str) -> io::Result<()> {
        self.open.remove(source);
        let dir = self.dir.join(source);
        let mut name = rotated_name(crate::record::now());
        while dir.join(&name).exists() {
            name.insert(name.len() - 4, '+');
        }
        fs::rename(dir.join(CURRENT), dir.join(name))?;
        let mut rotated: Vec<String> = fs::read_dir(&dir)?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| is_rotated(n))
            .collect();
        rotated.sort();
        let allowed = self.keep as usize;
        let excess = rotated.len().saturating_sub(allowed);
        for old in rotated.iter().take(excess) {
            fs::remove_file(dir.join(old))?;
        }
        Ok(())
    }

    /// Pushes written data to the disk (at shutdown).
    pub fn sync(&mut self) {
        for current in self.open.values() {
            let _ = current.file.sync_data();
        }
    }
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
