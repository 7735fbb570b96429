//! `cairn provision DISK --hostname NAME [--identity DIR]`: a device's own
//! identity into a built disk image (see `cairn_image_builder::provision`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use cairn_image_builder::discover::{self, Search};
use cairn_image_builder::keys::{ProjectKeys, CA_CERT};
use cairn_image_builder::provision::provision;

#[derive(clap::Args, Debug)]
pub struct ProvisionArgs {
    /// The raw disk image (disk.img), or a build directory holding one.
    pub disk: PathBuf,
    /// The device's name: its certificate names it and cairn.local.
    #[arg(long)]
    pub hostname: String,
    /// The project's key directory with its CA (default: the .cairn/ found
    /// from the disk or the current directory upwards).
    #[arg(long, value_name = "DIR")]
    pub identity: Option<PathBuf>,
}

pub fn main(args: &ProvisionArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cairn provision: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &ProvisionArgs) -> anyhow::Result<()> {
    let disk = if args.disk.is_dir() {
        args.disk.join("disk.img")
    } else {
        args.disk.clone()
    };
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let dir = discover::find(
        &Search {
            explicit: args.identity.as_deref(),
            env: false,
            near: Some(&disk),
            needs: CA_CERT,
            hint: "pass the project's key directory with --identity DIR",
        },
        &cwd,
    )?;
    let done = provision(&disk, &args.hostname, &ProjectKeys::at(&dir))
        .with_context(|| format!("cannot provision {}", disk.display()))?;
    println!(
        "{}: identity of {} ({}) written to its data partition{}",
        done.disk.display(),
        done.hostname,
        if done.made {
            "made now, kept in the project's identities/"
        } else {
            "the project's kept one"
        },
        if done.replaced {
            ", replacing the one it had"
        } else {
            ""
        }
    );
    Ok(())
}
