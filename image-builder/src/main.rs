//! `cairn`: build a Cairn disk image from a manifest, boot one in QEMU, run
//! a manifest's apps on this machine, and deploy to and run devices. Each
//! subcommand is a module of [`cmd`].

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
    /// Print a machine's logs: kept on its disk (after `cairn run`, or a disk
    /// image), or from a running device with --to.
    Logs(cmd::logs::LogsArgs),
    /// Run a manifest's apps on this machine, sandboxed as on a booted system.
    Dev(cmd::dev::DevArgs),
    /// Upload a build to a device, wait for it to reboot into it, tell the outcome.
    Deploy(cmd::deploy::DeployArgs),
    /// Show what a device runs: system, banks, apps, last update.
    Status(cmd::status::StatusArgs),
    /// Make a device boot its other bank's good version.
    Rollback(cmd::control::RollbackArgs),
    /// Reboot a device, now or at a time.
    Reboot(cmd::control::RebootArgs),
    /// Restart an app on a device.
    Restart(cmd::control::RestartArgs),
    /// Store secrets on a device.
    Secret(cmd::control::SecretArgs),
    /// Write a device's own identity into a built disk image before flashing it.
    Provision(cmd::provision::ProvisionArgs),
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
        Cmd::Deploy(args) => cmd::deploy::main(&args),
        Cmd::Status(args) => cmd::status::main(&args),
        Cmd::Rollback(args) => cmd::control::rollback(&args),
        Cmd::Reboot(args) => cmd::control::reboot(&args),
        Cmd::Restart(args) => cmd::control::restart(&args),
        Cmd::Secret(args) => cmd::control::secret(&args),
        Cmd::Provision(args) => cmd::provision::main(&args),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
