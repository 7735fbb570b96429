//! `cairn logs DIR [APP] [--since ...]`: prints the log lines kept on a
//! machine's disk, in time order (see `cairn_image_builder::disk_logs`).

use std::path::PathBuf;
use std::process::ExitCode;

use cairn_image_builder::disk_logs::{find_disk, parse_since, read_logs};

/// `cairn logs`
#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// A built image directory (its run disk is read), or a disk image file.
    pub dir: PathBuf,
    /// Only this app's lines (`cairn` for the system's own log, `kernel` for the kernel's).
    pub app: Option<String>,
    /// Only lines from this time on: a duration back from now ("10m", "2h",
    /// "1d") or a UTC time ("2026-11-23T09:45:00Z", or a prefix of one).
    #[arg(long)]
    pub since: Option<String>,
}

/// Runs `cairn logs`.
pub fn main(args: &LogsArgs) -> ExitCode {
    match print_logs(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cairn logs: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_logs(args: &LogsArgs) -> anyhow::Result<()> {
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let disk = find_disk(&args.dir)?;
    let lines = read_logs(&disk, args.app.as_deref(), since.as_deref())?;
    let mut out = std::io::stdout().lock();
    for line in lines {
        use std::io::Write;
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(())
}
