//! Boot Loader Specification entries: how Cairn names and writes them, and
//! which one Debian 12's systemd-boot 252 boots next.
//!
//! An entry's life: the update writer creates it as
//! `cairn-<build>-<version>+3-0.conf` ([`EntryName::new`]); systemd-boot
//! renames it to `+2-1` before booting it ([`EntryName::after_boot_attempt`]);
//! PID 1 renames it to `cairn-<build>-<version>.conf` when the system is
//! healthy ([`EntryName::blessed`]) or to `+0-M` when it is not
//! ([`EntryName::marked_bad`]). [`next_boot`] predicts the loader's choice
//! from the directory's file names and contents.

mod choice;
mod counter;
mod name;
mod text;
mod verscmp;

pub use choice::{boot_order, compare, next_boot, Entry};
pub use counter::Tries;
pub use name::{EntryName, DEFAULT_TRIES, ENTRY_PREFIX, MAX_TRIES};
pub use text::{
    bank_of, generation_of, next_generation, pad_entry, render_entry, Bank, MAX_GENERATION,
    SORT_KEY,
};
pub use verscmp::strverscmp_improved;

use crate::error::ManifestError;

/// Why a name is not one of Cairn's entries, or an entry cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("{name:?} does not end in \".conf\"")]
    NotConf { name: String },
    #[error("{name:?} does not start with \"cairn-\"")]
    NotCairn { name: String },
    #[error("{name:?} has a '+' that does not start a boot counter (+LEFT-DONE before .conf)")]
    BadCounter { name: String },
    #[error("version {version:?} is not a version (1 to 64 of a-z 0-9 . _ -, starting with a letter or digit)")]
    Version { version: String },
    #[error("build {build} is outside 1..=9999999999")]
    Build { build: u64 },
    #[error("tries {tries} is outside 1..=9 (one digit keeps the name's length)")]
    Tries { tries: u32 },
    #[error("{name:?} has no build number (a name from before build numbers), so no entry is written for it")]
    NoBuild { name: String },
    #[error("generation {generation} is outside 1..=9999999999")]
    Generation { generation: u64 },
    #[error("the entry is {bytes} bytes, more than an entry file's {size}")]
    TooLong { bytes: usize, size: usize },
    #[error("board options: {0}")]
    BoardOptions(#[source] ManifestError),
}
