//! The one error type of the crate. Every message says what is wrong and
//! where: the path, the cluster or the sector, so a log line from PID 1 or
//! the updater is enough to find the damage.

use std::io;

/// What went wrong, and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FatError {
    /// The device failed to read, write or seek.
    #[error("I/O error at sector {sector}: {source}")]
    Io {
        /// The sector (of 512 bytes, from the start of the volume) being accessed.
        sector: u64,
        #[source]
        source: io::Error,
    },
    /// The device is shorter than the volume says it is.
    #[error("the device ends before sector {sector} ({what})")]
    Truncated {
        /// The first sector that could not be read.
        sector: u64,
        /// What was being read there.
        what: &'static str,
    },
    /// A field of the boot sector is missing, damaged or of a kind this
    /// crate does not handle.
    #[error("boot sector: {field} is {value}: {why}")]
    BootSector {
        /// The field, as the FAT specification names it.
        field: &'static str,
        /// Its value on disk.
        value: u64,
        /// Why it is refused.
        why: &'static str,
    },
    /// A cluster number in a chain or a directory entry is not a data cluster
    /// of this volume.
    #[error("{what}: cluster {cluster} is outside the volume's data clusters 2..{end}")]
    ClusterOutOfRange {
        /// The file, directory or chain being followed.
        what: String,
        /// The cluster number found.
        cluster: u32,
        /// One past the last valid cluster number.
        end: u32,
    },
    /// A cluster chain does not end where it must, or runs in a circle.
    #[error("{what}: the cluster chain from cluster {first} is longer than {limit} clusters (a loop, or a chain longer than its size)")]
    ChainTooLong {
        /// The file, directory or chain being followed.
        what: String,
        /// The chain's first cluster.
        first: u32,
        /// The most clusters it may have.
        limit: u64,
    },
    /// A chain runs into a free, reserved or bad cluster instead of ending.
    #[error("{what}: the FAT entry of cluster {cluster} is {value:#010x}, which is not a next cluster or an end of chain")]
    ChainBroken {
        /// The file, directory or chain being followed.
        what: String,
        /// The cluster whose FAT entry is wrong.
        cluster: u32,
        /// The entry's value.
        value: u32,
    },
    /// A file's size and its cluster chain disagree.
    #[error("{path}: size {size} needs {expected} clusters of {cluster_size} bytes, but its chain has {found}")]
    SizeChainMismatch {
        /// The file.
        path: String,
        /// Its recorded size.
        size: u64,
        /// Clusters that size takes.
        expected: u64,
        /// Clusters in its chain.
        found: u64,
        /// Bytes per cluster.
        cluster_size: u32,
    },
    /// A directory is larger than FAT allows (65536 entries), which only a
    /// damaged chain gives.
    #[error("{path}: the directory is larger than 65536 entries (from cluster {first})")]
    DirectoryTooLarge {
        /// The directory.
        path: String,
        /// Its first cluster.
        first: u32,
    },
    /// A path leads back into a directory it already went through: a
    /// subdirectory entry points at one of its ancestors.
    #[error("{path}: directory loop, cluster {cluster} is also an ancestor of it")]
    DirectoryLoop {
        /// The path that came back.
        path: String,
        /// The first cluster seen twice.
        cluster: u32,
    },
    /// Nothing of that name.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The path looked up.
        path: String,
    },
    /// A path goes through, or lists, something that is not a directory.
    #[error("{path}: not a directory")]
    NotADirectory {
        /// The path.
        path: String,
    },
    /// A file operation was given a directory (or the root).
    #[error("{path}: not a file")]
    NotAFile {
        /// The path.
        path: String,
    },
    /// A name that FAT cannot hold or that is reserved.
    #[error("invalid name {name:?}: {why}")]
    InvalidName {
        /// The name.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A volume label that FAT cannot hold.
    #[error("invalid volume label {label:?}: {why}")]
    InvalidLabel {
        /// The label.
        label: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A name is already taken in its directory (FAT names are
    /// case-insensitive).
    #[error("{path}: the name is already taken in its directory")]
    NameTaken {
        /// The path of the new name.
        path: String,
    },
    /// No unused 8.3 alias is left for a long name.
    #[error("{path}: no unused 8.3 alias is left in its directory")]
    NoAliasLeft {
        /// The path of the long name.
        path: String,
    },
    /// Data to overwrite a file with is longer than the file.
    #[error("{path}: {len} bytes do not fit in the file's {size} bytes")]
    DataTooLong {
        /// The file.
        path: String,
        /// Bytes given.
        len: u64,
        /// Bytes the file (or its chain) holds.
        size: u64,
    },
    /// A file is larger than the caller allows reading.
    #[error("{path}: the file is {size} bytes, more than the {limit} bytes allowed")]
    FileTooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The limit given.
        limit: u64,
    },
    /// A new size that the file's chain cannot hold exactly.
    #[error("{path}: size {size} does not fit its chain of {clusters} clusters of {cluster_size} bytes (it must be more than {min_exclusive} and at most {max})")]
    SizeDoesNotFitChain {
        /// The file.
        path: String,
        /// The size asked for.
        size: u64,
        /// Clusters in the chain.
        clusters: u64,
        /// Bytes per cluster.
        cluster_size: u32,
        /// The size must be more than this...
        min_exclusive: u64,
        /// ...and at most this.
        max: u64,
    },
    /// A rename's new directory entries fit neither in the sector of the old
    /// ones nor in the two-write fallback.
    #[error("{path}: the new name needs {slots} directory slots, which fit neither in sector {sector} nor in the sector before it")]
    RenameDoesNotFit {
        /// The file renamed.
        path: String,
        /// 32-byte slots the new entries take.
        slots: usize,
        /// The sector holding the old 8.3 entry.
        sector: u64,
    },
    /// Formatting: the size is not whole 512-byte sectors, or too large for FAT32.
    #[error("volume size {size}: {why}")]
    BadVolumeSize {
        /// The size asked for, in bytes.
        size: u64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Formatting: the volume is too small for FAT32's 65525 clusters, even
    /// with the smallest cluster size.
    #[error("volume size {size} is too small for FAT32: it needs at least {minimum} bytes")]
    VolumeTooSmall {
        /// The size asked for, in bytes.
        size: u64,
        /// The smallest size this crate formats.
        minimum: u64,
    },
    /// Formatting: the files and directories take more clusters than there are.
    #[error(
        "the contents need {needed} clusters of {cluster_size} bytes, the volume has {available}"
    )]
    VolumeFull {
        /// Clusters needed.
        needed: u64,
        /// Clusters available.
        available: u64,
        /// Bytes per cluster.
        cluster_size: u32,
    },
    /// Formatting: two entries of the contents for one path, or a file where
    /// a directory is needed.
    #[error("{path}: {why}")]
    BadContents {
        /// The path.
        path: String,
        /// What is wrong.
        why: &'static str,
    },
}

impl FatError {
    /// Wraps an I/O error at `sector`; a short read becomes
    /// [`FatError::Truncated`].
    pub(crate) fn io(sector: u64, what: &'static str, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::UnexpectedEof {
            FatError::Truncated { sector, what }
        } else {
            FatError::Io { sector, source }
        }
    }
}

/// The crate's result.
pub type Result<T, E = FatError> = std::result::Result<T, E>;
