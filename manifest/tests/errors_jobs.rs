//! Errors in `[jobs.NAME]`, and job defaults.

mod support;

use std::time::Duration;

use cairn_manifest::{Missed, Overlap};
use support::{error, help, ok};

fn job(schedule: &str, extra: &str) -> String {
    format!("version = 1\n[jobs.backup]\nschedule = \"{schedule}\"\nbundle = \"b\"\nexec = [\"/bin/backup\"]\n{extra}")
}

#[test]
fn defaults() {
    let m = ok(&format!(
        "version = 1\n[system]\ntimezone = \"Asia/Tokyo\"\n{}",
        &job("@daily", "")[12..]
    ));
    let backup = &m.jobs["backup"];
    assert_eq!(backup.timezone, "Asia/Tokyo");
    assert_eq!(backup.overlap, Overlap::Skip);
    assert_eq!(backup.missed, Missed::Skip);
    assert_eq!(backup.timeout, None);
    let m = ok(&job(
        "*/5 * * * *",
        "overlap = \"queue\"\nmissed = \"run-once\"\ntimeout = \"1h30m\"\ntimezone = \"UTC\"\n",
    ));
    let backup = &m.jobs["backup"];
    assert_eq!(
        (backup.overlap, backup.missed),
        (Overlap::Queue, Missed::RunOnce)
    );
    assert_eq!(backup.timeout, Some(Duration::from_secs(5400)));
    assert_eq!(backup.timezone, "UTC");
}

#[test]
fn schedule_errors_point_into_the_schedule() {
    assert_eq!(
        error(&job("30 2 * *", "")),
        "3:13: a schedule has five fields, this one has 4"
    );
    assert_eq!(
        error(&job("30 24 * * *", "")),
        "3:16: 24 is out of range for the hour field"
    );
    assert_eq!(help(&job("30 24 * * *", "")), "the field's range is 0-23");
    assert_eq!(
        error(&job("0 0 * * mon-sun/9", "")),
        "3:29: step `9` in the day-of-week field must be from 1 to 8"
    );
    assert_eq!(
        error(&job("0 0 30 feb *", "")),
        "3:17: this schedule never runs: none of its months has the days it names"
    );
    assert_eq!(
        error(&job("@nightly", "")),
        "3:13: unknown schedule shorthand `@nightly`"
    );
    let text = "version = 1\n[jobs.backup]\nbundle = \"b\"\nexec = [\"/b\"]\n";
    assert_eq!(error(text), "2:7: [jobs.backup] has no `schedule`");
}

#[test]
fn job_keys() {
    assert_eq!(
        error(&job("@daily", "timezone = \"Mars\"\n")),
        "6:12: unknown time zone `Mars`"
    );
    assert_eq!(
        error(&job("@daily", "missed = \"run_once\"\n")),
        "6:10: `missed` in [jobs.backup] must be \"skip\" or \"run-once\", not \"run_once\""
    );
    assert_eq!(
        error(&job("@daily", "overlap = \"parallel\"\n")),
        "6:11: `overlap` in [jobs.backup] must be \"skip\", \"queue\" or \"allow\", not \"parallel\""
    );
    assert_eq!(
        error(&job("@daily", "timeout = \"0s\"\n")),
        "6:11: `timeout` in [jobs.backup] must be longer than zero"
    );
    assert_eq!(
        error(&job("@daily", "after = [\"web\"]\n")),
        "6:1: unknown key `after` in [jobs.backup]"
    );
    let text = "version = 1\n[jobs.backup]\nschedule = \"@daily\"\nbundle = \"b\"\nexec = [\"/bin/backup\", \"${ports.x}\"]\n";
    assert_eq!(error(text), "5:25: `${ports.x}`: jobs have no ports");
}
