//! `cairn deploy DIR|BUNDLE --to HOST[:PORT]`: uploads an update bundle,
//! waits for the device to reboot into it, and tells how it went.
//!
//! Exit 0: the new version runs and is blessed (or, with `--reboot`, it is
//! written and waits for its reboot). Exit 3: it was rolled back, or never
//! booted; the reason and the failing app's last stderr lines are printed.
//! Exit 2: the device refused the bundle, with its reason. Exit 1: anything
//! else (unreachable, no outcome within `--timeout`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use cairn_image_builder::build::BUNDLE_FILE;
use cairn_image_builder::remote::{
    deploy, render_status, DeployEvent, DeployOptions, DeployOutcome, Status,
};
use indicatif::{ProgressBar, ProgressStyle};

use super::remote::{exit_code, RemoteArgs};

#[derive(clap::Args, Debug)]
pub struct DeployArgs {
    /// A build directory (its update.cairn) or a bundle file.
    pub bundle: PathBuf,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// How long to wait for the device to come back and judge the new version.
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// How often to ask the device how it is while waiting.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// Let the device install a build older than the one it runs.
    #[arg(long)]
    pub allow_downgrade: bool,
    /// When the device reboots into the new version: now, no (with a later
    /// `cairn reboot`), or an RFC 3339 time.
    #[arg(long, default_value = "now")]
    pub reboot: String,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    cairn_manifest::parse_duration(text)
}

pub fn main(args: &DeployArgs) -> ExitCode {
    match run(args) {
        Ok(Some(code)) => code,
        Ok(None) => ExitCode::SUCCESS,
        Err(err) => exit_code("deploy", Err(err)),
    }
}

fn bundle_path(given: &Path) -> anyhow::Result<PathBuf> {
    let path = if given.is_dir() {
        given.join(BUNDLE_FILE)
    } else {
        given.to_path_buf()
    };
    if !path.is_file() {
        bail!(
            "{} does not exist; `cairn build` writes it beside disk.img",
            path.display()
        );
    }
    Ok(path)
}

fn run(args: &DeployArgs) -> anyhow::Result<Option<ExitCode>> {
    let bundle = bundle_path(&args.bundle)?;
    let client = args.remote.client(Some(&bundle))?;
    let options = DeployOptions {
        timeout: args.timeout,
        poll_interval: args.poll_interval,
        allow_downgrade: args.allow_downgrade,
        reboot: args.reboot.clone(),
    };
    let target = client.target.clone();
    let mut shown = Shown::new();
    let outcome = deploy(&client, &bundle, &options, &mut |event| {
        shown.event(&target.authority(), &bundle, event);
    })
    .with_context(|| format!("deploying {} to {target}", bundle.display()));
    shown.finish();
    match outcome? {
        DeployOutcome::Blessed(status) => {
            println!(
                "deployed: {} runs version {} (build {}), blessed",
                status.system.hostname,
                status.system.version,
                status.system.build.unwrap_or(0)
            );
            Ok(None)
        }
        DeployOutcome::RolledBack(update, status) => {
            println!("rolled back: {}", what_failed(&update.outcome));
            if let Some(reason) = &update.reason {
                println!("  reason: {reason}");
            }
            if let Some(app) = &update.app {
                println!("  app {app}, its last stderr lines:");
            }
            for line in &update.stderr {
                println!("  | {line}");
            }
            println!(
                "the device runs version {} (build {}) again",
                status.system.version,
                status.system.build.unwrap_or(0)
            );
            Ok(Some(ExitCode::from(3)))
        }
        DeployOutcome::Scheduled(written) => {
            let when = match written.reboot.as_str() {
                "no" | "" => "with the next `cairn reboot`".to_owned(),
                at => format!("at {at}"),
            };
            println!(
                "written: version {} (build {}) boots {when}",
                written.version, written.build
            );
            Ok(None)
        }
        DeployOutcome::TimedOut { last, rebooted } => {
            let seen = last.as_ref().map_or(String::new(), |s: &Status| {
                format!("; last seen:\n{}", render_status(s, false))
            });
            bail!(
                "no outcome within {}s ({}){seen}; see `cairn status --to {}` and `cairn logs --to {} cairn`",
                args.timeout.as_secs(),
                if rebooted { "it rebooted" } else { "it did not reboot" },
                args.remote.to,
                args.remote.to
            )
        }
    }
}

fn what_failed(outcome: &str) -> &'static str {
    if outcome == "did-not-boot" {
        "the new version never reached its health gate"
    } else {
        "the new version was not healthy in time"
    }
}

/// The upload's progress: a bar on a terminal, a line every tenth
/// otherwise; then one line per step.
struct Shown {
    bar: Option<ProgressBar>,
    terminal: bool,
    tenth: u64,
}

impl Shown {
    fn new() -> Shown {
        Shown {
            bar: None,
            terminal: std::io::stderr().is_terminal(),
            tenth: 0,
        }
    }

    fn event(&mut self, target: &str, bundle: &Path, event: DeployEvent<'_>) {
        match event {
            DeployEvent::Before(status) => eprintln!(
                "cairn deploy: {target} ({}) runs version {} (build {}); sending {}",
                status.system.hostname,
                status.system.version,
                status.system.build.unwrap_or(0),
                bundle.display()
            ),
            DeployEvent::Sent { sent, len } => self.sent(sent, len),
            DeployEvent::Written(written) => {
                self.finish();
                eprintln!(
                    "cairn deploy: the device checked and wrote version {} (build {})",
                    written.version, written.build
                );
            }
            DeployEvent::Down => eprintln!("cairn deploy: the device is rebooting"),
            DeployEvent::Up(status) => eprintln!(
                "cairn deploy: it is back (boot #{}), running version {} (build {})",
                status.system.boot.unwrap_or(0),
                status.system.version,
                status.system.build.unwrap_or(0)
            ),
            DeployEvent::Pending => {
                eprintln!("cairn deploy: waiting for every app to be healthy")
            }
        }
    }

    fn sent(&mut self, sent: u64, len: u64) {
        if self.terminal {
            let bar = self.bar.get_or_insert_with(|| {
                let bar = ProgressBar::new(len);
                if let Ok(style) = ProgressStyle::with_template(
                    "  uploading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar
            });
            bar.set_position(sent);
            return;
        }
        let tenth = (sent * 10).checked_div(len).unwrap_or(10);
        if tenth > self.tenth || sent == len {
            self.tenth = tenth;
            eprintln!(
                "cairn deploy: sent {}% ({} of {} bytes)",
                tenth * 10,
                sent,
                len
            );
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
