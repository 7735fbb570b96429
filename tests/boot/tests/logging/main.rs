//! The logging layer in the real system: app lines reach the console and
//! their files with every field; files rotate at `max_size` and keep `keep`
//! rotated files; a flooding app does not hold up its neighbour's lines;
//! lines reach a syslog collector on the host over TCP and over TLS and
//! survive the collector restarting; a collector that stops reading costs
//! counted drops, not a stall; a full data partition pauses the log files
//! and nothing else; and `cairn logs` reads it all back from the
//! powered-off disk.

mod disk_full;
mod files;
mod remote;

use std::time::{Duration, Instant};

use cairn_boot_tests::{Machine, STEP_TIMEOUT};

/// A manifest with small log files (so they rotate), the `[logging]`
/// additions in `logging` and the apps in `apps`.
fn manifest(logging: &str, apps: &str) -> String {
    manifest_with_files("64KiB", 2, logging, apps)
}

/// [`manifest`] with log files of `max_size`, `keep` of them rotated.
fn manifest_with_files(max_size: &str, keep: u32, logging: &str, apps: &str) -> String {
    format!(
        r#"
version = 1

[network.interfaces.eth0]
dhcp = true

[logging.file]
max_size = "{max_size}"
keep = {keep}
{logging}
{apps}"#
    )
}

/// An app that prints `tick N` every 200 ms: the neighbour whose lines must
/// keep flowing whatever the others do.
const TICKER: &str = r#"
[apps.ticker]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "tick", "200"]
"#;

/// An app that writes `lines` numbered lines as fast as it can.
fn chatty(lines: u32) -> String {
    chatty_args(&format!("\"{lines}\""))
}

/// An app that writes `lines` numbered lines, at most `rate` a second.
fn chatty_paced(lines: u32, rate: u32) -> String {
    chatty_args(&format!("\"{lines}\", \"{rate}\""))
}

fn chatty_args(args: &str) -> String {
    format!(
        r#"
[apps.chatty]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "flood", {args}]
restart = "never"
"#
    )
}

/// The longest gap between consecutive `[ticker] tick` lines on the console
/// between line `from` and line `to`.
fn longest_tick_gap(vm: &Machine, from: usize, to: usize) -> Duration {
    let lines = vm.lines();
    let ticks: Vec<Duration> = lines[from..to.min(lines.len())]
        .iter()
        .filter(|l| l.text.starts_with("[ticker] tick "))
        .map(|l| l.at)
        .collect();
    assert!(ticks.len() > 5, "too few ticks: {}", ticks.len());
    ticks
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

/// The tick numbers in lines that end with `tick N`.
fn tick_numbers<'a>(lines: impl IntoIterator<Item = &'a String>) -> Vec<u64> {
    lines
        .into_iter()
        .filter_map(|l| l.rsplit_once("tick ")?.1.parse().ok())
        .collect()
}

/// Waits (up to [`STEP_TIMEOUT`]) until no console line from `from` on has
/// matched `pattern` for `quiet` of the machine's time, while other lines
/// (a ticker's) keep coming; returns the line count then.
fn wait_until_quiet(vm: &Machine, from: usize, pattern: &str, quiet: Duration) -> usize {
    let re = regex::Regex::new(pattern).unwrap();
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let lines = vm.lines();
        let last_match = lines[from.min(lines.len())..]
            .iter()
            .rev()
            .find(|l| re.is_match(&l.text))
            .map(|l| l.at);
        if let (Some(matched), Some(newest)) = (last_match, lines.last()) {
            if newest.at >= matched + quiet {
                return lines.len();
            }
        }
        assert!(
            Instant::now() < deadline,
            "lines matching /{pattern}/ kept coming"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
