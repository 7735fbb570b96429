//! The image version: the first 12 hex digits of a sha256 over the bank's
//! contents (each path, mode and content hash, sorted) plus the kernel and
//! the initramfs. The same inputs give the same version.

use sha2::{Digest, Sha256};

use super::inventory::FileRecord;

/// Length of the version string in hex digits.
pub const VERSION_LEN: usize = 12;

/// The full hash the version is cut from; also the seed of the image's GUIDs.
pub fn content_hash(bank: &[FileRecord], kernel_sha256: &str, initramfs_sha256: &str) -> String {
    let mut sorted: Vec<&FileRecord> = bank.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut hasher = Sha256::new();
    hasher.update(b"cairn version 1\n");
    for record in sorted {
        hasher.update(format!("{}\0{}\0{}\n", record.path, record.mode, record.sha256).as_bytes());
    }
    hasher.update(format!("kernel\0{kernel_sha256}\ninitramfs\0{initramfs_sha256}\n").as_bytes());
    hex::encode(hasher.finalize())
}

/// The version string, cut from [`content_hash`].
pub fn version(content_hash: &str) -> String {
    content_hash.chars().take(VERSION_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str, mode: &str, sha: &str) -> FileRecord {
        FileRecord {
            path: path.into(),
            kind: "file",
            mode: mode.into(),
            size: 1,
            sha256: sha.into(),
            target: None,
        }
    }

    #[test]
    fn stable_and_order_independent() {
        let a = [record("/a", "0644", "11"), record("/b", "0755", "22")];
        let b = [record("/b", "0755", "22"), record("/a", "0644", "11")];
        let h = content_hash(&a, "k", "i");
        assert_eq!(h, content_hash(&b, "k", "i"));
        // Pinned: a change here changes every image's version.
        assert_eq!(version(&h), "10f8472ea70c");
    }

    #[test]
    fn every_input_matters() {
        let base = [record("/a", "0644", "11")];
        let h = content_hash(&base, "k", "i");
        assert_ne!(h, content_hash(&[record("/a", "0755", "11")], "k", "i"));
        assert_ne!(h, content_hash(&[record("/a", "0644", "12")], "k", "i"));
        assert_ne!(h, content_hash(&[record("/b", "0644", "11")], "k", "i"));
        assert_ne!(h, content_hash(&base, "k2", "i"));
        assert_ne!(h, content_hash(&base, "k", "i2"));
    }
}
