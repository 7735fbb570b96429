//! At start-up, what an interrupted update left on the ESP: temporary
//! files, and version directories no entry names. Nothing here can touch a
//! version some entry boots.

use std::collections::BTreeSet;
use std::fs;
use std::io;

use super::esp::{sync_dir, EspRoot, TEMP_SUFFIX};

/// What was removed, for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removed {
    pub files: Vec<String>,
    pub dirs: Vec<String>,
}

pub fn clean(esp: &EspRoot) -> io::Result<Removed> {
    let mut removed = Removed::default();
    // Unless every entry can be read, nothing is known to be unused.
    let entries = esp.read_entries()?;
    let named: BTreeSet<&String> = entries.iter().flat_map(|e| e.dirs.iter()).collect();

    let entries_dir = esp.entries_dir();
    for item in fs::read_dir(&entries_dir)? {
        let item = item?;
        let name = item.file_name().to_string_lossy().into_owned();
        if is_writer_temporary(&name) && item.file_type()?.is_file() {
            fs::remove_file(item.path())?;
            removed
                .files
                .push(format!("{}/{name}", cairn_layout::esp::ENTRIES_DIR));
        }
    }
    if !removed.files.is_empty() {
        sync_dir(&entries_dir)?;
    }

    let mut dirs_removed = false;
    for (dir, path) in esp.version_dirs()? {
        if !named.contains(&dir) {
            fs::remove_dir_all(&path)?;
            removed.dirs.push(dir);
            dirs_removed = true;
            continue;
        }
        let mut any = false;
        for item in fs::read_dir(&path)? {
            let item = item?;
            let name = item.file_name().to_string_lossy().into_owned();
            if name.ends_with(TEMP_SUFFIX) && item.file_type()?.is_file() {
                fs::remove_file(item.path())?;
                removed.files.push(format!("{dir}/{name}"));
                any = true;
            }
        }
        if any {
            sync_dir(&path)?;
        }
    }
    if dirs_removed {
        sync_dir(&esp.versions_dir())?;
    }
    Ok(removed)
}

/// The writer's temporaries in `loader/entries/`: `cairn-….conf.tmp`.
fn is_writer_temporary(name: &str) -> bool {
    name.starts_with(cairn_layout::esp::ENTRY_PREFIX)
        && name.ends_with(&format!(".conf{TEMP_SUFFIX}"))
}
