//! Deploy and rollback times under QEMU: `cairn-bench deploy [--rounds N]`.
//!
//! One machine, booted once from a first version; then per round:
//!
//! - a new good version: the wall time from starting `cairn deploy` to its
//!   exit 0 (uploaded, verified and written on the device, rebooted into,
//!   every app ready, blessed, and seen so by the client's polling);
//! - a new version whose app crash-loops: the time on the machine's console
//!   from the bad version's "init started" to the previous version's "all
//!   apps ready" after the automatic rollback, and the wall time of
//!   `cairn deploy` to its exit 3.

use std::time::Instant;

use anyhow::{bail, Context};

use crate::cli::Cli;
use crate::machine::{BOOT_TIMEOUT, STEP_TIMEOUT};
use crate::system::TestSystem;

const CONTROL: u16 = 7443;

fn manifest(tag: &str, exec: &str) -> String {
    format!(
        r#"
version = 1

[system]
hostname = "bench"

[network.interfaces.eth0]
dhcp = true

[update]
healthy_within = "3m"

[apps.web]
bundle = "bin/cairn-testapp"
exec = [{exec}]
restart = "always"

[apps.web.paths]
"/var/lib/web" = "state"

[apps.hello]
bundle = "bin/hello"
exec = ["/bin/hello"]
ports.http = 8080
restart = "always"
# {tag}
"#
    )
}

fn good(tag: &str) -> String {
    let exec = format!(r#""/bin/cairn-testapp", "deploy-probe", "{tag}", "/run/secrets/none""#);
    manifest(tag, &exec)
}

fn bad(tag: &str) -> String {
    manifest(tag, r#""/bin/cairn-testapp", "crash-after", "0", "7""#)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn list(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.1}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run(rounds: usize) -> anyhow::Result<()> {
    let system = TestSystem::build("bench-deploy", &good("g0"));
    let cli = Cli::new(system.dir());
    let vm = system.boot(&[CONTROL]);
    vm.wait_for("cairn: boot blessed");
    let to = format!("127.0.0.1:{}", vm.host_port(CONTROL));
    let mut deploys = Vec::new();
    let mut rollbacks = Vec::new();
    let mut bad_deploys = Vec::new();
    for round in 1..=rounds {
        let next = system.build_next(&format!("out-g{round}"), &good(&format!("g{round}")));
        let bundle = next.bundle.to_string_lossy().into_owned();
        let started = Instant::now();
        let ran = cli.run(&["deploy", &bundle, "--to", &to, "--poll-interval", "500ms"]);
        if ran.code != Some(0) {
            bail!("round {round}: deploying a good version: {}", ran.text());
        }
        deploys.push(started.elapsed().as_secs_f64());

        let broken = system.build_next(&format!("out-b{round}"), &bad(&format!("b{round}")));
        let bundle = broken.bundle.to_string_lossy().into_owned();
        let mark = vm.line_count();
        let started = Instant::now();
        let ran = cli.run(&["deploy", &bundle, "--to", &to, "--poll-interval", "500ms"]);
        if ran.code != Some(3) {
            bail!(
                "round {round}: deploying a crash-looping version: {}",
                ran.text()
            );
        }
        bad_deploys.push(started.elapsed().as_secs_f64());
        let mounted = vm.wait_for_after(
            mark,
            &format!("version {} mounted", broken.version),
            STEP_TIMEOUT,
        );
        let init = vm
            .lines()
            .into_iter()
            .take(mounted.index + 1)
            .skip(mark)
            .rfind(|l| l.text.contains("cairn: init started"))
            .context("no init line before the bad version's bank")?;
        let back = vm.wait_for_after(
            mounted.index,
            &format!("version {} mounted", next.version),
            BOOT_TIMEOUT,
        );
        let ready = vm.wait_for_after(back.index, "cairn: all apps ready", STEP_TIMEOUT);
        rollbacks.push((ready.at - init.at).as_secs_f64());
        eprintln!(
            "round {round}: deploy {:.1}s; bad version's boot to the old one ready {:.1}s",
            deploys[round - 1],
            rollbacks[round - 1]
        );
    }
    let mut vm = vm;
    vm.power_off();

    println!("## Deploying under QEMU ({rounds} rounds)\n");
    println!("| | median | runs |\n|---|---|---|");
    println!(
        "| `cairn deploy` of a good version to its exit 0 (blessed) | {:.1} s | {} |",
        median(deploys.clone()),
        list(&deploys)
    );
    println!(
        "| a crash-looping version's boot (init started) to the previous version's apps ready | {:.1} s | {} |",
        median(rollbacks.clone()),
        list(&rollbacks)
    );
    println!(
        "| `cairn deploy` of the crash-looping version to its exit 3 (rolled back) | {:.1} s | {} |",
        median(bad_deploys.clone()),
        list(&bad_deploys)
    );
    Ok(())
}
