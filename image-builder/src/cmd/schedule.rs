//! `cairn schedule`: when a manifest's jobs will run, before they do.
//!
//! For each job (or the one named) it prints the schedule, the zone and the
//! next fire instants in the job's zone (offset and abbreviation) and in
//! UTC, with a note wherever a daylight-saving change moves or repeats a
//! run. The times come from `cairn-schedule`, the code the scheduler in the
//! image runs.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use cairn_manifest::{Job, Manifest};
use cairn_schedule::jiff::civil::DateTime;
use cairn_schedule::jiff::tz::TimeZone;
use cairn_schedule::jiff::Timestamp;
use cairn_schedule::{upcoming, zone, Fire, FireKind, Schedule};

#[derive(clap::Args, Debug)]
pub struct ScheduleArgs {
    /// The manifest whose jobs to show.
    pub manifest: PathBuf,
    /// Show only this job.
    #[arg(long)]
    pub job: Option<String>,
    /// Start here instead of now: RFC 3339 (2027-03-14T01:00:00-05:00) or a
    /// civil time in each job's zone (2027-03-14T01:00).
    #[arg(long)]
    pub from: Option<String>,
    /// How many fire times to show per job.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub count: u16,
}

/// Where the listing starts.
#[derive(Debug, Clone, PartialEq)]
pub enum StartAt {
    Instant(Timestamp),
    /// A wall-clock time, read in each job's own zone.
    Civil(DateTime),
}

impl StartAt {
    /// Parses `--from`.
    pub fn parse(text: &str) -> anyhow::Result<StartAt> {
        let text = text.trim();
        if let Ok(instant) = text.parse::<Timestamp>() {
            return Ok(StartAt::Instant(instant));
        }
        if let Ok(civil) = text.parse::<DateTime>() {
            return Ok(StartAt::Civil(civil));
        }
        bail!(
            "`--from {text}` is not a time: write RFC 3339 with an offset, like \
             2027-03-14T01:00:00-05:00 or 2027-03-14T06:00:00Z, or a time in the job's \
             zone, like 2027-03-14T01:00"
        )
    }

    /// The instant in `zone`. A civil time the zone skips is read as the
    /// time after the gap; one it repeats, as the first occurrence.
    fn instant_in(&self, zone: &TimeZone) -> anyhow::Result<Timestamp> {
        match self {
            StartAt::Instant(instant) => Ok(*instant),
            StartAt::Civil(civil) => Ok(zone
                .to_ambiguous_timestamp(*civil)
                .compatible()
                .with_context(|| format!("{civil} is out of range"))?),
        }
    }
}

/// Runs the command; prints the listing or what is wrong.
pub fn main(args: &ScheduleArgs) -> ExitCode {
    let manifest = match cairn_manifest::load(&args.manifest) {
        Ok(manifest) => manifest,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            eprintln!("error: the manifest is not valid; fix it and run `cairn schedule` again");
            return ExitCode::from(2);
        }
    };
    let start = match &args.from {
        Some(text) => StartAt::parse(text),
        None => Ok(StartAt::Instant(Timestamp::now())),
    };
    let listing = start.and_then(|from| {
        render(
            &manifest,
            args.job.as_deref(),
            &from,
            usize::from(args.count),
        )
    });
    match listing {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// The listing for every job of `manifest`, or only `only`.
pub fn render(
    manifest: &Manifest,
    only: Option<&str>,
    from: &StartAt,
    count: usize,
) -> anyhow::Result<String> {
    let file = manifest.locations.file().display().to_string();
    let jobs: Vec<&Job> = match only {
        Some(name) => match manifest.jobs.get(name) {
            Some(job) => vec![job],
            None if manifest.jobs.is_empty() => {
                bail!("{file} has no job `{name}`: it has no [jobs] at all")
            }
            None => {
                let names: Vec<&str> = manifest.jobs.keys().map(String::as_str).collect();
                bail!(
                    "{file} has no job `{name}`; its jobs are: {}",
                    names.join(", ")
                )
            }
        },
        None => manifest.jobs.values().collect(),
    };
    if jobs.is_empty() {
        return Ok(format!(
            "{file} has no jobs; add a [jobs.NAME] table with a schedule to run one\n"
        ));
    }
    let mut out = String::new();
    for (i, job) in jobs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_job(&mut out, job, from, count)?;
    }
    Ok(out)
}

fn render_job(out: &mut String, job: &Job, from: &StartAt, count: usize) -> anyhow::Result<()> {
    let schedule = Schedule::parse(&job.schedule)
        .map_err(|e| anyhow::anyhow!("job `{}`: schedule `{}`: {e}", job.name, job.schedule))?;
    let tz = zone(&job.timezone).map_err(|e| {
        anyhow::anyhow!(
            "job `{}`: {e}; this build of cairn does not know it: use a zone of the tz database",
            job.name
        )
    })?;
    // Writing to a String cannot fail.
    let _ = writeln!(out, "job {}", job.name);
    let _ = writeln!(out, "  schedule  {}", schedule.as_str());
    let _ = writeln!(out, "  zone      {}", job.timezone);
    if schedule.is_reboot() {
        let _ = writeln!(out, "  runs      at every boot");
        return Ok(());
    }
    let start = from.instant_in(&tz)?;
    let _ = writeln!(
        out,
        "  next {count} after {} ({} UTC):",
        start
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M:%S %:z %Z"),
        start.strftime("%Y-%m-%d %H:%M:%S")
    );
    for fire in upcoming(&schedule, &tz, start, count) {
        let _ = writeln!(out, "    {}", fire_line(&fire, &schedule));
    }
    Ok(())
}

/// `2027-03-14 03:00 -04:00 EDT   2027-03-14 07:00 UTC   note`
fn fire_line(fire: &Fire, schedule: &Schedule) -> String {
    let local = fire.local.strftime("%Y-%m-%d %H:%M %:z %Z").to_string();
    let utc = fire.instant.strftime("%Y-%m-%d %H:%M UTC").to_string();
    let note = match fire.kind {
        FireKind::Exact => String::new(),
        FireKind::AfterGap { named } => format!(
            "  ({} does not exist that day: the clock jumps forward; runs once after the jump)",
            named.strftime("%H:%M")
        ),
        FireKind::FirstOfFold if schedule.follows_elapsed_time() => {
            "  (the clock falls back after this: the hour repeats and runs again)".to_owned()
        }
        FireKind::FirstOfFold => {
            "  (this time occurs twice that day: the clock falls back; runs at the first only)"
                .to_owned()
        }
        FireKind::SecondOfFold => {
            "  (repeated hour: the clock fell back; the schedule follows elapsed time)".to_owned()
        }
    };
    format!("{local:<30} {utc}{note}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn manifest() -> Manifest {
        let text = r#"
version = 1
[system]
timezone = "America/New_York"
[jobs.backup]
schedule = "30 2 * * *"
bundle = "b"
exec = ["/bin/backup"]
[jobs.boot]
schedule = "@reboot"
bundle = "b"
exec = ["/bin/boot"]
[jobs.report]
schedule = "0 9 * * mon"
timezone = "Asia/Kolkata"
bundle = "b"
exec = ["/bin/report"]
"#;
        cairn_manifest::parse(text, Path::new("system.toml")).unwrap()
    }

    #[test]
    fn from_parses_instants_and_civil_times() {
        let rfc = StartAt::parse("2027-03-14T01:00:00-05:00").unwrap();
        assert_eq!(
            rfc,
            StartAt::Instant("2027-03-14T06:00:00Z".parse().unwrap())
        );
        let civil = StartAt::parse("2027-03-14T01:00").unwrap();
        assert!(matches!(civil, StartAt::Civil(_)));
        let err = StartAt::parse("tomorrow").unwrap_err().to_string();
        assert!(err.contains("RFC 3339"), "{err}");
    }

    #[test]
    fn lists_the_gap_fire_with_a_note() {
        let from = StartAt::parse("2027-03-13T12:00:00Z").unwrap();
        let text = render(&manifest(), Some("backup"), &from, 2).unwrap();
        assert!(text.contains("zone      America/New_York"), "{text}");
        assert!(
            text.contains("2027-03-14 03:00 -04:00 EDT"),
            "the gap fire:\n{text}"
        );
        assert!(text.contains("2027-03-14 07:00 UTC"), "{text}");
        assert!(text.contains("02:30 does not exist"), "{text}");
        assert!(text.contains("2027-03-15 02:30 -04:00 EDT"), "{text}");
    }

    #[test]
    fn civil_from_is_read_in_each_jobs_zone() {
        let from = StartAt::parse("2027-06-07T09:00").unwrap();
        let text = render(&manifest(), None, &from, 1).unwrap();
        assert!(text.contains("job boot\n"), "{text}");
        assert!(text.contains("at every boot"), "{text}");
        assert!(text.contains("2027-06-14 09:00 +05:30 IST"), "{text}");
        assert!(text.contains("2027-06-08 02:30 -04:00 EDT"), "{text}");
    }

    #[test]
    fn unknown_job_names_the_jobs() {
        let from = StartAt::parse("2027-01-01T00:00:00Z").unwrap();
        let err = render(&manifest(), Some("bakup"), &from, 1)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "system.toml has no job `bakup`; its jobs are: backup, boot, report"
        );
    }
}
