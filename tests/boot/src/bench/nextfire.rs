//! What computing a job's next fire costs: `cairn-bench next-fire`.
//!
//! PID 1 computes one next fire per job after each run and after each clock
//! step, so the cost matters little per call; what it shows is that exact
//! zone arithmetic (gaps, folds, the Vixie rule) is not a reason to cache
//! or approximate. Each schedule is asked for its next fire after many
//! different instants spread over a year, so both the common path and the
//! searches across transitions are in the figure.

use std::time::Instant;

use anyhow::{anyhow, Context};
use cairn_schedule::jiff::{SignedDuration, Timestamp};
use cairn_schedule::{next_fire, zone, Schedule};

/// Schedules that exercise the different paths: every minute, a daily time
/// in a DST zone (through the spring gap), a day-of-month OR day-of-week
/// rule, and a 30-minute-offset zone.
const CASES: [(&str, &str); 5] = [
    ("* * * * *", "UTC"),
    ("30 2 * * *", "Europe/Berlin"),
    ("0 9 13 * 5", "America/New_York"),
    ("15 1-3 * * 0", "Australia/Lord_Howe"),
    ("0 0 29 2 *", "UTC"),
];

/// Times `calls` next-fire computations per schedule and prints a table.
pub fn run(calls: u32) -> anyhow::Result<()> {
    let start: Timestamp = "2026-01-01T00:00:00Z".parse().context("start instant")?;
    // A prime step in seconds lands on every minute, hour and weekday.
    let step = SignedDuration::from_secs((31_536_000 / i64::from(calls.max(1))) | 1);
    println!("| schedule | zone | calls | median | p90 | max |");
    println!("|---|---|---|---|---|---|");
    for (text, zone_name) in CASES {
        let schedule = Schedule::parse(text).map_err(|e| anyhow!("{text}: {e}"))?;
        let tz = zone(zone_name).map_err(|e| anyhow!("{zone_name}: {e}"))?;
        let mut times = Vec::with_capacity(calls as usize);
        let mut after = start;
        for _ in 0..calls {
            let began = Instant::now();
            let fire = next_fire(&schedule, &tz, after);
            times.push(began.elapsed());
            if fire.is_none() {
                return Err(anyhow!("{text} in {zone_name}: no next fire after {after}"));
            }
            after = after.checked_add(step).context("instant overflow")?;
        }
        times.sort();
        let at = |q: usize| {
            times
                .get((times.len() - 1) * q / 100)
                .map_or(0, |d| d.as_nanos())
        };
        println!(
            "| `{text}` | {zone_name} | {calls} | {} ns | {} ns | {} ns |",
            at(50),
            at(90),
            at(100)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_case_has_a_next_fire() {
        assert!(super::run(20).is_ok());
    }
}
