//! Writing a file's contents in place: through its existing cluster chain,
//! whole sectors at a time, touching neither the FAT nor any directory. The
//! volume's metadata is the same before, during and after, so a power cut
//! leaves a volume fsck.fat accepts; only the file's own bytes can be part
//! old, part new, which is why the updater writes only files no boot uses.

use std::io::{Read, Seek, Write};

use crate::boot_sector::{SECTOR, SECTOR_U64};
use crate::device::write_sectors;
use crate::error::{FatError, Result};
use crate::fat_table;
use crate::volume::{not_found, Volume};

/// Bytes handed to one write call: big writes for speed, bounded memory.
const CHUNK: usize = 1 << 20;

impl<D: Read + Write + Seek> Volume<D> {
    /// Replaces a file's contents, keeping its chain and size: `data` shorter
    /// than the file is padded with zeros up to its size (and the slack of the
    /// last sector is zeroed); longer is an error naming both sizes.
    pub fn overwrite(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let (chain, size) = self.checked_file(path)?;
        if data.len() as u64 > size {
            return Err(FatError::DataTooLong {
                path: path.to_string(),
                len: data.len() as u64,
                size,
            });
        }
        self.write_along(&chain, data, size)
    }

    /// Writes `data` at the start of a file's chain without changing its
    /// recorded size, which a later [`Volume::rename`] sets: how a boot
    /// entry gets its new text. `data` may be longer than the size, up to the
    /// chain's length; the rest of the last sector written is zeroed, bytes
    /// after it are left as they are.
    pub fn write_head(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let (chain, _) = self.checked_file(path)?;
        let capacity = chain.len() as u64 * u64::from(self.geometry.cluster_size());
        if data.len() as u64 > capacity {
            return Err(FatError::DataTooLong {
                path: path.to_string(),
                len: data.len() as u64,
                size: capacity,
            });
        }
        self.write_along(&chain, data, data.len() as u64)
    }

    /// The chain and size of the file at `path`, checked against each other.
    fn checked_file(&mut self, path: &str) -> Result<(Vec<u32>, u64)> {
        let located = self.locate(path)?;
        let found = located.found().ok_or_else(|| not_found(path))?.clone();
        if found.short.is_dir() {
            return Err(FatError::NotAFile {
                path: path.to_string(),
            });
        }
        let chain = self.file_chain(path, &found)?;
        Ok((chain, u64::from(found.short.size)))
    }

    /// Writes `data` and then zeros, `len` bytes rounded up to whole sectors,
    /// from the start of `chain`; the caller checked they fit.
    fn write_along(&mut self, chain: &[u32], data: &[u8], len: u64) -> Result<()> {
        let mut left = len.div_ceil(SECTOR_U64) * SECTOR_U64;
        let mut from = 0usize;
        let sectors_per_cluster = u64::from(self.geometry.sectors_per_cluster());
        for (first, count) in fat_table::runs(chain) {
            let mut sector = self.geometry.cluster_sector(first);
            let mut run = (u64::from(count) * sectors_per_cluster * SECTOR_U64).min(left);
            while run > 0 {
                let n = usize::try_from(run).unwrap_or(CHUNK).min(CHUNK);
                let mut buf = vec![0u8; n];
                let src = data.get(from..).unwrap_or(&[]);
                let take = src.len().min(n);
                if let (Some(dst), Some(src)) = (buf.get_mut(..take), src.get(..take)) {
                    dst.copy_from_slice(src);
                }
                write_sectors(&mut self.dev, sector, &buf)?;
                from += take;
                sector += (n / SECTOR) as u64;
                run -= n as u64;
                left -= n as u64;
            }
            if left == 0 {
                break;
            }
        }
        Ok(())
    }
}
