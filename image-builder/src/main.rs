//! `cairn`: build a Cairn disk image from a manifest, boot one in QEMU, or
//! run a manifest's apps on this machine. Each subcommand is a module of
//! [`cmd`].

mod cmd;
mod dev;

use std::process::ExitCode;

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
    Build(cmd::build::BuildArgs),
    /// Boot a built image (or a system.toml, built first) in QEMU.
    Run(cmd::run::RunArgs),
    /// Show when the manifest's jobs will run, in each job's zone and in UTC.
    Schedule(cmd::schedule::ScheduleArgs),
    /// Print the logs kept on a machine's disk (after `cairn run`, or a disk image).
    Logs(cmd::logs::LogsArgs),
    /// Run a manifest's apps on this machine, sandboxed as on a booted system.
    Dev(cmd::dev::DevArgs),
    /// Check an update bundle offline.
    Bundle(cmd::bundle::BundleArgs),
    /// Make the project's keys, or issue a client identity.
    Keys(cmd::keys::KeysArgs),
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Build(args) => cmd::build::main(&args),
        Cmd::Run(args) => cmd::run::main(args),
        Cmd::Schedule(args) => cmd::schedule::main(&args),
        Cmd::Logs(args) => cmd::logs::main(&args),
        Cmd::Dev(args) => cmd::dev::main(&args),
        Cmd::Keys(args) => cmd::keys::main(&args),
        Cmd::Bundle(args) => cmd::bundle::main(&args),
    }
}
