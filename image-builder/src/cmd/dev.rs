//! `cairn dev MANIFEST [--set KEY=VALUE]... [--offset N]`: runs a manifest's
//! apps on this machine with the supervisor PID 1 runs (see `crate::dev`).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::dev::{self, DevOptions, Failure};

/// `cairn dev MANIFEST`
#[derive(clap::Args, Debug)]
pub struct DevArgs {
    /// The manifest whose apps to run.
    pub manifest: PathBuf,
    /// Override a manifest key by its dotted path, validated like the file:
    /// apps.web.instances=3 (repeatable; the value is TOML, a bare word a string).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Add N to every port, on top of system.port_offset.
    #[arg(long, default_value_t = 0)]
    pub offset: u16,
    /// Where the app trees, state and runtime files go (default: .cairn/dev
    /// beside the manifest, .cairn/dev-N with --offset N).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Runs `cairn dev`; returns once every app has stopped.
pub fn main(args: &DevArgs) -> ExitCode {
    let options = DevOptions {
        manifest: args.manifest.clone(),
        set: args.set.clone(),
        offset: args.offset,
        dir: args.dir.clone(),
    };
    match dev::run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Manifest(diagnostics)) => {
            eprintln!("{diagnostics}");
            eprintln!("error: the manifest is not valid; nothing was started");
            ExitCode::from(2)
        }
        Err(Failure::Other(err)) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
