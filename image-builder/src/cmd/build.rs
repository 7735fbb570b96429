//! `cairn build --out DIR [--board FILE] MANIFEST`: a reproducible disk image
//! from a manifest (see `cairn_image_builder::build`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use cairn_image_builder::build::{build, BuildOptions};

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// The manifest to build.
    pub manifest: PathBuf,
    /// Output directory: disk.img, inventory.json, system.toml, board.toml.
    #[arg(long)]
    pub out: PathBuf,
    /// Board config (default: board-configs/qemu-x86_64.toml).
    #[arg(long)]
    pub board: Option<PathBuf>,
    /// The PID 1 binary (default: $CAIRN_INIT, then cairn-init beside cairn).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Download cache (default: $CAIRN_CACHE, then $XDG_CACHE_HOME/cairn or ~/.cache/cairn).
    #[arg(long)]
    pub cache: Option<PathBuf>,
}

/// Runs `cairn build`.
pub fn main(args: &BuildArgs) -> ExitCode {
    super::exit_code(run_build(args))
}

fn run_build(args: &BuildArgs) -> anyhow::Result<()> {
    build(&BuildOptions {
        manifest: args.manifest.clone(),
        out_dir: args.out.clone(),
        board: args.board.clone(),
        init_binary: args.init.clone(),
        cache_dir: args.cache.clone(),
        progress: true,
    })
    .with_context(|| format!("cannot build {}", args.manifest.display()))?;
    Ok(())
}
