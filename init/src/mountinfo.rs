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
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsStr::from_bytes(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escaped_spaces_and_keeps_the_rest() {
        assert_eq!(
            unescape_path("/mnt/my\\040disk"),
            PathBuf::from("/mnt/my disk")
        );
        assert_eq!(unescape_path("/a\\134b"), PathBuf::from("/a\\b"));
        assert_eq!(unescape_path("/plain\\x"), PathBuf::from("/plain\\x"));
    }

    #[test]
    fn lists_mount_points() {
        let text = "22 1 0:21 / / rw - rootfs rootfs rw\n\
                    30 22 0:5 / /dev\\040x rw - devtmpfs devtmpfs rw\n";
        let points: Vec<PathBuf> = mount_points(text).collect();
        assert_eq!(points, [PathBuf::from("/"), PathBuf::from("/dev x")]);
    }
}
