//! The manifest's JSON: exact schema, one canonical encoding.
//!
//! The canonical form is what `serde_json` writes for these structs: keys
//! in sorted order (the fields below are declared sorted), no whitespace,
//! integers only, the optional field left out when absent. For this schema
//! (ASCII keys, integers and strings) that is also the RFC 8785 form. A
//! reader decodes, validates, encodes again and refuses the manifest unless
//! the bytes are identical, so no two readers can see different content in
//! one signed manifest (duplicate keys, `null` for absent, number spellings).

use serde::{Deserialize, Serialize};

use crate::error::{ManifestError, ReadError};
use crate::format::FORMAT_VERSION;
use crate::manifest::{Manifest, Payload, PayloadName, PRODUCT};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireManifest {
    board: String,
    build: u64,
    // Wider than the header's field so a reader can name any number it finds.
    format: u64,
    kernel_options: String,
    payloads: Vec<WirePayload>,
    product: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verity_root_hash: Option<String>,
    version: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WirePayload {
    name: String,
    offset: u64,
    sha256: String,
    size: u64,
}

/// The canonical bytes of a manifest.
pub(crate) fn encode(manifest: &Manifest) -> Result<Vec<u8>, serde_json::Error> {
    let wire = WireManifest {
        board: manifest.board.clone(),
        build: manifest.build,
        format: u64::from(FORMAT_VERSION),
        kernel_options: manifest.kernel_options.clone(),
        payloads: manifest
            .payloads
            .iter()
            .map(|p| WirePayload {
                name: p.name.as_str().to_owned(),
                offset: p.offset,
                sha256: hex::encode(p.sha256),
                size: p.size,
            })
            .collect(),
        product: PRODUCT.to_owned(),
        verity_root_hash: manifest.verity_root_hash.map(hex::encode),
        version: manifest.version.clone(),
    };
    serde_json::to_vec(&wire)
}

/// Decodes a manifest whose signature has been checked. `start` is its
/// position in the bundle, for messages.
pub(crate) fn decode(bytes: &[u8], start: u64) -> Result<Manifest, ReadError> {
    let wire: WireManifest =
        serde_json::from_slice(bytes).map_err(|source| ReadError::ManifestJson {
            start,
            end: start + bytes.len() as u64,
            source,
        })?;
    let manifest = typed(wire)?;
    manifest.validate()?;
    let canonical = encode(&manifest).map_err(|source| ReadError::ManifestJson {
        start,
        end: start + bytes.len() as u64,
        source,
    })?;
    if canonical != bytes {
        let differs_at = canonical
            .iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(canonical.len().min(bytes.len()));
        return Err(ReadError::ManifestNotCanonical {
            offset: start + differs_at as u64,
        });
    }
    Ok(manifest)
}

fn typed(wire: WireManifest) -> Result<Manifest, ManifestError> {
    if wire.format != u64::from(FORMAT_VERSION) {
        return Err(ManifestError::Format { found: wire.format });
    }
    if wire.product != PRODUCT {
        return Err(ManifestError::Product {
            found: wire.product,
        });
    }
    let verity_root_hash = match wire.verity_root_hash {
        None => None,
        Some(text) => {
            Some(parse_sha256(&text).ok_or(ManifestError::VerityRootHash { found: text })?)
        }
    };
    let payloads = wire
        .payloads
        .into_iter()
        .enumerate()
        .map(|(index, p)| {
            let name = PayloadName::parse(&p.name).ok_or(ManifestError::UnknownPayload {
                index,
                found: p.name.clone(),
            })?;
            let sha256 = parse_sha256(&p.sha256).ok_or(ManifestError::Sha256 {
                name,
                found: p.sha256.clone(),
            })?;
            Ok(Payload {
                name,
                offset: p.offset,
                size: p.size,
                sha256,
            })
        })
        .collect::<Result<Vec<_>, ManifestError>>()?;
    Ok(Manifest {
        board: wire.board,
        version: wire.version,
        build: wire.build,
        kernel_options: wire.kernel_options,
        verity_root_hash,
        payloads,
    })
}

/// Exactly 64 lowercase hex digits: one spelling per hash.
fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let lowercase_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    if text.len() != 64 || !text.as_bytes().iter().all(lowercase_hex) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_has_one_spelling() {
        let lower = "ab".repeat(32);
        assert_eq!(parse_sha256(&lower), Some([0xab; 32]));
        assert_eq!(parse_sha256(&"AB".repeat(32)), None);
        assert_eq!(parse_sha256(&"ab".repeat(31)), None);
        assert_eq!(parse_sha256(&format!("{lower}00")), None);
        assert_eq!(parse_sha256(&"zz".repeat(32)), None);
    }
}
