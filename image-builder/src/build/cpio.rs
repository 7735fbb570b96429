//! A deterministic newc ("070701") cpio archive, the initramfs format the
//! kernel unpacks: entries sorted with directories first, uid/gid 0, one
//! fixed mtime, inode numbers assigned in order. The `cpio` crate writes and
//! reads the format; this module decides what goes in and in which order.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use cpio::newc;

/// What an archive entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    CharDevice { major: u32, minor: u32 },
    Symlink(String),
}

impl Kind {
    fn type_bits(&self) -> u32 {
        match self {
            Kind::Dir => 0o040000,
            Kind::File(_) => 0o100000,
            Kind::CharDevice { .. } => 0o020000,
            Kind::Symlink(_) => 0o120000,
        }
    }
}

/// One entry as read back by [`parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    /// Full `st_mode` (type and permission bits).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    pub ino: u32,
    pub kind: Kind,
}

/// An archive being assembled; paths are relative (`init`, `dev/console`).
#[derive(Debug, Default)]
pub struct Archive {
    entries: BTreeMap<String, (u32, Kind)>,
}

impl Archive {
    pub fn new() -> Archive {
        Archive::default()
    }

    /// Adds a directory and its parents (0755).
    pub fn dir(&mut self, path: &str) {
        let path = path.trim_matches('/');
        if path.is_empty() {
            return;
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
        self.entries
            .entry(path.to_string())
            .or_insert((0o755, Kind::Dir));
    }

    /// Adds a regular file (creating its parent directories).
    pub fn file(&mut self, path: &str, permissions: u32, content: Vec<u8>) {
        self.insert(path, permissions, Kind::File(content));
    }

    /// Adds a character device node (no root needed: it is only bytes here).
    pub fn char_device(&mut self, path: &str, permissions: u32, major: u32, minor: u32) {
        self.insert(path, permissions, Kind::CharDevice { major, minor });
    }

    fn insert(&mut self, path: &str, permissions: u32, kind: Kind) {
        let path = path.trim_matches('/');
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
        self.entries
            .insert(path.to_string(), (permissions & 0o7777, kind));
    }

    /// The archive's bytes: directories first (sorted, so parents precede
    /// children), then everything else sorted, then the trailer.
    pub fn to_bytes(&self, mtime: u32) -> io::Result<Vec<u8>> {
        let (dirs, others): (Vec<_>, Vec<_>) = self
            .entries
            .iter()
            .partition(|(_, (_, kind))| *kind == Kind::Dir);
        let mut out = Vec::new();
        for (ino, (path, (perm, kind))) in (1u32..).zip(dirs.into_iter().chain(others)) {
            let (data, nlink, (major, minor)): (&[u8], u32, (u32, u32)) = match kind {
                Kind::Dir => (&[], 2, (0, 0)),
                Kind::File(content) => (content, 1, (0, 0)),
                Kind::CharDevice { major, minor } => (&[], 1, (*major, *minor)),
                Kind::Symlink(target) => (target.as_bytes(), 1, (0, 0)),
            };
            let size = u32::try_from(data.len())
                .map_err(|_| io::Error::other(format!("{path} is over 4 GiB")))?;
            let mut writer = newc::Builder::new(path)
                .ino(ino)
                .mode(kind.type_bits() | perm)
                .uid(0)
                .gid(0)
                .nlink(nlink)
                .mtime(mtime)
                .rdev_major(major)
                .rdev_minor(minor)
                .write(&mut out, size);
            writer.write_all(data)?;
            writer.finish()?;
        }
        newc::trailer(&mut out)?;
        Ok(out)
    }
}

/// Reads a newc archive back (used by tests to check the builder's work).
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut rest = bytes;
    loop {
        let mut reader = newc::Reader::new(rest).map_err(|e| e.to_string())?;
        let entry = reader.entry().clone();
        if entry.is_trailer() {
            return Ok(entries);
        }
        let mut data = Vec::new();
        reader.read_to_end(&mut data).map_err(|e| e.to_string())?;
        rest = reader.finish().map_err(|e| e.to_string())?;
        let kind = match entry.mode() & 0o170000 {
            0o040000 => Kind::Dir,
            0o100000 => Kind::File(data),
            0o020000 => Kind::CharDevice {
                major: entry.rdev_major(),
                minor: entry.rdev_minor(),
            },
            0o120000 => Kind::Symlink(String::from_utf8_lossy(&data).into_owned()),
            other => return Err(format!("{}: unsupported file type {other:o}", entry.name())),
        };
        entries.push(Entry {
            path: entry.name().to_string(),
            mode: entry.mode(),
            uid: entry.uid(),
            gid: entry.gid(),
            mtime: entry.mtime(),
            ino: entry.ino(),
            kind,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN_SHA256: &str = "bb872618ac0be7a3e57b35785736517b47e1f2c1383f1da1f179187f1cf6cb4c";

    fn sample() -> Archive {
        let mut a = Archive::new();
        a.file("init", 0o755, b"#!init".to_vec());
        a.file("etc/x/modules", 0o644, b"a\nb\n".to_vec());
        a.char_device("dev/console", 0o600, 5, 1);
        a.dir("proc");
        a
    }

    #[test]
    fn round_trips_with_directories_first() {
        let bytes = sample().to_bytes(0).unwrap();
        let entries = parse(&bytes).unwrap();
        let paths: Vec<_> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "dev",
                "etc",
                "etc/x",
                "proc",
                "dev/console",
                "etc/x/modules",
                "init"
            ]
        );
        let init = entries.iter().find(|e| e.path == "init").unwrap();
        assert_eq!(init.mode, 0o100755);
        assert_eq!(init.kind, Kind::File(b"#!init".to_vec()));
        let console = entries.iter().find(|e| e.path == "dev/console").unwrap();
        assert_eq!(console.kind, Kind::CharDevice { major: 5, minor: 1 });
        assert_eq!(console.mode, 0o020600);
        assert!(entries
            .iter()
            .all(|e| e.uid == 0 && e.gid == 0 && e.mtime == 0));
        let inos: Vec<_> = entries.iter().map(|e| e.ino).collect();
        assert_eq!(inos, (1..=7).collect::<Vec<_>>());
    }

    #[test]
    fn the_bytes_are_those_of_the_writer_this_replaced() {
        // A fixed archive, written before the `cpio` crate took over, kept as
        // its length and the sha256 of its bytes: the crate must keep every
        // initramfs byte-identical, or images would change with it.
        let mut a = Archive::new();
        a.file("init", 0o755, b"#!init".to_vec());
        a.file("etc/x/modules", 0o644, b"a\nb\n".to_vec());
        a.char_device("dev/console", 0o600, 5, 1);
        a.dir("proc");
        a.file("lib/modules/6.1/kernel/x.ko", 0o644, vec![7u8; 1001]);
        let bytes = a.to_bytes(1234).unwrap();
        assert_eq!(bytes.len(), 2612);
        assert_eq!(crate::build::hash::sha256_hex(&bytes), GOLDEN_SHA256);
    }

    #[test]
    fn same_content_same_bytes() {
        assert_eq!(sample().to_bytes(7).unwrap(), sample().to_bytes(7).unwrap());
        assert_ne!(sample().to_bytes(7).unwrap(), sample().to_bytes(8).unwrap());
    }

    #[test]
    fn layout_is_newc() {
        let mut a = Archive::new();
        a.file("x", 0o644, b"hello".to_vec());
        let bytes = a.to_bytes(0).unwrap();
        assert!(bytes.starts_with(b"070701"));
        // header + "x\0" padded to 112, then 5 bytes padded to 8.
        assert_eq!(&bytes[110..112], b"x\0");
        assert_eq!(&bytes[112..117], b"hello");
        assert_eq!(bytes.len() % 4, 0);
        let trailer_at = 120;
        assert_eq!(&bytes[trailer_at..trailer_at + 6], b"070701");
        assert_eq!(
            &bytes[trailer_at + 110..trailer_at + 110 + 10],
            b"TRAILER!!!"
        );
    }
}
