//! Power cuts during updates: QEMU is killed at a random instant of a
//! `cairn deploy` (uploading, checking, writing the bank and the ESP
//! slots, switching entries, rebooting, trying, blessing), over and over,
//! the target alternating between two versions. After every cut the ESP
//! passes `fsck.fat -n` and the next boot runs one of the two versions
//! completely: its bank mounted, its own app up and every app ready.
//!
//! `CAIRN_CUTS` sets the number of cuts (default 10; the benchmark campaign
//! in docs/benchmarks.md runs 100), `CAIRN_CUT_SEED` the seed of the
//! instants (printed, so a failure can be replayed).

use std::time::{Duration, Instant};

use cairn_boot_tests::{serial, Cli, Machine, TestSystem, BOOT_TIMEOUT, STEP_TIMEOUT};

const CONTROL: u16 = 7443;
/// Cuts fall within this long after `cairn deploy` starts: past the upload,
/// the write, the reboot and the new version's blessing under TCG.
const WINDOW: Duration = Duration::from_secs(24);

fn manifest(tag: &str) -> String {
    format!(
        r#"
version = 1

[system]
hostname = "edge"

[network.interfaces.eth0]
dhcp = true

[update]
healthy_within = "3m"

[apps.web]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "deploy-probe", "{tag}", "/run/secrets/none"]
restart = "always"

[apps.web.paths]
"/var/lib/web" = "state"
"#
    )
}

/// A small deterministic generator (xorshift64*): the instants must be
/// replayable from the seed alone.
struct Instants(u64);

impl Instants {
    fn next_below(&mut self, limit: Duration) -> Duration {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        Duration::from_millis(r % (limit.as_millis() as u64).max(1))
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Waits for a boot to run one of `versions` completely; its index.
fn runs_completely(vm: &Machine, versions: &[(String, &str)]) -> usize {
    let pattern = versions
        .iter()
        .map(|(version, _)| version.as_str())
        .collect::<Vec<_>>()
        .join("|");
    let mounted = vm.wait_for_regex(
        0,
        &format!("cairn: bank [ab] version ({pattern}) mounted"),
        BOOT_TIMEOUT,
    );
    let (index, (_, tag)) = versions
        .iter()
        .enumerate()
        .find(|(_, (version, _))| mounted.text.contains(version.as_str()))
        .unwrap_or_else(|| panic!("{}", mounted.text));
    vm.wait_for_after(
        mounted.index,
        &format!("[web] testapp: deploy-probe tag={tag} "),
        STEP_TIMEOUT,
    );
    vm.wait_for_after(mounted.index, "cairn: all apps ready", STEP_TIMEOUT);
    vm.wait_for_after(mounted.index, "[cairn-control] listening", STEP_TIMEOUT);
    // A version on trial is blessed first, so the next update is not
    // refused for coming too early.
    vm.wait_for_regex(
        mounted.index,
        "cairn: boot (already )?blessed",
        STEP_TIMEOUT,
    );
    index
}

#[test]
fn power_cuts_during_updates_always_leave_one_whole_version() {
    let _serial = serial();
    let cuts = env_number("CAIRN_CUTS").unwrap_or(10);
    let seed = env_number("CAIRN_CUT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1
    });
    eprintln!("power cuts: {cuts} cuts, CAIRN_CUT_SEED={seed}");
    let mut instants = Instants(seed);

    let system = TestSystem::build("power-cuts", &manifest("v1"));
    let v2 = system.build_next("out-v2", &manifest("v2"));
    let versions = [
        (system.version().to_string(), "v1"),
        (v2.version.clone(), "v2"),
    ];
    let bundles = [system.output().bundle.clone(), v2.bundle.clone()];
    let cli = Cli::new(system.dir());

    let mut vm = system.boot(&[CONTROL]);
    let mut running = runs_completely(&vm, &versions);
    let mut outcomes = [0usize; 2];
    let started = Instant::now();
    for cut in 1..=cuts {
        let target = 1 - running;
        let to = format!("127.0.0.1:{}", vm.host_port(CONTROL));
        let bundle = bundles[target].to_str().unwrap_or_default().to_string();
        let mut deploy = cli.spawn(&[
            "deploy",
            &bundle,
            "--to",
            &to,
            "--allow-downgrade",
            "--poll-interval",
            "500ms",
        ]);
        let after = instants.next_below(WINDOW);
        std::thread::sleep(after);
        vm.qemu()
            .kill()
            .unwrap_or_else(|e| panic!("cut {cut}: killing qemu: {e}"));
        let _ = deploy.kill();
        let _ = deploy.wait();
        let lines = vm.line_count();
        drop(vm);

        // fsck.fat -n on the ESP as the cut left it.
        let disk = system.snapshot_disk();
        let entries = disk.esp_entries().unwrap_or_else(|e| panic!("{e:#}"));

        vm = system.boot(&[CONTROL]);
        running = runs_completely(&vm, &versions);
        outcomes[running] += 1;
        eprintln!(
            "power cut {cut}/{cuts} at {:.1}s (console line {lines}) deploying {} from {}: \
             the next boot runs {}; entries {entries:?}",
            after.as_secs_f64(),
            versions[target].1,
            versions[1 - target].1,
            versions[running].1
        );
    }
    eprintln!(
        "power cuts: {cuts} cuts in {:.0}s, every boot whole: v1 {} times, v2 {} times",
        started.elapsed().as_secs_f64(),
        outcomes[0],
        outcomes[1]
    );
    vm.power_off();
    drop(vm);
    system.snapshot_disk();
}
