//! finit_module(2): loads a kernel module from an open file.
//!
//! finit_module lets the kernel read the module itself (and check its
//! signature against the file), so PID 1 never copies module images into
//! memory.

use std::fs::File;
use std::io;

use cairn_sys::io_err;

/// Loads the module in `file` with no parameters. `EEXIST` (already loaded or
/// built in) is returned as an error like any other; callers decide.
pub fn load_module(file: &File) -> io::Result<()> {
    nix::kmod::finit_module(file, c"", nix::kmod::ModuleInitFlags::empty()).map_err(io_err)
}
