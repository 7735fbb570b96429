//! Reading `/proc/self/mountinfo`, whose paths escape space, tab, newline and
//! backslash as three octal digits (`\040`).

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The mount point (fifth field) of each line of a mountinfo text.
pub fn mount_points(mountinfo: &str) -> impl Iterator<Item = PathBuf> + '_ {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_path)
}

/// Decodes the octal escapes of a path field. Bytes that are not part of a
/// valid escape are kept as they are.
pub fn unescape_path(field: &str) -> PathBuf {
    let mut out = Vec::with_capacity(field.len());
    let mut rest = field.as_bytes();
    while let Some((&byte, after)) = rest.split_first() {
        // The byte three octal digits name, and what follows them.
        let escape = after.split_first_chunk::<3>().and_then(|(digits, tail)| {
            let text = std::str::from_utf8(digits).ok()?;
            Some((u8::from_str_radix(text, 8).ok()?, tail))
        });
        match (byte, escape) {
            (b'\\', Some((decoded, tail))) => {
                out.push(decoded);
                rest = tail;
            }
            _ => {
                out.push(byte);
                rest = after;
            }
        }
    }
    PathBuf::from(std::ffi::OsStr::from_bytes(&out))
}

/// The filesystem type mounted at `/` (the topmost of the mounts there).
pub fn root_fstype(mountinfo: &str) -> Option<&str> {
    mountinfo
        .lines()
        .filter(|line| line.split(' ').nth(4) == Some("/"))
        .filter_map(|line| line.split_once(" - ")?.1.split(' ').next())
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_filesystem_type_is_the_topmost_at_slash() {
        let initramfs = "1 0 0:1 / / rw - rootfs rootfs rw\n2 1 0:2 / /proc rw - proc proc rw\n";
        assert_eq!(root_fstype(initramfs), Some("rootfs"));
        let host = "20 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
                    21 20 0:5 / /dev rw - devtmpfs udev rw\n\
                    30 20 0:40 / / rw - overlay overlay rw\n";
        assert_eq!(root_fstype(host), Some("overlay"));
        assert_eq!(root_fstype(""), None);
    }

    #[test]
    fn decodes_escaped_spaces_and_keeps_the_rest() {
        assert_eq!(
            unescape_path("/mnt/my\\040disk"),
            PathBuf::from("/mnt/my disk")
        );
        assert_eq!(unescape_path("/a\\134b"), PathBuf::from("/a\\b"));
        assert_eq!(unescape_path("/plain\\x"), PathBuf::from("/plain\\x"));
        // Cut short or out of range: kept as they are.
        assert_eq!(unescape_path("/end\\04"), PathBuf::from("/end\\04"));
        assert_eq!(unescape_path("\\"), PathBuf::from("\\"));
        assert_eq!(unescape_path("/big\\777"), PathBuf::from("/big\\777"));
        assert_eq!(unescape_path("\\0401"), PathBuf::from(" 1"));
    }

    #[test]
    fn lists_mount_points() {
        let text = "22 1 0:21 / / rw - rootfs rootfs rw\n\
                    30 22 0:5 / /dev\\040x rw - devtmpfs devtmpfs rw\n";
        let points: Vec<PathBuf> = mount_points(text).collect();
        assert_eq!(points, [PathBuf::from("/"), PathBuf::from("/dev x")]);
    }
}
