//! GPT partition names (labels): how PID 1 finds each partition, in sysfs, by
//! the name the builder gave it.

/// The EFI system partition: systemd-boot, its entries, each version's kernel
/// and initramfs.
pub const ESP: &str = "esp";
/// Bank A: a version's read-only root.
pub const BANK_A: &str = "cairn-a";
/// Bank B: the other version's read-only root.
pub const BANK_B: &str = "cairn-b";
/// The writable, persistent partition (also its ext4 volume label).
pub const DATA: &str = "cairn-data";

/// Every partition, in disk order.
pub const ALL: [&str; 4] = [ESP, BANK_A, BANK_B, DATA];

/// The partition of bank `letter` (`a` or `b`).
pub fn bank(letter: char) -> Option<&'static str> {
    match letter {
        'a' => Some(BANK_A),
        'b' => Some(BANK_B),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banks_are_found_by_letter() {
        assert_eq!(bank('a'), Some(BANK_A));
        assert_eq!(bank('b'), Some(BANK_B));
        assert_eq!(bank('c'), None);
    }
}
