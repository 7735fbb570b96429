//! Helpers shared by the host tests: the real fsck.fat and mtools, sample
//! contents, and a device that records every sector written.
#![allow(dead_code)]

use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use cairn_fat::{format, Contents, FileSpec, FormatOptions, Volume};

pub const MIB: u64 = 1 << 20;
/// Small enough to be quick, large enough for FAT32 with 512-byte clusters.
pub const SMALL: u64 = 34 * MIB;
pub const EPOCH: u64 = 1_700_000_000;

fn find_tool(name: &str, package: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed, and these tests need the real one: \
                 install it with `apt-get install -y {package}`"
            )
        })
}

/// Writes `image` to a temporary file.
pub fn temp_image(image: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(image).unwrap();
    f.flush().unwrap();
    f
}

/// Runs `fsck.fat -n` on `image`; Ok if it exits 0 and says nothing but its
/// version and summary lines.
pub fn fsck(image: &[u8]) -> Result<(), String> {
    let f = temp_image(image);
    fsck_path(f.path())
}

pub fn fsck_path(path: &Path) -> Result<(), String> {
    let out = Command::new(find_tool("fsck.fat", "dosfstools"))
        .arg("-n")
        .arg(path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let clean = text
        .lines()
        .all(|l| l.starts_with("fsck.fat ") || l.contains(" files, ") && l.contains(" clusters"));
    if out.status.success() && clean {
        Ok(())
    } else {
        Err(format!("fsck.fat -n ({}):\n{text}", out.status))
    }
}

#[track_caller]
pub fn assert_fsck(image: &[u8], context: &str) {
    if let Err(e) = fsck(image) {
        panic!("{context}: {e}");
    }
}

fn mtools(tool: &str, image: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(find_tool(tool, "mtools"))
        .env("MTOOLS_SKIP_CHECK", "1")
        .env("MTOOLS_LOWER_CASE", "0")
        .arg("-i")
        .arg(image)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every path on the volume as mtools sees it (`/`-rooted, directories with
/// a trailing `/`), sorted.
pub fn mtools_paths(image: &Path) -> Vec<String> {
    let out = mtools("mdir", image, &["-/", "-b", "-a", "::/"]);
    let mut paths: Vec<String> = String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.trim_start_matches("::").to_string())
        .collect();
    paths.sort();
    paths
}

/// A file's bytes as mtools reads them.
pub fn mtools_read(image: &Path, path: &str) -> Vec<u8> {
    mtools("mtype", image, &[&format!("::{path}")])
}

/// Deterministic pseudo-random bytes.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub const ENTRY_1: &str = "loader/entries/cairn-0000000001-1.0.0.conf";
pub const ENTRY_2: &str = "loader/entries/cairn-0000000002-1.2.0+3-0.conf";
pub const KERNEL_1: &str = "cairn/0000000001-1.0.0/linux";
pub const KERNEL_2: &str = "cairn/0000000002-1.2.0/linux";

/// The data of the sample volume's files.
pub struct Sample {
    pub files: Vec<(String, Vec<u8>, Option<u64>, bool)>,
    pub dirs: Vec<String>,
}

impl Sample {
    pub fn new() -> Sample {
        let mut files: Vec<(String, Vec<u8>, Option<u64>, bool)> = vec![
            (
                "EFI/BOOT/BOOTX64.EFI".into(),
                bytes(1, 100_000),
                None,
                false,
            ),
            (
                "loader/loader.conf".into(),
                b"timeout 0\neditor no\n".to_vec(),
                None,
                false,
            ),
            (
                ENTRY_1.into(),
                b"title Cairn 1.0.0\nlinux /cairn/0000000001-1.0.0/linux\n".to_vec(),
                None,
                true,
            ),
            (
                ENTRY_2.into(),
                b"title Cairn 1.2.0\nlinux /cairn/0000000002-1.2.0/linux\n".to_vec(),
                None,
                true,
            ),
            (KERNEL_1.into(), bytes(2, 300_000), Some(MIB), false),
            (
                "cairn/0000000001-1.0.0/initrd".into(),
                bytes(3, 200_000),
                None,
                false,
            ),
            (KERNEL_2.into(), bytes(4, 310_000), Some(MIB), false),
            (
                "cairn/0000000002-1.2.0/initrd".into(),
                bytes(5, 1),
                None,
                false,
            ),
            ("empty".into(), Vec::new(), None, false),
            ("ReadMe.TXT".into(), b"mixed case".to_vec(), None, false),
            ("notes.txt".into(), b"lowercase 8.3".to_vec(), None, false),
            ("UPPER.TXT".into(), b"uppercase 8.3".to_vec(), None, false),
            (
                "h\u{e9}llo w\u{f6}rld.txt".into(),
                b"unicode".to_vec(),
                None,
                false,
            ),
            ("a name with spaces".into(), b"spaces".to_vec(), None, false),
        ];
        for i in 0..12 {
            files.push((
                format!("same/longfilename-{i}.txt"),
                format!("file {i}").into_bytes(),
                None,
                false,
            ));
        }
        // A directory of several clusters.
        for i in 0..60 {
            files.push((
                format!("many/file number {i:03} with a long name.bin"),
                bytes(100 + i, (i as usize) * 37),
                None,
                i % 7 == 0,
            ));
        }
        Sample {
            files,
            dirs: vec!["empty-dir".into(), "deep/er/and/deeper".into()],
        }
    }

    pub fn contents(&self) -> Contents<'_> {
        let mut c = Contents::new();
        for d in &self.dirs {
            c.dir(d);
        }
        for (path, data, reserve, alone) in &self.files {
            let mut spec = FileSpec::new(path, data);
            if let Some(r) = reserve {
                spec = spec.reserve(*r);
            }
            if *alone {
                spec = spec.alone_in_sector();
            }
            c.add(spec);
        }
        c
    }

    /// A file's expected contents on the volume (reserved space is zeros).
    pub fn expected(&self, path: &str) -> Option<Vec<u8>> {
        self.files.iter().find(|f| f.0 == path).map(|(_, d, r, _)| {
            let mut v = d.clone();
            if let Some(r) = r {
                v.resize(*r as usize, 0);
            }
            v
        })
    }
}

pub fn options(size: u64) -> FormatOptions {
    FormatOptions::new(size, 0xCA1B_0001, "CAIRN-ESP", EPOCH)
}

/// The sample volume, formatted into a `Vec`.
pub fn sample_image(size: u64) -> Vec<u8> {
    let sample = Sample::new();
    let mut out = Cursor::new(Vec::new());
    format(&mut out, &options(size), &sample.contents()).unwrap();
    let image = out.into_inner();
    assert_eq!(image.len() as u64, size);
    image
}

pub fn open(image: Vec<u8>) -> Volume<Cursor<Vec<u8>>> {
    Volume::open(Cursor::new(image)).unwrap()
}

/// A device that logs every sector written (offset, bytes), and checks each
/// write is whole, aligned sectors.
#[derive(Debug)]
pub struct Recorder {
    pub inner: Cursor<Vec<u8>>,
    pub log: Vec<(u64, Vec<u8>)>,
}

impl Recorder {
    pub fn new(image: Vec<u8>) -> Self {
        Recorder {
            inner: Cursor::new(image),
            log: Vec::new(),
        }
    }
}

impl Read for Recorder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Seek for Recorder {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.inner.seek(to)
    }
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let at = self.inner.position();
        assert_eq!(at % 512, 0, "a write at {at} is not sector aligned");
        assert_eq!(
            buf.len() % 512,
            0,
            "a write of {} bytes is not whole sectors",
            buf.len()
        );
        for (i, sector) in buf.chunks(512).enumerate() {
            self.log.push((at / 512 + i as u64, sector.to_vec()));
        }
        self.inner.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `image` with the first `n` logged sector writes applied.
pub fn apply(image: &[u8], log: &[(u64, Vec<u8>)], n: usize) -> Vec<u8> {
    let mut out = image.to_vec();
    for (sector, data) in &log[..n] {
        let at = *sector as usize * 512;
        out[at..at + 512].copy_from_slice(data);
    }
    out
}
