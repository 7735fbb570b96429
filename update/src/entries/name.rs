//! Cairn's entry file names:
//! `cairn-<build, 10 digits>-<version>[+<left>-<done>].conf`.
//!
//! systemd-boot 252 compares entry ids (the whole file name) with
//! [`strverscmp_improved`](super::strverscmp_improved); the build number is
//! the first segment after `cairn-`, so the newest build sorts first. A
//! content hash in that place sorts in no useful order. The padding to ten
//! digits makes plain byte order (`ls`) agree with systemd-boot's.
//!
//! Older images named entries `cairn-<content hash>[+counter].conf`; those
//! parse too, with no build.

use std::fmt;

use super::counter::{self, Tries};
use super::EntryError;
use crate::manifest::{is_name, MAX_BUILD};

/// Every entry of Cairn's starts with this.
pub const ENTRY_PREFIX: &str = "cairn-";

/// Tries a new entry gets.
pub const DEFAULT_TRIES: u32 = 3;

/// At most one digit, so that a counted name never changes length.
pub const MAX_TRIES: u32 = 9;

const BUILD_DIGITS: usize = 10;

/// One version's entry name, with its boot counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryName {
    /// `None` for a name from before build numbers (`cairn-<hash>`).
    pub build: Option<u64>,
    pub version: String,
    /// `None` once blessed.
    pub tries: Option<Tries>,
}

impl EntryName {
    /// The name of a freshly written entry: `tries` left, none done.
    pub fn new(build: u64, version: &str, tries: u32) -> Result<EntryName, EntryError> {
        if build == 0 || build > MAX_BUILD {
            return Err(EntryError::Build { build });
        }
        if !is_name(version) {
            return Err(EntryError::Version {
                version: version.to_owned(),
            });
        }
        if !(1..=MAX_TRIES).contains(&tries) {
            return Err(EntryError::Tries { tries });
        }
        Ok(EntryName {
            build: Some(build),
            version: version.to_owned(),
            tries: Some(Tries {
                left: tries,
                done: 0,
            }),
        })
    }

    /// Reads a file name of `loader/entries/`. Stricter than systemd-boot:
    /// a `+` must start a valid counter, and the rest must be a Cairn name.
    pub fn parse(file_name: &str) -> Result<EntryName, EntryError> {
        let name = || file_name.to_owned();
        let Some(without_suffix) = file_name.strip_suffix(".conf") else {
            return Err(EntryError::NotConf { name: name() });
        };
        let (stem, tries) = match counter::parse(file_name) {
            Some((plus, tries)) => (&file_name[..plus], Some(tries)),
            None if without_suffix.contains('+') => {
                return Err(EntryError::BadCounter { name: name() })
            }
            None => (without_suffix, None),
        };
        let Some(rest) = stem.strip_prefix(ENTRY_PREFIX) else {
            return Err(EntryError::NotCairn { name: name() });
        };
        let (build, version) = split_build(rest);
        if !is_name(version) {
            return Err(EntryError::Version {
                version: version.to_owned(),
            });
        }
        if build == Some(0) {
            return Err(EntryError::Build { build: 0 });
        }
        Ok(EntryName {
            build,
            version: version.to_owned(),
            tries,
        })
    }

    /// The name without counter and suffix: the same for every state of one
    /// version's entry.
    pub fn stem(&self) -> String {
        match self.build {
            Some(build) => format!("{ENTRY_PREFIX}{build:010}-{}", self.version),
            None => format!("{ENTRY_PREFIX}{}", self.version),
        }
    }

    pub fn file_name(&self) -> String {
        match self.tries {
            Some(tries) => format!("{}{tries}.conf", self.stem()),
            None => format!("{}.conf", self.stem()),
        }
    }

    /// The name systemd-boot gives the entry just before it boots it.
    pub fn after_boot_attempt(&self) -> EntryName {
        EntryName {
            tries: self.tries.map(|t| t.after_boot_attempt()),
            ..self.clone()
        }
    }

    /// The name after the running system declared this boot good.
    pub fn blessed(&self) -> EntryName {
        EntryName {
            tries: None,
            ..self.clone()
        }
    }

    /// The name after the running system declared this version bad: no
    /// tries left, so systemd-boot sorts it after every other entry.
    pub fn marked_bad(&self) -> EntryName {
        let done = self.tries.map_or(0, |t| t.done);
        EntryName {
            tries: Some(Tries { left: 0, done }),
            ..self.clone()
        }
    }

    pub fn is_blessed(&self) -> bool {
        self.tries.is_none()
    }

    pub fn is_bad(&self) -> bool {
        self.tries.is_some_and(|t| t.is_bad())
    }
}

impl fmt::Display for EntryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file_name())
    }
}

/// `0000000042-1.4.0` is build 42, version 1.4.0; anything else is a
/// version from before build numbers.
fn split_build(rest: &str) -> (Option<u64>, &str) {
    let bytes = rest.as_bytes();
    let new_style = bytes.len() > BUILD_DIGITS + 1
        && bytes[..BUILD_DIGITS].iter().all(u8::is_ascii_digit)
        && bytes[BUILD_DIGITS] == b'-';
    if !new_style {
        return (None, rest);
    }
    match rest[..BUILD_DIGITS].parse::<u64>() {
        Ok(build) => (Some(build), &rest[BUILD_DIGITS + 1..]),
        Err(_) => (None, rest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_entry_has_a_fixed_width_name() {
        let name = EntryName::new(42, "1.4.0", 3).unwrap();
        assert_eq!(name.file_name(), "cairn-0000000042-1.4.0+3-0.conf");
        assert_eq!(name.stem(), "cairn-0000000042-1.4.0");
        let widths: Vec<usize> = [
            name.clone(),
            name.after_boot_attempt(),
            name.after_boot_attempt().after_boot_attempt(),
            name.marked_bad(),
        ]
        .iter()
        .map(|n| n.file_name().len())
        .collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{widths:?}");
    }

    #[test]
    fn parses_every_state_and_renders_it_back() {
        for file_name in [
            "cairn-0000000042-1.4.0+3-0.conf",
            "cairn-0000000042-1.4.0+2-1.conf",
            "cairn-0000000042-1.4.0+0-3.conf",
            "cairn-0000000042-1.4.0.conf",
            "cairn-9999999999-rc-2_x.conf",
            "cairn-8b89ea035ce7+2-1.conf",
            "cairn-8b89ea035ce7.conf",
        ] {
            let name = EntryName::parse(file_name).unwrap();
            assert_eq!(name.file_name(), file_name);
        }
        let name = EntryName::parse("cairn-0000000042-1.4.0+2-1.conf").unwrap();
        assert_eq!(name.build, Some(42));
        assert_eq!(name.version, "1.4.0");
        assert_eq!(name.tries, Some(Tries { left: 2, done: 1 }));
        let legacy = EntryName::parse("cairn-8b89ea035ce7+2-1.conf").unwrap();
        assert_eq!(legacy.build, None);
        assert_eq!(legacy.version, "8b89ea035ce7");
    }

    #[test]
    fn the_short_counter_form_reads_but_is_written_long() {
        let name = EntryName::parse("cairn-0000000042-1.4.0+3.conf").unwrap();
        assert_eq!(name.tries, Some(Tries { left: 3, done: 0 }));
        assert_eq!(name.file_name(), "cairn-0000000042-1.4.0+3-0.conf");
    }

    #[test]
    fn transitions() {
        let new = EntryName::new(7, "2.0", 3).unwrap();
        let tried = new.after_boot_attempt();
        assert_eq!(tried.file_name(), "cairn-0000000007-2.0+2-1.conf");
        assert_eq!(tried.blessed().file_name(), "cairn-0000000007-2.0.conf");
        assert!(tried.blessed().is_blessed());
        assert_eq!(
            tried.marked_bad().file_name(),
            "cairn-0000000007-2.0+0-1.conf"
        );
        assert!(tried.marked_bad().is_bad());
        // A bad entry that is booted anyway (nothing better left) counts on.
        let bad = tried.marked_bad();
        assert_eq!(
            bad.after_boot_attempt().file_name(),
            "cairn-0000000007-2.0+0-2.conf"
        );
        // A blessed entry has no counter for systemd-boot to change.
        assert_eq!(tried.blessed().after_boot_attempt(), tried.blessed());
        assert_eq!(
            tried.blessed().marked_bad().file_name(),
            "cairn-0000000007-2.0+0-0.conf"
        );
    }

    #[test]
    fn refuses_what_is_not_a_cairn_entry() {
        assert!(matches!(
            EntryName::parse("cairn-1.conf.bak"),
            Err(EntryError::NotConf { .. })
        ));
        assert!(matches!(
            EntryName::parse("debian-6.1.conf"),
            Err(EntryError::NotCairn { .. })
        ));
        assert!(matches!(
            EntryName::parse("cairn-0000000001-1.0+x.conf"),
            Err(EntryError::BadCounter { .. })
        ));
        assert!(matches!(
            EntryName::parse("cairn-.conf"),
            Err(EntryError::Version { .. })
        ));
        assert!(matches!(
            EntryName::parse("cairn-0000000001-A.conf"),
            Err(EntryError::Version { .. })
        ));
        assert!(matches!(
            EntryName::parse("cairn-0000000000-1.0.conf"),
            Err(EntryError::Build { build: 0 })
        ));
        assert!(matches!(
            EntryName::new(0, "1", 3),
            Err(EntryError::Build { .. })
        ));
        assert!(matches!(
            EntryName::new(10_000_000_000, "1", 3),
            Err(EntryError::Build { .. })
        ));
        assert!(matches!(
            EntryName::new(1, "1", 10),
            Err(EntryError::Tries { tries: 10 })
        ));
        assert!(matches!(
            EntryName::new(1, "1", 0),
            Err(EntryError::Tries { tries: 0 })
        ));
        assert!(matches!(
            EntryName::new(1, "1+2", 3),
            Err(EntryError::Version { .. })
        ));
    }
}
