//! The ESP as the writer sees it: the entries of `loader/entries/`, the
//! bank each boots and the version directories each uses, and the durable
//! file operations (write under a temporary name, sync, rename, sync the
//! directory) every step is made of.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use cairn_layout::{cmdline, esp};
use cairn_update::entries::{Bank, Entry};

use crate::config::parse_bank;

/// An entry file is a few hundred bytes; anything much larger is not one of
/// the loader's, and is not read into memory.
const MAX_ENTRY_LEN: u64 = 64 * 1024;

/// Suffix of every temporary file the writer makes. systemd-boot lists only
/// `*.conf` in `loader/entries/`, and nothing reads the version directories
/// but the entries, so a temporary is never booted.
pub const TEMP_SUFFIX: &str = ".tmp";

/// One `*.conf` file of `loader/entries/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFile {
    pub file_name: String,
    pub text: String,
    /// `cairn.bank=` from its `options`, if it says.
    pub bank: Option<Bank>,
    /// The version directories (`cairn/<dir>`, lowercase) its `linux` and
    /// `initrd` lines point into.
    pub dirs: BTreeSet<String>,
    /// Whether its `linux` file exists: systemd-boot drops an entry whose
    /// kernel is missing.
    pub linux_exists: bool,
}

impl EntryFile {
    /// The entry as systemd-boot 252 lists it, if it does.
    pub fn loader_entry(&self) -> Option<Entry> {
        if !self.linux_exists {
            return None;
        }
        Entry::load(&self.file_name, &self.text)
    }
}

/// The ESP mounted (or a directory standing for it).
#[derive(Debug, Clone)]
pub struct EspRoot {
    root: PathBuf,
}

impl EspRoot {
    pub fn new(root: PathBuf) -> EspRoot {
        EspRoot { root }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn entries_dir(&self) -> PathBuf {
        self.root.join(esp::ENTRIES_DIR)
    }

    pub fn versions_dir(&self) -> PathBuf {
        self.root.join(esp::VERSIONS_DIR)
    }

    /// `dir` is `cairn/<name>` as [`EntryFile::dirs`] holds it.
    pub fn version_dir(&self, dir: &str) -> PathBuf {
        self.root.join(dir)
    }

    /// Every `*.conf` file of `loader/entries/`, in directory order.
    pub fn read_entries(&self) -> io::Result<Vec<EntryFile>> {
        let dir = self.entries_dir();
        let mut entries = Vec::new();
        for item in fs::read_dir(&dir)? {
            let item = item?;
            let Ok(file_name) = item.file_name().into_string() else {
                continue;
            };
            if !is_conf(&file_name) || !item.file_type()?.is_file() {
                continue;
            }
            let text = read_bounded(&item.path())?;
            entries.push(self.describe(file_name, &text));
        }
        Ok(entries)
    }

    fn describe(&self, file_name: String, text: &str) -> EntryFile {
        let mut bank = None;
        let mut dirs = BTreeSet::new();
        let mut linux_exists = false;
        for (key, value) in key_values(text) {
            match key {
                "options" => {
                    let prefix = format!("{}=", cmdline::BANK);
                    if let Some(letter) = value
                        .split_ascii_whitespace()
                        .find_map(|word| word.strip_prefix(prefix.as_str()))
                    {
                        bank = parse_bank(letter);
                    }
                }
                "linux" | "initrd" => {
                    if let Some(dir) = version_dir_of(value) {
                        dirs.insert(dir);
                    }
                    if key == "linux" {
                        let relative = value.trim_start_matches('/');
                        linux_exists = !relative.is_empty() && self.root.join(relative).is_file();
                    }
                }
                _ => {}
            }
        }
        EntryFile {
            file_name,
            text: text.to_owned(),
            bank,
            dirs,
            linux_exists,
        }
    }

    /// The version directories under `cairn/`, as `cairn/<name>`
    /// lowercase, with their names as found.
    pub fn version_dirs(&self) -> io::Result<Vec<(String, PathBuf)>> {
        let dir = self.versions_dir();
        let items = match fs::read_dir(&dir) {
            Ok(items) => items,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut found = Vec::new();
        for item in items {
            let item = item?;
            if !item.file_type()?.is_dir() {
                continue;
            }
            if let Ok(name) = item.file_name().into_string() {
                found.push((
                    format!("{}/{}", esp::VERSIONS_DIR, name.to_ascii_lowercase()),
                    item.path(),
                ));
            }
        }
        Ok(found)
    }

    /// Bytes the files of a directory take, each rounded up to `block`.
    pub fn dir_usage(path: &Path, block: u64) -> u64 {
        let Ok(items) = fs::read_dir(path) else {
            return 0;
        };
        items
            .flatten()
            .filter_map(|item| item.metadata().ok())
            .filter(|meta| meta.is_file())
            .map(|meta| round_up(meta.len(), block))
            .sum()
    }
}

/// `linux /cairn/0000000042-1.4.0/linux` -> `cairn/0000000042-1.4.0`.
/// Only a file directly inside one directory under `cairn/` counts: that
/// is the only shape the writer makes and removes.
pub fn version_dir_of(path: &str) -> Option<String> {
    let lower = path.trim_start_matches('/').to_ascii_lowercase();
    let mut parts = lower.split('/');
    let (top, dir, _file) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || top != esp::VERSIONS_DIR || !is_plain_component(dir) {
        return None;
    }
    Some(format!("{top}/{dir}"))
}

/// A directory name that stays where it is put.
fn is_plain_component(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// systemd-boot lists files whose name ends in `.conf`, any case.
pub fn is_conf(file_name: &str) -> bool {
    file_name.len() > 5
        && file_name.is_char_boundary(file_name.len() - 5)
        && file_name[file_name.len() - 5..].eq_ignore_ascii_case(".conf")
}

/// The key/value lines of an entry file, as systemd-boot splits them:
/// blanks trimmed, `#` lines skipped, the key ends at the first blank.
fn key_values(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let blank = |c: char| c == ' ' || c == '\t';
    text.split(['\n', '\r']).filter_map(move |line| {
        let line = line.trim_matches(blank);
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let (key, value) = line.split_once(blank)?;
        Some((key, value.trim_matches(blank)))
    })
}

fn read_bounded(path: &Path) -> io::Result<String> {
    let mut bytes = Vec::new();
    File::open(path)?
        .take(MAX_ENTRY_LEN)
        .read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub fn round_up(len: u64, block: u64) -> u64 {
    let block = block.max(1);
    len.div_ceil(block).saturating_mul(block)
}

/// Makes a directory's entries (a new name, a removed one) durable.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Writes `bytes` to `<dir>/<name>.tmp`, syncs it, renames it to
/// `<dir>/<name>` and syncs the directory.
pub fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let temporary = dir.join(format!("{name}{TEMP_SUFFIX}"));
    let written = (|| {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temporary);
        return Err(e);
    }
    fs::rename(&temporary, dir.join(name))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_directories_of_entry_paths() {
        assert_eq!(
            version_dir_of("/cairn/0000000042-1.4.0/linux").as_deref(),
            Some("cairn/0000000042-1.4.0")
        );
        assert_eq!(
            version_dir_of("/CAIRN/ABC/initrd").as_deref(),
            Some("cairn/abc")
        );
        for other in [
            "/EFI/x/linux",
            "/cairn/linux",
            "/cairn/a/b/linux",
            "/cairn/../linux",
            "",
        ] {
            assert_eq!(version_dir_of(other), None, "{other}");
        }
    }

    #[test]
    fn reads_bank_and_directories_from_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let root = EspRoot::new(dir.path().to_owned());
        fs::create_dir_all(root.entries_dir()).unwrap();
        fs::create_dir_all(root.version_dir("cairn/v1")).unwrap();
        fs::write(root.version_dir("cairn/v1").join("linux"), b"k").unwrap();
        fs::write(
            root.entries_dir().join("cairn-v1.conf"),
            "title x\nlinux /cairn/v1/linux\ninitrd /cairn/v1/initrd\n\
             options root=PARTLABEL=cairn-b cairn.bank=b quiet\n",
        )
        .unwrap();
        fs::write(root.entries_dir().join("cairn-v2.conf.tmp"), "linux /x\n").unwrap();
        let entries = root.read_entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].bank, Some(Bank::B));
        assert_eq!(entries[0].dirs.iter().collect::<Vec<_>>(), ["cairn/v1"]);
        assert!(entries[0].linux_exists);
        assert!(entries[0].loader_entry().is_some());
    }

    #[test]
    fn durable_writes_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        write_durably(dir.path(), "a.conf", b"x").unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.conf"]);
        assert_eq!(round_up(1, 4096), 4096);
        assert_eq!(round_up(0, 4096), 0);
        assert_eq!(round_up(8192, 4096), 8192);
    }
}
