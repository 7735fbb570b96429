//! Remote syslog from the real system: lines reach a collector on the host
//! over TCP and over TLS and survive it restarting; a collector that stops
//! reading costs counted drops, never a stall.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use cairn_boot_tests::certs::{TestCa, HOST_FROM_GUEST};
use cairn_boot_tests::syslog::{Collector, Mode};
use cairn_boot_tests::{serial, workspace, TestSystem, STEP_TIMEOUT};
use cairn_image_builder::disk_logs;

use super::{
    chatty, chatty_paced, longest_tick_gap, manifest, tick_numbers, wait_until_quiet, TICKER,
};

fn remote(url: &str, extra: &str) -> String {
    format!("\n[[logging.remote]]\nurl = \"{url}\"\n{extra}")
}

/// The ticker's lines reach `collector`, with PID 1's; then the collector
/// goes away for 3 s and comes back, and every tick after the one in
/// flight when it went away arrives. Returns the restarted collector.
fn ticks_survive_a_restart(collector: Collector) -> Collector {
    let got = collector.wait_for(" ticker 0 stdout - tick 5", STEP_TIMEOUT * 2);
    assert!(got.starts_with("<14>1 20"), "{got}");
    assert!(
        collector
            .messages()
            .iter()
            .any(|m| m.contains(" cairn 0 log - app ticker started (pid ")),
        "PID 1's own lines go to the collector too"
    );

    let before = collector.messages().len();
    let collector = collector.restart_after(Duration::from_secs(3));
    let seen_before: Vec<String> = collector.messages()[..before].to_vec();
    let last_tick = *tick_numbers(seen_before.iter().filter(|m| m.contains(" stdout - tick ")))
        .last()
        .unwrap_or_else(|| panic!("no tick before the restart"));
    // The ticks after the last one seen before the restart arrive.
    let wanted = last_tick + 30;
    collector.wait_for(&format!(" - tick {wanted}"), STEP_TIMEOUT * 2);
    let messages = collector.messages();
    let ticks: BTreeSet<u64> =
        tick_numbers(messages.iter().filter(|m| m.contains(" stdout - tick ")))
            .into_iter()
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
    collector
}

#[test]
fn lines_reach_a_tcp_collector_and_survive_it_restarting() {
    let _serial = serial();
    let collector = Collector::start(0);
    let url = format!("syslog+tcp://{HOST_FROM_GUEST}:{}", collector.port);
    let apps = format!("{}{TICKER}", chatty(20_000));
    let system = TestSystem::build("logging-remote", &manifest(&remote(&url, ""), &apps));
    let mut vm = system.boot(&[]);

    vm.wait_for("cairn: app ticker started");
    let _collector = ticks_survive_a_restart(collector);
    vm.power_off();
}

#[test]
fn lines_reach_a_tls_collector_and_survive_it_restarting() {
    let _serial = serial();
    let ca = TestCa::for_server(HOST_FROM_GUEST);
    let collector = Collector::start_mode(0, Mode::Tls(Arc::clone(&ca.server)));
    let url = format!("syslog+tls://{HOST_FROM_GUEST}:{}", collector.port);
    let logging = remote(&url, "ca = \"collector-ca.pem\"\n");
    let system = TestSystem::build_with(
        "logging-tls",
        &manifest(&logging, TICKER),
        &workspace::default_board(),
        |dir| std::fs::write(dir.join("collector-ca.pem"), &ca.ca_pem).unwrap(),
    );
    let mut vm = system.boot(&[]);

    vm.wait_for("cairn: app ticker started");
    vm.wait_for(&format!("cairn: logger: {url}: connected"));
    collector.wait_for(" ticker 0 stdout - tick 10", STEP_TIMEOUT * 2);
    // One session carries every line: what a TLS server sends after the
    // handshake (session tickets) is not taken for a close.
    assert_eq!(collector.accepted(), 1, "the logger reconnected");
    assert!(
        vm.lines_matching("collector closed the connection|cannot connect|send failed")
            .is_empty(),
        "{:?}",
        vm.lines_matching(&regex::escape(&url))
    );
    let _collector = ticks_survive_a_restart(collector);
    vm.power_off();
}

/// Lines a flood writes: well over what the sink queues (10,000) plus what
/// the TCP buffers between the logger and the collector take in before a
/// write blocks (with QEMU's user network, its host socket alone holds
/// 4 MiB, some 26,000 messages)...
const STALL_FLOOD: u32 = 80_000;
/// ...at a pace under an app's limit (20,000 lines/s), so that every drop
/// is the sink's.
const STALL_RATE: u32 = 10_000;

#[test]
fn a_collector_that_stops_reading_costs_counted_drops_not_a_stall() {
    let _serial = serial();
    let collector = Collector::start_mode(0, Mode::Stalled);
    let url = format!("syslog+tcp://{HOST_FROM_GUEST}:{}", collector.port);
    let apps = format!("{}{TICKER}", chatty_paced(STALL_FLOOD, STALL_RATE));
    let system = TestSystem::build("logging-stalled", &manifest(&remote(&url, ""), &apps));
    let mut vm = system.boot(&[]);

    let started = vm.wait_for("cairn: app chatty started");
    let report = format!(
        r"^cairn: warning: logger: dropped (\d+) lines for {}: collector unreachable$",
        regex::escape(&url)
    );
    let first = vm.wait_for_regex(started.index, &report, STEP_TIMEOUT);
    assert!(collector.accepted() >= 1, "the logger never connected");
    // The flood ends (the console stops counting the lines it skips)...
    let done = wait_until_quiet(
        &vm,
        started.index,
        "lines from chatty not shown on the console",
        Duration::from_secs(3),
    );
    // ...and the neighbour's lines flowed on, on the console, all along.
    let gap = longest_tick_gap(&vm, started.index, done);
    assert!(
        gap < Duration::from_secs(3),
        "ticker held up {gap:?} by a stalled collector"
    );
    assert!(
        vm.lines_matching("dropped .* lines from (chatty|ticker)")
            .is_empty(),
        "only the sink may drop: {:?}",
        vm.lines_matching("dropped")
    );
    // Drops are summed, not reported per batch: at most one report a
    // second.
    let lines = vm.lines();
    let re = regex::Regex::new(&report).unwrap();
    let reports: Vec<_> = lines[first.index..]
        .iter()
        .filter(|l| re.is_match(&l.text))
        .collect();
    let span = lines[lines.len() - 1].at - first.at;
    assert!(
        reports.len() as u64 <= span.as_secs() + 2,
        "{} drop reports in {span:?}",
        reports.len()
    );
    // ...and PID 1 still powers the machine off in order.
    vm.power_off();
    drop(vm);

    // The files did not wait for the collector either.
    let ticker = disk_logs::read_logs(system.run_disk(), Some("ticker"), None).unwrap();
    let ticks = tick_numbers(&ticker);
    let last = *ticks.last().unwrap();
    assert_eq!(
        ticks,
        (0..=last).collect::<Vec<_>>(),
        "the ticker's file has every tick"
    );
    let chatty = disk_logs::read_logs(system.run_disk(), Some("chatty"), None).unwrap();
    assert!(
        chatty
            .iter()
            .any(|l| l.ends_with(&format!("chatty stdout testapp: flood done {STALL_FLOOD}"))),
        "the flood's last line is in its file"
    );
    drop(collector);
}
