//! The ESP as an update, a blessing and a rollback change it: one
//! protocol, used by the update writer and by PID 1.
//!
//! Every file these touch was made at build time at its final size (see
//! `cairn_layout::esp`): per bank a kernel and an initramfs slot, and one
//! entry file, which is either idle (`bank-<b>.off`, invisible to
//! systemd-boot) or a Boot Loader Specification entry
//! (`cairn-<build>-<version>[+L-D].conf`) that boots the bank. Nothing is
//! ever created, deleted or resized, so every step is an in-place write of
//! data that no visible entry names, or one rename, which is one sector
//! write on FAT ([`EspFiles`]). An update of bank `b`:
//!
//! 1. [`Esp::disable`]: `b`'s entry file becomes idle (one rename); from
//!    now on nothing boots `b`;
//! 2. the bank partition, then [`Esp::slot`] for `b`'s kernel and initramfs,
//!    written in place and synced;
//! 3. [`Esp::enable`]: the entry's text written in place into the idle
//!    file, synced, then the rename to its `.conf` name.
//!
//! A power cut before the last rename leaves `b` unbootable and the running
//! version's entry as it was; after it, every byte the entry names is on
//! the disk. Blessing and marking bad ([`Esp::rename_entry`]) are one
//! rename each.

mod dir;
mod fat;

use std::io::{self, Write};

use crate::entries::{bank_of, Bank, Entry, EntryName};

pub use dir::DirFiles;
pub use fat::FatFiles;

/// The largest entry file read (its fixed size is far below).
const MAX_ENTRY_READ: u64 = 64 * 1024;

/// What the protocol needs of the ESP's filesystem. Paths are relative to
/// its root, with `/` between components, such as `loader/entries`.
pub trait EspFiles {
    /// The names of the files (not directories) in `dir`.
    fn list(&mut self, dir: &str) -> io::Result<Vec<String>>;
    /// The first `max` bytes at most of `path`.
    fn read(&mut self, path: &str, max: u64) -> io::Result<Vec<u8>>;
    /// The size of `path`, which never changes.
    fn size(&mut self, path: &str) -> io::Result<u64>;
    /// Writes `path` from its first byte, in place: see [`Slot`].
    fn open_slot(&mut self, path: &str) -> io::Result<Box<dyn Slot + '_>>;
    /// Renames `from` to `to` within `dir`, durably: when this returns,
    /// the new name is on the disk.
    fn rename(&mut self, dir: &str, from: &str, to: &str) -> io::Result<()>;
}

impl<T: EspFiles + ?Sized> EspFiles for Box<T> {
    fn list(&mut self, dir: &str) -> io::Result<Vec<String>> {
        (**self).list(dir)
    }
    fn read(&mut self, path: &str, max: u64) -> io::Result<Vec<u8>> {
        (**self).read(path, max)
    }
    fn size(&mut self, path: &str) -> io::Result<u64> {
        (**self).size(path)
    }
    fn open_slot(&mut self, path: &str) -> io::Result<Box<dyn Slot + '_>> {
        (**self).open_slot(path)
    }
    fn rename(&mut self, dir: &str, from: &str, to: &str) -> io::Result<()> {
        (**self).rename(dir, from, to)
    }
}

/// A file written in place from its first byte. Writing more than its
/// size is an error; [`Slot::finish`] pads the rest with zeros and syncs.
pub trait Slot: Write {
    /// The file's size.
    fn capacity(&self) -> u64;
    /// Pads the rest of the file with zeros and makes it durable.
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// Why the ESP cannot take a step.
#[derive(Debug, thiserror::Error)]
pub enum EspError {
    #[error("the ESP: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("the ESP has no entry file for bank {bank} (neither {idle} nor an entry booting it); it was not made by `cairn build`")]
    NoEntryFile { bank: Bank, idle: String },
    #[error("the ESP has {count} entry files for bank {bank} ({names}); remove all but one")]
    SeveralEntryFiles {
        bank: Bank,
        count: usize,
        names: String,
    },
    #[error("{what} is {len} bytes; this device's ESP holds {capacity} for it (the image it was flashed with sets that size)")]
    TooLarge {
        what: String,
        len: u64,
        capacity: u64,
    },
    #[error("no entry file is named {name}")]
    NoSuchEntry { name: String },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> EspError {
    let what = what.into();
    move |source| EspError::Io { what, source }
}

/// One file of `loader/entries`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFile {
    pub file_name: String,
    /// Its text, up to the padding.
    pub text: String,
    /// The bank it boots, from its options, or the idle file's bank.
    pub bank: Option<Bank>,
    /// Its name as Cairn's, when it is one of Cairn's entries.
    pub name: Option<EntryName>,
    /// As systemd-boot holds it; None for files it does not list.
    pub entry: Option<Entry>,
}

impl EntryFile {
    /// True for a bank's idle file.
    pub fn is_idle(&self) -> bool {
        [Bank::A, Bank::B]
            .iter()
            .any(|b| self.file_name == cairn_layout::esp::idle_entry(b.char()))
    }
}

fn idle_bank(file_name: &str) -> Option<Bank> {
    [Bank::A, Bank::B]
        .into_iter()
        .find(|b| file_name == cairn_layout::esp::idle_entry(b.char()))
}

/// The ESP, through its files.
#[derive(Debug)]
pub struct Esp<F> {
    files: F,
}

impl<F: EspFiles> Esp<F> {
    pub fn new(files: F) -> Esp<F> {
        Esp { files }
    }

    pub fn into_files(self) -> F {
        self.files
    }

    /// Every file of `loader/entries`, in file name order.
    pub fn entries(&mut self) -> Result<Vec<EntryFile>, EspError> {
        let dir = cairn_layout::esp::ENTRIES_DIR;
        let mut names = self
            .files
            .list(dir)
            .map_err(io_error(format!("listing {dir}")))?;
        names.sort();
        let mut files = Vec::with_capacity(names.len());
        for file_name in names {
            let path = format!("{dir}/{file_name}");
            let bytes = self
                .files
                .read(&path, MAX_ENTRY_READ)
                .map_err(io_error(format!("reading {path}")))?;
            let text = String::from_utf8_lossy(&bytes)
                .trim_end_matches(['\n', '\0'])
                .to_string();
            let entry = Entry::load(&file_name, &text);
            let bank = idle_bank(&file_name).or_else(|| bank_of(&text));
            files.push(EntryFile {
                name: EntryName::parse(&file_name).ok(),
                file_name,
                text,
                bank,
                entry,
            });
        }
        Ok(files)
    }

    /// The one entry file of `bank`.
    pub fn bank_file(entries: &[EntryFile], bank: Bank) -> Result<&EntryFile, EspError> {
        let mine: Vec<&EntryFile> = entries.iter().filter(|e| e.bank == Some(bank)).collect();
        match mine.as_slice() {
            [one] => Ok(one),
            [] => Err(EspError::NoEntryFile {
                bank,
                idle: cairn_layout::esp::idle_entry(bank.char()),
            }),
            several => Err(EspError::SeveralEntryFiles {
                bank,
                count: several.len(),
                names: several
                    .iter()
                    .map(|e| e.file_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// The sizes of `bank`'s kernel and initramfs slots.
    pub fn slot_sizes(&mut self, bank: Bank) -> Result<(u64, u64), EspError> {
        let kernel = cairn_layout::esp::kernel(bank.char());
        let initrd = cairn_layout::esp::initrd(bank.char());
        let kernel_size = self
            .files
            .size(&kernel)
            .map_err(io_error(format!("the size of {kernel}")))?;
        let initrd_size = self
            .files
            .size(&initrd)
            .map_err(io_error(format!("the size of {initrd}")))?;
        Ok((kernel_size, initrd_size))
    }

    /// Step 1: `bank`'s entry file becomes idle (if it is not already), so
    /// nothing boots the bank while it is written.
    pub fn disable(&mut self, bank: Bank) -> Result<(), EspError> {
        let entries = self.entries()?;
        let file = Esp::<F>::bank_file(&entries, bank)?;
        let idle = cairn_layout::esp::idle_entry(bank.char());
        if file.file_name != idle {
            self.rename_entry(&file.file_name, &idle)?;
        }
        Ok(())
    }

    /// Step 2: `bank`'s kernel (`initrd` false) or initramfs slot, to be
    /// written from its first byte.
    pub fn slot(&mut self, bank: Bank, initrd: bool) -> Result<Box<dyn Slot + '_>, EspError> {
        let path = if initrd {
            cairn_layout::esp::initrd(bank.char())
        } else {
            cairn_layout::esp::kernel(bank.char())
        };
        self.files
            .open_slot(&path)
            .map_err(io_error(format!("opening {path}")))
    }

    /// Step 3: writes `text` (already padded to the entry file's size)
    /// into `bank`'s idle entry file and renames it to `name`.
    pub fn enable(&mut self, bank: Bank, name: &EntryName, padded: &[u8]) -> Result<(), EspError> {
        let idle = cairn_layout::esp::idle_entry(bank.char());
        let path = format!("{}/{idle}", cairn_layout::esp::ENTRIES_DIR);
        {
            let mut slot = self
                .files
                .open_slot(&path)
                .map_err(io_error(format!("opening {path}")))?;
            let capacity = slot.capacity();
            if padded.len() as u64 > capacity {
                return Err(EspError::TooLarge {
                    what: format!("the entry for bank {bank}"),
                    len: padded.len() as u64,
                    capacity,
                });
            }
            slot.write_all(padded)
                .map_err(io_error(format!("writing {path}")))?;
            slot.finish().map_err(io_error(format!("syncing {path}")))?;
        }
        self.rename_entry(&idle, &name.file_name())
    }

    /// Renames one entry file (a blessing, a mark of bad, a step above),
    /// durably.
    pub fn rename_entry(&mut self, from: &str, to: &str) -> Result<(), EspError> {
        let dir = cairn_layout::esp::ENTRIES_DIR;
        self.files
            .rename(dir, from, to)
            .map_err(io_error(format!("renaming {dir}/{from} to {to}")))
    }
}

#[cfg(test)]
mod tests;
