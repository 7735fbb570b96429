//! [`EspFiles`] over the ESP's FAT volume itself (its partition, or an
//! image file of it), through `cairn-fat`: nothing is mounted, no cluster
//! is ever allocated or freed, and each rename is one sector write.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use cairn_fat::{FatError, Volume};

use super::{EspFiles, Slot};

/// The ESP's volume on a device or image file.
#[derive(Debug)]
pub struct FatFiles {
    volume: Volume<File>,
}

fn fat(error: FatError) -> io::Error {
    io::Error::other(error.to_string())
}

impl FatFiles {
    /// Opens the volume on `device` for reading and writing.
    pub fn open(device: &Path) -> io::Result<FatFiles> {
        let file = OpenOptions::new().read(true).write(true).open(device)?;
        FatFiles::new(file)
    }

    /// The volume on `file`, whose first byte is the volume's.
    pub fn new(file: File) -> io::Result<FatFiles> {
        Ok(FatFiles {
            volume: Volume::open(file).map_err(fat)?,
        })
    }

    /// Whether a mount that did not finish left the volume marked dirty.
    pub fn is_dirty(&mut self) -> io::Result<bool> {
        Ok(self.volume.dirty_state().map_err(fat)?.is_dirty())
    }

    fn sync(&self) -> io::Result<()> {
        self.volume.device().sync_all()
    }
}

impl EspFiles for FatFiles {
    fn list(&mut self, dir: &str) -> io::Result<Vec<String>> {
        Ok(self
            .volume
            .list(dir)
            .map_err(fat)?
            .into_iter()
            .filter(|e| !e.is_dir)
            .map(|e| e.name)
            .collect())
    }

    fn read(&mut self, path: &str, max: u64) -> io::Result<Vec<u8>> {
        self.volume.read_file(path, max).map_err(fat)
    }

    fn size(&mut self, path: &str) -> io::Result<u64> {
        Ok(u64::from(self.volume.stat(path).map_err(fat)?.size))
    }

    fn open_slot(&mut self, path: &str) -> io::Result<Box<dyn Slot + '_>> {
        let capacity = self.size(path)?;
        Ok(Box::new(FatSlot {
            files: self,
            path: path.to_string(),
            capacity,
            data: Vec::new(),
        }))
    }

    fn rename(&mut self, dir: &str, from: &str, to: &str) -> io::Result<()> {
        // An entry file alone in its sector (as `cairn build` places it) is
        // renamed in one sector write; were it not, cairn-fat still keeps
        // the volume consistent between its two writes.
        self.volume
            .rename(&format!("{dir}/{from}"), to, None)
            .map_err(fat)?;
        self.sync()
    }
}

/// A slot's new content, gathered, then written over the file's own
/// clusters in one pass and synced.
struct FatSlot<'a> {
    files: &'a mut FatFiles,
    path: String,
    capacity: u64,
    data: Vec<u8>,
}

impl Write for FatSlot<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.data.len() as u64 + buf.len() as u64 > self.capacity {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("{} holds {} bytes", self.path, self.capacity),
            ));
        }
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Slot for FatSlot<'_> {
    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        let FatSlot {
            files, path, data, ..
        } = *self;
        files.volume.overwrite(&path, &data).map_err(fat)?;
        files.sync()
    }
}
