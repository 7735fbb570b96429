//! The data partition: ext4 labelled `cairn-data`, made reproducible by a
//! UUID and hash seed derived from the image's content, a fixed clock for
//! mke2fs, and fixed times on every inode it copies in.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::fsutil::make_dirs;
use super::hash::Guid;
use super::host::{self, MKFS_EXT4};
use super::BuildError;

pub const LABEL: &str = cairn_layout::data::LABEL;
/// Directories present from the start (see the data partition's layout).
const TOP_DIRS: [&str; 3] = cairn_layout::data::TOP_DIRS;

/// Makes the ext4 image `image` of `size` bytes; `scratch` is an empty
/// directory it may use.
pub fn build(
    image: &Path,
    size: u64,
    uuid: Guid,
    epoch: u64,
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
    fix_inode_times(image, &clock)
}

/// `mke2fs -d` copies each source inode's atime and ctime from the host,
/// which no one controls; pin them (and ownership) with debugfs.
fn fix_inode_times(image: &Path, clock: &str) -> Result<(), BuildError> {
    let debugfs = host::find_program("debugfs").ok_or_else(|| BuildError::MissingTool {
        tool: "debugfs".into(),
        package: "e2fsprogs".into(),
    })?;
    let mut script = String::new();
    for dir in TOP_DIRS {
        for field in ["atime", "mtime", "ctime", "crtime"] {
            script.push_str(&format!("sif /{dir} {field} {clock}\n"));
        }
        script.push_str(&format!("sif /{dir} uid 0\nsif /{dir} gid 0\n"));
    }
    let mut child = Command::new(debugfs)
        .env("E2FSPROGS_FAKE_TIME", clock)
        .arg("-w")
        .arg("-f")
        .arg("-")
        .arg(image)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(BuildError::io("cannot start debugfs"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(BuildError::io("cannot talk to debugfs"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(BuildError::io("debugfs did not finish"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    // debugfs exits 0 even when a command fails; its only expected line is its banner.
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs "))
        .collect();
    if !output.status.success() || !complaints.is_empty() {
        return Err(BuildError::Command {
            command: format!("debugfs -w {}", image.display()),
            status: output.status.to_string(),
            stderr: complaints.join("\n"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            build(&image, 16 << 20, uuid, 0, &scratch).unwrap();
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
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
