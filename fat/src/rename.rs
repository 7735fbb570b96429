//! Renaming a file within its directory, in place: see [`Volume::rename`].

use std::io::{Read, Seek, Write};

use crate::boot_sector::SECTOR;
use crate::device::{read_sector, write_sector};
use crate::dir_entry::{kind, SlotKind, FREE, SLOT, SLOTS_PER_SECTOR};
use crate::directory::{set_slot, slot, Directory, Found};
use crate::error::{FatError, Result};
use crate::names::{self, same_name, short_display, LOWER_BASE, LOWER_EXT};
use crate::volume::{components, not_found, Volume};

/// How a rename reached the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenameOutcome {
    /// One sector write: the old name before it, the new one after.
    Atomic {
        /// The sector written.
        sector: u64,
    },
    /// Several sector writes, in this order; a power cut between them leaves
    /// what `window` says.
    NotAtomic {
        /// The sectors written, in order.
        writes: Vec<u64>,
        /// What a cut between the writes leaves.
        window: RenameWindow,
    },
}

impl RenameOutcome {
    /// Whether the rename was a single sector write.
    pub fn is_atomic(&self) -> bool {
        matches!(self, RenameOutcome::Atomic { .. })
    }
}

/// What a power cut in the middle of a non-atomic rename leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameWindow {
    /// The file with its new 8.3 alias and new size but no long name yet;
    /// fsck.fat accepts the volume.
    ShortNameOnly,
    /// The file under its new name, and LFN slots of its old name left
    /// orphaned in an earlier sector, which fsck.fat would remove.
    OrphanedOldSlots,
}

/// Slots of a sector that may take new entries once the old entry is gone.
struct Room {
    free: [bool; SLOTS_PER_SECTOR],
    /// The first end-of-directory slot, if the sector has one.
    end: Option<usize>,
}

impl Room {
    fn of(sector: &[u8; SECTOR], old: &[usize]) -> Room {
        let mut free = [false; SLOTS_PER_SECTOR];
        let mut end = None;
        for (i, f) in free.iter_mut().enumerate() {
            let k = kind(&slot(sector, i));
            if k == SlotKind::End && end.is_none() {
                end = Some(i);
            }
            *f = old.contains(&i) || matches!(k, SlotKind::Free | SlotKind::End);
        }
        Room { free, end }
    }

    fn is_free(&self, range: std::ops::Range<usize>) -> bool {
        range.into_iter().all(|i| self.free.get(i) == Some(&true))
    }

    /// The first run of `n` slots that can take the new entries. A run may
    /// use end-of-directory slots only if it starts no later than the first
    /// of them (a reader stops there) and an end slot, or the directory's
    /// end, still follows it (so no stale slots beyond come to light).
    fn run(&self, n: usize, sector: &[u8; SECTOR], last_sector: bool) -> Option<usize> {
        (0..=SLOTS_PER_SECTOR.checked_sub(n)?).find(|&start| {
            if !self.is_free(start..start + n) {
                return false;
            }
            match self.end {
                Some(end) if end < start + n => {
                    let after = start + n;
                    start <= end
                        && if after < SLOTS_PER_SECTOR {
                            kind(&slot(sector, after)) == SlotKind::End
                        } else {
                            last_sector
                        }
                }
                _ => true,
            }
        })
    }
}

/// Marks slots free the way every FAT driver does: the first byte only.
fn free_slots(sector: &mut [u8; SECTOR], indexes: &[usize]) {
    for &i in indexes {
        if let Some(b) = sector.get_mut(i * SLOT) {
            *b = FREE;
        }
    }
}

/// The old entry's slots: those in the sector of its 8.3 slot, and any in
/// earlier sectors (an entry that straddles them).
struct OldSlots {
    sector: u64,
    here: Vec<usize>,
    elsewhere: Vec<(u64, Vec<usize>)>,
}

impl OldSlots {
    fn of(found: &Found) -> OldSlots {
        let sector = found.short_at.sector;
        let mut old = OldSlots {
            sector,
            here: Vec::new(),
            elsewhere: Vec::new(),
        };
        for at in found.lfn_at.iter().chain(std::iter::once(&found.short_at)) {
            if at.sector == sector {
                old.here.push(at.index);
            } else {
                match old.elsewhere.iter_mut().find(|(s, _)| *s == at.sector) {
                    Some((_, v)) => v.push(at.index),
                    None => old.elsewhere.push((at.sector, vec![at.index])),
                }
            }
        }
        old
    }
}

/// The new entry's slots: LFN slots in disk order, then the 8.3 slot.
struct NewSlots<'a> {
    lfn: &'a [[u8; SLOT]],
    short: &'a [u8; SLOT],
}

impl NewSlots<'_> {
    fn len(&self) -> usize {
        self.lfn.len() + 1
    }

    fn iter(&self) -> impl Iterator<Item = &[u8; SLOT]> {
        self.lfn.iter().chain(std::iter::once(self.short))
    }
}

impl<D: Read + Write + Seek> Volume<D> {
    /// Renames the file at `path` to `new_name` in the same directory,
    /// keeping its cluster chain; with `new_size`, also sets its size, which
    /// must fit the chain as FAT requires,
    /// `(clusters - 1) * cluster_size < size <= clusters * cluster_size`
    /// (0 for a file without clusters), so fsck.fat finds no mismatch.
    ///
    /// The new LFN slots and 8.3 slot (the 8.3 slot holds the size) are
    /// written into the sector that holds the old 8.3 slot, in the first run
    /// of slots made of the old entry's slots and that sector's free ones
    /// (0xE5, or end-of-directory slots if the directory still ends after
    /// them); old slots not reused are marked free (0xE5). That is one
    /// sector write, [`RenameOutcome::Atomic`]: a power cut leaves either the
    /// old entry or the new one, each complete, and the FAT is never touched.
    ///
    /// When the new entries do not fit that sector, the rename takes two
    /// writes, ordered so that a cut between them still leaves a volume
    /// fsck.fat accepts, with the file in it: first the old entry's sector
    /// gets the new 8.3 slot alone, in its first slot (the file is then
    /// found under its new 8.3 alias and new size, without a long name);
    /// then the directory's sector before it gets the new LFN slots in its
    /// last slots, right before that 8.3 slot. The other order would leave
    /// LFN slots whose checksum matches no 8.3 slot, or two entries sharing
    /// one chain, both of which fsck.fat rejects. This needs the first slot
    /// of the sector free once the old entry is gone, a sector before it in
    /// the directory, and enough free slots at that sector's end; without
    /// them the rename fails with [`FatError::RenameDoesNotFit`] before
    /// anything is written. The outcome is then
    /// [`RenameOutcome::NotAtomic`] with [`RenameWindow::ShortNameOnly`].
    ///
    /// An old entry that already straddled two sectors (the formatter never
    /// writes one) costs a further write, after the new entry is written, to
    /// free its slots in the earlier sector; a cut before that leaves them
    /// orphaned, which fsck.fat would remove, and the file under its new
    /// name: [`RenameWindow::OrphanedOldSlots`].
    ///
    /// The new name must be free in the directory (by long name or 8.3
    /// name, without regard to case); the file keeps its attributes and
    /// timestamps.
    pub fn rename(
        &mut self,
        path: &str,
        new_name: &str,
        new_size: Option<u64>,
    ) -> Result<RenameOutcome> {
        names::validate_long(new_name)?;
        let located = self.locate(path)?;
        let found = located.found().ok_or_else(|| not_found(path))?.clone();
        let dir = located.dir;
        if found.short.is_dir() {
            return Err(FatError::NotAFile {
                path: path.to_string(),
            });
        }
        let size = match new_size {
            None => found.short.size,
            Some(size) => self.fitting_size(path, found.short.first_cluster, size)?,
        };
        let new_path = sibling(path, new_name);
        for (i, e) in dir.entries.iter().enumerate() {
            if i != located.index
                && (same_name(&e.name, new_name)
                    || same_name(&short_display(&e.short.name, 0), new_name))
            {
                return Err(FatError::NameTaken { path: new_path });
            }
        }
        let mut taken = dir.shorts.clone();
        if let Some(own) = taken.iter().position(|n| *n == found.short.name) {
            taken.remove(own);
        }
        let stored = names::store(new_name, |n| taken.contains(n)).map_err(|e| match e {
            FatError::NoAliasLeft { .. } => FatError::NoAliasLeft {
                path: new_path.clone(),
            },
            e => e,
        })?;
        let mut short = found.short;
        short.name = stored.short;
        short.nt_res = (short.nt_res & !(LOWER_BASE | LOWER_EXT)) | stored.case_flags;
        short.size = size;
        let short_slot = short.encode();

        let old = OldSlots::of(&found);
        let new = NewSlots {
            lfn: &stored.lfn,
            short: &short_slot,
        };
        let mut sector = read_sector(&mut self.dev, old.sector, "directory")?;
        let room = Room::of(&sector, &old.here);
        if let Some(start) = room.run(new.len(), &sector, dir.is_last(old.sector)) {
            return self.rewrite_sector(&old, &new, &mut sector, start);
        }
        self.short_name_first(path, &dir, &old, &new, &mut sector, &room)
    }

    /// The new entries into `start..` of the old 8.3 slot's sector, the old
    /// slots there freed: one write, and one more per other sector that held
    /// old slots.
    fn rewrite_sector(
        &mut self,
        old: &OldSlots,
        new: &NewSlots<'_>,
        sector: &mut [u8; SECTOR],
        start: usize,
    ) -> Result<RenameOutcome> {
        free_slots(sector, &old.here);
        for (i, s) in new.iter().enumerate() {
            set_slot(sector, start + i, s);
        }
        write_sector(&mut self.dev, old.sector, sector)?;
        if old.elsewhere.is_empty() {
            return Ok(RenameOutcome::Atomic { sector: old.sector });
        }
        let mut writes = vec![old.sector];
        self.free_elsewhere(&old.elsewhere, &mut writes)?;
        Ok(RenameOutcome::NotAtomic {
            writes,
            window: RenameWindow::OrphanedOldSlots,
        })
    }

    /// Two writes: the 8.3 slot first, in the first slot of its sector, then
    /// the LFN slots at the end of the sector before (see [`Volume::rename`]).
    fn short_name_first(
        &mut self,
        path: &str,
        dir: &Directory,
        old: &OldSlots,
        new: &NewSlots<'_>,
        sector: &mut [u8; SECTOR],
        room: &Room,
    ) -> Result<RenameOutcome> {
        let lfn = new.lfn.len();
        let does_not_fit = || FatError::RenameDoesNotFit {
            path: path.to_string(),
            slots: new.len(),
            sector: old.sector,
        };
        let before = dir.sector_before(old.sector).ok_or_else(does_not_fit)?;
        if lfn == 0 || lfn > SLOTS_PER_SECTOR || !room.is_free(0..1) {
            return Err(does_not_fit());
        }
        let old_before = old
            .elsewhere
            .iter()
            .find(|(s, _)| *s == before)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mut previous = read_sector(&mut self.dev, before, "directory")?;
        let previous_room = Room::of(&previous, &old_before);
        let tail = SLOTS_PER_SECTOR - lfn;
        if !previous_room.is_free(tail..SLOTS_PER_SECTOR) || previous_room.end.is_some() {
            return Err(does_not_fit());
        }
        free_slots(sector, &old.here);
        set_slot(sector, 0, new.short);
        write_sector(&mut self.dev, old.sector, sector)?;
        free_slots(&mut previous, &old_before);
        for (i, s) in new.lfn.iter().enumerate() {
            set_slot(&mut previous, tail + i, s);
        }
        write_sector(&mut self.dev, before, &previous)?;
        let mut writes = vec![old.sector, before];
        let rest: Vec<(u64, Vec<usize>)> = old
            .elsewhere
            .iter()
            .filter(|(s, _)| *s != before)
            .cloned()
            .collect();
        let window = if old.elsewhere.is_empty() {
            RenameWindow::ShortNameOnly
        } else {
            RenameWindow::OrphanedOldSlots
        };
        self.free_elsewhere(&rest, &mut writes)?;
        Ok(RenameOutcome::NotAtomic { writes, window })
    }

    /// Checks that `size` fits the chain from `first` exactly:
    /// `(clusters - 1) * cluster_size < size <= clusters * cluster_size`,
    /// or 0 for a file without clusters.
    fn fitting_size(&mut self, path: &str, first: u32, size: u64) -> Result<u32> {
        let clusters = if first == 0 {
            0
        } else {
            self.chain(first, path)?.len() as u64
        };
        let cluster_size = self.geometry.cluster_size();
        let max = clusters * u64::from(cluster_size);
        let min_exclusive = clusters.saturating_sub(1) * u64::from(cluster_size);
        let fits = if clusters == 0 {
            size == 0
        } else {
            min_exclusive < size && size <= max
        };
        match u32::try_from(size) {
            Ok(size) if fits => Ok(size),
            _ => Err(FatError::SizeDoesNotFitChain {
                path: path.to_string(),
                size,
                clusters,
                cluster_size,
                min_exclusive,
                max,
            }),
        }
    }

    /// Frees old slots in sectors other than the one rewritten.
    fn free_elsewhere(&mut self, old: &[(u64, Vec<usize>)], writes: &mut Vec<u64>) -> Result<()> {
        for (s, indexes) in old {
            let mut data = read_sector(&mut self.dev, *s, "directory")?;
            free_slots(&mut data, indexes);
            write_sector(&mut self.dev, *s, &data)?;
            writes.push(*s);
        }
        Ok(())
    }
}

/// `path` with its last component replaced by `name`.
fn sibling(path: &str, name: &str) -> String {
    let parts = components(path);
    let parent = parts
        .split_last()
        .map(|(_, p)| p.join("/"))
        .unwrap_or_default();
    if parent.is_empty() {
        format!("/{name}")
    } else {
        format!("/{parent}/{name}")
    }
}
