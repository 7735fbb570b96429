//! The update records on the data partition (see [`cairn_update::record`]),
//! and how PID 1 writes them: durably, replacing the file whole.

use std::io;
use std::path::Path;

pub use cairn_update::record::{Record, Side};

/// Writes `record` to `path` durably.
pub fn save(record: &Record, path: &Path) -> io::Result<()> {
    cairn_sys::fs::write_atomically(path, record.render().as_bytes())
}
