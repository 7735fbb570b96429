//! Writing a large stream to a device without piling up dirty pages: the
//! kernel is asked to start writing each window as soon as it is complete,
//! and a writer waits for the window before it, so at most two windows are
//! in memory and the disk works while the writer reads and hashes.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Starts writing `len` bytes at `offset` of `file` to its device, without
/// waiting (`sync_file_range(SYNC_FILE_RANGE_WRITE)`).
pub fn start(file: &File, offset: u64, len: u64) -> io::Result<()> {
    range(file, offset, len, libc::SYNC_FILE_RANGE_WRITE)
}

/// Waits until `len` bytes at `offset` of `file`, whose writing was
/// started, are on the device. Metadata and the device's cache are not
/// covered: an `fsync` still ends the stream.
pub fn wait(file: &File, offset: u64, len: u64) -> io::Result<()> {
    range(
        file,
        offset,
        len,
        libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER,
    )
}

fn range(file: &File, offset: u64, len: u64, flags: libc::c_uint) -> io::Result<()> {
    let offset = libc::off64_t::try_from(offset).map_err(io::Error::other)?;
    let len = libc::off64_t::try_from(len).map_err(io::Error::other)?;
    // SAFETY: the descriptor is open for as long as `file` is borrowed; the
    // call reads no memory of ours.
    let ret = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_written_window_can_be_started_and_waited_for() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[7u8; 1 << 16]).unwrap();
        start(&file, 0, 1 << 16).unwrap();
        wait(&file, 0, 1 << 16).unwrap();
    }

    #[test]
    fn a_descriptor_that_is_no_file_is_an_error() {
        let (reader, _writer) = std::io::pipe().unwrap();
        let file = File::from(std::os::fd::OwnedFd::from(reader));
        assert_eq!(
            start(&file, 0, 4096).unwrap_err().raw_os_error(),
            Some(libc::ESPIPE)
        );
    }
}
