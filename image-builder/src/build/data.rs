//! The data partition: ext4 labelled `cairn-data`, made reproducible by a
//! UUID and hash seed derived from the image's content, a fixed clock for
//! mke2fs and debugfs, and fixed times on every inode it puts in. It holds
//! the top directories and the device's own identity.

use std::path::Path;
use std::process::Command;

use super::debugfs;
use super::fsutil::make_dirs;
use super::hash::Guid;
use super::host::{self, MKFS_EXT4};
use super::identity::{self, Found};
use super::BuildError;
use crate::keys::DeviceIdentity;

pub const LABEL: &str = cairn_layout::data::LABEL;
/// Directories present from the start (see the data partition's layout).
const TOP_DIRS: [&str; 3] = cairn_layout::data::TOP_DIRS;

/// Makes the ext4 image `image` of `size` bytes holding `identity`;
/// `scratch` is an empty directory it may use.
pub fn build(
    image: &Path,
    size: u64,
    uuid: Guid,
    epoch: u64,
    identity: &DeviceIdentity,
    scratch: &Path,
) -> Result<(), BuildError> {
    let mkfs = host::require(MKFS_EXT4)?;
    let root = scratch.join("data-root");
    for dir in TOP_DIRS {
        make_dirs(&root.join(dir))?;
    }
    // mke2fs treats a fake time of 0 as unset.
    let clock = epoch.max(1).to_string();
    let uuid = uuid.to_string().to_lowercase();
    let kib = (size / 1024).to_string();
    if image.exists() {
        std::fs::remove_file(image)
            .map_err(BuildError::io(format!("cannot remove {}", image.display())))?;
    }
    host::run(
        Command::new(&mkfs)
            .env("E2FSPROGS_FAKE_TIME", &clock)
            .args([
                "-F", "-q", "-t", "ext4", "-L", LABEL, "-U", &uuid, "-b", "4096",
            ])
            .arg("-E")
            .arg(format!("hash_seed={uuid},root_owner=0:0"))
            .arg("-d")
            .arg(&root)
            .arg(image)
            .arg(format!("{kib}k")),
    )?;
    let target = image.to_string_lossy();
    fix_inode_times(&target, &clock)?;
    let private = scratch.join("identity");
    make_dirs(&private)?;
    identity::install(&target, identity, &private, &clock, Found::default())
}

/// `mke2fs -d` copies each source inode's atime and ctime from the host,
/// which no one controls; pin them (and ownership) with debugfs.
fn fix_inode_times(target: &str, clock: &str) -> Result<(), BuildError> {
    let script: String = TOP_DIRS
        .iter()
        .map(|dir| debugfs::pin(&format!("/{dir}"), clock, 0, 0, None))
        .collect();
    debugfs::run(target, &script, clock).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> DeviceIdentity {
        DeviceIdentity {
            hostname: "edge".into(),
            cert_pem: "certificate\n".into(),
            key_pem: "key\n".into(),
        }
    }

    /// What debugfs says of `path` in `image`.
    fn stat(image: &Path, path: &str) -> String {
        let out = Command::new(host::find_program("debugfs").unwrap())
            .arg("-R")
            .arg(format!("stat {path}"))
            .arg(image)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn two_runs_give_the_same_bytes() {
        assert!(
            host::find_program("mkfs.ext4").is_some(),
            "mkfs.ext4 is not installed: apt-get install e2fsprogs (scripts/test does)"
        );
        let dir = std::env::temp_dir().join(format!("cairn-data-{}", std::process::id()));
        let uuid = Guid::derive("seed", "data");
        let mut images = Vec::new();
        for run in 0..2 {
            let scratch = dir.join(format!("s{run}"));
            std::fs::create_dir_all(&scratch).unwrap();
            let image = dir.join(format!("data{run}.img"));
            build(&image, 16 << 20, uuid, 0, &identity(), &scratch).unwrap();
            images.push(std::fs::read(&image).unwrap());
            // Let the host clock move on, so a leaked timestamp would show.
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        assert_eq!(images[0].len(), 16 << 20);
        assert!(images[0] == images[1], "ext4 images differ");
        // The label sits at offset 0x78 of the superblock (which starts at 1024).
        assert_eq!(
            &images[0][1024 + 0x78..1024 + 0x78 + LABEL.len()],
            LABEL.as_bytes()
        );
        let image = dir.join("data0.img");
        let key = stat(
            &image,
            &format!("{}/{}", identity::dir(), identity::KEY_NAME),
        );
        assert!(key.contains("Mode:  0400"), "{key}");
        assert!(
            key.contains(&format!("User:   {}", cairn_layout::users::CONTROL_UID)),
            "{key}"
        );
        let cert = stat(
            &image,
            &format!("{}/{}", identity::dir(), identity::CERT_NAME),
        );
        assert!(cert.contains("Mode:  0644"), "{cert}");
        assert!(cert.contains("User:     0"), "{cert}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
