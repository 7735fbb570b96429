//! `cairn run DIR|MANIFEST [--offset N]`: boots a built image, or builds a
//! manifest first, in QEMU (see `cairn_image_builder::run`).

use std::path::PathBuf;
use std::process::ExitCode;

use cairn_image_builder::run::{run, RunOptions};

/// `cairn run TARGET`
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// A built image directory (holding disk.img), or a system.toml to build first.
    pub target: PathBuf,
    /// Add N to every host port (the guest's ports stay as declared).
    #[arg(long)]
    pub offset: Option<u16>,
    /// Board config (default: the one the image was built for).
    #[arg(long)]
    pub board: Option<PathBuf>,
    /// Where to build when TARGET is a manifest (default: .cairn/build beside it).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `cairn run`.
pub fn main(args: RunArgs) -> ExitCode {
    super::exit_code(run(&RunOptions {
        target: args.target,
        offset: args.offset,
        board: args.board,
        out: args.out,
    }))
}
