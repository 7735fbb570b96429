//! Blessing a boot: telling systemd-boot that this version is good.
//!
//! Every boot entry is installed as `cairn-<version>+3.conf`. systemd-boot's
//! automatic boot assessment renames it before each try (`+2-1`, `+1-2`, ...);
//! an entry that reaches `+0-N` is "bad" and sorts below the other bank's. When
//! every app is up, PID 1 renames the entry to `cairn-<version>.conf`, which
//! ends the counting: the version is kept. The ESP is mounted only for this
//! and unmounted right after, so it is never dirty when the power goes.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::boot::mounts::{MountSpec, MountTable};
use crate::boot::partitions::Partition;
use cairn_sys::mount::{Linux, MsFlags};

/// Where the ESP is mounted while blessing.
pub const ESP_MOUNT_POINT: &str = cairn_layout::run::ESP_MOUNT;
/// The entries directory inside the ESP.
pub const ENTRIES_DIR: &str = cairn_layout::esp::ENTRIES_DIR;

/// A boot counter from an entry's name: tries left, tries done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub left: u32,
    pub done: Option<u32>,
}

/// Splits `cairn-<version>+<left>[-<done>].conf` into its counter, if the
/// name is for `version` and carries one.
pub fn parse_counted(name: &str, version: &str) -> Option<Counter> {
    let rest = name
        .strip_prefix("cairn-")?
        .strip_prefix(version)?
        .strip_prefix('+')?
        .strip_suffix(".conf")?;
    let digits = |s: &str| -> Option<u32> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match rest.split_once('-') {
        Some((left, done)) => Some(Counter {
            left: digits(left)?,
            done: Some(digits(done)?),
        }),
        None => Some(Counter {
            left: digits(rest)?,
            done: None,
        }),
    }
}

/// The blessed entry's file name.
pub fn blessed_name(version: &str) -> String {
    format!("cairn-{version}.conf")
}

/// What blessing found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlessOutcome {
    Blessed {
        from: String,
        to: String,
    },
    AlreadyBlessed(String),
    /// No entry for this version: the system was not booted from an entry
    /// with a counter (or the ESP is not Cairn's).
    NoEntry,
}

/// Renames this version's counted entry in `entries` and syncs the directory.
pub fn bless_in(entries: &Path, version: &str) -> io::Result<BlessOutcome> {
    let blessed = blessed_name(version);
    let mut counted = Vec::new();
    let mut already = false;
    for entry in std::fs::read_dir(entries)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name == blessed {
            already = true;
        } else if parse_counted(&name, version).is_some() {
            counted.push(name);
        }
    }
    if already {
        if !counted.is_empty() {
            tracing::warn!(
                "stale counted entries beside {blessed}: {}",
                counted.join(", ")
            );
        }
        return Ok(BlessOutcome::AlreadyBlessed(blessed));
    }
    counted.sort();
    let Some(from) = counted.into_iter().next() else {
        return Ok(BlessOutcome::NoEntry);
    };
    std::fs::rename(entries.join(&from), entries.join(&blessed))?;
    File::open(entries)?.sync_all()?;
    Ok(BlessOutcome::Blessed { from, to: blessed })
}

/// Mounts the ESP, blesses `version`, unmounts. Errors are logged: a boot that
/// cannot be blessed still runs, and will be counted down.
pub fn bless(esp: Option<&Partition>, dev: &Path, version: &str, mounts: &mut MountTable) {
    let Some(esp) = esp else {
        tracing::error!("boot not blessed: no esp partition");
        return;
    };
    let dev_path =
        match crate::boot::partitions::ensure_node(dev, &esp.devname, esp.major, esp.minor) {
            Ok(path) => path,
            Err(err) => {
                tracing::error!("boot not blessed: no device node for the esp: {err}");
                return;
            }
        };
    let target = PathBuf::from(ESP_MOUNT_POINT);
    let spec = MountSpec {
        source: dev_path.to_string_lossy().into_owned(),
        target: target.clone(),
        fstype: "vfat".to_string(),
        flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        data: String::new(),
    };
    if let Err(err) = mounts.mount(&mut Linux, &spec) {
        tracing::error!("boot not blessed: cannot mount the esp: {err}");
        return;
    }
    match bless_in(&target.join(ENTRIES_DIR), version) {
        Ok(BlessOutcome::Blessed { from, to }) => {
            tracing::info!("boot blessed ({from} -> {to})");
        }
        Ok(BlessOutcome::AlreadyBlessed(name)) => {
            tracing::info!("boot already blessed ({name})");
        }
        Ok(BlessOutcome::NoEntry) => {
            tracing::warn!("boot not blessed: no entry for version {version}");
        }
        Err(err) => tracing::error!("boot not blessed: {err}"),
    }
    crate::sys::power::sync();
    if let Err(err) = mounts.unmount(&mut Linux, &target) {
        tracing::warn!("esp stays mounted: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counters_for_this_version_only() {
        let v = "0123456789ab";
        assert_eq!(
            parse_counted("cairn-0123456789ab+3.conf", v),
            Some(Counter {
                left: 3,
                done: None
            })
        );
        assert_eq!(
            parse_counted("cairn-0123456789ab+2-1.conf", v),
            Some(Counter {
                left: 2,
                done: Some(1)
            })
        );
        assert_eq!(
            parse_counted("cairn-0123456789ab+0-3.conf", v),
            Some(Counter {
                left: 0,
                done: Some(3)
            })
        );
        assert_eq!(parse_counted("cairn-0123456789ab.conf", v), None);
        assert_eq!(parse_counted("cairn-ffffffffffff+3.conf", v), None);
        assert_eq!(parse_counted("cairn-0123456789ab+x.conf", v), None);
        assert_eq!(parse_counted("cairn-0123456789ab+2-.conf", v), None);
        assert_eq!(parse_counted("cairn-0123456789ab+3.conf.bak", v), None);
    }

    fn entries_with(names: &[&str]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        for name in names {
            std::fs::write(tmp.path().join(name), format!("title {name}\n")).unwrap();
        }
        tmp
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn renames_the_counted_entry_and_keeps_its_content() {
        let dir = entries_with(&["cairn-aaaa+2-1.conf", "cairn-bbbb+3.conf"]);
        let outcome = bless_in(dir.path(), "aaaa").unwrap();
        assert_eq!(
            outcome,
            BlessOutcome::Blessed {
                from: "cairn-aaaa+2-1.conf".to_string(),
                to: "cairn-aaaa.conf".to_string()
            }
        );
        assert_eq!(
            names(dir.path()),
            vec!["cairn-aaaa.conf", "cairn-bbbb+3.conf"]
        );
        let content = std::fs::read_to_string(dir.path().join("cairn-aaaa.conf")).unwrap();
        assert_eq!(content, "title cairn-aaaa+2-1.conf\n");
    }

    #[test]
    fn a_blessed_entry_is_left_alone() {
        let dir = entries_with(&["cairn-aaaa.conf", "cairn-bbbb+3.conf"]);
        assert_eq!(
            bless_in(dir.path(), "aaaa").unwrap(),
            BlessOutcome::AlreadyBlessed("cairn-aaaa.conf".to_string())
        );
        assert_eq!(
            names(dir.path()),
            vec!["cairn-aaaa.conf", "cairn-bbbb+3.conf"]
        );
    }

    #[test]
    fn no_entry_for_the_version_changes_nothing() {
        let dir = entries_with(&["cairn-bbbb+3.conf"]);
        assert_eq!(bless_in(dir.path(), "aaaa").unwrap(), BlessOutcome::NoEntry);
        assert_eq!(names(dir.path()), vec!["cairn-bbbb+3.conf"]);
    }
}
