//! What an update does to the ESP, decided before it changes anything:
//! which entries of the target bank go, which version directories go with
//! them, and whether the new kernel and initramfs fit once they are gone.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::PathBuf;

use cairn_update::entries::{next_boot, Bank, Entry, EntryName};

use super::disk::Space;
use super::esp::{round_up, sync_dir, EntryFile, EspRoot};

/// A refusal found while planning: nothing has been changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "not enough room on the ESP: {free} bytes free (counting what the old entries of bank \
         {bank} leave), the new kernel and initramfs need {needed}"
    )]
    Space { free: u64, needed: u64, bank: Bank },
    #[error("{dir} on the ESP is used by entry {entry}, which does not boot bank {bank}")]
    DirInUse {
        dir: String,
        entry: String,
        bank: Bank,
    },
    #[error("entry {entry} already names this version for another bank than {bank}")]
    EntryInUse { entry: String, bank: Bank },
    #[error(
        "systemd-boot would boot {next} before the new entry {entry}: it tries the highest build \
         first, so an older build than the running one is never tried"
    )]
    NotNext { next: String, entry: String },
}

/// The changes, in the order they are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Entries of the target bank, by file name.
    pub remove_entries: Vec<String>,
    /// Version directories only those entries use, and a leftover of the
    /// new version's own directory.
    pub remove_dirs: Vec<PathBuf>,
    /// `cairn/<build>-<version>`: where the new kernel and initramfs go.
    pub new_dir: String,
}

/// Bytes the new version takes on the ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub linux: u64,
    pub initrd: u64,
    pub entry: u64,
}

pub fn make(
    esp: &EspRoot,
    entries: &[EntryFile],
    target: Bank,
    name: &EntryName,
    space: Space,
    needs: Needs,
    entry_text: &str,
) -> io::Result<Result<Plan, PlanError>> {
    let new_dir = name.esp_dir().to_ascii_lowercase();
    let stem = name.stem().to_ascii_lowercase();
    let (of_target, others): (Vec<&EntryFile>, Vec<&EntryFile>) =
        entries.iter().partition(|e| e.bank == Some(target));

    for other in &others {
        if other.dirs.contains(&new_dir) {
            return Ok(Err(PlanError::DirInUse {
                dir: new_dir,
                entry: other.file_name.clone(),
                bank: target,
            }));
        }
        if same_stem(&other.file_name, &stem) {
            return Ok(Err(PlanError::EntryInUse {
                entry: other.file_name.clone(),
                bank: target,
            }));
        }
    }
    let kept: BTreeSet<&String> = others.iter().flat_map(|e| e.dirs.iter()).collect();
    let mut going: BTreeSet<String> = of_target
        .iter()
        .flat_map(|e| e.dirs.iter())
        .filter(|d| !kept.contains(d))
        .cloned()
        .collect();
    going.insert(new_dir.clone());

    let mut remove_dirs = Vec::new();
    let mut freed = 0u64;
    for (dir, path) in esp.version_dirs()? {
        if going.contains(&dir) {
            freed = freed.saturating_add(EspRoot::dir_usage(&path, space.block));
            remove_dirs.push(path);
        }
    }
    let needed = [needs.linux, needs.initrd, needs.entry]
        .iter()
        .map(|&len| round_up(len, space.block))
        // The new directory's own cluster, and one more for its parent
        // should that grow.
        .fold(space.block.saturating_mul(2), u64::saturating_add);
    let free = space.free.saturating_add(freed);
    // The loader's choice once the target's entries are gone and the new
    // one is in place: a version it would not try is not worth writing.
    let mut listed: Vec<Entry> = others.iter().filter_map(|e| e.loader_entry()).collect();
    let file_name = name.file_name();
    listed.extend(Entry::load(&file_name, entry_text));
    match next_boot(&listed) {
        Some(next) if next.file_name() == file_name => {}
        next => {
            return Ok(Err(PlanError::NotNext {
                next: next.map_or_else(|| "nothing".to_owned(), |e| e.file_name().to_owned()),
                entry: file_name,
            }))
        }
    }
    if free < needed {
        return Ok(Err(PlanError::Space {
            free,
            needed,
            bank: target,
        }));
    }
    Ok(Ok(Plan {
        remove_entries: of_target.iter().map(|e| e.file_name.clone()).collect(),
        remove_dirs,
        new_dir,
    }))
}

impl Plan {
    /// Step 3: the target bank's entries go first (then nothing boots the
    /// bank that is about to be overwritten), then their directories.
    pub fn clear_target(&self, esp: &EspRoot) -> io::Result<()> {
        let entries_dir = esp.entries_dir();
        for file_name in &self.remove_entries {
            remove_file_if_there(&entries_dir.join(file_name))?;
        }
        sync_dir(&entries_dir)?;
        for dir in &self.remove_dirs {
            match fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if !self.remove_dirs.is_empty() {
            sync_dir(&esp.versions_dir())?;
        }
        Ok(())
    }
}

pub fn remove_file_if_there(path: &std::path::Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// `cairn-0000000008-1.4.0+2-1.conf` has the stem `cairn-0000000008-1.4.0`
/// whatever its counter.
fn same_stem(file_name: &str, stem: &str) -> bool {
    EntryName::parse(file_name).is_ok_and(|n| n.stem().eq_ignore_ascii_case(stem))
}
