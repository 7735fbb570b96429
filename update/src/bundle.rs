//! Reading a bundle: nothing of the manifest is parsed, let alone returned,
//! before a trusted signature over its bytes has been checked.

use std::io::{self, Read};
use std::ops::Range;

use crate::error::{ReadError, Region};
use crate::format::{Header, HEADER_LEN};
use crate::keyring::Keyring;
use crate::keys::KeyId;
use crate::manifest::{Manifest, Payload};
use crate::position::Positioned;
use crate::signature;
use crate::stream::PayloadStream;
use crate::wire;

/// The entry points of the bundle format.
#[derive(Debug)]
pub enum Bundle {}

impl Bundle {
    /// Reads the header, the manifest and the signature block, checks the
    /// signatures against `trusted`, then parses and validates the manifest.
    ///
    /// Reads exactly up to the end of the signature block, so the same
    /// reader then goes to [`PayloadStream::new`]. Order of checks: header
    /// fields and lengths (before any allocation), signature block shape,
    /// signatures (before the manifest is parsed), manifest schema, content
    /// and canonical form.
    pub fn read_header<R: Read>(
        reader: &mut R,
        trusted: &Keyring,
    ) -> Result<VerifiedManifest, ReadError> {
        let mut source = Positioned::new(reader, 0);
        let mut header_bytes = [0u8; HEADER_LEN];
        source.fill(&mut header_bytes, Region::Header, 0, HEADER_LEN as u64)?;
        let header = Header::decode(&header_bytes)?;

        let manifest_bytes = source.read_region(
            Region::Manifest,
            header.manifest_start(),
            header.manifest_len as usize,
        )?;
        let block = source.read_region(
            Region::SignatureBlock,
            header.signature_start(),
            header.signature_len as usize,
        )?;
        let entries = signature::parse(&block, header.signature_start())?;
        let signed_by =
            signature::verify(&manifest_bytes, &entries, header.signature_start(), trusted)?;

        let manifest = wire::decode(&manifest_bytes, header.manifest_start())?;
        Ok(VerifiedManifest {
            manifest,
            signed_by,
            header,
        })
    }

    /// Reads a whole bundle and checks every byte of it without writing
    /// anything: for the host tool, or for a device that checks a staged
    /// file before it streams it.
    pub fn verify<R: Read>(
        mut reader: R,
        trusted: &Keyring,
    ) -> Result<VerifiedManifest, ReadError> {
        let verified = Bundle::read_header(&mut reader, trusted)?;
        let mut stream = PayloadStream::new(&verified, &mut reader);
        while stream.next_payload().is_some() {
            stream.copy_next(&mut io::sink())?;
        }
        stream.finish()?;
        Ok(verified)
    }
}

/// A manifest whose signature by a trusted key has been checked and whose
/// content passed every rule. Only [`Bundle::read_header`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedManifest {
    manifest: Manifest,
    signed_by: Vec<KeyId>,
    header: Header,
}

impl VerifiedManifest {
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The trusted keys whose signatures verified, in block order.
    pub fn signed_by(&self) -> &[KeyId] {
        &self.signed_by
    }

    /// Where the signature block ends and padding begins.
    pub(crate) fn header_end(&self) -> u64 {
        self.header.signature_end()
    }

    /// Bundle offset that payload offsets count from.
    pub fn payload_area_start(&self) -> u64 {
        self.header.payload_area_start()
    }

    /// Where a payload lies in the bundle.
    pub fn bundle_range(&self, payload: &Payload) -> Range<u64> {
        let start = self.payload_area_start() + payload.offset;
        start..start + payload.size
    }

    /// The exact length of the whole bundle.
    pub fn bundle_len(&self) -> u64 {
        self.payload_area_start() + self.manifest.payload_area_len()
    }

    /// Refuses a length known up front (a file's size, a `Content-Length`)
    /// that differs from the one the manifest describes, before any payload
    /// byte is written.
    pub fn check_len(&self, actual: u64) -> Result<(), ReadError> {
        let expected = self.bundle_len();
        if actual == expected {
            Ok(())
        } else {
            Err(ReadError::Length { actual, expected })
        }
    }
}
