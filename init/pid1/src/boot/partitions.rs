//! Finding Cairn's partitions by GPT name in sysfs.
//!
//! The kernel publishes every block device under /sys/class/block; a
//! partition's `uevent` carries `PARTNAME` (the GPT partition name),
//! `DEVNAME`, `PARTN`, `MAJOR`/`MINOR`, and its sysfs directory sits inside its
//! disk's. Virtio disks appear asynchronously after their module loads, so
//! PID 1 polls (bounded) until the partitions it needs are there. When more
//! than one disk carries Cairn partitions (a second image attached), the disk
//! holding the booted bank wins.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_layout::partition;

/// A whole disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// Kernel name, e.g. `vda`.
    pub name: String,
    pub major: u64,
    pub minor: u64,
    /// Size in 512-byte sectors (sysfs units, whatever the logical block size).
    pub sectors: u64,
    /// Logical block size in bytes: the GPT's LBA size.
    pub logical_block_size: u64,
}

/// A partition with a GPT name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// GPT partition name, e.g. `cairn-data`.
    pub name: String,
    /// Kernel name, e.g. `vda4`.
    pub devname: String,
    /// Partition number (1-based).
    pub number: u32,
    pub major: u64,
    pub minor: u64,
    /// Start and size in 512-byte sectors.
    pub start: u64,
    pub sectors: u64,
    pub disk: Disk,
}

impl Partition {
    /// The device node, e.g. `/dev/vda4`.
    #[cfg(test)]
    pub fn dev_path(&self, dev: &Path) -> PathBuf {
        dev.join(&self.devname)
    }
}

/// `KEY=value` lines of a sysfs uevent file.
pub fn parse_uevent(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn read_number(path: &Path) -> io::Result<u64> {
    let text = std::fs::read_to_string(path)?;
    text.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not a number", path.display()),
        )
    })
}

fn number_field(map: &BTreeMap<String, String>, key: &str) -> Option<u64> {
    map.get(key)?.parse().ok()
}

fn read_disk(dir: &Path) -> io::Result<Disk> {
    let uevent = parse_uevent(&std::fs::read_to_string(dir.join("uevent"))?);
    let name = match uevent.get("DEVNAME") {
        Some(name) => name.clone(),
        None => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    Ok(Disk {
        name,
        major: number_field(&uevent, "MAJOR").unwrap_or(0),
        minor: number_field(&uevent, "MINOR").unwrap_or(0),
        sectors: read_number(&dir.join("size"))?,
        logical_block_size: read_number(&dir.join("queue/logical_block_size")).unwrap_or(512),
    })
}

/// Reads one /sys/class/block entry; `None` when it is not a named partition.
fn read_partition(entry: &Path) -> io::Result<Option<Partition>> {
    let uevent = parse_uevent(&std::fs::read_to_string(entry.join("uevent"))?);
    if uevent.get("DEVTYPE").map(String::as_str) != Some("partition") {
        return Ok(None);
    }
    let (Some(name), Some(devname)) = (uevent.get("PARTNAME"), uevent.get("DEVNAME")) else {
        return Ok(None);
    };
    let real = std::fs::canonicalize(entry)?;
    let Some(disk_dir) = real.parent() else {
        return Ok(None);
    };
    Ok(Some(Partition {
        name: name.clone(),
        devname: devname.clone(),
        number: number_field(&uevent, "PARTN")
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        major: number_field(&uevent, "MAJOR").unwrap_or(0),
        minor: number_field(&uevent, "MINOR").unwrap_or(0),
        start: read_number(&real.join("start"))?,
        sectors: read_number(&real.join("size"))?,
        disk: read_disk(disk_dir)?,
    }))
}

/// Every named partition under `class_block` (normally /sys/class/block),
/// sorted by kernel name. Entries that vanish or cannot be read mid-scan are
/// skipped: devices come and go while disks probe.
pub fn scan(class_block: &Path) -> io::Result<Vec<Partition>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(class_block)? {
        let Ok(entry) = entry else { continue };
        if let Ok(Some(part)) = read_partition(&entry.path()) {
            found.push(part);
        }
    }
    found.sort_by(|a, b| a.devname.cmp(&b.devname));
    Ok(found)
}

/// Picks one partition per name: those on the disk holding `bank` when it is
/// present, otherwise the first of each name.
pub fn select(found: &[Partition], bank: &str) -> BTreeMap<String, Partition> {
    let home = found
        .iter()
        .find(|p| p.name == bank)
        .map(|p| p.disk.name.clone());
    let mut chosen = BTreeMap::new();
    for part in found {
        if !partition::ALL.contains(&part.name.as_str()) {
            continue;
        }
        if let Some(home) = &home {
            if &part.disk.name != home {
                continue;
            }
        }
        chosen
            .entry(part.name.clone())
            .or_insert_with(|| part.clone());
    }
    chosen
}

/// Polls `class_block` every `every` until every partition in [`ALL`] is
/// found (on the bank's disk) or `limit` passes; returns what was found.
pub fn wait_for(
    class_block: &Path,
    bank: &str,
    limit: Duration,
    every: Duration,
) -> BTreeMap<String, Partition> {
    let deadline = Instant::now() + limit;
    loop {
        let chosen = select(&scan(class_block).unwrap_or_default(), bank);
        if partition::ALL.iter().all(|name| chosen.contains_key(*name))
            || Instant::now() >= deadline
        {
            return chosen;
        }
        std::thread::sleep(every);
    }
}

/// Creates the device node for `devname` under `dev` if devtmpfs has not.
pub fn ensure_node(dev: &Path, devname: &str, major: u64, minor: u64) -> io::Result<PathBuf> {
    let path = dev.join(devname);
    if !path.exists() {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        crate::sys::block::make_block_node(&path, major, minor)?;
    }
    Ok(path)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs;

    /// Builds a sysfs-like tree: devices/<disk>/<part> with class/block links.
    pub fn fake_sysfs(root: &Path, disk: &str, major: u64, parts: &[(&str, u64, u64)]) {
        let disk_dir = root.join("devices/pci0/virtio1/block").join(disk);
        fs::create_dir_all(disk_dir.join("queue")).unwrap();
        fs::write(
            disk_dir.join("uevent"),
            format!("MAJOR={major}\nMINOR=0\nDEVNAME={disk}\nDEVTYPE=disk\n"),
        )
        .unwrap();
        fs::write(disk_dir.join("size"), "2097152\n").unwrap();
        fs::write(disk_dir.join("queue/logical_block_size"), "512\n").unwrap();
        let class = root.join("class/block");
        fs::create_dir_all(&class).unwrap();
        std::os::unix::fs::symlink(&disk_dir, class.join(disk)).unwrap();
        for (i, (name, start, size)) in parts.iter().enumerate() {
            let n = i + 1;
            let dev = format!("{disk}{n}");
            let dir = disk_dir.join(&dev);
            fs::create_dir_all(&dir).unwrap();
            fs::write(
                dir.join("uevent"),
                format!("MAJOR={major}\nMINOR={n}\nDEVNAME={dev}\nDEVTYPE=partition\nPARTN={n}\nPARTNAME={name}\n"),
            )
            .unwrap();
            fs::write(dir.join("start"), format!("{start}\n")).unwrap();
            fs::write(dir.join("size"), format!("{size}\n")).unwrap();
            fs::write(dir.join("partition"), format!("{n}\n")).unwrap();
            std::os::unix::fs::symlink(&dir, class.join(&dev)).unwrap();
        }
    }

    fn cairn_parts() -> Vec<(&'static str, u64, u64)> {
        vec![
            (partition::ESP, 2048, 131072),
            (partition::BANK_A, 133120, 393216),
            (partition::BANK_B, 526336, 393216),
            (partition::DATA, 919552, 131072),
        ]
    }

    #[test]
    fn parses_uevent_lines() {
        let map = parse_uevent(&format!(
            "MAJOR=254\nPARTNAME={}\nbroken line\n",
            partition::BANK_A
        ));
        assert_eq!(map.get("MAJOR").unwrap(), "254");
        assert_eq!(map.get("PARTNAME").unwrap(), partition::BANK_A);
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn finds_named_partitions_with_their_disk() {
        let tmp = tempfile::tempdir().unwrap();
        fake_sysfs(tmp.path(), "vda", 254, &cairn_parts());
        let found = scan(&tmp.path().join("class/block")).unwrap();
        assert_eq!(found.len(), 4);
        let data = found.iter().find(|p| p.name == partition::DATA).unwrap();
        assert_eq!(data.devname, "vda4");
        assert_eq!(data.number, 4);
        assert_eq!((data.major, data.minor), (254, 4));
        assert_eq!((data.start, data.sectors), (919552, 131072));
        assert_eq!(data.disk.name, "vda");
        assert_eq!(data.disk.sectors, 2097152);
        assert_eq!(data.disk.logical_block_size, 512);
        assert_eq!(data.dev_path(Path::new("/dev")), PathBuf::from("/dev/vda4"));
    }

    #[test]
    fn prefers_the_disk_that_holds_the_booted_bank() {
        let tmp = tempfile::tempdir().unwrap();
        // vda is a stray disk with only an ESP and a data partition.
        fake_sysfs(
            tmp.path(),
            "vda",
            254,
            &[(partition::ESP, 2048, 100), (partition::DATA, 4096, 100)],
        );
        fake_sysfs(tmp.path(), "vdb", 253, &cairn_parts());
        let found = scan(&tmp.path().join("class/block")).unwrap();
        let chosen = select(&found, partition::BANK_A);
        assert_eq!(chosen.len(), 4);
        assert!(chosen.values().all(|p| p.disk.name == "vdb"));
        // Without the bank, the first of each name is taken.
        let chosen = select(&found, "cairn-x");
        assert_eq!(chosen[partition::ESP].disk.name, "vda");
    }

    #[test]
    fn waiting_gives_up_after_the_limit_with_what_it_found() {
        let tmp = tempfile::tempdir().unwrap();
        fake_sysfs(
            tmp.path(),
            "vda",
            254,
            &[(partition::ESP, 2048, 100), (partition::BANK_A, 4096, 100)],
        );
        let start = Instant::now();
        let chosen = wait_for(
            &tmp.path().join("class/block"),
            partition::BANK_A,
            Duration::from_millis(100),
            Duration::from_millis(20),
        );
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_eq!(
            chosen.keys().collect::<Vec<_>>(),
            vec![partition::BANK_A, partition::ESP]
        );
    }

    #[test]
    fn waiting_returns_at_once_when_everything_is_there() {
        let tmp = tempfile::tempdir().unwrap();
        fake_sysfs(tmp.path(), "vda", 254, &cairn_parts());
        let start = Instant::now();
        let chosen = wait_for(
            &tmp.path().join("class/block"),
            partition::BANK_A,
            Duration::from_secs(10),
            Duration::from_millis(20),
        );
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(chosen.len(), 4);
    }
}
