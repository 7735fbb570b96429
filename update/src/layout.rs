//! Rules on where payloads lie.
//!
//! There is exactly one valid layout for a given list of payload sizes: the
//! first at offset 0, each next one at the first multiple of 4096 after the
//! one before. A reader therefore never has to reason about gaps or
//! overlaps, and a bundle has one byte representation.

use crate::error::ManifestError;
use crate::format::{align_up, MAX_PAYLOAD_SIZE, PAYLOAD_ALIGN};
use crate::manifest::{Payload, PayloadName};

pub(crate) fn check(payloads: &[Payload]) -> Result<(), ManifestError> {
    check_names(payloads)?;
    let mut previous: Option<&Payload> = None;
    for payload in payloads {
        let name = payload.name;
        if payload.size == 0 {
            return Err(ManifestError::EmptyPayload { name });
        }
        if payload.size > MAX_PAYLOAD_SIZE {
            return Err(ManifestError::PayloadTooLarge {
                name,
                size: payload.size,
            });
        }
        if payload.offset % PAYLOAD_ALIGN != 0 {
            return Err(ManifestError::Misaligned {
                name,
                offset: payload.offset,
            });
        }
        // Bounded: earlier payloads passed the size limit above.
        let expected = previous.map_or(0, |p| align_up(p.end()));
        if let Some(previous) = previous {
            if payload.offset < previous.end() {
                return Err(ManifestError::Overlap {
                    name,
                    offset: payload.offset,
                    previous: previous.name,
                    previous_end: previous.end(),
                });
            }
        }
        if payload.offset != expected {
            return Err(ManifestError::Gap {
                name,
                offset: payload.offset,
                expected,
            });
        }
        previous = Some(payload);
    }
    Ok(())
}

/// Every known name exactly once.
fn check_names(payloads: &[Payload]) -> Result<(), ManifestError> {
    for (index, payload) in payloads.iter().enumerate() {
        if let Some(first) = payloads[..index]
            .iter()
            .position(|p| p.name == payload.name)
        {
            return Err(ManifestError::DuplicatePayload {
                index,
                name: payload.name,
                first,
            });
        }
    }
    for name in PayloadName::ALL {
        if !payloads.iter().any(|p| p.name == name) {
            return Err(ManifestError::MissingPayload { name });
        }
    }
    Ok(())
}

/// The offsets a writer gives payloads of these sizes, in this order.
pub(crate) fn place(sizes: &[(PayloadName, u64)]) -> Vec<(PayloadName, u64, u64)> {
    let mut next = 0;
    sizes
        .iter()
        .map(|&(name, size)| {
            let offset = next;
            next = align_up(offset + size);
            (name, offset, size)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(name: PayloadName, offset: u64, size: u64) -> Payload {
        Payload {
            name,
            offset,
            size,
            sha256: [0; 32],
        }
    }

    fn three(offsets_sizes: [(u64, u64); 3]) -> Vec<Payload> {
        PayloadName::ALL
            .into_iter()
            .zip(offsets_sizes)
            .map(|(name, (offset, size))| payload(name, offset, size))
            .collect()
    }

    #[test]
    fn the_placed_layout_is_the_one_accepted() {
        let placed = place(&[
            (PayloadName::Bank, 5000),
            (PayloadName::Linux, 4096),
            (PayloadName::Initrd, 1),
        ]);
        let offsets: Vec<u64> = placed.iter().map(|p| p.1).collect();
        assert_eq!(offsets, [0, 8192, 12288]);
        let payloads: Vec<Payload> = placed
            .into_iter()
            .map(|(name, offset, size)| payload(name, offset, size))
            .collect();
        assert_eq!(check(&payloads), Ok(()));
    }

    #[test]
    fn overlaps_gaps_and_misalignment_are_named() {
        assert_eq!(
            check(&three([(0, 5000), (4096, 10), (8192, 10)])),
            Err(ManifestError::Overlap {
                name: PayloadName::Linux,
                offset: 4096,
                previous: PayloadName::Bank,
                previous_end: 5000
            })
        );
        assert_eq!(
            check(&three([(0, 10), (8192, 10), (12288, 10)])),
            Err(ManifestError::Gap {
                name: PayloadName::Linux,
                offset: 8192,
                expected: 4096
            })
        );
        assert_eq!(
            check(&three([(4096, 10), (8192, 10), (12288, 10)])),
            Err(ManifestError::Gap {
                name: PayloadName::Bank,
                offset: 4096,
                expected: 0
            })
        );
        assert_eq!(
            check(&three([(0, 10), (100, 10), (4096, 10)])),
            Err(ManifestError::Misaligned {
                name: PayloadName::Linux,
                offset: 100
            })
        );
        let far = u64::MAX - u64::MAX % 4096;
        assert_eq!(
            check(&three([(0, 10), (far, 10), (4096, 10)])),
            Err(ManifestError::Gap {
                name: PayloadName::Linux,
                offset: far,
                expected: 4096
            })
        );
    }

    #[test]
    fn sizes_are_bounded() {
        assert_eq!(
            check(&three([(0, 0), (0, 10), (4096, 10)])),
            Err(ManifestError::EmptyPayload {
                name: PayloadName::Bank
            })
        );
        assert_eq!(
            check(&three([(0, u64::MAX), (4096, 10), (8192, 10)])),
            Err(ManifestError::PayloadTooLarge {
                name: PayloadName::Bank,
                size: u64::MAX
            })
        );
    }

    #[test]
    fn every_name_once() {
        let mut payloads = three([(0, 10), (4096, 10), (8192, 10)]);
        payloads[2].name = PayloadName::Bank;
        assert_eq!(
            check(&payloads),
            Err(ManifestError::DuplicatePayload {
                index: 2,
                name: PayloadName::Bank,
                first: 0
            })
        );
        payloads.pop();
        assert_eq!(
            check(&payloads),
            Err(ManifestError::MissingPayload {
                name: PayloadName::Initrd
            })
        );
    }
}
