//! An existing FAT32 volume, opened without mounting it: looking up paths,
//! listing directories, reading files, telling where a file's bytes are on
//! the device, and whether the volume is marked dirty. The changes are in
//! `overwrite.rs` and `rename.rs`.

use std::io::{Read, Seek};

use crate::boot_sector::{Geometry, SECTOR_U64, STATE_DIRTY, STATE_OFFSET};
use crate::device::{self, read_sector, read_sectors};
use crate::directory::{self, Directory, Found};
use crate::error::{FatError, Result};
use crate::fat_table::{self, CLEAN_SHUTDOWN, NO_HARD_ERROR};
use crate::names::{same_name, short_display};

/// A FAT32 volume on a device: a partition, an image file, or a
/// `Cursor<Vec<u8>>`. Nothing is cached between calls but the boot sector's
/// geometry, so each call sees the device as it is.
#[derive(Debug)]
pub struct Volume<D> {
    pub(crate) dev: D,
    pub(crate) geometry: Geometry,
}

/// One file or directory in a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The long name, or the 8.3 name (lowercased as its flags say) if there
    /// is no long name.
    pub name: String,
    /// The 8.3 name, as `NAME.EXT`.
    pub short_name: String,
    /// The size in bytes (0 for directories).
    pub size: u32,
    pub is_dir: bool,
    /// The first cluster of its chain (0 for an empty file).
    pub first_cluster: u32,
}

impl DirEntry {
    fn from_found(f: &Found) -> Self {
        DirEntry {
            name: f.name.clone(),
            short_name: short_display(&f.short.name, 0),
            size: f.short.size,
            is_dir: f.short.is_dir(),
            first_cluster: f.short.first_cluster,
        }
    }
}

/// A run of a file's bytes on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// Byte offset from the start of the volume.
    pub offset: u64,
    /// Bytes in the run (the last run ends at the file's size, not at the
    /// end of its cluster).
    pub len: u64,
}

/// The volume's dirty marks, as read from the device. This crate never
/// changes them: a mark left by a mount that did not finish is for fsck to
/// judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirtyState {
    /// Boot sector byte 0x41 bit 0: set by Linux while the volume is
    /// mounted.
    pub boot_sector_dirty: bool,
    /// `FAT[1]` bit 27 is clear: the volume was not cleanly unmounted (as
    /// Windows marks it).
    pub fat_not_clean: bool,
    /// `FAT[1]` bit 26 is clear: a disk error was met.
    pub fat_hard_error: bool,
}

impl DirtyState {
    /// Whether any mark says the volume was not cleanly unmounted.
    pub fn is_dirty(&self) -> bool {
        self.boot_sector_dirty || self.fat_not_clean
    }
}

/// A path's entry and the directory it is in.
#[derive(Debug)]
pub(crate) struct Located {
    pub dir: Directory,
    pub index: usize,
    /// First clusters of the directories the path went through, the root's
    /// and the entry's own directory's included.
    pub ancestors: Vec<u32>,
}

impl Located {
    pub fn found(&self) -> Option<&Found> {
        self.dir.entries.get(self.index)
    }
}

/// A path's non-empty components: `/a//b/` is `a/b`; the root has none.
pub(crate) fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty()).collect()
}

/// The entry of `dir` named `name`, by long or 8.3 name, without regard to
/// case.
pub(crate) fn find(dir: &Directory, name: &str) -> Option<usize> {
    dir.entries
        .iter()
        .position(|e| same_name(&e.name, name) || same_name(&short_display(&e.short.name, 0), name))
}

impl<D: Read + Seek> Volume<D> {
    /// Opens the volume on `dev` (its first byte is the boot sector's):
    /// checks the boot sector, and that the device is as long as the volume.
    pub fn open(mut dev: D) -> Result<Self> {
        let boot = read_sector(&mut dev, 0, "boot sector")?;
        let geometry = Geometry::parse(&boot)?;
        let len = device::length(&mut dev)?;
        if len < geometry.total_sectors().saturating_mul(SECTOR_U64) {
            return Err(FatError::Truncated {
                sector: len / SECTOR_U64,
                what: "the volume (the boot sector gives more sectors)",
            });
        }
        Ok(Volume { dev, geometry })
    }

    /// The layout from the boot sector.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The device, to look at (a recorder in tests, say).
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// Gives the device back.
    pub fn into_inner(self) -> D {
        self.dev
    }

    /// Reads the dirty marks from the device (read only).
    pub fn dirty_state(&mut self) -> Result<DirtyState> {
        let boot = read_sector(&mut self.dev, 0, "boot sector")?;
        let (sector, offset) = self.geometry.fat_entry(1);
        let fat = read_sector(&mut self.dev, sector, "FAT")?;
        let fat1: [u8; 4] = fat
            .get(offset..offset + 4)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 4]);
        let fat1 = u32::from_le_bytes(fat1);
        Ok(DirtyState {
            boot_sector_dirty: boot[STATE_OFFSET] & STATE_DIRTY != 0,
            fat_not_clean: fat1 & CLEAN_SHUTDOWN == 0,
            fat_hard_error: fat1 & NO_HARD_ERROR == 0,
        })
    }

    /// Lists a directory (`""` or `"/"` is the root), in disk order.
    pub fn list(&mut self, path: &str) -> Result<Vec<DirEntry>> {
        let dir = self.open_dir(path)?;
        Ok(dir.entries.iter().map(DirEntry::from_found).collect())
    }

    /// The entry of a file or directory.
    pub fn stat(&mut self, path: &str) -> Result<DirEntry> {
        let located = self.locate(path)?;
        let found = located.found().ok_or_else(|| not_found(path))?;
        Ok(DirEntry::from_found(found))
    }

    /// Reads a whole file, refusing one larger than `limit` bytes.
    pub fn read_file(&mut self, path: &str, limit: u64) -> Result<Vec<u8>> {
        let extents = self.file_extents(path, Some(limit))?;
        let total: u64 = extents.iter().map(|e| e.len).sum();
        let mut out = vec![0u8; usize::try_from(total).unwrap_or(0)];
        let mut at = 0usize;
        for e in extents {
            // Whole sectors are read; the last one's tail is cut.
            let len = usize::try_from(e.len).unwrap_or(0);
            let whole = e.len.div_ceil(SECTOR_U64) * SECTOR_U64;
            let mut buf = vec![0u8; usize::try_from(whole).unwrap_or(0)];
            read_sectors(&mut self.dev, e.offset / SECTOR_U64, &mut buf, "file data")?;
            if let (Some(dst), Some(src)) = (out.get_mut(at..at + len), buf.get(..len)) {
                dst.copy_from_slice(src);
            }
            at += len;
        }
        Ok(out)
    }

    /// Where a file's bytes are on the device, in file order.
    pub fn extents(&mut self, path: &str) -> Result<Vec<Extent>> {
        self.file_extents(path, None)
    }

    fn file_extents(&mut self, path: &str, limit: Option<u64>) -> Result<Vec<Extent>> {
        let located = self.locate(path)?;
        let found = located.found().ok_or_else(|| not_found(path))?.clone();
        if found.short.is_dir() {
            return Err(FatError::NotAFile {
                path: path.to_string(),
            });
        }
        let size = u64::from(found.short.size);
        if let Some(limit) = limit.filter(|&l| size > l) {
            return Err(FatError::FileTooLarge {
                path: path.to_string(),
                size,
                limit,
            });
        }
        let chain = self.file_chain(path, &found)?;
        let cluster_size = u64::from(self.geometry.cluster_size());
        let mut left = size;
        let mut out = Vec::new();
        for (first, count) in fat_table::runs(&chain) {
            let len = (u64::from(count) * cluster_size).min(left);
            out.push(Extent {
                offset: self.geometry.cluster_sector(first) * SECTOR_U64,
                len,
            });
            left -= len;
        }
        Ok(out)
    }

    /// A file's chain, checked against its size: exactly as many clusters as
    /// the size takes (none for an empty file).
    pub(crate) fn file_chain(&mut self, path: &str, found: &Found) -> Result<Vec<u32>> {
        let size = u64::from(found.short.size);
        let cluster_size = self.geometry.cluster_size();
        let expected = size.div_ceil(u64::from(cluster_size));
        let chain = if found.short.first_cluster == 0 {
            Vec::new()
        } else {
            self.chain(found.short.first_cluster, path)?
        };
        if chain.len() as u64 != expected {
            return Err(FatError::SizeChainMismatch {
                path: path.to_string(),
                size,
                expected,
                found: chain.len() as u64,
                cluster_size,
            });
        }
        Ok(chain)
    }

    /// The chain from `first`, bounded by the volume's cluster count.
    pub(crate) fn chain(&mut self, first: u32, what: &str) -> Result<Vec<u32>> {
        let limit = u64::from(self.geometry.cluster_count());
        directory::chain(&mut self.dev, &self.geometry, first, limit, what)
    }

    /// Reads the directory at `path`.
    pub(crate) fn open_dir(&mut self, path: &str) -> Result<Directory> {
        if components(path).is_empty() {
            let root = self.geometry.root_cluster();
            return directory::read(&mut self.dev, &self.geometry, root, "/");
        }
        let located = self.locate(path)?;
        let found = located.found().ok_or_else(|| not_found(path))?;
        if !found.short.is_dir() {
            return Err(FatError::NotADirectory {
                path: path.to_string(),
            });
        }
        let first = found.short.first_cluster;
        if located.ancestors.contains(&first) {
            return Err(FatError::DirectoryLoop {
                path: path.to_string(),
                cluster: first,
            });
        }
        directory::read(&mut self.dev, &self.geometry, first, path)
    }

    /// Finds the entry of a path other than the root.
    pub(crate) fn locate(&mut self, path: &str) -> Result<Located> {
        let parts = components(path);
        let Some((last, parents)) = parts.split_last() else {
            return Err(FatError::NotAFile {
                path: path.to_string(),
            });
        };
        let root = self.geometry.root_cluster();
        let mut dir = directory::read(&mut self.dev, &self.geometry, root, "/")?;
        let mut walked = String::new();
        // Only a damaged volume has a subdirectory pointing back up the
        // tree; a path through it would never end, so say so at once.
        let mut ancestors = vec![root];
        for part in parents {
            walked.push('/');
            walked.push_str(part);
            let index = find(&dir, part).ok_or_else(|| not_found(&walked))?;
            let entry = dir.entries.get(index).ok_or_else(|| not_found(&walked))?;
            if !entry.short.is_dir() {
                return Err(FatError::NotADirectory { path: walked });
            }
            let first = entry.short.first_cluster;
            if ancestors.contains(&first) {
                return Err(FatError::DirectoryLoop {
                    path: walked,
                    cluster: first,
                });
            }
            ancestors.push(first);
            dir = directory::read(&mut self.dev, &self.geometry, first, &walked)?;
        }
        let index = find(&dir, last).ok_or_else(|| not_found(path))?;
        Ok(Located {
            dir,
            index,
            ancestors,
        })
    }
}

pub(crate) fn not_found(path: &str) -> FatError {
    FatError::NotFound {
        path: path.to_string(),
    }
}
