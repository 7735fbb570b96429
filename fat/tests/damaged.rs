//! Damaged volumes give errors, never panics: a table of known damage, and
//! random byte flips of a small volume's metadata.

mod common;

use std::collections::HashMap;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};

use cairn_fat::{FatError, Volume};
use common::*;

/// Byte offset of the 8.3 slot named `raw` (11 bytes, space padded).
fn slot_of(image: &[u8], raw: &[u8; 11]) -> usize {
    (0..image.len() / 32)
        .map(|i| i * 32)
        .find(|&at| &image[at..at + 11] == raw && image[at + 11] & 0x3F != 0x0F)
        .unwrap_or_else(|| panic!("no slot {}", String::from_utf8_lossy(raw)))
}

fn first_cluster_at(image: &[u8], slot: usize) -> u32 {
    u32::from(u16::from_le_bytes([image[slot + 26], image[slot + 27]]))
        | u32::from(u16::from_le_bytes([image[slot + 20], image[slot + 21]])) << 16
}

fn set_first_cluster(image: &mut [u8], slot: usize, cluster: u32) {
    image[slot + 26..slot + 28].copy_from_slice(&(cluster as u16).to_le_bytes());
    image[slot + 20..slot + 22].copy_from_slice(&((cluster >> 16) as u16).to_le_bytes());
}

/// Sets FAT 0's entry of `cluster` (FAT 0 starts at sector 32).
fn set_fat(image: &mut [u8], cluster: u32, value: u32) {
    let at = 32 * 512 + cluster as usize * 4;
    image[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn sample() -> Vec<u8> {
    sample_image(SMALL)
}

type Damage = fn(&mut Vec<u8>);
type Op = fn(&mut Volume<Cursor<Vec<u8>>>) -> Result<(), FatError>;

#[test]
fn known_damage_gives_errors() {
    let cases: Vec<(&str, Damage, Op, &str)> = vec![
        ("empty device", |i| i.clear(), |_| Ok(()), "Truncated"),
        (
            "shorter than a sector",
            |i| i.truncate(511),
            |_| Ok(()),
            "Truncated",
        ),
        (
            "only the boot sector",
            |i| i.truncate(512),
            |_| Ok(()),
            "Truncated",
        ),
        (
            "cut in half",
            |i| i.truncate(SMALL as usize / 2),
            |_| Ok(()),
            "Truncated",
        ),
        (
            "garbage boot sector",
            |i| i[..512].copy_from_slice(&bytes(5, 512)),
            |_| Ok(()),
            "BootSector",
        ),
        (
            "zeroed boot sector",
            |i| i[..512].fill(0),
            |_| Ok(()),
            "BootSector",
        ),
        (
            "FAT entry outside the volume",
            |i| {
                let c = first_cluster_at(i, slot_of(i, b"LINUX      "));
                set_fat(i, c, 0x0100_0000);
            },
            |v| v.read_file(KERNEL_1, u64::MAX).map(drop),
            "ClusterOutOfRange",
        ),
        (
            "free cluster inside a chain",
            |i| {
                let c = first_cluster_at(i, slot_of(i, b"LINUX      "));
                set_fat(i, c + 3, 0);
            },
            |v| v.overwrite(KERNEL_1, b"new"),
            "ChainBroken",
        ),
        (
            "bad cluster inside a chain",
            |i| {
                let c = first_cluster_at(i, slot_of(i, b"LINUX      "));
                set_fat(i, c, 0x0FFF_FFF7);
            },
            |v| v.extents(KERNEL_1).map(drop),
            "ChainBroken",
        ),
        (
            "chain loop in a file",
            |i| {
                let c = first_cluster_at(i, slot_of(i, b"LINUX      "));
                set_fat(i, c + 10, c);
            },
            |v| v.read_file(KERNEL_1, u64::MAX).map(drop),
            "ChainTooLong",
        ),
        (
            "chain loop in a directory",
            |i| {
                let c = first_cluster_at(i, slot_of(i, b"MANY       "));
                set_fat(i, c + 1, c);
            },
            |v| v.list("many").map(drop),
            "DirectoryTooLarge",
        ),
        (
            "root directory chain loop",
            |i| set_fat(i, 2, 2),
            |v| v.list("/").map(drop),
            "DirectoryTooLarge",
        ),
        (
            "directory pointing at its parent",
            |i| {
                let er = first_cluster_at(i, slot_of(i, b"ER         "));
                let deep = first_cluster_at(i, slot_of(i, b"DEEP       "));
                let and = slot_of(i, b"AND        ");
                assert_eq!(first_cluster_at(i, and), er + 1);
                set_first_cluster(i, and, deep);
            },
            |v| v.list("deep/er/and/er/and").map(drop),
            "DirectoryLoop",
        ),
        (
            "directory pointing at the root",
            |i| {
                let deep = slot_of(i, b"DEEP       ");
                set_first_cluster(i, deep, 2);
            },
            |v| v.list("deep").map(drop),
            "DirectoryLoop",
        ),
        (
            "directory entry outside the volume",
            |i| {
                let deep = slot_of(i, b"DEEP       ");
                set_first_cluster(i, deep, 0x0FFF_FFFF);
            },
            |v| v.list("deep").map(drop),
            "ClusterOutOfRange",
        ),
        (
            "size longer than the chain",
            |i| {
                let s = slot_of(i, b"LINUX      ");
                i[s + 28..s + 32].copy_from_slice(&(2 * MIB as u32).to_le_bytes());
            },
            |v| v.read_file(KERNEL_1, u64::MAX).map(drop),
            "SizeChainMismatch",
        ),
        (
            "size beyond the chain for a rename",
            |_| {},
            |v| v.rename(KERNEL_1, "linux", Some(MIB + 1)).map(drop),
            "SizeDoesNotFitChain",
        ),
        (
            "a file where a directory should be",
            |_| {},
            |v| v.list("empty").map(drop),
            "NotADirectory",
        ),
        (
            "reading more than allowed",
            |_| {},
            |v| v.read_file(KERNEL_1, 1000).map(drop),
            "FileTooLarge",
        ),
    ];
    for (what, damage, op, want) in cases {
        let mut image = sample();
        damage(&mut image);
        let result = Volume::open(Cursor::new(image)).and_then(|mut v| op(&mut v));
        let err = match result {
            Err(e) => e,
            Ok(()) => panic!("{what}: no error"),
        };
        let name = format!("{err:?}");
        assert!(name.starts_with(want), "{what}: expected {want}, got {err}");
        // Every message says where.
        assert!(!err.to_string().is_empty());
        eprintln!("{what}: {err}");
    }
}

/// A device over a borrowed image whose writes go to an overlay of
/// sectors, so each fuzz round starts from the same bytes without copying
/// 34 MiB. The crate reads and writes whole, aligned sectors only.
struct Overlay<'a> {
    base: &'a [u8],
    written: HashMap<u64, Vec<u8>>,
    pos: u64,
}

impl Read for Overlay<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let start = self.pos as usize;
        let n = buf.len().min(self.base.len().saturating_sub(start));
        assert!(
            start.is_multiple_of(512) && n.is_multiple_of(512),
            "unaligned read at {start}"
        );
        for (i, chunk) in buf[..n].chunks_mut(512).enumerate() {
            let at = start + i * 512;
            match self.written.get(&(at as u64 / 512)) {
                Some(sector) => chunk.copy_from_slice(sector),
                None => chunk.copy_from_slice(&self.base[at..at + 512]),
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for Overlay<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pos as usize + buf.len() > self.base.len() {
            return Err(io::Error::other("past the end"));
        }
        assert!(
            self.pos.is_multiple_of(512) && buf.len().is_multiple_of(512),
            "unaligned write"
        );
        for (i, chunk) in buf.chunks(512).enumerate() {
            self.written
                .insert(self.pos / 512 + i as u64, chunk.to_vec());
        }
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Overlay<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(n) => n,
            SeekFrom::End(d) => (self.base.len() as i64 + d) as u64,
            SeekFrom::Current(d) => (self.pos as i64 + d) as u64,
        };
        Ok(self.pos)
    }
}

/// Everything a caller may do, errors ignored: only a panic fails.
/// Returns how many files it got to read.
fn exercise(image: &[u8]) -> usize {
    let dev = Overlay {
        base: image,
        written: HashMap::new(),
        pos: 0,
    };
    let Ok(mut vol) = Volume::open(dev) else {
        return 0;
    };
    let _ = vol.dirty_state();
    let mut dirs = vec![(String::new(), 0)];
    let mut files = Vec::new();
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(list) = vol.list(&dir) else { continue };
        for e in list.into_iter().take(100) {
            let path = format!("{dir}/{}", e.name);
            if e.is_dir && depth < 5 {
                dirs.push((path, depth + 1));
            } else if files.len() < 40 {
                files.push(path);
            }
        }
    }
    for (i, f) in files.iter().enumerate() {
        let _ = vol.read_file(f, 2 * MIB);
        let _ = vol.extents(f);
        match i % 4 {
            0 => drop(vol.rename(f, "renamed by the fuzzer.conf", Some(100))),
            1 => drop(vol.overwrite(f, b"new")),
            2 => drop(vol.write_head(f, b"head")),
            _ => drop(vol.rename(f, "x.y", None)),
        }
    }
    files.len()
}

#[test]
fn random_byte_flips_never_panic() {
    let mut image = sample();
    // Where the metadata is: reserved sectors, both FATs, then the
    // directories, which the formatter puts first among the clusters.
    let fat_sectors = u32::from_le_bytes(image[36..40].try_into().unwrap()) as usize;
    let metadata = (32 + 2 * fat_sectors + 400) * 512;
    assert!(
        exercise(&image) >= 40,
        "the undamaged volume is not exercised"
    );
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // CAIRN_FAT_FUZZ_ROUNDS runs longer, by hand.
    let rounds = std::env::var("CAIRN_FAT_FUZZ_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 300 } else { 3000 });
    let mut reached = 0;
    for _ in 0..rounds {
        let flips = 1 + (next() % 8) as usize;
        let mut saved = Vec::new();
        for _ in 0..flips {
            let at = match next() % 10 {
                // The boot sector, the FAT's first sector, and anywhere in
                // the metadata.
                0 => (next() % 512) as usize,
                1 => 32 * 512 + (next() % 512) as usize,
                _ => (next() % metadata as u64) as usize,
            };
            saved.push((at, image[at]));
            image[at] = next() as u8;
        }
        reached += exercise(&image);
        for (at, b) in saved.into_iter().rev() {
            image[at] = b;
        }
    }
    // Most flips leave a volume that opens: the files were really exercised.
    assert!(
        reached > rounds * 10,
        "only {reached} files reached in {rounds} rounds"
    );
}
