//! `cairn-control api|writer --config FILE`: the control API or the update
//! writer, the two services PID 1 starts from this one binary.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use cairn_control::config::Config;

const USAGE: &str = "usage: cairn-control api|writer [--config FILE]";

enum Command {
    Api,
    Writer,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<(Command, PathBuf)> {
    let command = match args.next().as_deref() {
        Some("api") => Command::Api,
        Some("writer") => Command::Writer,
        _ => bail!("{USAGE}"),
    };
    let mut config = PathBuf::from(cairn_layout::run::SERVICES_CONFIG);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => match args.next() {
                Some(path) => config = PathBuf::from(path),
                None => bail!("--config needs a file\n{USAGE}"),
            },
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok((command, config))
}

fn run() -> anyhow::Result<()> {
    let (command, path) = parse_args(std::env::args().skip(1))?;
    let config = Config::load(&path).context("loading the services' configuration")?;
    match command {
        Command::Api => cairn_control::api::run(config),
        Command::Writer => cairn_control::writer::run(config),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn-control: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
