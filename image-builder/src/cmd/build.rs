//! `cairn build --out DIR [--board FILE] [--build N] [--update-lock | --locked] MANIFEST`: a
//! reproducible disk image and its signed update bundle from a manifest
//! (see `cairn_image_builder::build`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use cairn_image_builder::build::{build, BuildOptions, LockMode};

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// The manifest to build.
    pub manifest: PathBuf,
    /// Output directory: disk.img, update.cairn, inventory.json, system.toml, board.toml.
    #[arg(long)]
    pub out: PathBuf,
    /// Board config (default: board-configs/qemu-x86_64.toml).
    #[arg(long)]
    pub board: Option<PathBuf>,
    /// The PID 1 binary (default: $CAIRN_INIT, then cairn-init beside cairn).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// The in-image services' binary (default: $CAIRN_CONTROL, then cairn-control beside cairn).
    #[arg(long)]
    pub control: Option<PathBuf>,
    /// The project's keys (default: .cairn beside the manifest, made by the first build).
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// The build number (default: the content's number in .cairn/builds, or the next one).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=9_999_999_999))]
    pub build: Option<u64>,
    /// Download cache (default: $CAIRN_CACHE, then $XDG_CACHE_HOME/cairn or ~/.cache/cairn).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Resolve the kernel and systemd-boot afresh, move cairn.lock (beside the
    /// manifest) to them and print what changed; without it, builds take
    /// exactly the versions the lock pins.
    #[arg(long, conflicts_with = "locked")]
    pub update_lock: bool,
    /// Build only from what cairn.lock pins: no lock, or a package it does not
    /// pin, is an error instead of being resolved (for CI).
    #[arg(long)]
    pub locked: bool,
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
        control_binary: args.control.clone(),
        keys_dir: args.keys.clone(),
        build_number: args.build,
        cache_dir: args.cache.clone(),
        lock_file: None,
        lock_mode: match (args.update_lock, args.locked) {
            (true, _) => LockMode::Update,
            (_, true) => LockMode::Locked,
            _ => LockMode::Follow,
        },
        progress: true,
    })
    .with_context(|| format!("cannot build {}", args.manifest.display()))?;
    Ok(())
}
