//! Reading the log files out of a machine's disk (`cairn logs`), so a box
//! that failed still tells its story.
//!
//! The disk comes from a built image directory (its run disk `run/disk.qcow2` is read if
//! there is one, else `disk.img`), or a disk file itself. A qcow2 disk is
//! converted to a raw copy with `qemu-img`; the data partition is found by
//! its GPT name and `/logs` is copied out of its ext4 filesystem with
//! `debugfs`, which reads a filesystem at an offset in a file without root
//! and without mounting. Lines of every file (rotated ones first) are
//! printed in time order.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};

/// The GPT name of the data partition.
const DATA_PARTITION: &str = cairn_layout::partition::DATA;
/// Where log files live on it, from its root.
const LOG_DIR: &str = cairn_layout::data::LOGS;

/// The disk to read for DIR.
pub fn find_disk(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.is_file() {
        return Ok(dir.to_path_buf());
    }
    for candidate in [dir.join("run").join("disk.qcow2"), dir.join("disk.img")] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "{} has neither run/disk.qcow2 nor disk.img; give a built image directory",
        dir.display()
    )
}

/// Every log line on `disk` (of `app`, or of all sources), at or after
/// `since` (a UTC time prefix), in time order.
pub fn read_logs(
    disk: &Path,
    app: Option<&str>,
    since: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let out = extract_logs(disk, app, tmp.path())?;
    let mut lines = Vec::new();
    collect(&out, &mut lines)?;
    if let Some(since) = since {
        lines.retain(|l| l.as_str() >= since);
    }
    // Stable: lines with the same time keep their file order.
    lines.sort_by(|a, b| timestamp(a).cmp(timestamp(b)));
    Ok(lines)
}

/// Copies the log directory of `app` (or all of them) from `disk` into
/// `work`; returns the copied directory.
pub fn extract_logs(disk: &Path, app: Option<&str>, work: &Path) -> anyhow::Result<PathBuf> {
    let raw = raw_disk(disk, work)?;
    let offset = data_partition_offset(&raw)?;
    let out = work.join("out");
    std::fs::create_dir_all(&out)?;
    let source = match app {
        Some(app) if !app.is_empty() && !app.contains('/') => format!("/{LOG_DIR}/{app}"),
        Some(app) => bail!("bad app name {app:?}"),
        None => format!("/{LOG_DIR}"),
    };
    let output = Command::new("debugfs")
        .arg("-R")
        .arg(format!("rdump {source} {}", out.display()))
        .arg(format!("{}?offset={offset}", raw.display()))
        .output()
        .context("cannot run debugfs (install e2fsprogs)")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("File not found") {
        bail!("no logs for {} on this disk", app.unwrap_or("any app"));
    }
    if !output.status.success() {
        bail!("debugfs failed: {}", stderr.trim());
    }
    Ok(out.join(source.rsplit('/').next().unwrap_or("logs")))
}

fn timestamp(line: &str) -> &str {
    line.split(' ').next().unwrap_or("")
}

/// Reads every file under `dir`: in each directory, rotated files by name
/// (their rotation time) and `current` last.
fn collect(dir: &Path, lines: &mut Vec<String>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort_by_key(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        (name.as_deref() == Some("current"), name)
    });
    for path in entries {
        if path.is_dir() {
            collect(&path, lines)?;
        } else {
            let bytes = std::fs::read(&path)?;
            lines.extend(String::from_utf8_lossy(&bytes).lines().map(str::to_string));
        }
    }
    Ok(())
}

/// A raw view of `disk`: itself, or a qcow2 converted into `tmp`.
fn raw_disk(disk: &Path, tmp: &Path) -> anyhow::Result<PathBuf> {
    let mut magic = [0u8; 4];
    File::open(disk)
        .and_then(|mut f| f.read_exact(&mut magic))
        .with_context(|| format!("cannot read {}", disk.display()))?;
    if &magic != b"QFI\xfb" {
        return Ok(disk.to_path_buf());
    }
    let raw = tmp.join("disk.raw");
    let output = Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(disk)
        .arg(&raw)
        .output()
        .context("cannot run qemu-img (install qemu-utils)")?;
    if !output.status.success() {
        bail!(
            "qemu-img convert {} failed: {}",
            disk.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(raw)
}

/// The byte offset of the data partition in a raw GPT disk.
pub fn data_partition_offset(raw: &Path) -> anyhow::Result<u64> {
    let mut file = File::open(raw).with_context(|| format!("cannot open {}", raw.display()))?;
    let table = gptman::GPT::find_from(&mut file)
        .with_context(|| format!("{} has no readable GPT", raw.display()))?;
    let data = table
        .iter()
        .find(|(_, p)| p.is_used() && p.partition_name.as_str() == DATA_PARTITION)
        .map(|(_, p)| p.starting_lba * table.sector_size);
    data.ok_or_else(|| anyhow!("{} has no {DATA_PARTITION} partition", raw.display()))
}

/// `--since`: a duration back from now, or a UTC time (prefix), as the
/// time prefix lines are compared with.
pub fn parse_since(text: &str) -> anyhow::Result<String> {
    parse_since_at(text, SystemTime::now())
}

fn parse_since_at(text: &str, now: SystemTime) -> anyhow::Result<String> {
    let text = text.trim();
    if text.len() >= 4 && text.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        return Ok(text.trim_end_matches('Z').to_string());
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| anyhow!("--since {text:?}: give a unit (s, m, h, d)"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| anyhow!("--since {text:?}: not a duration or a time"))?;
    let seconds = match unit {
        "s" => number,
        "m" | "min" => number * 60,
        "h" => number * 3600,
        "d" => number * 86_400,
        _ => bail!("--since {text:?}: unknown unit {unit:?} (s, m, h, d)"),
    };
    let at = now
        .checked_sub(Duration::from_secs(seconds))
        .unwrap_or(UNIX_EPOCH)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Ok(utc(at))
}

/// `2026-11-23T09:45:10.000000` (the logger's own timestamps without the
/// trailing `Z`), as log lines start.
fn utc(at: Duration) -> String {
    let mut text = cairn_logging::record::rfc3339(at);
    text.pop();
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_since_at("10m", now).unwrap(),
            "2023-11-14T22:03:20.000000"
        );
        assert_eq!(
            parse_since_at("1d", now).unwrap(),
            "2023-11-13T22:13:20.000000"
        );
        assert_eq!(
            parse_since_at("2023-11-14T22:00Z", now).unwrap(),
            "2023-11-14T22:00"
        );
        assert!(parse_since_at("10", now).is_err());
        assert!(parse_since_at("10y", now).is_err());
        // Lines compare as text against the prefix.
        let since = parse_since_at("2023-11-14T22:00Z", now).unwrap();
        assert!("2023-11-14T22:00:00.000001Z web stdout x" >= since.as_str());
        assert!("2023-11-14T21:59:59.999999Z web stdout x" < since.as_str());
    }
}
