//! The disk a machine runs on: a qcow2 overlay on the built `disk.img`, so
//! the image stays untouched and the machine's state (data partition, boot
//! counters) lives in the overlay across runs, plus a writable copy of the
//! firmware's variable store.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::tools::{require_program, QEMU_IMG};
use super::QemuError;

/// The overlay's file name in the run directory.
pub const RUN_DISK: &str = "disk.qcow2";
/// Where a replaced overlay is kept.
pub const OLD_RUN_DISK: &str = "disk.qcow2.old";
/// The writable copy of the firmware variables.
pub const RUN_VARS: &str = "OVMF_VARS.fd";
/// Records which base image the overlay belongs to.
const BASE_ID: &str = "base.id";

/// A prepared run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDisk {
    /// The qcow2 overlay to boot.
    pub disk: PathBuf,
    /// The writable firmware variable store.
    pub vars: PathBuf,
    pub state: RunDiskState,
}

/// What happened to the machine's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunDiskState {
    /// No previous overlay: a new machine.
    Created,
    /// The image is unchanged: the previous state carries on.
    Reused,
    /// The image changed, so the old overlay no longer fits it; it was moved
    /// aside and the machine starts fresh.
    Replaced { old: PathBuf },
}

/// Creates or reuses `run_dir/disk.qcow2`, an overlay of `disk_img` with a
/// virtual size of `size` (a size string such as "1GiB"; never less than the
/// image itself), and copies `firmware_vars` to `run_dir/OVMF_VARS.fd` when
/// there is no copy yet or the state starts fresh.
pub fn prepare_run_disk(
    disk_img: &Path,
    run_dir: &Path,
    size: &str,
    firmware_vars: &Path,
) -> Result<RunDisk, QemuError> {
    let qemu_img = require_program(QEMU_IMG)?;
    let disk_img = fs::canonicalize(disk_img).map_err(QemuError::io(format!(
        "cannot find disk image {}",
        disk_img.display()
    )))?;
    fs::create_dir_all(run_dir).map_err(QemuError::io(format!(
        "cannot create {}",
        run_dir.display()
    )))?;
    let disk = run_dir.join(RUN_DISK);
    let vars = run_dir.join(RUN_VARS);
    let id_path = run_dir.join(BASE_ID);
    let id = base_id(&disk_img)?;

    let state = if !disk.exists() {
        RunDiskState::Created
    } else if fs::read_to_string(&id_path).ok().as_deref() == Some(id.as_str()) {
        RunDiskState::Reused
    } else {
        let old = run_dir.join(OLD_RUN_DISK);
        fs::rename(&disk, &old).map_err(QemuError::io(format!(
            "cannot move {} aside",
            disk.display()
        )))?;
        RunDiskState::Replaced { old }
    };

    if state != RunDiskState::Reused {
        let image_size = fs::metadata(&disk_img)
            .map_err(QemuError::io(format!("cannot stat {}", disk_img.display())))?
            .len();
        let virtual_size = parse_size(size)?.max(image_size);
        let mut command = Command::new(qemu_img);
        command
            .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
            .arg(&disk_img)
            .arg(&disk)
            .arg(virtual_size.to_string());
        run_quiet(&mut command)?;
        fs::write(&id_path, &id)
            .map_err(QemuError::io(format!("cannot write {}", id_path.display())))?;
    }
    if state != RunDiskState::Reused || !vars.exists() {
        fs::copy(firmware_vars, &vars).map_err(QemuError::io(format!(
            "cannot copy firmware variables {}",
            firmware_vars.display()
        )))?;
    }
    Ok(RunDisk { disk, vars, state })
}

/// An identity of the image's content that is cheap to compute: its size and
/// a hash of its GPT (the disk's and each partition's GUID and place). Cairn derives the disk
/// and partition GUIDs from the image's content, so a rebuild that writes the
/// same bytes keeps the identity while any change of content changes it.
/// For a disk without a GPT, size and modification time stand in.
fn base_id(disk_img: &Path) -> Result<String, QemuError> {
    let context = || format!("cannot read {}", disk_img.display());
    let mut file = fs::File::open(disk_img).map_err(QemuError::io(context()))?;
    let meta = file.metadata().map_err(QemuError::io(context()))?;
    if let Ok(table) = gptman::GPT::find_from(&mut file) {
        let mut digest = Sha256::new();
        digest.update(table.header.disk_guid);
        for (_, part) in table.iter().filter(|(_, p)| p.is_used()) {
            digest.update(part.unique_partition_guid);
            digest.update(part.starting_lba.to_le_bytes());
            digest.update(part.ending_lba.to_le_bytes());
        }
        Ok(format!(
            "size={} gpt-sha256={}\n",
            meta.len(),
            hex::encode(digest.finalize())
        ))
    } else {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Ok(format!("size={} mtime={mtime}\n", meta.len()))
    }
}

/// Parses "1GiB", "512MiB", "64KiB", "1G", "4096" into bytes.
pub fn parse_size(text: &str) -> Result<u64, QemuError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| QemuError::Invalid(format!("bad size {text:?}")))?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        _ => return Err(QemuError::Invalid(format!("bad size {text:?}"))),
    };
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| QemuError::Invalid(format!("size {text:?} is too large")))
}

/// Runs a short host command; a failure carries its stderr.
pub(crate) fn run_quiet(command: &mut Command) -> Result<(), QemuError> {
    let line = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let output = command
        .output()
        .map_err(QemuError::io(format!("cannot start `{line}`")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(QemuError::Command {
            command: line,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("64K").unwrap(), 64 << 10);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("1.5GiB").is_err());
        assert!(parse_size("GiB").is_err());
        assert!(parse_size("99999999999TiB").is_err());
    }

    fn fake_image(path: &Path, guid_byte: u8) {
        let mut disk = std::io::Cursor::new(vec![0u8; 64 * 1024]);
        let mut table = gptman::GPT::new_from(&mut disk, 512, [guid_byte; 16]).unwrap();
        table.write_into(&mut disk).unwrap();
        fs::write(path, disk.into_inner()).unwrap();
    }

    #[test]
    fn base_id_follows_the_gpt_not_the_mtime() {
        let dir = tempdir();
        let img = dir.join("disk.img");
        fake_image(&img, 1);
        let first = base_id(&img).unwrap();
        fake_image(&img, 1);
        assert_eq!(base_id(&img).unwrap(), first);
        fake_image(&img, 2);
        assert_ne!(base_id(&img).unwrap(), first);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn overlay_is_created_reused_and_replaced() {
        if require_program(QEMU_IMG).is_err() {
            panic!("qemu-img is needed for this test: apt-get install qemu-utils");
        }
        let dir = tempdir();
        let img = dir.join("disk.img");
        let vars_template = dir.join("vars.fd");
        fs::write(&vars_template, b"vars").unwrap();
        fake_image(&img, 1);
        let run = dir.join("run");

        let first = prepare_run_disk(&img, &run, "1MiB", &vars_template).unwrap();
        assert_eq!(first.state, RunDiskState::Created);
        assert!(first.disk.is_file());
        assert_eq!(fs::read(&first.vars).unwrap(), b"vars");

        // The machine changed its variables; a reuse keeps them.
        fs::write(&first.vars, b"changed").unwrap();
        let second = prepare_run_disk(&img, &run, "1MiB", &vars_template).unwrap();
        assert_eq!(second.state, RunDiskState::Reused);
        assert_eq!(fs::read(&second.vars).unwrap(), b"changed");

        fake_image(&img, 2);
        let third = prepare_run_disk(&img, &run, "1MiB", &vars_template).unwrap();
        assert_eq!(
            third.state,
            RunDiskState::Replaced {
                old: run.join(OLD_RUN_DISK)
            }
        );
        assert!(run.join(OLD_RUN_DISK).is_file());
        assert_eq!(fs::read(&third.vars).unwrap(), b"vars");
        fs::remove_dir_all(dir).unwrap();
    }

    fn tempdir() -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cairn-disk-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}
