//! The manifest as typed data, and the rules on its fields.
//!
//! The JSON encoding lives in `wire.rs`, the rules on payload offsets in
//! `layout.rs`; a `Manifest` that passed [`Manifest::validate`] is one a
//! reader accepts.

use std::fmt;

use crate::error::ManifestError;
use crate::layout;

/// The only product a bundle may name.
pub const PRODUCT: &str = "cairn";

/// Longest board and version names: both become parts of file names on
/// the ESP.
const MAX_NAME_LEN: usize = 64;
const MAX_KERNEL_OPTIONS_LEN: usize = 4096;

/// Largest build number: ten digits, the fixed width of the entry name.
pub const MAX_BUILD: u64 = 9_999_999_999;

/// Kernel parameters the device writes itself; a bundle that set them too
/// would leave the kernel with two answers.
const RESERVED_OPTIONS: [&str; 3] = [
    "root",
    cairn_layout::cmdline::BANK,
    cairn_layout::cmdline::VERSION,
];

/// The payloads a bundle carries, each exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PayloadName {
    /// The bank's read-only squashfs, written to the inactive bank partition.
    Bank,
    /// The kernel, written to the ESP.
    Linux,
    /// The initramfs, written to the ESP.
    Initrd,
}

impl PayloadName {
    /// Every payload, in the order a writer lays them out.
    pub const ALL: [PayloadName; 3] = [PayloadName::Bank, PayloadName::Linux, PayloadName::Initrd];

    pub fn as_str(self) -> &'static str {
        match self {
            PayloadName::Bank => "bank",
            PayloadName::Linux => "linux",
            PayloadName::Initrd => "initrd",
        }
    }

    pub fn parse(name: &str) -> Option<PayloadName> {
        PayloadName::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for PayloadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one payload lies and what it hashes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub name: PayloadName,
    /// Counted from the start of the payload area, a multiple of 4096.
    pub offset: u64,
    pub size: u64,
    pub sha256: [u8; 32],
}

impl Payload {
    /// The payload-area offset just past its last byte.
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.size)
    }
}

/// What the signature vouches for: one version for one board, and a hash
/// for every payload byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Compatibility string, e.g. `qemu-x86_64`; a device refuses others.
    pub board: String,
    /// Human version, shown in the entry title and passed as `cairn.version=`.
    pub version: String,
    /// Grows with every build; orders entries and refuses older bundles.
    pub build: u64,
    /// The board's kernel command line. The device adds `root=`,
    /// `cairn.bank=` and `cairn.version=` itself.
    pub kernel_options: String,
    /// The dm-verity root hash of the bank, when the bank carries a hash tree.
    pub verity_root_hash: Option<[u8; 32]>,
    /// In file order.
    pub payloads: Vec<Payload>,
}

impl Manifest {
    /// Every rule a reader applies after the signature check.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if !is_name(&self.board) {
            return Err(ManifestError::Board {
                found: self.board.clone(),
            });
        }
        if !is_name(&self.version) {
            return Err(ManifestError::Version {
                found: self.version.clone(),
            });
        }
        if self.build == 0 || self.build > MAX_BUILD {
            return Err(ManifestError::Build { found: self.build });
        }
        check_kernel_options(&self.kernel_options)?;
        layout::check(&self.payloads)
    }

    pub fn payload(&self, name: PayloadName) -> Option<&Payload> {
        self.payloads.iter().find(|p| p.name == name)
    }

    /// Length of the payload area: the end of the last payload.
    pub fn payload_area_len(&self) -> u64 {
        self.payloads.last().map_or(0, Payload::end)
    }
}

/// Board and version names end up in ESP file names, a kernel command line
/// and the entry title: lowercase (FAT folds case, systemd-boot lowercases
/// ids), no `+` (the boot counter's marker), no spaces.
pub(crate) fn is_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b);
    (1..=MAX_NAME_LEN).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes.iter().all(allowed)
}

pub(crate) fn check_kernel_options(options: &str) -> Result<(), ManifestError> {
    if options.len() > MAX_KERNEL_OPTIONS_LEN {
        return Err(ManifestError::KernelOptionsLength { len: options.len() });
    }
    // One line of printable ASCII: a newline would start a new key in the
    // entry file.
    if let Some((at, &byte)) = options
        .as_bytes()
        .iter()
        .enumerate()
        .find(|(_, b)| !(b' '..=b'~').contains(*b))
    {
        return Err(ManifestError::KernelOptionsByte { at, byte });
    }
    if let Some(option) = options.split(' ').find(|word| {
        word.split_once('=')
            .is_some_and(|(key, _)| RESERVED_OPTIONS.contains(&key))
    }) {
        return Err(ManifestError::KernelOptionsReserved {
            option: option.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_words_without_plus_or_space() {
        for good in ["qemu-x86_64", "1.4.0", "8b89ea035ce7", "rc.1_b"] {
            assert!(is_name(good), "{good}");
        }
        let too_long = "a".repeat(65);
        for bad in [
            "",
            "Qemu",
            "1.0+2",
            "a b",
            "-x",
            ".x",
            "é",
            too_long.as_str(),
        ] {
            assert!(!is_name(bad), "{bad}");
        }
    }

    #[test]
    fn kernel_options_stay_on_one_line_and_leave_the_device_its_parameters() {
        assert!(check_kernel_options("").is_ok());
        assert!(check_kernel_options("console=ttyS0 quiet dyndbg=\"file x +p\"").is_ok());
        assert_eq!(
            check_kernel_options("quiet\ninitrd=/x"),
            Err(ManifestError::KernelOptionsByte { at: 5, byte: b'\n' })
        );
        assert_eq!(
            check_kernel_options("quiet root=/dev/sda2"),
            Err(ManifestError::KernelOptionsReserved {
                option: "root=/dev/sda2".into()
            })
        );
        let bank = cairn_layout::cmdline::BANK;
        assert!(matches!(
            check_kernel_options(&format!("{bank}=a")),
            Err(ManifestError::KernelOptionsReserved { .. })
        ));
        // Only a whole word is the reserved parameter.
        assert!(check_kernel_options(&format!("xroot=1 {bank}ing=2")).is_ok());
        assert!(matches!(
            check_kernel_options(&"x".repeat(4097)),
            Err(ManifestError::KernelOptionsLength { len: 4097 })
        ));
    }
}
