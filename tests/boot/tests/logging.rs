//! The logging layer in the real system: app lines reach the console and
//! their files with every field; files rotate at `max_size` and keep `keep`
//! rotated files; a flooding app does not hold up its neighbour's lines;
//! lines reach a syslog collector on the host over TCP and survive the
//! collector restarting; and `cairn logs` reads it all back from the
//! powered-off disk.

use std::time::Duration;

use cairn_boot_tests::syslog::Collector;
use cairn_boot_tests::{serial, Machine, TestSystem, STEP_TIMEOUT};
use cairn_image_builder::logs_cmd;

const FLOOD_LINES: u32 = 20_000;

fn manifest(collector_port: Option<u16>) -> String {
    let remote = collector_port
        .map(|port| format!("\n[[logging.remote]]\nurl = \"syslog+tcp://10.0.2.2:{port}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
version = 1

[network.interfaces.eth0]
dhcp = true

[logging.file]
max_size = "64KiB"
keep = 2
{remote}
[apps.chatty]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "flood", "{FLOOD_LINES}"]
restart = "never"

[apps.ticker]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "tick", "200"]
"#
    )
}

/// The longest gap between consecutive `[ticker] tick` lines on the console
/// from `from` on.
fn longest_tick_gap(vm: &Machine, from: usize) -> Duration {
    let ticks: Vec<Duration> = vm.lines()[from..]
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

#[test]
fn lines_reach_console_and_rotated_files_and_a_flood_does_not_hold_up_a_neighbour() {
    let _serial = serial();
    let system = TestSystem::build("logging-files", &manifest(None));
    let mut vm = system.boot(&[]);

    let started = vm.wait_for("cairn: app chatty started");
    vm.wait_for("[ticker] tick 3");
    // The flood is shown only up to the console's rate; the rest is counted.
    vm.wait_for_after(
        started.index,
        "lines from chatty not shown on the console",
        STEP_TIMEOUT,
    );
    // (Its last line, `flood done`, is in the file, not on the console.)
    // Meanwhile the neighbour ticks on, every 200 ms.
    vm.wait_for_after(started.index, "[ticker] tick 25", STEP_TIMEOUT);
    let during = longest_tick_gap(&vm, started.index);
    assert!(
        during < Duration::from_secs(3),
        "ticker held up {during:?} by the flood"
    );
    let mark = vm.line_count();
    vm.wait_for_after(mark, "[ticker] tick", STEP_TIMEOUT);
    assert!(
        vm.lines_matching("dropped .* lines from chatty").is_empty(),
        "nothing may be dropped from the files: {:?}",
        vm.lines_matching("dropped")
    );
    vm.power_off();
    drop(vm);

    // The files, read from the powered-off disk.
    let work = tempfile::tempdir().unwrap();
    let dir = logs_cmd::extract_logs(system.run_disk(), Some("chatty"), work.path()).unwrap();
    let mut files: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        3,
        "current and keep = 2 rotated files: {files:?}"
    );
    assert!(files.iter().any(|(n, _)| n == "current"), "{files:?}");
    for (name, size) in &files {
        assert!(*size <= 64 * 1024, "{name} is {size} bytes");
    }
    let lines = logs_cmd::read_logs(system.run_disk(), Some("chatty"), None).unwrap();
    let last = format!("chatty stdout flood {:06} ", FLOOD_LINES - 1);
    let found = lines.iter().find(|l| l.contains(&last)).unwrap_or_else(|| {
        panic!(
            "no {last:?} in {} lines, last {:?}",
            lines.len(),
            lines.last()
        )
    });
    // `2026-11-23T09:45:10.123456Z chatty stdout flood 019999 xxx`
    let stamp = found.split(' ').next().unwrap();
    assert_eq!(stamp.len(), 27, "{found}");
    assert!(
        stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
        "{found}"
    );
    // The newest lines are all there, in order, none lost.
    let numbers: Vec<u32> = lines
        .iter()
        .filter_map(|l| l.split(' ').nth(4)?.parse().ok())
        .collect();
    let first = numbers[0];
    assert_eq!(numbers, (first..FLOOD_LINES).collect::<Vec<_>>());
    assert!(lines
        .iter()
        .any(|l| l.ends_with("chatty stdout testapp: flood done 20000")));

    // The system's own log and the kernel's are files too.
    let system_lines = logs_cmd::read_logs(system.run_disk(), Some("cairn"), None).unwrap();
    assert!(
        system_lines
            .iter()
            .any(|l| l.contains(" cairn info app chatty started (pid ")),
        "{system_lines:?}"
    );
    let kernel = logs_cmd::read_logs(system.run_disk(), Some("kernel"), None).unwrap();
    assert!(kernel
        .iter()
        .any(|l| l.contains(" kernel ") && l.contains("Linux version")));
    let ticker = logs_cmd::read_logs(system.run_disk(), Some("ticker"), None).unwrap();
    assert!(ticker.iter().any(|l| l.ends_with(" ticker stdout tick 3")));
}

#[test]
fn lines_reach_a_tcp_collector_and_survive_it_restarting() {
    let _serial = serial();
    let collector = Collector::start(0);
    let system = TestSystem::build("logging-remote", &manifest(Some(collector.port)));
    let mut vm = system.boot(&[]);

    vm.wait_for("cairn: app ticker started");
    let got = collector.wait_for(" ticker 0 stdout - tick 5", STEP_TIMEOUT * 2);
    assert!(got.starts_with("<14>1 20"), "{got}");
    assert!(
        collector
            .messages()
            .iter()
            .any(|m| m.contains(" cairn 0 log - app ticker started (pid ")),
        "PID 1's own lines go to the collector too"
    );

    // The collector goes away for a while and comes back.
    let before = collector.messages().len();
    let collector = collector.restart_after(Duration::from_secs(3));
    let seen_before: Vec<String> = collector.messages()[..before].to_vec();
    let last_tick = seen_before
        .iter()
        .rev()
        .find_map(|m| {
            m.rsplit_once("stdout - tick ")
                .and_then(|(_, n)| n.parse::<u64>().ok())
        })
        .unwrap();
    // The ticks after the last one seen before the restart arrive.
    let wanted = last_tick + 30;
    collector.wait_for(&format!(" - tick {wanted}"), STEP_TIMEOUT * 2);
    let ticks: std::collections::BTreeSet<u64> = collector
        .messages()
        .iter()
        .filter_map(|m| {
            m.rsplit_once("stdout - tick ")
                .and_then(|(_, n)| n.parse().ok())
        })
        .collect();
    // A line written in the instant the collector closed is in flight on
    // a dead connection (syslog over TCP has no acknowledgements); every
    // line after that, while it was away and since it came back, arrives.
    let missing: Vec<u64> = (last_tick + 2..=wanted)
        .filter(|n| !ticks.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "ticks lost across the restart: {missing:?}"
    );
    vm.power_off();
}
