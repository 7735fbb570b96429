//! The fixed part of a bundle: magic, header, limits and alignment.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | [`MAGIC`] |
//! | 8..12 | format version, u32 = [`FORMAT_VERSION`] |
//! | 12..16 | manifest length, u32, 1..=[`MAX_MANIFEST_LEN`] |
//! | 16..20 | signature block length, u32, a multiple of [`SIGNATURE_ENTRY_LEN`] |
//! | 20..24 | reserved, zero |
//!
//! then the manifest, the signature block, zero padding up to the next
//! multiple of [`PAYLOAD_ALIGN`] (the payload area), and the payloads.

use crate::error::ReadError;

/// The first eight bytes of every bundle. The high first byte and the CR LF
/// pair catch a transfer that stripped the eighth bit or rewrote line ends,
/// the way PNG's signature does.
pub const MAGIC: [u8; 8] = *b"\x89CAIRN\r\n";

/// The one layout this crate reads and writes; the manifest repeats it under
/// the signature.
pub const FORMAT_VERSION: u32 = 1;

/// Bytes before the manifest.
pub const HEADER_LEN: usize = 24;

/// Largest manifest a reader accepts. A real one is under a kilobyte; the
/// bound is what lets a reader allocate it before it is verified.
pub const MAX_MANIFEST_LEN: u32 = 64 * 1024;

/// One signature entry: a 32-byte Ed25519 public key, then the 64-byte
/// signature.
pub const SIGNATURE_ENTRY_LEN: u32 = 96;

/// Most signatures one bundle may carry: enough for a key rotation with a
/// few keys on each side.
pub const MAX_SIGNATURES: u32 = 8;

/// Payload area and payload offsets are multiples of this, so a device can
/// write each payload to a block device in whole pages.
pub const PAYLOAD_ALIGN: u64 = 4096;

/// Largest single payload (1 TiB). Keeps every offset and sum far from
/// overflow and within the integers any JSON reader represents exactly.
pub const MAX_PAYLOAD_SIZE: u64 = 1 << 40;

/// What a signature covers: these bytes, then the manifest's exact bytes.
/// The prefix keeps a bundle signature from being valid for any other
/// message the same key signs.
pub const SIGNING_DOMAIN: &[u8] = b"cairn update manifest v1\0";

/// The lengths the header announces, already checked against the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub manifest_len: u32,
    pub signature_len: u32,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[0..8].copy_from_slice(&MAGIC);
        bytes[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.manifest_len.to_le_bytes());
        bytes[16..20].copy_from_slice(&self.signature_len.to_le_bytes());
        bytes
    }

    /// Checks every field before anything is allocated from it.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Header, ReadError> {
        if bytes[0..8] != MAGIC {
            return Err(ReadError::BadMagic {
                found: hex::encode(&bytes[0..8]),
            });
        }
        let version = u32_at(bytes, 8);
        if version != FORMAT_VERSION {
            return Err(ReadError::UnsupportedFormat { found: version });
        }
        let manifest_len = u32_at(bytes, 12);
        if manifest_len == 0 || manifest_len > MAX_MANIFEST_LEN {
            return Err(ReadError::ManifestLength { len: manifest_len });
        }
        let signature_len = u32_at(bytes, 16);
        let count = signature_len / SIGNATURE_ENTRY_LEN;
        if !signature_len.is_multiple_of(SIGNATURE_ENTRY_LEN) || count == 0 || count > MAX_SIGNATURES {
            return Err(ReadError::SignatureBlockLength { len: signature_len });
        }
        let reserved = u32_at(bytes, 20);
        if reserved != 0 {
            return Err(ReadError::ReservedHeader { value: reserved });
        }
        Ok(Header {
            manifest_len,
            signature_len,
        })
    }

    pub fn manifest_start(&self) -> u64 {
        HEADER_LEN as u64
    }

    pub fn signature_start(&self) -> u64 {
        self.manifest_start() + u64::from(self.manifest_len)
    }

    pub fn signature_end(&self) -> u64 {
        self.signature_start() + u64::from(self.signature_len)
    }

    /// Where payload offsets count from.
    pub fn payload_area_start(&self) -> u64 {
        align_up(self.signature_end())
    }
}

/// The next multiple of [`PAYLOAD_ALIGN`] at or after `n`. Callers pass
/// values bounded far below `u64::MAX` (see [`MAX_PAYLOAD_SIZE`]).
pub(crate) fn align_up(n: u64) -> u64 {
    n.div_ceil(PAYLOAD_ALIGN) * PAYLOAD_ALIGN
}

fn u32_at(bytes: &[u8; HEADER_LEN], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_places_the_payload_area_on_a_page() {
        let header = Header {
            manifest_len: 700,
            signature_len: 2 * SIGNATURE_ENTRY_LEN,
        };
        let decoded = Header::decode(&header.encode());
        assert_eq!(decoded.ok(), Some(header));
        assert_eq!(header.signature_start(), 24 + 700);
        assert_eq!(header.signature_end(), 24 + 700 + 192);
        assert_eq!(header.payload_area_start(), 4096);
    }

    #[test]
    fn align_up_keeps_multiples_and_rounds_the_rest() {
        assert_eq!(align_up(0), 0);
        assert_eq!(align_up(1), 4096);
        assert_eq!(align_up(4096), 4096);
        assert_eq!(align_up(4097), 8192);
    }
}
