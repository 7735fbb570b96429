//! Content hashes, and the GUIDs and UUIDs derived from them so that the same
//! inputs give the same bytes.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::BuildError;

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lowercase hex sha256 of a file's content, streamed.
pub fn sha256_file(path: &Path) -> Result<String, BuildError> {
    let mut file = std::fs::File::open(path)
        .map_err(BuildError::io(format!("cannot open {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(BuildError::io(format!("cannot read {}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A GUID as 16 bytes in RFC 4122 (big-endian) field order: derived from
/// `seed` and `purpose`, shaped as a version 4 / variant 1 GUID so tools treat
/// it like any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    pub fn derive(seed: &str, purpose: &str) -> Guid {
        let digest = Sha256::digest(format!("cairn guid\0{seed}\0{purpose}").as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Guid(bytes)
    }

    /// Parses `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`.
    pub fn parse(text: &str) -> Option<Guid> {
        let hex_digits: String = text.chars().filter(|c| *c != '-').collect();
        if hex_digits.len() != 32 || text.len() != 36 {
            return None;
        }
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(&hex_digits, &mut bytes).ok()?;
        Some(Guid(bytes))
    }

    /// The mixed-endian layout GPT stores on disk (first three fields little-endian).
    pub fn to_gpt_bytes(self) -> [u8; 16] {
        let b = self.0;
        [
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
            b[14], b[15],
        ]
    }

    /// Inverse of [`Guid::to_gpt_bytes`].
    #[cfg(test)]
    pub fn from_gpt_bytes(g: [u8; 16]) -> Guid {
        Guid([
            g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13],
            g[14], g[15],
        ])
    }
}

impl std::fmt::Display for Guid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let h = hex::encode_upper(self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_layout::partition;

    #[test]
    fn derivation_is_stable_and_purpose_specific() {
        let a = Guid::derive("seed", partition::ESP);
        assert_eq!(a, Guid::derive("seed", partition::ESP));
        assert_ne!(a, Guid::derive("seed", partition::BANK_A));
        assert_ne!(a, Guid::derive("other", partition::ESP));
        let text = a.to_string();
        assert_eq!(&text[14..15], "4", "version nibble in {text}");
        assert!(matches!(&text[19..20], "8" | "9" | "A" | "B"), "{text}");
    }

    #[test]
    fn display_parse_round_trip() {
        let esp = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
        assert_eq!(Guid::parse(esp).unwrap().to_string(), esp);
        assert!(Guid::parse("nope").is_none());
    }

    #[test]
    fn gpt_byte_order_matches_the_spec() {
        // The EFI System partition type GUID as it appears on disk.
        let esp = Guid::parse("C12A7328-F81F-11D2-BA4B-00A0C93EC93B").unwrap();
        assert_eq!(
            hex::encode(esp.to_gpt_bytes()),
            "28732ac11ff8d211ba4b00a0c93ec93b"
        );
        assert_eq!(Guid::from_gpt_bytes(esp.to_gpt_bytes()), esp);
    }

    #[test]
    fn known_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
