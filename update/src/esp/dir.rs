//! [`EspFiles`] over a directory that holds the ESP's files: for tests, and
//! for an ESP mounted by someone else.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use super::{EspFiles, Slot};

/// The ESP's files under `root`.
#[derive(Debug, Clone)]
pub struct DirFiles {
    root: PathBuf,
}

impl DirFiles {
    pub fn new(root: impl Into<PathBuf>) -> DirFiles {
        DirFiles { root: root.into() }
    }

    /// `root` joined with `path`, which must stay below it.
    fn path(&self, path: &str) -> io::Result<PathBuf> {
        let relative = Path::new(path);
        if relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            Ok(self.root.join(relative))
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{path:?} is not a plain relative path"),
            ))
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl EspFiles for DirFiles {
    fn list(&mut self, dir: &str) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(self.path(dir)?)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(names)
    }

    fn read(&mut self, path: &str, max: u64) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        File::open(self.path(path)?)?
            .take(max)
            .read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn size(&mut self, path: &str) -> io::Result<u64> {
        Ok(fs::metadata(self.path(path)?)?.len())
    }

    fn open_slot(&mut self, path: &str) -> io::Result<Box<dyn Slot + '_>> {
        let file = OpenOptions::new().write(true).open(self.path(path)?)?;
        let capacity = file.metadata()?.len();
        Ok(Box::new(FileSlot {
            file,
            capacity,
            written: 0,
        }))
    }

    fn rename(&mut self, dir: &str, from: &str, to: &str) -> io::Result<()> {
        let dir = self.path(dir)?;
        for name in [from, to] {
            if name.contains('/') || name.is_empty() || name == "." || name == ".." {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{name:?} is not a file name"),
                ));
            }
        }
        if dir.join(to).exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{to} exists"),
            ));
        }
        fs::rename(dir.join(from), dir.join(to))?;
        sync_dir(&dir)
    }
}

/// A file written in place, never beyond its size.
struct FileSlot {
    file: File,
    capacity: u64,
    written: u64,
}

impl Write for FileSlot {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.capacity - self.written;
        if buf.len() as u64 > room {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("the file holds {} bytes", self.capacity),
            ));
        }
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Slot for FileSlot {
    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        let zeros = [0u8; 64 * 1024];
        while self.written < self.capacity {
            let n = usize::try_from(self.capacity - self.written)
                .unwrap_or(zeros.len())
                .min(zeros.len());
            self.file.write_all(&zeros[..n])?;
            self.written += n as u64;
        }
        self.file.sync_all()
    }
}
