//! `cairn`: build a Cairn disk image from a manifest, boot one in QEMU, or
//! run a manifest's apps on this machine.

mod dev;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use cairn_image_builder::build::{build, BuildError, BuildOptions};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "cairn",
    version,
    about = "Build and boot Cairn appliance images"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Build a reproducible GPT disk image from a system.toml.
    Build(BuildArgs),
    /// Boot a built image (or a system.toml, built first) in QEMU.
    Run(cairn_image_builder::run::RunArgs),
    /// Show when the manifest's jobs will run, in each job's zone and in UTC.
    Schedule(cairn_image_builder::schedule_cmd::ScheduleArgs),
    /// Print the logs kept on a machine's disk (after `cairn run`, or a disk image).
    Logs(cairn_image_builder::logs_cmd::LogsArgs),
    /// Run a manifest's apps on this machine, sandboxed as on a booted system.
    Dev(dev::DevArgs),
}

#[derive(clap::Args, Debug)]
struct BuildArgs {
    /// The manifest to build.
    manifest: PathBuf,
    /// Output directory: disk.img, inventory.json, system.toml, board.toml.
    #[arg(long)]
    out: PathBuf,
    /// Board config (default: board-configs/qemu-x86_64.toml).
    #[arg(long)]
    board: Option<PathBuf>,
    /// The PID 1 binary (default: $CAIRN_INIT, then cairn-init beside cairn).
    #[arg(long)]
    init: Option<PathBuf>,
    /// Download cache (default: $CAIRN_CACHE, then $XDG_CACHE_HOME/cairn or ~/.cache/cairn).
    #[arg(long)]
    cache: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Build(args) => run_build(&args),
        Cmd::Run(args) => cairn_image_builder::run::run_command(args),
        Cmd::Schedule(args) => return cairn_image_builder::schedule_cmd::main(&args),
        Cmd::Logs(args) => return cairn_image_builder::logs_cmd::main(&args),
        Cmd::Dev(args) => return dev::main(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let manifest_error = err
                .chain()
                .filter_map(|cause| cause.downcast_ref::<BuildError>())
                .find(|e| e.is_manifest_error());
            match manifest_error {
                // The diagnostics already say file:line:column, what and how
                // to fix it; print them alone, then what happened.
                Some(diagnostics) => {
                    eprintln!("{diagnostics}");
                    eprintln!("error: the manifest is not valid; nothing was built");
                    ExitCode::from(2)
                }
                None => {
                    eprintln!("error: {err:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
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
