//! The initramfs of a version: PID 1 and what it needs before a bank is
//! mounted. Paths are absolute, as PID 1 sees them; the builder writes them
//! without the leading `/`.

/// PID 1 itself.
pub const INIT: &str = "/init";
/// The module files to load, one path per line, dependencies first.
pub const MODULES_LIST: &str = "/etc/cairn/modules";
/// The board config the image was built for.
pub const BOARD_CONFIG: &str = "/etc/cairn/board.toml";
/// Where the kernel modules are, under their kernel release.
pub const MODULES_DIR: &str = "/lib/modules";
/// Mount points PID 1 uses before anything else exists.
pub const MOUNT_POINTS: [&str; 8] = ["dev", "proc", "sys", "run", "tmp", "etc", "bank", "data"];

/// `path` as written into the archive (without its leading `/`).
pub const fn archive_path(path: &str) -> &str {
    match path.as_bytes() {
        [b'/', rest @ ..] => match std::str::from_utf8(rest) {
            Ok(relative) => relative,
            Err(_) => path,
        },
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_are_relative() {
        assert_eq!(archive_path(MODULES_LIST), "etc/cairn/modules");
        assert!(MOUNT_POINTS.contains(&archive_path(crate::bank::MOUNT_POINT)));
        assert!(MOUNT_POINTS.contains(&archive_path(crate::data::MOUNT_POINT)));
    }
}
