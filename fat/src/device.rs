//! Whole-sector reads and writes on the device. A sector is the unit the
//! crash-consistency argument rests on: every metadata change is one call
//! to [`write_sector`].

use std::io::{Read, Seek, SeekFrom, Write};

use crate::boot_sector::{SECTOR, SECTOR_U64};
use crate::error::{FatError, Result};

pub(crate) type Sector = [u8; SECTOR];

fn seek<D: Seek>(dev: &mut D, sector: u64, what: &'static str) -> Result<()> {
    let offset = sector
        .checked_mul(SECTOR_U64)
        .ok_or(FatError::Truncated { sector, what })?;
    dev.seek(SeekFrom::Start(offset))
        .map_err(|e| FatError::io(sector, what, e))?;
    Ok(())
}

/// Reads one sector; `what` names it in errors ("FAT", "directory", ...).
pub(crate) fn read_sector<D: Read + Seek>(
    dev: &mut D,
    sector: u64,
    what: &'static str,
) -> Result<Sector> {
    let mut buf = [0u8; SECTOR];
    read_sectors(dev, sector, &mut buf, what)?;
    Ok(buf)
}

/// Reads whole sectors from `sector` on into `buf`, whose length is a
/// multiple of 512.
pub(crate) fn read_sectors<D: Read + Seek>(
    dev: &mut D,
    sector: u64,
    buf: &mut [u8],
    what: &'static str,
) -> Result<()> {
    seek(dev, sector, what)?;
    dev.read_exact(buf)
        .map_err(|e| FatError::io(sector, what, e))
}

/// Writes one sector.
pub(crate) fn write_sector<D: Write + Seek>(dev: &mut D, sector: u64, data: &Sector) -> Result<()> {
    write_sectors(dev, sector, data)
}

/// Writes whole sectors from `sector` on; `data`'s length is a multiple of
/// 512 (the callers build it so).
pub(crate) fn write_sectors<D: Write + Seek>(dev: &mut D, sector: u64, data: &[u8]) -> Result<()> {
    seek(dev, sector, "write")?;
    dev.write_all(data)
        .map_err(|e| FatError::io(sector, "write", e))
}

/// The device's length in bytes (a block device's too: seeking to its end
/// gives its size).
pub(crate) fn length<D: Seek>(dev: &mut D) -> Result<u64> {
    dev.seek(SeekFrom::End(0))
        .map_err(|e| FatError::io(0, "the device's end", e))
}
