//! The file allocation table: following cluster chains without trusting
//! them (loops, out-of-range and free clusters are errors), and building the
//! table the formatter writes.

use crate::error::{FatError, Result};

/// FAT32 entries are 28 bits; the top 4 are reserved and kept as found.
pub(crate) const ENTRY_MASK: u32 = 0x0FFF_FFFF;
/// What the formatter ends a chain with.
pub(crate) const END_OF_CHAIN: u32 = 0x0FFF_FFFF;
/// Any entry from here on ends a chain.
const END_MIN: u32 = 0x0FFF_FFF8;
/// `FAT[1]` bit: set while the volume is cleanly unmounted.
pub(crate) const CLEAN_SHUTDOWN: u32 = 0x0800_0000;
/// `FAT[1]` bit: set while no disk I/O error was met.
pub(crate) const NO_HARD_ERROR: u32 = 0x0400_0000;
/// FAT entries per 512-byte sector.
pub(crate) const ENTRIES_PER_SECTOR: u64 = 128;

/// Follows the chain from `first`, reading each cluster's entry through
/// `entry`, and returns its clusters in order. `end` is one past the last
/// valid cluster; more than `limit` clusters is an error, which is also how
/// a loop shows: a chain cannot be longer than the volume.
pub(crate) fn walk(
    first: u32,
    end: u32,
    limit: u64,
    what: &str,
    mut entry: impl FnMut(u32) -> Result<u32>,
) -> Result<Vec<u32>> {
    let out_of_range = |cluster| FatError::ClusterOutOfRange {
        what: what.to_string(),
        cluster,
        end,
    };
    if first < 2 || first >= end {
        return Err(out_of_range(first));
    }
    let mut chain = vec![first];
    let mut cluster = first;
    loop {
        let next = entry(cluster)? & ENTRY_MASK;
        if next >= END_MIN {
            return Ok(chain);
        }
        if !(2..0x0FFF_FFF0).contains(&next) {
            // Free, reserved or bad: the chain is broken, not ended.
            return Err(FatError::ChainBroken {
                what: what.to_string(),
                cluster,
                value: next,
            });
        }
        if next >= end {
            return Err(out_of_range(next));
        }
        if chain.len() as u64 >= limit {
            return Err(FatError::ChainTooLong {
                what: what.to_string(),
                first,
                limit,
            });
        }
        chain.push(next);
        cluster = next;
    }
}

/// Runs of consecutive clusters in a chain, as (first cluster, count).
pub(crate) fn runs(chain: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &c in chain {
        match out.last_mut() {
            Some((start, len)) if start.checked_add(*len) == Some(c) => *len += 1,
            _ => out.push((c, 1)),
        }
    }
    out
}

/// A FAT of `fat_sectors` sectors with entries 0 and 1 set (media byte,
/// clean, no error) and each of `runs` (first cluster, clusters) chained
/// contiguously. The runs lie inside the table; entries past the volume's
/// clusters stay 0.
pub(crate) fn build(fat_sectors: u32, media: u8, runs: &[(u32, u32)]) -> Vec<u8> {
    let entries = u64::from(fat_sectors) * ENTRIES_PER_SECTOR;
    let mut table = vec![0u32; usize::try_from(entries).unwrap_or(0)];
    let mut set = |cluster: u64, value: u32| {
        if let Some(slot) = usize::try_from(cluster).ok().and_then(|i| table.get_mut(i)) {
            *slot = value;
        }
    };
    set(0, 0x0FFF_FF00 | u32::from(media));
    set(1, END_OF_CHAIN);
    for &(first, count) in runs {
        let first = u64::from(first);
        let count = u64::from(count);
        for c in first..first + count {
            let next = if c + 1 == first + count {
                END_OF_CHAIN
            } else {
                (c + 1) as u32
            };
            set(c, next);
        }
    }
    table.iter().flat_map(|e| e.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[u32]) -> impl FnMut(u32) -> Result<u32> + '_ {
        |c| Ok(entries.get(c as usize).copied().unwrap_or(0))
    }

    #[test]
    fn follows_a_chain() {
        let fat = [0, 0, 3, 5, 0, END_OF_CHAIN];
        assert_eq!(walk(2, 6, 10, "f", table(&fat)).unwrap(), vec![2, 3, 5]);
        // Any value from 0x0FFFFFF8 ends a chain; the top bits are ignored.
        let fat = [0, 0, 0xFFFF_FFF8];
        assert_eq!(walk(2, 3, 10, "f", table(&fat)).unwrap(), vec![2]);
    }

    #[test]
    fn loops_are_found() {
        let fat = [0, 0, 3, 4, 2];
        assert!(matches!(
            walk(2, 5, 3, "loop", table(&fat)),
            Err(FatError::ChainTooLong {
                first: 2,
                limit: 3,
                ..
            })
        ));
        // A cluster pointing at itself.
        let fat = [0, 0, 2];
        assert!(matches!(
            walk(2, 3, 1, "self", table(&fat)),
            Err(FatError::ChainTooLong { .. })
        ));
    }

    #[test]
    fn broken_chains() {
        // Free in the middle of a chain.
        let fat = [0, 0, 3, 0];
        assert!(matches!(
            walk(2, 4, 10, "f", table(&fat)),
            Err(FatError::ChainBroken {
                cluster: 3,
                value: 0,
                ..
            })
        ));
        // Bad cluster.
        let fat = [0, 0, 0x0FFF_FFF7];
        assert!(matches!(
            walk(2, 3, 10, "f", table(&fat)),
            Err(FatError::ChainBroken {
                value: 0x0FFF_FFF7,
                ..
            })
        ));
        // Out of the volume, and a bad first cluster.
        let fat = [0, 0, 99];
        assert!(matches!(
            walk(2, 3, 10, "f", table(&fat)),
            Err(FatError::ClusterOutOfRange { cluster: 99, .. })
        ));
        assert!(matches!(
            walk(1, 3, 10, "f", table(&fat)),
            Err(FatError::ClusterOutOfRange { cluster: 1, .. })
        ));
    }

    #[test]
    fn runs_of_a_chain() {
        assert_eq!(runs(&[2, 3, 4, 8, 9, 5]), vec![(2, 3), (8, 2), (5, 1)]);
        assert!(runs(&[]).is_empty());
    }

    #[test]
    fn built_table() {
        let bytes = build(1, 0xF8, &[(2, 3), (5, 1)]);
        assert_eq!(bytes.len(), 512);
        let e = |i: usize| u32::from_le_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(e(0), 0x0FFF_FFF8);
        assert_eq!(e(1), END_OF_CHAIN);
        assert_eq!(
            (e(2), e(3), e(4), e(5), e(6)),
            (3, 4, END_OF_CHAIN, END_OF_CHAIN, 0)
        );
    }
}
