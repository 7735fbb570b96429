//! The kernel command line keys the builder writes into a boot entry and PID 1
//! reads back.

use crate::partition;

/// Which bank this boot runs: `a` or `b`.
pub const BANK: &str = "cairn.bank";
/// The version of the booted bank.
pub const VERSION: &str = "cairn.version";
/// Debug lines also go to the kernel's log.
pub const DEBUG: &str = "cairn.debug";

/// The options every entry of bank `letter` starts with:
/// `root=PARTLABEL=cairn-a cairn.bank=a cairn.version=<version>`.
pub fn entry_options(letter: char, version: &str) -> String {
    let part = partition::bank(letter).unwrap_or(partition::BANK_A);
    format!("root=PARTLABEL={part} {BANK}={letter} {VERSION}={version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_options_name_the_bank_twice_and_the_version() {
        assert_eq!(
            entry_options('b', "0123456789ab"),
            format!(
                "root=PARTLABEL={} {BANK}=b {VERSION}=0123456789ab",
                partition::BANK_B
            )
        );
    }
}
