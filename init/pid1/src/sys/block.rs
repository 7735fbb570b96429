//! Block-device calls: telling the kernel about a resized partition, growing a
//! mounted ext4 filesystem, creating device nodes.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use cairn_sys::io_err;

/// `BLKPG` = `_IO(0x12, 105)`.
const BLKPG: libc::Ioctl = 0x1269;
/// `BLKPG_RESIZE_PARTITION` from linux/blkpg.h.
const BLKPG_RESIZE_PARTITION: libc::c_int = 3;

/// `struct blkpg_partition` (linux/blkpg.h); offsets and lengths in bytes.
#[repr(C)]
struct BlkpgPartition {
    start: libc::c_longlong,
    length: libc::c_longlong,
    pno: libc::c_int,
    devname: [libc::c_char; 64],
    volname: [libc::c_char; 64],
}

/// `struct blkpg_ioctl_arg` (linux/blkpg.h).
#[repr(C)]
struct BlkpgIoctlArg {
    op: libc::c_int,
    flags: libc::c_int,
    datalen: libc::c_int,
    data: *mut libc::c_void,
}

fn to_c_longlong(value: u64) -> io::Result<libc::c_longlong> {
    libc::c_longlong::try_from(value).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Tells the kernel that partition `number` of the whole-disk device `disk`
/// now spans `length` bytes from `start` (BLKPG_RESIZE_PARTITION). The start
/// must not change.
pub fn resize_partition(disk: &File, number: u32, start: u64, length: u64) -> io::Result<()> {
    let mut part = BlkpgPartition {
        start: to_c_longlong(start)?,
        length: to_c_longlong(length)?,
        pno: libc::c_int::try_from(number)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        devname: [0; 64],
        volname: [0; 64],
    };
    let mut arg = BlkpgIoctlArg {
        op: BLKPG_RESIZE_PARTITION,
        flags: 0,
        datalen: std::mem::size_of::<BlkpgPartition>() as libc::c_int,
        data: std::ptr::addr_of_mut!(part).cast(),
    };
    // SAFETY: BLKPG reads `arg` and the partition it points to; both live on
    // this stack frame for the duration of the call and match the kernel ABI.
    let ret = unsafe { libc::ioctl(disk.as_raw_fd(), BLKPG, std::ptr::addr_of_mut!(arg)) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

nix::ioctl_write_ptr!(ext4_ioc_resize_fs, b'f', 16, u64);

/// Grows the ext4 filesystem that `mounted` (any file or directory on it)
/// belongs to, online, to `blocks` filesystem blocks (EXT4_IOC_RESIZE_FS).
pub fn ext4_resize(mounted: &File, blocks: u64) -> io::Result<()> {
    // SAFETY: the ioctl reads one u64 through the pointer, which points at a
    // live local for the duration of the call.
    unsafe { ext4_ioc_resize_fs(mounted.as_raw_fd(), &blocks) }.map_err(io_err)?;
    Ok(())
}

/// The size of a block device in bytes (BLKGETSIZE64).
pub fn device_size(device: &File) -> io::Result<u64> {
    nix::ioctl_read!(blkgetsize64, 0x12, 114, u64);
    let mut size: u64 = 0;
    // SAFETY: the ioctl writes one u64 into the local we pass.
    unsafe { blkgetsize64(device.as_raw_fd(), &mut size) }.map_err(io_err)?;
    Ok(size)
}

/// Creates the block device node `path` for `major:minor` (mode 0600).
pub fn make_block_node(path: &Path, major: u64, minor: u64) -> io::Result<()> {
    mknod(
        path,
        SFlag::S_IFBLK,
        Mode::from_bits_truncate(0o600),
        makedev(major, minor),
    )
    .map_err(io_err)
}
