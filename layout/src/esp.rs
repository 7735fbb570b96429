//! The EFI system partition: where systemd-boot, its configuration, the boot
//! entries and each version's kernel and initramfs are.

/// systemd-boot, at the fallback path any UEFI firmware boots from removable
/// media.
pub const BOOTLOADER: &str = "EFI/BOOT/BOOTX64.EFI";
/// systemd-boot's configuration.
pub const LOADER_CONF: &str = "loader/loader.conf";
/// The Boot Loader Specification entries, one per bank.
pub const ENTRIES_DIR: &str = "loader/entries";
/// Every entry of Cairn's starts with this.
pub const ENTRY_PREFIX: &str = "cairn-";
/// The directory that holds one directory per version.
pub const VERSIONS_DIR: &str = "cairn";
/// A version's kernel, in its directory.
pub const KERNEL: &str = "linux";
/// A version's initramfs, in its directory.
pub const INITRD: &str = "initrd";

/// `cairn/<version>`: the directory of one version's kernel and initramfs.
pub fn version_dir(version: &str) -> String {
    format!("{VERSIONS_DIR}/{version}")
}

/// `cairn/<version>/linux`.
pub fn kernel(version: &str) -> String {
    format!("{}/{KERNEL}", version_dir(version))
}

/// `cairn/<version>/initrd`.
pub fn initrd(version: &str) -> String {
    format!("{}/{INITRD}", version_dir(version))
}

/// `loader/entries/cairn-<id>+<tries>.conf`: the entry of a new version,
/// with its boot counter.
pub fn counted_entry(id: &str, tries: u32) -> String {
    format!("{ENTRIES_DIR}/{ENTRY_PREFIX}{id}+{tries}.conf")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_a_version() {
        assert_eq!(kernel("abc"), format!("{VERSIONS_DIR}/abc/{KERNEL}"));
        assert_eq!(initrd("abc"), format!("{VERSIONS_DIR}/abc/{INITRD}"));
        assert_eq!(
            counted_entry("abc", 3),
            format!("{ENTRIES_DIR}/{ENTRY_PREFIX}abc+3.conf")
        );
    }
}
