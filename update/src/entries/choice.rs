//! Which entry systemd-boot 252 boots when nothing overrides its choice.
//!
//! Modelled on `src/boot/efi/boot.c` of systemd 252 as Debian 12 ships it
//! (252.x): `config_entry_add_type1` loads an entry, `config_entry_compare`
//! orders two, `sort_pointer_array` sorts (an insertion sort, so entries
//! that compare equal keep directory order), and `config_default_entry_select`
//! takes the first entry when no `LoaderEntryOneShot`, `LoaderEntryDefault`
//! or loader.conf `default` names one. Those overrides are not modelled:
//! an explicit choice wins even over an entry with no tries left.

use std::cmp::Ordering;

use super::counter::{self, Tries};
use super::text::key_values;
use super::verscmp::strverscmp_improved;

/// An entry of `loader/entries/` as systemd-boot 252 holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    file_name: String,
    sort_key: Option<String>,
    version: Option<String>,
    machine_id: Option<String>,
}

impl Entry {
    /// The entry systemd-boot lists for the file `file_name` with `content`,
    /// or `None` where it lists none: a name that does not end in `.conf`
    /// (any case), starts with `.` or `auto-`, or a file without a `linux`
    /// or `efi` line. systemd-boot also drops an entry whose `linux` file
    /// does not exist; the caller knows the ESP, so it leaves those out.
    pub fn load(file_name: &str, content: &str) -> Option<Entry> {
        let is_conf = file_name.len() >= 5
            && file_name.is_char_boundary(file_name.len() - 5)
            && file_name[file_name.len() - 5..].eq_ignore_ascii_case(".conf");
        if !is_conf || file_name.starts_with('.') || file_name.starts_with("auto-") {
            return None;
        }
        let mut entry = Entry::named(file_name);
        let mut has_loader = false;
        for (key, value) in key_values(content) {
            // A repeated key replaces the earlier value.
            match key {
                "sort-key" => entry.sort_key = Some(value.to_owned()),
                "version" => entry.version = Some(value.to_owned()),
                "machine-id" => entry.machine_id = Some(value.to_owned()),
                "linux" | "efi" => has_loader = true,
                _ => {}
            }
        }
        has_loader.then_some(entry)
    }

    /// An entry with only a name: no sort key, version or machine id.
    pub fn named(file_name: &str) -> Entry {
        Entry {
            file_name: file_name.to_owned(),
            sort_key: None,
            version: None,
            machine_id: None,
        }
    }

    pub fn with_sort_key(mut self, sort_key: &str, version: &str) -> Entry {
        self.sort_key = Some(sort_key.to_owned());
        self.version = Some(version.to_owned());
        self
    }

    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The id systemd-boot 252 compares: the whole file name, lowercased,
    /// counter and `.conf` included. (Later systemd versions drop the
    /// counter from the id; 252 does not.)
    pub fn id(&self) -> String {
        self.file_name.to_ascii_lowercase()
    }

    /// The boot counter, `None` for an entry without one.
    pub fn tries(&self) -> Option<Tries> {
        counter::parse(&self.file_name).map(|(_, tries)| tries)
    }

    pub fn sort_key(&self) -> Option<&str> {
        self.sort_key.as_deref()
    }

    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    pub fn machine_id(&self) -> Option<&str> {
        self.machine_id.as_deref()
    }

    /// The file name after systemd-boot's rename just before booting this
    /// entry, or `None` when it leaves the name (no counter).
    pub fn name_after_boot_attempt(&self) -> Option<String> {
        counter::name_after_boot_attempt(&self.file_name)
    }

    fn has_no_tries_left(&self) -> bool {
        self.tries().is_some_and(|t| t.is_bad())
    }
}

/// systemd-boot 252's order of two entries; `Less` sorts first (boots
/// sooner).
///
/// 1. An entry with no tries left after every other one.
/// 2. Entries with a `sort-key` before entries without.
/// 3. Both with one: by sort key, then machine id (both ascending, by
///    code unit; a missing one first), then `version`, newest first.
/// 4. By id, newest first ([`strverscmp_improved`]).
/// 5. If both have counters: more tries left first, then fewer done.
pub fn compare(a: &Entry, b: &Entry) -> Ordering {
    let order = a.has_no_tries_left().cmp(&b.has_no_tries_left());
    if order != Ordering::Equal {
        return order;
    }
    let order = a.sort_key.is_none().cmp(&b.sort_key.is_none());
    if order != Ordering::Equal {
        return order;
    }
    if let (Some(a_key), Some(b_key)) = (&a.sort_key, &b.sort_key) {
        let order = utf16_cmp(a_key, b_key)
            .then_with(|| option_utf16_cmp(&a.machine_id, &b.machine_id))
            .then_with(|| {
                strverscmp_improved(
                    a.version.as_deref().unwrap_or(""),
                    b.version.as_deref().unwrap_or(""),
                )
                .reverse()
            });
        if order != Ordering::Equal {
            return order;
        }
    }
    let order = strverscmp_improved(&a.id(), &b.id()).reverse();
    if order != Ordering::Equal {
        return order;
    }
    match (a.tries(), b.tries()) {
        (Some(a), Some(b)) => b.left.cmp(&a.left).then(a.done.cmp(&b.done)),
        _ => Ordering::Equal,
    }
}

/// The entries in systemd-boot's menu order. `entries` is in directory
/// order, which decides only between entries that compare equal.
///
/// The same insertion sort as systemd-boot's, rather than `sort_by`: it is
/// what makes ties come out the same, and it cannot fail on an order that is
/// not total.
pub fn boot_order(entries: &[Entry]) -> Vec<&Entry> {
    let mut sorted: Vec<&Entry> = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut at = sorted.len();
        while at > 0 && compare(sorted[at - 1], entry) == Ordering::Greater {
            at -= 1;
        }
        sorted.insert(at, entry);
    }
    sorted
}

/// The entry systemd-boot 252 boots next when no EFI variable and no
/// loader.conf `default` choose one: the first in [`boot_order`]. That is
/// an entry with no tries left only when every entry has none.
pub fn next_boot(entries: &[Entry]) -> Option<&Entry> {
    boot_order(entries).first().copied()
}

fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// systemd-boot's string compare takes a missing string as smaller.
fn option_utf16_cmp(a: &Option<String>, b: &Option<String>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => utf16_cmp(a, b),
        _ => a.is_some().cmp(&b.is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX: &str = "linux /x/linux\n";

    #[test]
    fn loads_only_what_systemd_boot_lists() {
        assert!(Entry::load("a.conf", LINUX).is_some());
        assert!(Entry::load("a.CONF", LINUX).is_some());
        assert!(Entry::load("a.conf", "efi /x.efi\n").is_some());
        assert!(Entry::load("a.conf", "title no loader\n").is_none());
        assert!(Entry::load("a.conf.tmp", LINUX).is_none());
        assert!(Entry::load(".a.conf", LINUX).is_none());
        assert!(Entry::load("auto-a.conf", LINUX).is_none());
        assert!(Entry::load("é.conf", LINUX).is_some());
        assert!(Entry::load("ab", LINUX).is_none());
    }

    #[test]
    fn reads_sort_key_version_and_machine_id() {
        let entry = Entry::load(
            "x+1-2.conf",
            "sort-key cairn\nversion 1\nversion 2\nmachine-id abc\nlinux /l\n",
        )
        .unwrap();
        assert_eq!(entry.sort_key(), Some("cairn"));
        assert_eq!(entry.version(), Some("2"));
        assert_eq!(entry.machine_id(), Some("abc"));
        assert_eq!(entry.tries(), Some(Tries { left: 1, done: 2 }));
        assert_eq!(entry.id(), "x+1-2.conf");
    }

    #[test]
    fn the_id_is_compared_lowercased() {
        let upper = Entry::named("x-B.conf");
        let lower = Entry::named("x-a.conf");
        // "b" is newer than "a" only once both are lowercase ('B' < 'a').
        assert_eq!(compare(&upper, &lower), Ordering::Less);
    }

    #[test]
    fn ties_keep_directory_order() {
        // Equal under strverscmp ("_" only separates), both uncounted.
        let first = Entry::named("x_1.conf");
        let second = Entry::named("x1.conf");
        assert_eq!(compare(&first, &second), Ordering::Equal);
        let entries = [first.clone(), second.clone()];
        assert_eq!(next_boot(&entries), Some(&first));
        let entries = [second.clone(), first];
        assert_eq!(next_boot(&entries), Some(&second));
    }

    #[test]
    fn a_sort_key_wins_over_none_and_a_missing_machine_id_sorts_first() {
        let plain = Entry::named("zzz-9.conf");
        let keyed = Entry::named("aaa-1.conf").with_sort_key("cairn", "1");
        assert_eq!(next_boot(&[plain, keyed.clone()]), Some(&keyed));

        let mut with_id = Entry::named("b.conf").with_sort_key("k", "5");
        with_id.machine_id = Some("00".into());
        let without_id = Entry::named("a.conf").with_sort_key("k", "1");
        assert_eq!(compare(&without_id, &with_id), Ordering::Less);
    }

    #[test]
    fn an_empty_directory_boots_nothing() {
        assert_eq!(next_boot(&[]), None);
    }
}
