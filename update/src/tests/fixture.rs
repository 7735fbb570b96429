//! Small bundles for tests, and tools to take them apart and build hostile
//! ones that still carry valid signatures.

use std::io::{Cursor, Read};
use std::ops::Range;

use crate::format::{align_up, Header, HEADER_LEN};
use crate::{
    Bundle, BundleInfo, BundleWriter, Keyring, PayloadName, PayloadStream, ReadError, SigningKey,
    VerifiedManifest,
};

pub fn key(n: u8) -> SigningKey {
    SigningKey::from_seed(&[n; 32])
}

pub fn keyring(keys: &[&SigningKey]) -> Keyring {
    keys.iter().map(|k| k.public_key()).collect()
}

pub fn info() -> BundleInfo {
    BundleInfo {
        board: "qemu-x86_64".into(),
        version: "1.4.0".into(),
        build: 42,
        kernel_options: "console=ttyS0 quiet".into(),
        verity_root_hash: None,
    }
}

/// Sizes that cover the interesting cases: more than one page and an odd
/// tail (bank), exactly one page (linux), a few bytes (initrd).
pub fn payload(name: PayloadName) -> Vec<u8> {
    let (len, seed) = match name {
        PayloadName::Bank => (10_000, 1u32),
        PayloadName::Linux => (4096, 2),
        PayloadName::Initrd => (300, 3),
    };
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        })
        .collect()
}

pub fn write_bundle(info: BundleInfo, keys: &[&SigningKey]) -> Vec<u8> {
    let mut writer = BundleWriter::new(info);
    for name in PayloadName::ALL {
        writer = writer.payload(name, Cursor::new(payload(name)));
    }
    for key in keys {
        writer = writer.signed_by(key);
    }
    let mut out = Vec::new();
    writer.write_to(&mut out).unwrap();
    out
}

pub fn bundle() -> Vec<u8> {
    write_bundle(info(), &[&key(1)])
}

/// The payloads a read copied out, in file order.
pub type Copied = Vec<(PayloadName, Vec<u8>)>;

/// Reads a whole bundle as a device would, collecting the payloads.
pub fn read_all(
    reader: impl Read,
    trusted: &Keyring,
) -> Result<(VerifiedManifest, Copied), ReadError> {
    let mut reader = reader;
    let verified = Bundle::read_header(&mut reader, trusted)?;
    let mut stream = PayloadStream::new(&verified, &mut reader).with_chunk_size(4096);
    let mut copied = Vec::new();
    while stream.next_payload().is_some() {
        let mut out = Vec::new();
        let payload = stream.copy_next(&mut out)?;
        copied.push((payload.name, out));
    }
    stream.finish()?;
    Ok((verified, copied))
}

pub fn read_bytes(bytes: &[u8], trusted: &Keyring) -> Result<VerifiedManifest, ReadError> {
    read_all(bytes, trusted).map(|(verified, _)| verified)
}

/// Where the parts of a bundle lie.
pub struct Regions {
    pub manifest: Range<usize>,
    pub signatures: Range<usize>,
    pub area: usize,
    pub payloads: Vec<(PayloadName, Range<usize>)>,
}

pub fn regions(bundle: &[u8]) -> Regions {
    let header = Header::decode(bundle[..HEADER_LEN].try_into().unwrap()).unwrap();
    let manifest = HEADER_LEN..HEADER_LEN + header.manifest_len as usize;
    let signatures = manifest.end..manifest.end + header.signature_len as usize;
    let area = header.payload_area_start() as usize;
    let verified = Bundle::read_header(&mut &bundle[..], &keyring(&[&key(1)])).unwrap();
    let payloads = verified
        .manifest()
        .payloads
        .iter()
        .map(|p| {
            let range = verified.bundle_range(p);
            (p.name, range.start as usize..range.end as usize)
        })
        .collect();
    Regions {
        manifest,
        signatures,
        area,
        payloads,
    }
}

pub fn manifest_json(bundle: &[u8]) -> serde_json::Value {
    let r = regions(bundle);
    serde_json::from_slice(&bundle[r.manifest]).unwrap()
}

/// A bundle from raw parts: `manifest` exactly as given (signed by `keys`,
/// so only the content rules can refuse it), then `area` as the payload
/// area.
pub fn assemble(manifest: &[u8], keys: &[&SigningKey], area: &[u8]) -> Vec<u8> {
    let block = crate::signature::sign(manifest, keys);
    let header = Header {
        manifest_len: manifest.len() as u32,
        signature_len: block.len() as u32,
    };
    let mut out = header.encode().to_vec();
    out.extend_from_slice(manifest);
    out.extend_from_slice(&block);
    out.resize(align_up(out.len() as u64) as usize, 0);
    out.extend_from_slice(area);
    out
}

/// The valid bundle's payload area, for hostile manifests that keep it.
pub fn payload_area(bundle: &[u8]) -> Vec<u8> {
    bundle[regions(bundle).area..].to_vec()
}

/// Re-signs `bundle` with a manifest changed by `edit` (as JSON).
pub fn with_manifest(bundle: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut json = manifest_json(bundle);
    edit(&mut json);
    assemble(
        &serde_json::to_vec(&json).unwrap(),
        &[&key(1)],
        &payload_area(bundle),
    )
}
