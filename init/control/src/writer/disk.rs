//! The writer's two targets behind one small trait, so tests use a plain
//! file as the bank partition and a FAT image file or a directory as the
//! ESP.

use std::fs::{File, OpenOptions};
use std::io;

use cairn_update::entries::Bank;
use cairn_update::esp::{DirFiles, EspFiles, FatFiles};

use crate::config::{Banks, EspAccess};

/// The devices an update touches.
pub trait Disk: Send + Sync {
    /// The bank's partition, open for writing from its first byte.
    fn open_bank(&self, bank: Bank) -> io::Result<File>;
    /// The ESP's files, for the update protocol of `cairn_update::esp`.
    fn open_esp(&self) -> io::Result<Box<dyn EspFiles + '_>>;
}

/// The real devices: the configured partitions, and the ESP's FAT volume
/// changed in place on its device (never mounted), or a directory that
/// holds its files (tests).
#[derive(Debug, Clone)]
pub struct SystemDisk {
    banks: Banks,
    esp: EspAccess,
}

impl SystemDisk {
    pub fn new(banks: Banks, esp: EspAccess) -> SystemDisk {
        SystemDisk { banks, esp }
    }
}

impl Disk for SystemDisk {
    fn open_bank(&self, bank: Bank) -> io::Result<File> {
        // Never created or truncated: the path must be the partition.
        OpenOptions::new().write(true).open(self.banks.device(bank))
    }

    fn open_esp(&self) -> io::Result<Box<dyn EspFiles + '_>> {
        match &self.esp {
            EspAccess::Dir(dir) => Ok(Box::new(DirFiles::new(dir.clone()))),
            EspAccess::Device(device) => Ok(Box::new(FatFiles::open(device)?)),
        }
    }
}
