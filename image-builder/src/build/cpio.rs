//! A deterministic newc ("070701") cpio writer, the initramfs format the
//! kernel unpacks: entries sorted with directories first, uid/gid 0, one
//! fixed mtime, inode numbers assigned in order.

use std::collections::BTreeMap;

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
    pub fn to_bytes(&self, mtime: u32) -> Vec<u8> {
        let (dirs, others): (Vec<_>, Vec<_>) = self
            .entries
            .iter()
            .partition(|(_, (_, kind))| *kind == Kind::Dir);
        let mut out = Vec::new();
        for (ino, (path, (perm, kind))) in dirs.into_iter().chain(others).enumerate() {
            let ino = u32::try_from(ino + 1).unwrap_or(u32::MAX);
            let (data, nlink, rdev): (&[u8], u32, (u32, u32)) = match kind {
                Kind::Dir => (&[], 2, (0, 0)),
                Kind::File(content) => (content, 1, (0, 0)),
                Kind::CharDevice { major, minor } => (&[], 1, (*major, *minor)),
                Kind::Symlink(target) => (target.as_bytes(), 1, (0, 0)),
            };
            let header = Header {
                ino,
                mode: kind.type_bits() | perm,
                nlink,
                mtime,
                size: data.len(),
                rdev,
            };
            write_entry(&mut out, &header, path, data);
        }
        let trailer = Header {
            ino: 0,
            mode: 0,
            nlink: 1,
            mtime: 0,
            size: 0,
            rdev: (0, 0),
        };
        write_entry(&mut out, &trailer, TRAILER, &[]);
        out
    }
}

const MAGIC: &str = "070701";
const TRAILER: &str = "TRAILER!!!";
const HEADER_LEN: usize = 110;

struct Header {
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    size: usize,
    rdev: (u32, u32),
}

fn write_entry(out: &mut Vec<u8>, h: &Header, name: &str, data: &[u8]) {
    let fields = [
        h.ino,
        h.mode,
        0, // uid
        0, // gid
        h.nlink,
        h.mtime,
        u32::try_from(h.size).unwrap_or(u32::MAX),
        0, // devmajor
        0, // devminor
        h.rdev.0,
        h.rdev.1,
        u32::try_from(name.len() + 1).unwrap_or(u32::MAX),
        0, // check
    ];
    out.extend_from_slice(MAGIC.as_bytes());
    for field in fields {
        out.extend_from_slice(format!("{field:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

/// Reads a newc archive back (used by tests and by `cairn` to check its work).
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut pos = 0usize;
    loop {
        let header = bytes
            .get(pos..pos + HEADER_LEN)
            .ok_or_else(|| format!("truncated header at {pos}"))?;
        if &header[..6] != MAGIC.as_bytes() {
            return Err(format!("bad magic at {pos}"));
        }
        let field = |i: usize| -> Result<u32, String> {
            let text =
                std::str::from_utf8(&header[6 + i * 8..14 + i * 8]).map_err(|e| e.to_string())?;
            u32::from_str_radix(text, 16).map_err(|e| e.to_string())
        };
        let as_len = |v: u32| usize::try_from(v).map_err(|e| e.to_string());
        let name_len = as_len(field(11)?)?;
        let size = as_len(field(6)?)?;
        let name_start = pos + HEADER_LEN;
        let name = bytes
            .get(name_start..name_start + name_len.saturating_sub(1))
            .ok_or("truncated name")?;
        let name = String::from_utf8_lossy(name).into_owned();
        let data_start = (name_start + name_len).div_ceil(4) * 4;
        let data = bytes
            .get(data_start..data_start + size)
            .ok_or("truncated data")?
            .to_vec();
        pos = (data_start + size).div_ceil(4) * 4;
        if name == TRAILER {
            return Ok(entries);
        }
        let mode = field(1)?;
        let kind = match mode & 0o170000 {
            0o040000 => Kind::Dir,
            0o100000 => Kind::File(data),
            0o020000 => Kind::CharDevice {
                major: field(9)?,
                minor: field(10)?,
            },
            0o120000 => Kind::Symlink(String::from_utf8_lossy(&data).into_owned()),
            other => return Err(format!("{name}: unsupported file type {other:o}")),
        };
        entries.push(Entry {
            path: name,
            mode,
            uid: field(2)?,
            gid: field(3)?,
            mtime: field(5)?,
            ino: field(0)?,
            kind,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let bytes = sample().to_bytes(0);
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
    fn same_content_same_bytes() {
        assert_eq!(sample().to_bytes(7), sample().to_bytes(7));
        assert_ne!(sample().to_bytes(7), sample().to_bytes(8));
    }

    #[test]
    fn layout_is_newc() {
        let mut a = Archive::new();
        a.file("x", 0o644, b"hello".to_vec());
        let bytes = a.to_bytes(0);
        assert!(bytes.starts_with(b"070701"));
        // header + "x\0" padded to 112, then 5 bytes padded to 8.
        assert_eq!(&bytes[110..112], b"x\0");
        assert_eq!(&bytes[112..117], b"hello");
        assert_eq!(bytes.len() % 4, 0);
        let trailer_at = 120;
        assert_eq!(&bytes[trailer_at..trailer_at + 6], b"070701");
        assert_eq!(
            &bytes[trailer_at + HEADER_LEN..trailer_at + HEADER_LEN + 10],
            b"TRAILER!!!"
        );
    }
}
