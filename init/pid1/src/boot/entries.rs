//! The boot entries on the ESP, as the running system sees and changes them.
//!
//! Every version's entry is named `cairn-<build>-<version>+<left>-<done>.conf`
//! (see `cairn_update::entries`). systemd-boot counts a try down before each
//! boot of a counted entry; an entry at `+0-N` is bad and sorts after every
//! other one. The running system:
//!
//! - **blesses** its own entry when it is healthy: the counter goes, and the
//!   version is kept for good;
//! - **marks its own entry bad** when a new version failed its health gate,
//!   or for a rollback: the other bank's version then boots;
//! - reads what every entry says, for `/run/cairn/system.json`.
//!
//! A rename on FAT is not atomic under power loss (the new name is added,
//! then the old one removed): a cut in between leaves both. Both name the
//! same version, and the next change of this version's entry removes the
//! stale one, so either outcome is safe.

use std::fs::File;
use std::io;
use std::path::Path;

use cairn_update::entries::{next_boot, Entry, EntryName};

/// One entry of the directory, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: EntryName,
    /// The bank its options boot (`cairn.bank=`), if they say.
    pub bank: Option<char>,
    /// As systemd-boot holds it, for its choice.
    pub entry: Entry,
}

/// What [`bless_in`] or [`mark_bad_in`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    Renamed {
        from: String,
        to: String,
    },
    AlreadyThere(String),
    /// No entry for this version in the directory.
    NoEntry,
}

/// Every Cairn entry in `dir`, in file name order. Files that are not
/// entries (temporary files of an update, other systems' entries) are left
/// out.
pub fn list(dir: &Path) -> io::Result<Vec<Listed>> {
    let mut listed = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for file_name in names {
        let Ok(name) = EntryName::parse(&file_name) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(dir.join(&file_name)) else {
            continue;
        };
        let Some(entry) = Entry::load(&file_name, &text) else {
            continue;
        };
        listed.push(Listed {
            bank: bank_of(&text),
            name,
            entry,
        });
    }
    Ok(listed)
}

/// The bank an entry boots: `cairn.bank=<letter>` on its `options` line.
fn bank_of(text: &str) -> Option<char> {
    let prefix = format!("{}=", cairn_layout::cmdline::BANK);
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("options"))
        .flat_map(str::split_whitespace)
        .find_map(|word| word.strip_prefix(prefix.as_str()))
        .and_then(|letter| {
            let mut chars = letter.chars();
            match (chars.next(), chars.next()) {
                (Some(c @ ('a' | 'b')), None) => Some(c),
                _ => None,
            }
        })
}

/// The entries of `dir` that are the version `me` names (same build and
/// version, whatever the counter).
fn mine<'a>(listed: &'a [Listed], me: &EntryName) -> Vec<&'a Listed> {
    listed
        .iter()
        .filter(|l| l.name.build == me.build && l.name.version == me.version)
        .collect()
}

/// Renames this version's entry to `target` (computed from the entry that
/// is there), removes a stale duplicate a cut rename left, and syncs the
/// directory.
fn rename_mine(
    dir: &Path,
    me: &EntryName,
    target: impl Fn(&EntryName) -> EntryName,
) -> io::Result<Changed> {
    let listed = list(dir)?;
    let mine = mine(&listed, me);
    let Some(current) = mine.first() else {
        return Ok(Changed::NoEntry);
    };
    let wanted = target(&current.name).file_name();
    let mut changed = Changed::AlreadyThere(wanted.clone());
    if mine.iter().all(|l| l.name.file_name() != wanted) {
        std::fs::rename(dir.join(current.name.file_name()), dir.join(&wanted))?;
        changed = Changed::Renamed {
            from: current.name.file_name(),
            to: wanted.clone(),
        };
    }
    for stale in mine.iter().map(|l| l.name.file_name()) {
        if stale != wanted && dir.join(&stale).exists() {
            tracing::info!("removing {stale}, left beside {wanted} by an interrupted rename");
            std::fs::remove_file(dir.join(&stale))?;
        }
    }
    File::open(dir)?.sync_all()?;
    Ok(changed)
}

/// Blesses version `me` in the entries directory `dir`.
pub fn bless_in(dir: &Path, me: &EntryName) -> io::Result<Changed> {
    rename_mine(dir, me, EntryName::blessed)
}

/// Marks version `me` bad in `dir`: no tries left, so systemd-boot boots
/// another entry first.
pub fn mark_bad_in(dir: &Path, me: &EntryName) -> io::Result<Changed> {
    rename_mine(dir, me, EntryName::marked_bad)
}

/// The entry systemd-boot would boot next if `me` were marked bad: the
/// version a rollback or a failed health gate falls back to. None when no
/// other entry could boot (only bad ones are left, or none at all).
pub fn fallback(listed: &[Listed], me: &EntryName) -> Option<Listed> {
    let others: Vec<Entry> = listed
        .iter()
        .filter(|l| !(l.name.build == me.build && l.name.version == me.version))
        .filter(|l| !l.name.is_bad())
        .map(|l| l.entry.clone())
        .collect();
    let next = next_boot(&others)?;
    listed
        .iter()
        .find(|l| l.entry.file_name() == next.file_name())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_update::entries::{render_entry, Bank};

    fn write(dir: &Path, name: &EntryName, bank: Bank) {
        let text = render_entry(name, bank, "console=ttyS0").unwrap();
        std::fs::write(dir.join(name.file_name()), text).unwrap();
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn counted(build: u64, version: &str, left: u32, done: u32) -> EntryName {
        let mut name = EntryName::new(build, version, 3).unwrap();
        if let Some(tries) = name.tries.as_mut() {
            tries.left = left;
            tries.done = done;
        }
        name
    }

    #[test]
    fn blessing_drops_the_counter_and_keeps_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let old = EntryName::new(1, "aaaa", 3).unwrap().blessed();
        let new = counted(2, "bbbb", 2, 1);
        write(dir.path(), &old, Bank::A);
        write(dir.path(), &new, Bank::B);
        let before = std::fs::read(dir.path().join(new.file_name())).unwrap();
        let outcome = bless_in(dir.path(), &new).unwrap();
        assert_eq!(
            outcome,
            Changed::Renamed {
                from: new.file_name(),
                to: new.blessed().file_name()
            }
        );
        assert_eq!(
            names(dir.path()),
            [old.file_name(), new.blessed().file_name()]
        );
        let after = std::fs::read(dir.path().join(new.blessed().file_name())).unwrap();
        assert_eq!(after, before);
        assert_eq!(
            bless_in(dir.path(), &new).unwrap(),
            Changed::AlreadyThere(new.blessed().file_name())
        );
    }

    #[test]
    fn a_duplicate_left_by_a_cut_rename_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let name = counted(5, "cccc", 2, 1);
        write(dir.path(), &name, Bank::A);
        write(dir.path(), &name.blessed(), Bank::A);
        assert_eq!(
            bless_in(dir.path(), &name).unwrap(),
            Changed::AlreadyThere(name.blessed().file_name())
        );
        assert_eq!(names(dir.path()), [name.blessed().file_name()]);
    }

    #[test]
    fn marking_bad_makes_the_other_bank_boot_next() {
        let dir = tempfile::tempdir().unwrap();
        let old = EntryName::new(7, "aaaa", 3).unwrap().blessed();
        let new = counted(8, "bbbb", 2, 1);
        write(dir.path(), &old, Bank::A);
        write(dir.path(), &new, Bank::B);
        let listed = list(dir.path()).unwrap();
        // The new version is what boots now...
        let entries: Vec<Entry> = listed.iter().map(|l| l.entry.clone()).collect();
        assert_eq!(next_boot(&entries).unwrap().file_name(), new.file_name());
        // ...and falls back to the old one, in bank a.
        let back = fallback(&listed, &new).unwrap();
        assert_eq!(back.name, old);
        assert_eq!(back.bank, Some('a'));

        mark_bad_in(dir.path(), &new).unwrap();
        let listed = list(dir.path()).unwrap();
        let entries: Vec<Entry> = listed.iter().map(|l| l.entry.clone()).collect();
        assert_eq!(next_boot(&entries).unwrap().file_name(), old.file_name());
        assert!(listed.iter().any(|l| l.name == new.marked_bad()));
    }

    #[test]
    fn no_fallback_without_another_good_entry() {
        let dir = tempfile::tempdir().unwrap();
        let only = EntryName::new(1, "aaaa", 3).unwrap();
        let bad = counted(2, "bbbb", 0, 3);
        write(dir.path(), &only, Bank::A);
        write(dir.path(), &bad, Bank::B);
        let listed = list(dir.path()).unwrap();
        assert_eq!(fallback(&listed, &only), None);
        assert_eq!(
            mark_bad_in(dir.path(), &EntryName::new(9, "zzzz", 3).unwrap()).unwrap(),
            Changed::NoEntry
        );
    }

    #[test]
    fn the_bank_is_read_from_the_options_and_strangers_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let name = EntryName::new(3, "dddd", 3).unwrap();
        write(dir.path(), &name, Bank::B);
        std::fs::write(dir.path().join("other-os.conf"), "title x\nlinux /x\n").unwrap();
        std::fs::write(
            dir.path().join(".cairn-0000000004-eeee+3-0.conf.tmp"),
            "partial",
        )
        .unwrap();
        let listed = list(dir.path()).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].bank, Some('b'));
        let key = cairn_layout::cmdline::BANK;
        assert_eq!(bank_of(&format!("options  root=x {key}=c")), None);
        assert_eq!(
            bank_of(&format!("title y\noptions {key}=a quiet")),
            Some('a')
        );
    }
}
