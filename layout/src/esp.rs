//! The EFI system partition: systemd-boot, its configuration, one boot entry
//! file per bank, and each bank's kernel and initramfs.
//!
//! Every file an update touches is made at build time at a fixed size and
//! never changes size, place or cluster afterwards: a bank's kernel and
//! initramfs are overwritten in place (padded with zeros to their slot),
//! its entry file is overwritten in place (padded with newlines) and
//! renamed, and each entry file's directory slots sit alone in a sector of
//! their own. So each step of an update, a blessing or a rollback is one
//! sector write, and the ESP is consistent at every instant
//! (docs/architecture.md, "The ESP").

/// systemd-boot, at the fallback path any UEFI firmware boots from removable
/// media.
pub const BOOTLOADER: &str = "EFI/BOOT/BOOTX64.EFI";
/// systemd-boot's configuration.
pub const LOADER_CONF: &str = "loader/loader.conf";
/// The Boot Loader Specification entries, one file per bank.
pub const ENTRIES_DIR: &str = "loader/entries";
/// Every entry of Cairn's starts with this.
pub const ENTRY_PREFIX: &str = "cairn-";
/// Every entry file's size: its text padded with newlines (which
/// systemd-boot skips as blank lines).
pub const ENTRY_BYTES: usize = 4096;
/// The directory that holds one directory per bank.
pub const BANKS_DIR: &str = "cairn";
/// A bank's kernel, in its directory.
pub const KERNEL: &str = "linux";
/// A bank's initramfs, in its directory.
pub const INITRD: &str = "initrd";

/// `cairn/<bank>`: the directory of one bank's kernel and initramfs.
pub fn bank_dir(bank: char) -> String {
    format!("{BANKS_DIR}/{bank}")
}

/// `cairn/<bank>/linux`.
pub fn kernel(bank: char) -> String {
    format!("{}/{KERNEL}", bank_dir(bank))
}

/// `cairn/<bank>/initrd`.
pub fn initrd(bank: char) -> String {
    format!("{}/{INITRD}", bank_dir(bank))
}

/// The name of a bank's entry file while the bank holds no bootable
/// version (empty, or being written): not `*.conf`, so systemd-boot does
/// not see it.
pub fn idle_entry(bank: char) -> String {
    format!("bank-{bank}.off")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_a_bank() {
        assert_eq!(kernel('b'), format!("{BANKS_DIR}/b/{KERNEL}"));
        assert_eq!(initrd('a'), format!("{BANKS_DIR}/a/{INITRD}"));
        assert!(!idle_entry('b').ends_with(".conf"));
        assert!(!idle_entry('a').starts_with(ENTRY_PREFIX));
    }
}
