//! What went into an image: the records the version is derived from, the
//! bank's own `/cairn/inventory.json` and the build's `inventory.json`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::Serialize;

use super::hash::{sha256_file, sha256_hex};
use super::BuildError;

/// One entry of a tree (a bank, the ESP).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FileRecord {
    /// Absolute path inside the tree.
    pub path: String,
    /// "file", "dir" or "symlink".
    pub kind: &'static str,
    /// Permission bits in octal, e.g. "0755".
    pub mode: String,
    pub size: u64,
    /// Of the content; of the target for a symlink; empty for a directory.
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Every entry under `root`, sorted by path (the root itself excluded).
pub fn list_tree(root: &Path) -> Result<Vec<FileRecord>, BuildError> {
    let mut records = Vec::new();
    walk(root, Path::new("/"), &mut records)?;
    records.sort();
    Ok(records)
}

fn walk(dir: &Path, tree_dir: &Path, out: &mut Vec<FileRecord>) -> Result<(), BuildError> {
    let entries =
        std::fs::read_dir(dir).map_err(BuildError::io(format!("cannot read {}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(BuildError::io(format!("cannot read {}", dir.display())))?;
        let host = entry.path();
        let tree = tree_dir.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&host)
            .map_err(BuildError::io(format!("cannot stat {}", host.display())))?;
        let mode = format!("{:04o}", meta.permissions().mode() & 0o7777);
        let path = tree.to_string_lossy().into_owned();
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&host)
                .map_err(BuildError::io(format!("cannot read {}", host.display())))?
                .to_string_lossy()
                .into_owned();
            out.push(FileRecord {
                path,
                kind: "symlink",
                mode,
                size: target.len() as u64,
                sha256: sha256_hex(target.as_bytes()),
                target: Some(target),
            });
        } else if meta.is_dir() {
            out.push(FileRecord {
                path,
                kind: "dir",
                mode,
                size: 0,
                sha256: String::new(),
                target: None,
            });
            walk(&host, &tree, out)?;
        } else {
            out.push(FileRecord {
                path,
                kind: "file",
                mode,
                size: meta.len(),
                sha256: sha256_file(&host)?,
                target: None,
            });
        }
    }
    Ok(())
}

/// The bank's own inventory, `/cairn/inventory.json` inside the bank.
#[derive(Debug, Serialize)]
pub struct BankInventory<'a> {
    pub version: &'a str,
    pub build: u64,
    pub bank: &'a str,
    pub kernel_sha256: &'a str,
    pub initramfs_sha256: &'a str,
    pub files: &'a [FileRecord],
}

/// `inventory.json` beside `disk.img`: everything that went into the image.
#[derive(Debug, Serialize)]
pub struct Inventory {
    pub version: String,
    pub build: u64,
    pub board: BoardRecord,
    pub manifest_sha256: String,
    pub kernel: KernelRecord,
    pub bootloader: PackageRecord,
    pub init: BlobRecord,
    pub initramfs: InitramfsRecord,
    pub banks: Vec<BankRecord>,
    pub esp: Vec<FileRecord>,
    pub data: DataRecord,
    pub partitions: Vec<PartitionRecord>,
    pub disk: DiskRecord,
}

#[derive(Debug, Serialize)]
pub struct BoardRecord {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Serialize)]
pub struct KernelRecord {
    pub source: String,
    /// What the board asks for (a metapackage); `package` is what the lock
    /// pinned it to, and `version` and `deb_sha256` exactly as `cairn.lock` has them.
    pub requested: String,
    pub package: String,
    pub version: String,
    pub release: String,
    pub deb_sha256: String,
    pub vmlinuz_sha256: String,
    pub vmlinuz_size: u64,
}

#[derive(Debug, Serialize)]
pub struct PackageRecord {
    /// As asked of the archive; the rest exactly as `cairn.lock` pins it.
    pub requested: String,
    pub package: String,
    pub version: String,
    pub deb_sha256: String,
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Serialize)]
pub struct BlobRecord {
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Serialize)]
pub struct InitramfsRecord {
    pub sha256: String,
    pub size: u64,
    /// Module files in load order, as listed in `/etc/cairn/modules`.
    pub modules: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct BankRecord {
    pub name: String,
    /// Empty for a bank that holds nothing yet.
    pub squashfs_sha256: String,
    pub squashfs_size: u64,
    pub files: Vec<FileRecord>,
}

#[derive(Debug, Serialize)]
pub struct DataRecord {
    pub label: String,
    pub uuid: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionRecord {
    pub number: u32,
    pub name: String,
    pub first_lba: u64,
    pub last_lba: u64,
    pub size: u64,
    pub type_guid: String,
    pub unique_guid: String,
}

#[derive(Debug, Serialize)]
pub struct DiskRecord {
    pub guid: String,
    pub size: u64,
    pub sector_size: u64,
}

/// Pretty JSON with a final newline.
pub fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, BuildError> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| BuildError::Invalid(format!("cannot serialize the inventory: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn lists_files_dirs_and_symlinks_sorted() {
        let root = std::env::temp_dir().join(format!("cairn-inv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("b/c")).unwrap();
        std::fs::write(root.join("b/c/f"), b"abc").unwrap();
        std::fs::set_permissions(root.join("b/c/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        symlink("b/c/f", root.join("a")).unwrap();
        let records = list_tree(&root).unwrap();
        let paths: Vec<_> = records.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/a", "/b", "/b/c", "/b/c/f"]);
        let f = &records[3];
        assert_eq!((f.kind, f.mode.as_str(), f.size), ("file", "0640", 3));
        assert_eq!(f.sha256, sha256_hex(b"abc"));
        assert_eq!(records[0].target.as_deref(), Some("b/c/f"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
