//! Bundles made with cairn-update's own writer.

use std::io::Cursor;

use cairn_update::{BundleInfo, BundleWriter, PayloadName, SigningKey};

pub struct Payloads {
    pub bank: Vec<u8>,
    pub linux: Vec<u8>,
    pub initrd: Vec<u8>,
}

impl Payloads {
    /// Distinct, recognisable bytes for each payload.
    pub fn new(seed: u8) -> Payloads {
        let fill = |len: usize, salt: u8| -> Vec<u8> {
            (0..len)
                .map(|i| {
                    (i as u8)
                        .wrapping_mul(31)
                        .wrapping_add(seed)
                        .wrapping_add(salt)
                })
                .collect()
        };
        Payloads {
            bank: fill(3 * 4096 + 17, 1),
            linux: fill(5000, 2),
            initrd: fill(7000, 3),
        }
    }
}

pub fn make(
    board: &str,
    version: &str,
    build: u64,
    key: &SigningKey,
    payloads: &Payloads,
) -> Vec<u8> {
    let info = BundleInfo {
        board: board.into(),
        version: version.into(),
        build,
        kernel_options: "console=ttyS0 quiet".into(),
        verity_root_hash: None,
    };
    let mut out = Vec::new();
    BundleWriter::new(info)
        .payload(PayloadName::Bank, Cursor::new(payloads.bank.clone()))
        .payload(PayloadName::Linux, Cursor::new(payloads.linux.clone()))
        .payload(PayloadName::Initrd, Cursor::new(payloads.initrd.clone()))
        .signed_by(key)
        .write_to(&mut out)
        .unwrap();
    out
}
