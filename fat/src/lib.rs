//! FAT32 for Cairn's EFI system partition, in two halves.
//!
//! **Formatting** ([`format()`]): the image builder describes the ESP as
//! directories and files ([`Contents`]) and gets a FAT32 volume that
//! `fsck.fat -n` accepts, byte for byte the same for the same input:
//! timestamps, volume id and label come from the caller, never the host;
//! entries are sorted by name; files are contiguous. A file can be
//! *preallocated* (padded with zeros to a reserved size, so a later version's
//! larger kernel can be written over it), and can have its directory entries
//! *alone in a sector*, so any later rename of it is one sector write.
//!
//! **Changing** ([`Volume`]): at run time the OS blesses a version or marks it
//! bad by renaming its boot entry (systemd-boot's boot counting, `+3-0` to
//! `+2-1` to none), and writes a new version's kernel, initramfs and entry
//! text. Doing that through the kernel's vfat driver sets the volume's dirty
//! bit while it is mounted, and a power cut then leaves a volume fsck.fat
//! rejects. [`Volume`] works on the unmounted device instead, and never
//! allocates or frees a cluster:
//!
//! - [`Volume::overwrite`] and [`Volume::write_head`] write a file's bytes
//!   through its existing chain; no metadata changes at all.
//! - [`Volume::rename`] rewrites the sector holding the file's directory
//!   entries (long-name slots and 8.3 slot, which also holds the size): one
//!   sector write, which the disk applies wholly or not at all.
//! - Listing, reading, extents and the dirty marks are read only.
//!
//! **Why every write boundary is safe**: the FAT and FSInfo are never
//! written, so the free count and every chain stay exactly as fsck.fat
//! expects. A rename's new size must fit the chain it keeps
//! (`(clusters - 1) * cluster_size < size <= clusters * cluster_size`), so the
//! new 8.3 slot agrees with the FAT, and old and new entries each are
//! complete within the one sector written: before the write the volume holds
//! the old entry, after it the new one, and there is no in-between on disk.
//! When the new entries cannot fit that sector, the rename says so in its
//! [`RenameOutcome`] and uses two writes ordered so the state between them
//! is still clean: the file under its new 8.3 alias until the long name
//! follows (see [`Volume::rename`]). An overwrite is many writes, but of
//! file data only: a cut leaves the file's bytes part old, part new, never
//! the volume inconsistent. The caller makes writes durable with its own
//! fsync, and writes only files that no boot in progress depends on.
//!
//! ```
//! use std::io::Cursor;
//! use cairn_fat::{format, Contents, FileSpec, FormatOptions, Volume};
//!
//! let entry = b"title Cairn\nlinux /cairn/1/linux\n";
//! let kernel = vec![0x4d; 100_000];
//! let mut contents = Contents::new();
//! contents
//!     .add(FileSpec::new("loader/entries/cairn-1+3-0.conf", entry).alone_in_sector())
//!     .add(FileSpec::new("cairn/1/linux", &kernel).reserve(1 << 20));
//! let mut image = Cursor::new(Vec::new());
//! let options = FormatOptions::new(34 << 20, 0x1234_5678, "CAIRN-ESP", 1_700_000_000);
//! format(&mut image, &options, &contents)?;
//!
//! let mut esp = Volume::open(image)?;
//! let text = b"title Cairn (tried)\nlinux /cairn/1/linux\n";
//! esp.write_head("loader/entries/cairn-1+3-0.conf", text)?;
//! let outcome = esp.rename(
//!     "loader/entries/cairn-1+3-0.conf",
//!     "cairn-1+2-1.conf",
//!     Some(text.len() as u64),
//! )?;
//! assert!(outcome.is_atomic());
//! assert_eq!(esp.read_file("loader/entries/cairn-1+2-1.conf", 4096)?, text);
//! # Ok::<(), cairn_fat::FatError>(())
//! ```
//!
//! This runs inside PID 1 and on update paths that may meet a damaged disk:
//! no panics, no unsafe code, every on-disk field checked before use, chain
//! walks and directory walks bounded.
#![forbid(unsafe_code)]
// An out-of-range index panics, and a panic in PID 1 is the crash path.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

mod boot_sector;
mod contents;
mod device;
mod dir_entry;
mod dir_layout;
mod directory;
mod error;
mod fat_table;
mod format;
mod names;
mod overwrite;
mod rename;
mod time;
mod tree;
mod volume;
mod window;

pub use boot_sector::Geometry;
pub use contents::{Contents, FileSpec};
pub use error::{FatError, Result};
pub use format::{format, FormatOptions, Formatted, MIN_CLUSTERS};
pub use rename::{RenameOutcome, RenameWindow};
pub use volume::{DirEntry, DirtyState, Extent, Volume};
pub use window::Window;
