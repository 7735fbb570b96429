//! The boot entries on the ESP, as the running system sees and changes them.
//!
//! Each bank has one entry file (see `cairn_update::esp`); while the bank
//! holds a bootable version it is named
//! `cairn-<build>-<version>+<left>-<done>.conf`. systemd-boot counts a try
//! down before each boot of a counted entry; an entry at `+0-N` is bad and
//! sorts after every other one. The running system:
//!
//! - **blesses** its own entry when it is healthy: the counter goes, and the
//!   version is kept for good;
//! - **marks its own entry bad** when a new version failed its health gate,
//!   or for a rollback: the other bank's version then boots;
//! - reads what every entry says, for `/run/cairn/system.json`.
//!
//! Each change is one rename, one sector write on the ESP: a power cut
//! leaves the old name or the new one, never neither.

use cairn_update::entries::{next_boot, Entry, EntryName};
use cairn_update::esp::{Esp, EspError, EspFiles};

/// One entry of the directory, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: EntryName,
    /// The bank its options boot (`cairn.bank=`), if they say.
    pub bank: Option<char>,
    /// As systemd-boot holds it, for its choice.
    pub entry: Entry,
}

/// What [`bless`] or [`mark_bad`] found and did.
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

/// Every Cairn entry of the ESP, in file name order. Idle files and other
/// systems' entries are left out.
pub fn list<F: EspFiles>(esp: &mut Esp<F>) -> Result<Vec<Listed>, EspError> {
    Ok(esp
        .entries()?
        .into_iter()
        .filter_map(|file| {
            Some(Listed {
                name: file.name?,
                bank: file.bank.map(|b| b.char()),
                entry: file.entry?,
            })
        })
        .collect())
}

/// The entry of the version `me` names (same build and version, whatever
/// the counter).
fn mine<'a>(listed: &'a [Listed], me: &EntryName) -> Option<&'a Listed> {
    listed
        .iter()
        .find(|l| l.name.build == me.build && l.name.version == me.version)
}

/// Renames this version's entry to `target` (computed from the entry that
/// is there).
fn rename_mine<F: EspFiles>(
    esp: &mut Esp<F>,
    me: &EntryName,
    target: impl Fn(&EntryName) -> EntryName,
) -> Result<Changed, EspError> {
    let listed = list(esp)?;
    let Some(current) = mine(&listed, me) else {
        return Ok(Changed::NoEntry);
    };
    let from = current.name.file_name();
    let to = target(&current.name).file_name();
    if from == to {
        return Ok(Changed::AlreadyThere(to));
    }
    esp.rename_entry(&from, &to)?;
    Ok(Changed::Renamed { from, to })
}

/// Blesses version `me`.
pub fn bless<F: EspFiles>(esp: &mut Esp<F>, me: &EntryName) -> Result<Changed, EspError> {
    rename_mine(esp, me, EntryName::blessed)
}

/// Marks version `me` bad: no tries left, so systemd-boot boots another
/// entry first.
pub fn mark_bad<F: EspFiles>(esp: &mut Esp<F>, me: &EntryName) -> Result<Changed, EspError> {
    rename_mine(esp, me, EntryName::marked_bad)
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
    use cairn_update::entries::{pad_entry, render_entry, Bank};
    use cairn_update::esp::DirFiles;
    use std::path::Path;

    /// An ESP directory with an entry file per bank.
    fn esp_with(entries: &[(&EntryName, Bank)]) -> (tempfile::TempDir, Esp<DirFiles>) {
        let dir = tempfile::tempdir().unwrap();
        let entries_dir = dir.path().join(cairn_layout::esp::ENTRIES_DIR);
        std::fs::create_dir_all(&entries_dir).unwrap();
        for (name, bank) in entries {
            let text = render_entry(name, *bank, name.build.unwrap(), "console=ttyS0").unwrap();
            std::fs::write(
                entries_dir.join(name.file_name()),
                pad_entry(&text).unwrap(),
            )
            .unwrap();
        }
        let esp = Esp::new(DirFiles::new(dir.path()));
        (dir, esp)
    }

    fn names(root: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root.join(cairn_layout::esp::ENTRIES_DIR))
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
        let old = EntryName::new(1, "aaaa", 3).unwrap().blessed();
        let new = counted(2, "bbbb", 2, 1);
        let (dir, mut esp) = esp_with(&[(&old, Bank::A), (&new, Bank::B)]);
        let entries_dir = dir.path().join(cairn_layout::esp::ENTRIES_DIR);
        let before = std::fs::read(entries_dir.join(new.file_name())).unwrap();
        let outcome = bless(&mut esp, &new).unwrap();
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
        let after = std::fs::read(entries_dir.join(new.blessed().file_name())).unwrap();
        assert_eq!(after, before);
        assert_eq!(
            bless(&mut esp, &new).unwrap(),
            Changed::AlreadyThere(new.blessed().file_name())
        );
    }

    #[test]
    fn marking_bad_makes_the_other_bank_boot_next() {
        let old = EntryName::new(7, "aaaa", 3).unwrap().blessed();
        let new = counted(8, "bbbb", 2, 1);
        let (_dir, mut esp) = esp_with(&[(&old, Bank::A), (&new, Bank::B)]);
        let listed = list(&mut esp).unwrap();
        // The new version is what boots now...
        let entries: Vec<Entry> = listed.iter().map(|l| l.entry.clone()).collect();
        assert_eq!(next_boot(&entries).unwrap().file_name(), new.file_name());
        // ...and falls back to the old one, in bank a.
        let back = fallback(&listed, &new).unwrap();
        assert_eq!(back.name, old);
        assert_eq!(back.bank, Some('a'));

        mark_bad(&mut esp, &new).unwrap();
        let listed = list(&mut esp).unwrap();
        let entries: Vec<Entry> = listed.iter().map(|l| l.entry.clone()).collect();
        assert_eq!(next_boot(&entries).unwrap().file_name(), old.file_name());
        assert!(listed.iter().any(|l| l.name == new.marked_bad()));
    }

    #[test]
    fn no_fallback_without_another_good_entry() {
        let only = EntryName::new(1, "aaaa", 3).unwrap();
        let bad = counted(2, "bbbb", 0, 3);
        let (_dir, mut esp) = esp_with(&[(&only, Bank::A), (&bad, Bank::B)]);
        let listed = list(&mut esp).unwrap();
        assert_eq!(fallback(&listed, &only), None);
        assert_eq!(
            mark_bad(&mut esp, &EntryName::new(9, "zzzz", 3).unwrap()).unwrap(),
            Changed::NoEntry
        );
    }

    #[test]
    fn the_bank_is_read_from_the_options_and_strangers_are_skipped() {
        let name = EntryName::new(3, "dddd", 3).unwrap();
        let (dir, mut esp) = esp_with(&[(&name, Bank::B)]);
        let entries_dir = dir.path().join(cairn_layout::esp::ENTRIES_DIR);
        std::fs::write(entries_dir.join("other-os.conf"), "title x\nlinux /x\n").unwrap();
        std::fs::write(entries_dir.join(cairn_layout::esp::idle_entry('a')), "\n\n").unwrap();
        let listed = list(&mut esp).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].bank, Some('b'));
    }
}
