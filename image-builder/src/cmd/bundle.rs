//! `cairn bundle verify FILE|DIR [--key PUB]...`: checks an update bundle
//! offline and prints what it holds (see `cairn_image_builder::bundle_check`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use cairn_image_builder::bundle_check::{check, CheckError, Trusted};
use cairn_image_builder::discover::{self, Search};

#[derive(clap::Args, Debug)]
pub struct BundleArgs {
    #[command(subcommand)]
    pub cmd: BundleCmd,
}

#[derive(clap::Subcommand, Debug)]
pub enum BundleCmd {
    /// Check every byte of a bundle against trusted keys, as a device would;
    /// exit 2 with the reason when it is not valid.
    Verify {
        /// The bundle, or a build directory holding update.cairn.
        file: PathBuf,
        /// A trusted public key (PEM), or a directory of *.pub files; repeatable
        /// (default: update.pub of the project's .cairn/).
        #[arg(long)]
        key: Vec<PathBuf>,
    },
}

pub fn main(args: &BundleArgs) -> ExitCode {
    let BundleCmd::Verify { file, key } = &args.cmd;
    match verify(file, key) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            let invalid = err.chain().any(|c| {
                matches!(
                    c.downcast_ref::<CheckError>(),
                    Some(CheckError::Invalid { .. })
                )
            });
            eprintln!("error: {err:#}");
            ExitCode::from(if invalid { 2 } else { 1 })
        }
    }
}

fn verify(
    file: &Path,
    keys: &[PathBuf],
) -> anyhow::Result<cairn_image_builder::bundle_check::Report> {
    let bundle = if file.is_dir() {
        file.join(cairn_image_builder::build::BUNDLE_FILE)
    } else {
        file.to_path_buf()
    };
    let keys = if keys.is_empty() {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let dir = discover::find(
            &Search {
                explicit: None,
                env: false,
                near: Some(&bundle),
                needs: cairn_image_builder::keys::UPDATE_PUB,
                hint: "pass the trusted key with --key PUB",
            },
            &cwd,
        )?;
        // During a key rotation the project trusts the incoming key too.
        let next = dir.join(format!("{}.pub", cairn_image_builder::keys::NEXT));
        let mut keys = vec![dir.join(cairn_image_builder::keys::UPDATE_PUB)];
        keys.extend(next.exists().then_some(next));
        keys
    } else {
        keys.to_vec()
    };
    let trusted = Trusted::load(&keys)?;
    Ok(check(&bundle, &trusted)?)
}
