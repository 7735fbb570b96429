//! The initramfs: a gzip-compressed newc cpio with PID 1 at `/init`, the
//! board's kernel modules, their load order and the board config.

use std::io::Write;
use std::path::Path;

use cairn_layout::initramfs::{self, archive_path};
use flate2::{Compression, GzBuilder};

use super::cpio::Archive;
use super::modules::ModuleFile;
use super::BuildError;

/// Where PID 1 reads the module load order.
pub const MODULES_LIST: &str = archive_path(initramfs::MODULES_LIST);
/// Where PID 1 reads the board config.
pub const BOARD_CONFIG: &str = archive_path(initramfs::BOARD_CONFIG);
/// Mount points PID 1 uses before anything else exists.
const MOUNT_POINTS: [&str; 8] = initramfs::MOUNT_POINTS;

/// What goes into the initramfs.
#[derive(Debug)]
pub struct Contents<'a> {
    pub init: &'a Path,
    pub kernel_release: &'a str,
    pub modules: &'a [ModuleFile],
    pub board_toml: &'a [u8],
    /// Timestamp of every entry (SOURCE_DATE_EPOCH or 0).
    pub mtime: u32,
}

/// The absolute in-image path of a module, as listed in `/etc/cairn/modules`.
pub fn module_path(release: &str, module: &ModuleFile) -> String {
    format!(
        "{}/{release}/{}",
        initramfs::MODULES_DIR,
        module.relative.to_string_lossy()
    )
}

/// The uncompressed cpio archive.
pub fn archive(contents: &Contents<'_>) -> Result<Vec<u8>, BuildError> {
    let read =
        |p: &Path| std::fs::read(p).map_err(BuildError::io(format!("cannot read {}", p.display())));
    let mut archive = Archive::new();
    for dir in MOUNT_POINTS {
        archive.dir(dir);
    }
    // The kernel opens /dev/console for PID 1's stdio before anyone can mount
    // devtmpfs; without this node early output is lost.
    archive.char_device("dev/console", 0o600, 5, 1);
    archive.file(archive_path(initramfs::INIT), 0o755, read(contents.init)?);
    let mut list = String::new();
    for module in contents.modules {
        let path = module_path(contents.kernel_release, module);
        archive.file(&path, 0o644, read(&module.source)?);
        list.push_str(&path);
        list.push('\n');
    }
    archive.file(MODULES_LIST, 0o644, list.into_bytes());
    archive.file(BOARD_CONFIG, 0o644, contents.board_toml.to_vec());
    archive
        .to_bytes(contents.mtime)
        .map_err(BuildError::io("cannot write the initramfs archive"))
}

/// Gzip with no name and a zero timestamp in the header, so equal input
/// gives equal bytes.
pub fn gzip(data: &[u8]) -> Result<Vec<u8>, BuildError> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .operating_system(3)
        .write(Vec::new(), Compression::best());
    encoder
        .write_all(data)
        .map_err(BuildError::io("cannot compress the initramfs"))?;
    encoder
        .finish()
        .map_err(BuildError::io("cannot compress the initramfs"))
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::path::PathBuf;

    use super::*;
    use crate::build::cpio::{parse, Kind};

    #[test]
    fn contains_init_modules_and_console() {
        let dir = std::env::temp_dir().join(format!("cairn-initramfs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let init = dir.join("init");
        std::fs::write(&init, b"init-bytes").unwrap();
        let ko = dir.join("virtio.ko");
        std::fs::write(&ko, b"ko-bytes").unwrap();
        let modules = [ModuleFile {
            name: "virtio".into(),
            relative: PathBuf::from("kernel/drivers/virtio/virtio.ko"),
            source: ko,
        }];
        let contents = Contents {
            init: &init,
            kernel_release: "6.1.0-test",
            modules: &modules,
            board_toml: b"name = \"b\"\n",
            mtime: 0,
        };
        let gz = gzip(&archive(&contents).unwrap()).unwrap();
        assert_eq!(
            gz,
            gzip(&archive(&contents).unwrap()).unwrap(),
            "deterministic"
        );
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut raw)
            .unwrap();
        let entries = parse(&raw).unwrap();
        let get = |p: &str| entries.iter().find(|e| e.path == p).unwrap().clone();
        assert_eq!(get("init").kind, Kind::File(b"init-bytes".to_vec()));
        assert_eq!(get("init").mode, 0o100755);
        assert_eq!(
            get("dev/console").kind,
            Kind::CharDevice { major: 5, minor: 1 }
        );
        assert_eq!(
            get(MODULES_LIST).kind,
            Kind::File(b"/lib/modules/6.1.0-test/kernel/drivers/virtio/virtio.ko\n".to_vec())
        );
        assert_eq!(
            get("lib/modules/6.1.0-test/kernel/drivers/virtio/virtio.ko").kind,
            Kind::File(b"ko-bytes".to_vec())
        );
        for dir in MOUNT_POINTS {
            assert_eq!(get(dir).kind, Kind::Dir, "{dir}");
        }
        // gzip header: no file name flag, zero mtime.
        assert_eq!(gz[3], 0);
        assert_eq!(&gz[4..8], &[0, 0, 0, 0]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
