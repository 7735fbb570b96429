//! `cairn logs DIR [APP] [--since ...]` prints the log lines kept on a
//! machine's disk, in time order (see `cairn_image_builder::disk_logs`);
//! `cairn logs --to HOST [APP] [-f] [--lines N]` asks a running device.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use cairn_image_builder::disk_logs::{find_disk, parse_since, read_logs};

use super::remote::{exit_code, IdentityArgs};

/// `cairn logs`
#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// A built image directory (its run disk is read) or a disk image file;
    /// with --to, the app.
    #[arg(value_name = "DIR|APP")]
    pub first: Option<String>,
    /// Only this app's lines (`cairn` for the system's own log, `kernel` for the kernel's).
    pub app: Option<String>,
    /// Only lines from this time on: a duration back from now ("10m", "2h",
    /// "1d") or a UTC time ("2026-11-23T09:45:00Z", or a prefix of one). Disks only.
    #[arg(long)]
    pub since: Option<String>,
    /// Ask this running device instead of reading a disk: HOST or HOST:PORT.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub to: Option<String>,
    /// With --to: keep printing new lines as the device writes them.
    #[arg(short, long)]
    pub follow: bool,
    /// With --to: the last N lines (the device's default is 200).
    #[arg(long)]
    pub lines: Option<u32>,
    #[command(flatten)]
    pub who: IdentityArgs,
}

/// Runs `cairn logs`.
pub fn main(args: &LogsArgs) -> ExitCode {
    if args.to.is_some() {
        return exit_code("logs", remote_logs(args));
    }
    match print_logs(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cairn logs: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_logs(args: &LogsArgs) -> anyhow::Result<()> {
    if args.follow || args.lines.is_some() {
        bail!("-f and --lines ask a running device: give --to HOST");
    }
    let Some(dir) = &args.first else {
        bail!("give a built image directory or a disk image, or --to HOST for a running device");
    };
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let disk = find_disk(&PathBuf::from(dir))?;
    let lines = read_logs(&disk, args.app.as_deref(), since.as_deref())?;
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(())
}

fn remote_logs(args: &LogsArgs) -> anyhow::Result<()> {
    let Some(to) = &args.to else {
        bail!("no --to");
    };
    if args.since.is_some() {
        bail!("--since reads a disk; a device gives its last lines: use --lines N");
    }
    if args.app.is_some() {
        bail!("with --to, name one app at most: cairn logs --to HOST APP");
    }
    let client = args.who.client(to, None)?;
    let mut response = client.logs(args.first.as_deref(), args.lines, args.follow)?;
    let mut out = std::io::stdout().lock();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = response.body().read(&mut buffer)?;
        if n == 0 {
            break;
        }
        // Flushed at once: with -f, a line shows when the device writes it.
        if out
            .write_all(&buffer[..n])
            .and_then(|()| out.flush())
            .is_err()
        {
            break;
        }
    }
    Ok(())
}
