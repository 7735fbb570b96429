//! PID 1's memory as the number of supervised instances grows: the same
//! image with one sleeping app at `instances = N` for each N, booted once
//! each under QEMU (an app has at most 64 instances, so N is spread over
//! apps of 64). PID 1 prints its resident memory (`VmRSS`) on the line
//! "all apps ready (... pid 1 rss N KiB)"; a second app, started `after`
//! every instance is ready, prints the guest's /proc/meminfo, so
//! `MemAvailable` is read with all instances running.

use std::time::Duration;

use anyhow::{bail, Context};

use crate::{TestSystem, STEP_TIMEOUT};

/// How long 100 sandboxed instances may take to be ready under TCG.
const READY_TIMEOUT: Duration = Duration::from_secs(600);

/// The most instances one app may have (the manifest's limit).
const MAX_PER_APP: u32 = 64;

/// The manifest: `instances` sleepers, as apps `sleeper0`, `sleeper1`, ...
/// of at most [`MAX_PER_APP`] instances each, and the meminfo reader after
/// them all.
pub fn manifest(instances: u32) -> String {
    let mut text = String::from("version = 1\n");
    let mut names = Vec::new();
    let mut left = instances.max(1);
    while left > 0 {
        let here = left.min(MAX_PER_APP);
        let name = format!("sleeper{}", names.len());
        text.push_str(&format!(
            "\n[apps.{name}]\nbundle = \"bin/cairn-testapp\"\n\
             exec = [\"/bin/cairn-testapp\", \"sleep\"]\ninstances = {here}\n\
             restart = \"always\"\n"
        ));
        names.push(format!("\"{name}\""));
        left -= here;
    }
    text.push_str(&format!(
        "\n[apps.meminfo]\nbundle = \"bin/cairn-testapp\"\n\
         exec = [\"/bin/cairn-testapp\", \"cat\", \"/proc/meminfo\"]\n\
         after = [{}]\nrestart = \"never\"\n",
        names.join(", ")
    ));
    text
}

/// The figures of one boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    pub instances: u32,
    pub rss_kib: u64,
    pub mem_available_kib: u64,
    pub all_ready_ms: u64,
}

/// The number after `prefix` in `text`.
pub fn number_after(text: &str, prefix: &str) -> Option<u64> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn measure(instances: u32) -> anyhow::Result<Figures> {
    let system = TestSystem::build(&format!("instances-{instances}"), &manifest(instances));
    let mut vm = system.boot(&[]);
    let available = vm.wait_for_regex(0, r"^\[meminfo\] MemAvailable:", READY_TIMEOUT);
    let ready = vm.wait_for_after(0, "cairn: all apps ready", READY_TIMEOUT);
    let started = vm
        .lines_matching(r"^\[sleeper\d+(\.\d+)?\] testapp: up")
        .len();
    if started != instances as usize {
        bail!("{started} of {instances} sleepers said they were up");
    }
    let figures = Figures {
        instances,
        rss_kib: number_after(&ready.text, "pid 1 rss").context("pid 1 rss")?,
        mem_available_kib: number_after(&available.text, "MemAvailable:")
            .context("MemAvailable")?,
        all_ready_ms: number_after(&ready.text, "all apps ready (").context("ready time")?,
    };
    vm.powerdown();
    let status = vm.wait_exit(STEP_TIMEOUT);
    if !status.success() {
        bail!("qemu exited with {status}");
    }
    Ok(figures)
}

/// Boots once per count and prints a Markdown table and the growth per
/// instance between the smallest and the largest count.
pub fn run(counts: &[u32]) -> anyhow::Result<()> {
    let mut all = Vec::new();
    for &count in counts {
        let figures = measure(count)?;
        eprintln!("instances {count}: {figures:?}");
        all.push(figures);
    }
    println!("## PID 1's memory with N supervised instances (QEMU, TCG)\n");
    println!("| sleeper instances | PID 1 RSS at all apps ready | guest MemAvailable | all apps ready after /init |");
    println!("|---|---|---|---|");
    for f in &all {
        println!(
            "| {} | {} KiB | {} KiB | {} ms |",
            f.instances, f.rss_kib, f.mem_available_kib, f.all_ready_ms
        );
    }
    if let (Some(first), Some(last)) = (all.first(), all.last()) {
        let extra = f64::from(last.instances.saturating_sub(first.instances).max(1));
        let rss = (last.rss_kib as f64 - first.rss_kib as f64) / extra;
        let guest = (first.mem_available_kib as f64 - last.mem_available_kib as f64) / extra;
        println!(
            "\nPer extra instance: PID 1 RSS {rss:+.1} KiB; guest MemAvailable {:+.0} KiB (the instance itself: its reaper, the app, its namespaces and mounts).",
            -guest
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_is_valid_and_counts_instances() {
        let text = manifest(100);
        let parsed = cairn_manifest::parse(&text, std::path::Path::new("system.toml")).unwrap();
        assert_eq!(parsed.apps["sleeper0"].instances, 64);
        assert_eq!(parsed.apps["sleeper1"].instances, 36);
        assert_eq!(
            parsed.apps["meminfo"].after,
            vec!["sleeper0".to_string(), "sleeper1".to_string()]
        );
        let one = cairn_manifest::parse(&manifest(1), std::path::Path::new("system.toml")).unwrap();
        assert_eq!(one.apps["sleeper0"].instances, 1);
        assert_eq!(one.apps.len(), 2);
    }

    #[test]
    fn reads_meminfo_and_ready_lines() {
        assert_eq!(
            number_after("[meminfo] MemAvailable:     412345 kB", "MemAvailable:"),
            Some(412345)
        );
        let ready = "cairn: all apps ready (1639 ms after /init, pid 1 rss 2004 KiB)";
        assert_eq!(number_after(ready, "pid 1 rss"), Some(2004));
        assert_eq!(number_after(ready, "all apps ready ("), Some(1639));
    }
}
