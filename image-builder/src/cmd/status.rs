//! `cairn status --to HOST [--json]`: what a device runs, its banks, its
//! apps and its last update.

use std::io::IsTerminal;
use std::process::ExitCode;

use cairn_image_builder::remote::render_status;

use super::remote::{exit_code, RemoteArgs};

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print the device's JSON as it sent it.
    #[arg(long)]
    pub json: bool,
}

pub fn main(args: &StatusArgs) -> ExitCode {
    exit_code("status", run(args))
}

fn run(args: &StatusArgs) -> anyhow::Result<()> {
    let client = args.remote.client(None)?;
    if args.json {
        let text = client.status_text()?;
        println!("{}", text.trim_end());
        return Ok(());
    }
    let status = client.status()?;
    print!("{}", render_status(&status, colour()));
    Ok(())
}

/// Colours on a terminal, unless NO_COLOR is set.
pub fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
