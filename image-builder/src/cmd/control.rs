//! `cairn rollback`, `cairn reboot`, `cairn restart` and `cairn secret set`:
//! one call each to a device's control API.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

use super::remote::{exit_code, RemoteArgs};

#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(clap::Args, Debug)]
pub struct RebootArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Reboot at this time (RFC 3339, e.g. 2026-12-04T23:00:00Z) instead of now.
    #[arg(long)]
    pub at: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct RestartArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The app whose instances to stop and start again.
    pub app: String,
}

#[derive(clap::Args, Debug)]
pub struct SecretArgs {
    #[command(subcommand)]
    pub cmd: SecretCmd,
}

#[derive(clap::Subcommand, Debug)]
pub enum SecretCmd {
    /// Store the content of FILE (at most 64 KiB) as secret NAME on the
    /// device; apps granted it see it from their next start.
    Set {
        #[command(flatten)]
        remote: RemoteArgs,
        /// a-z 0-9 . _ - , up to 64 characters.
        name: String,
        file: PathBuf,
    },
}

pub fn rollback(args: &RollbackArgs) -> ExitCode {
    exit_code(
        "rollback",
        (|| {
            let client = args.remote.client(None)?;
            client.rollback()?;
            println!(
                "{}: rolling back; it marks the running version bad and reboots into the other \
                 bank's (follow with `cairn status --to {}`)",
                client.target, args.remote.to
            );
            Ok(())
        })(),
    )
}

pub fn reboot(args: &RebootArgs) -> ExitCode {
    exit_code(
        "reboot",
        (|| {
            let client = args.remote.client(None)?;
            client.reboot(args.at.as_deref())?;
            match &args.at {
                Some(at) => println!("{}: reboots at {at}", client.target),
                None => println!(
                    "{}: rebooting (its apps stop in order first)",
                    client.target
                ),
            }
            Ok(())
        })(),
    )
}

pub fn restart(args: &RestartArgs) -> ExitCode {
    exit_code(
        "restart",
        (|| {
            let client = args.remote.client(None)?;
            client.restart(&args.app)?;
            println!("{}: restarted {}", client.target, args.app);
            Ok(())
        })(),
    )
}

pub fn secret(args: &SecretArgs) -> ExitCode {
    let SecretCmd::Set { remote, name, file } = &args.cmd;
    exit_code(
        "secret set",
        (|| {
            if let Some(problem) = cairn_manifest::secret_name_problem(name) {
                bail!("{name:?} is not a secret name: {problem}");
            }
            let client = remote.client(None)?;
            client.put_secret(name, file)?;
            println!(
                "{}: secret {name} set; apps granted it see it from their next start \
                 (`cairn restart --to {} APP`)",
                client.target, remote.to
            );
            Ok(())
        })(),
    )
}
