//! `cairn keys init [--dir DIR]` and `cairn keys issue --role ROLE --name
//! NAME [--dir DIR]`: the project's trust material (see
//! `cairn_image_builder::keys`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use cairn_image_builder::keys::{ProjectKeys, Role, DIR_NAME};

#[derive(clap::Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub cmd: KeysCmd,
}

#[derive(clap::Subcommand, Debug)]
pub enum KeysCmd {
    /// Make a project's keys: the update signing key, a CA and the admin identity.
    Init {
        /// Where (default: .cairn in the current directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Make a new client identity NAME.crt/NAME.key, signed by the project's CA.
    Issue {
        /// What it may do: reader (read status and logs), operator (also
        /// restart and reboot), admin (also deploy, roll back, set secrets).
        #[arg(long, value_enum)]
        role: Role,
        /// Who it is (its certificate's Common Name, in the device's log).
        #[arg(long)]
        name: String,
        /// The project's key directory (default: .cairn in the current directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Replace the update signing key in two steps: without --finish, make
    /// the next key (builds then trust and sign with both); with --finish,
    /// once every device runs such a build, retire the old key.
    Rotate {
        /// Retire the old key and keep only the new one.
        #[arg(long)]
        finish: bool,
        /// The project's key directory (default: .cairn in the current directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

pub fn main(args: &KeysArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn keys_at(dir: &Option<PathBuf>) -> ProjectKeys {
    ProjectKeys::at(dir.clone().unwrap_or_else(|| PathBuf::from(DIR_NAME)))
}

fn run(args: &KeysArgs) -> anyhow::Result<()> {
    match &args.cmd {
        KeysCmd::Init { dir } => {
            let keys = keys_at(dir);
            let made = keys
                .init()
                .with_context(|| format!("cannot make keys in {}", keys.dir().display()))?;
            println!("made the project's keys in {}:", keys.dir().display());
            for path in made {
                println!("  {}", path.display());
            }
            println!(
                "private keys (*.key) are readable by you alone and kept out of git by {}",
                keys.dir().join(".gitignore").display()
            );
        }
        KeysCmd::Issue { role, name, dir } => {
            let keys = keys_at(dir);
            keys.require()?;
            let (cert, key) = keys
                .issue(name, *role)
                .with_context(|| format!("cannot issue identity {name}"))?;
            println!(
                "issued {name} ({}): {} and {}",
                role.as_str(),
                cert.display(),
                key.display()
            );
            println!(
                "give both to {name} with ca.crt; they use it with `cairn status --to HOST --identity DIR --as {name}`"
            );
        }
        KeysCmd::Rotate { finish, dir } => rotate(&keys_at(dir), *finish)?,
    }
    Ok(())
}

fn rotate(keys: &ProjectKeys, finish: bool) -> anyhow::Result<()> {
    if finish {
        let current = keys
            .finish_rotation()
            .context("cannot finish the key rotation")?;
        println!("update key {current} is now the only one builds trust and sign with");
        println!(
            "the old key pair is kept in {}: delete it once no device needs a bundle signed by it \
             (at once if it leaked)",
            keys.retired_dir().display()
        );
        println!(
            "a device still on a build from before the rotation refuses new bundles: deploy a \
             bundle built during the rotation to it first"
        );
        return Ok(());
    }
    let next = keys
        .start_rotation()
        .context("cannot start a key rotation")?;
    println!(
        "made the next update key {next}: {}",
        keys.next_key().display()
    );
    println!(
        "every build now trusts both keys and signs with both; deploy one to every device, then \
         run `cairn keys rotate --finish`"
    );
    Ok(())
}
