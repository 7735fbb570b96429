//! One test per surprise other schedulers shipped that the time core can
//! prevent, named after it (numbers are the rows of the reference table).

mod common;

use std::time::Duration;

use cairn_schedule::jiff::tz::TimeZone;
use cairn_schedule::jiff::{SignedDuration, Timestamp};
use cairn_schedule::{
    next_fire, on_fire, on_wake, reboot_due, stable_delay, upcoming, zone, Clock, FireKind, Missed,
    OnFire, Overlap, RunState, Schedule,
};

fn s(text: &str) -> Schedule {
    Schedule::parse(text).unwrap()
}

fn t(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// The next `count` fires as local times with offsets.
fn local(schedule: &str, zone_name: &str, after: &str, count: usize) -> Vec<String> {
    let tz = zone(zone_name).unwrap();
    upcoming(&s(schedule), &tz, t(after), count)
        .iter()
        .map(|f| f.local.strftime("%Y-%m-%d %H:%M %Z").to_string())
        .collect()
}

#[test]
fn row_01_spring_forward_gap_does_not_skip_the_job() {
    // 02:30 does not exist in New York on 2027-03-14: it runs at 03:00 EDT, once.
    assert_eq!(
        local("30 2 * * *", "America/New_York", "2027-03-13T12:00:00Z", 2),
        ["2027-03-14 03:00 EDT", "2027-03-15 02:30 EDT"]
    );
    // Lord Howe springs forward by 30 minutes (02:00 -> 02:30).
    assert_eq!(
        local(
            "15 2 * * *",
            "Australia/Lord_Howe",
            "2027-10-02T00:00:00Z",
            2
        ),
        ["2027-10-03 02:30 +11", "2027-10-04 02:15 +11"]
    );
    // Sao Paulo used to skip midnight itself.
    assert_eq!(
        local("0 0 * * *", "America/Sao_Paulo", "2018-11-03T12:00:00Z", 2),
        ["2018-11-04 01:00 -02", "2018-11-05 00:00 -02"]
    );
}

#[test]
fn row_02_fall_back_neither_doubles_fixed_times_nor_drops_intervals() {
    // Fixed time in the repeated hour: once, at the first occurrence.
    assert_eq!(
        local("30 1 * * *", "America/New_York", "2027-11-07T00:00:00Z", 2),
        ["2027-11-07 01:30 EDT", "2027-11-08 01:30 EST"]
    );
    // Interval job: every 10 minutes of elapsed time straight through.
    let tz = zone("America/New_York").unwrap();
    let fires = upcoming(&s("*/10 * * * *"), &tz, t("2027-11-07T05:00:00Z"), 18);
    assert!(fires
        .windows(2)
        .all(|w| w[1].instant.duration_since(w[0].instant) == SignedDuration::from_mins(10)));
    assert!(fires.iter().any(|f| f.kind == FireKind::SecondOfFold));
    // Europe/Berlin, the hourly shorthand: one run per real hour.
    let tz = zone("Europe/Berlin").unwrap();
    let fires = upcoming(&s("@hourly"), &tz, t("2027-10-30T22:30:00Z"), 5);
    assert!(fires
        .windows(2)
        .all(|w| w[1].instant.duration_since(w[0].instant) == SignedDuration::from_hours(1)));
}

#[test]
fn row_03_dst_change_does_not_spill_over_the_rest_of_the_day() {
    // systemd's `02/4:30`: 02:30, 06:30, ... The 02:30 falls in the gap;
    // the rest of the day is untouched.
    assert_eq!(
        local(
            "30 2-23/4 * * *",
            "America/New_York",
            "2027-03-14T05:00:00Z",
            4
        ),
        [
            "2027-03-14 03:00 EDT",
            "2027-03-14 06:30 EDT",
            "2027-03-14 10:30 EDT",
            "2027-03-14 14:30 EDT"
        ]
    );
    // And computed from any instant of that day, not only from the last fire.
    let tz = zone("America/New_York").unwrap();
    let from_walker = common::walk(
        &s("30 2-23/4 * * *"),
        &tz,
        t("2027-03-13T00:00:00Z"),
        t("2027-03-16T00:00:00Z"),
    );
    let mut after = t("2027-03-13T00:00:00Z");
    while after < t("2027-03-15T00:00:00Z") {
        let expected = from_walker.iter().find(|f| **f > after).copied();
        assert_eq!(
            next_fire(&s("30 2-23/4 * * *"), &tz, after),
            expected,
            "after {after}"
        );
        after += SignedDuration::from_mins(17);
    }
}

#[test]
fn row_04_month_length_and_steps_do_not_skip_across_month_end() {
    // systemd's `*-*-1/5`: the 31st, then the 1st of the next month.
    assert_eq!(
        local("0 0 1-31/5 * *", "UTC", "2027-01-25T00:00:00Z", 4),
        [
            "2027-01-26 00:00 UTC",
            "2027-01-31 00:00 UTC",
            "2027-02-01 00:00 UTC",
            "2027-02-06 00:00 UTC"
        ]
    );
    assert_eq!(
        local("0 0 31 * *", "UTC", "2027-01-31T00:00:00Z", 2),
        ["2027-03-31 00:00 UTC", "2027-05-31 00:00 UTC"]
    );
    assert_eq!(
        local("0 0 29 2 *", "UTC", "2097-01-01T00:00:00Z", 1),
        ["2104-02-29 00:00 UTC"]
    );
}

#[test]
fn row_05_runs_missed_while_powered_off_fire_once() {
    let tz = zone("Europe/Berlin").unwrap();
    let last = t("2027-01-01T01:30:00Z");
    let boot = t("2027-01-04T09:00:00Z");
    let w = on_wake(&s("30 2 * * *"), &tz, Some(last), boot, Missed::RunOnce);
    assert_eq!(w.run, Some(t("2027-01-04T01:30:00Z")));
    assert_eq!(w.passed_over, 2);
    let w = on_wake(&s("30 2 * * *"), &tz, Some(last), boot, Missed::Skip);
    assert_eq!(w.run, None);
    assert_eq!(w.persist, Some(t("2027-01-04T01:30:00Z")));
}

#[test]
fn row_06_no_catch_up_storm_at_boot() {
    // A year of downtime for an every-minute job is one run, not 525,600.
    let last = t("2026-01-01T00:00:00Z");
    let boot = t("2027-01-01T00:10:00Z");
    let w = on_wake(
        &s("* * * * *"),
        &TimeZone::UTC,
        Some(last),
        boot,
        Missed::RunOnce,
    );
    assert_eq!(w.run, Some(t("2027-01-01T00:10:00Z")));
    // Catch-ups of different jobs start spread over a window, not together.
    let spread = Duration::from_secs(120);
    let delays: Vec<Duration> = ["backup", "report", "rotate", "vacuum"]
        .iter()
        .map(|job| stable_delay(job, spread))
        .collect();
    assert!(delays.iter().all(|d| *d < spread));
    let mut distinct = delays.clone();
    distinct.dedup();
    assert!(distinct.len() > 1, "{delays:?}");
}

#[test]
fn row_07_no_duplicate_run_after_a_crash_between_launch_and_persist() {
    // The scheduled instant is persisted before launch. A crash and restart
    // a few seconds later finds it and runs nothing.
    let tz = zone("Europe/Berlin").unwrap();
    let schedule = s("30 2 * * *");
    let w = on_wake(
        &schedule,
        &tz,
        Some(t("2027-01-09T01:30:00Z")),
        t("2027-01-10T01:30:00.002Z"),
        Missed::RunOnce,
    );
    assert_eq!(w.run, Some(t("2027-01-10T01:30:00Z")));
    assert_eq!(w.persist, w.run, "what runs is what gets persisted first");
    let persisted = t("2027-01-10T01:30:00Z");
    let restart = t("2027-01-10T01:30:04Z");
    let w = on_wake(&schedule, &tz, Some(persisted), restart, Missed::RunOnce);
    assert_eq!((w.run, w.persist), (None, None));
    assert_eq!(w.next, Some(t("2027-01-11T01:30:00Z")));
}

#[test]
fn row_08_overlapping_runs_are_skipped_and_logged_once() {
    let mut state = RunState::default();
    let mut logged = 0;
    for tick in 0..100 {
        let (action, next) = on_fire(Overlap::Skip, state);
        if tick == 0 {
            assert_eq!(action, OnFire::Start);
        } else if let OnFire::Skip { log } = action {
            logged += usize::from(log);
        } else {
            panic!("tick {tick}: {action:?}");
        }
        state = next;
    }
    assert_eq!(logged, 1);
}

#[test]
fn row_09_clock_steps_catch_up_small_never_repeat_backward_reanchor_large() {
    let schedule = s("*/10 * * * *");
    let last = t("2027-01-01T12:00:00Z");
    // Small forward step over one fire: it runs (on time within a minute).
    let w = on_wake(
        &schedule,
        &TimeZone::UTC,
        Some(last),
        t("2027-01-01T12:10:40Z"),
        Missed::Skip,
    );
    assert_eq!(
        (w.run, w.clock),
        (Some(t("2027-01-01T12:10:00Z")), Clock::Normal)
    );
    // Backward step: nothing at or before the last run fires again.
    let w = on_wake(
        &schedule,
        &TimeZone::UTC,
        Some(last),
        t("2027-01-01T11:00:00Z"),
        Missed::RunOnce,
    );
    assert_eq!(w.run, None);
    assert_eq!(w.next, Some(t("2027-01-01T12:10:00Z")));
    assert!(matches!(w.clock, Clock::Behind { .. }));
    // Large forward step: one decision, then re-anchored on the new time.
    let now = t("2027-03-01T08:03:00Z");
    let w = on_wake(&schedule, &TimeZone::UTC, Some(last), now, Missed::Skip);
    assert_eq!(w.run, None);
    assert!(matches!(w.clock, Clock::Late { .. }));
    assert_eq!(w.next, Some(t("2027-03-01T08:10:00Z")));
}

#[test]
fn row_10_zones_are_explicit_and_a_bad_zone_is_an_error() {
    for bad in ["CEST", "PST", "Berlin", "europe/berlin", "Europe/Berln"] {
        assert!(zone(bad).is_err(), "{bad}");
    }
    // The same schedule in two zones fires at different instants, each
    // shown in its zone and in UTC.
    let berlin = upcoming(
        &s("0 9 * * *"),
        &zone("Europe/Berlin").unwrap(),
        t("2027-06-01T00:00:00Z"),
        1,
    );
    let kolkata = upcoming(
        &s("0 9 * * *"),
        &zone("Asia/Kolkata").unwrap(),
        t("2027-06-01T00:00:00Z"),
        1,
    );
    assert_eq!(berlin[0].instant, t("2027-06-01T07:00:00Z"));
    assert_eq!(kolkata[0].instant, t("2027-06-01T03:30:00Z"));
    assert_eq!(
        kolkata[0].local.strftime("%H:%M %:z").to_string(),
        "09:00 +05:30"
    );
}

#[test]
fn row_11_day_of_month_or_day_of_week_follows_the_vixie_rule() {
    // Both restricted: the 13th OR any Friday.
    assert_eq!(
        local("0 0 13 * fri", "UTC", "2026-02-01T00:00:00Z", 4),
        [
            "2026-02-06 00:00 UTC",
            "2026-02-13 00:00 UTC",
            "2026-02-20 00:00 UTC",
            "2026-02-27 00:00 UTC"
        ]
    );
    // `*` in one of them: the other decides alone.
    assert_eq!(
        local("0 0 * * fri", "UTC", "2026-02-01T00:00:00Z", 1),
        ["2026-02-06 00:00 UTC"]
    );
    // A `*`-led step is unrestricted for the rule (both must match) ...
    assert_eq!(
        local("0 0 */2 * fri", "UTC", "2026-02-01T00:00:00Z", 1),
        ["2026-02-13 00:00 UTC"]
    );
    // ... while an explicit full range is a restriction: every day matches.
    assert_eq!(
        local("0 0 1-31 * fri", "UTC", "2026-02-01T00:00:00Z", 1),
        ["2026-02-02 00:00 UTC"]
    );
}

#[test]
fn row_12_reboot_runs_once_per_boot_and_never_on_the_calendar() {
    let reboot = s("@reboot");
    assert!(reboot.is_reboot());
    assert_eq!(
        next_fire(&reboot, &TimeZone::UTC, Timestamp::UNIX_EPOCH),
        None
    );
    assert!(reboot_due(None, "4b1f"));
    assert!(
        !reboot_due(Some("4b1f"), "4b1f"),
        "a scheduler restart is not a boot"
    );
    assert!(reboot_due(Some("4b1f"), "9c2e"));
}

#[test]
fn row_13_fire_times_are_exact_to_the_second() {
    let tz = zone("Australia/Lord_Howe").unwrap();
    for fire in upcoming(&s("*/7 * * * *"), &tz, t("2027-04-03T14:01:13.5Z"), 50) {
        assert_eq!(fire.instant.subsec_nanosecond(), 0);
        assert_eq!(fire.local.second(), 0);
        assert_eq!(fire.local.minute() % 7, 0);
    }
    // A fire reached a few milliseconds late is on time, not "missed".
    let w = on_wake(
        &s("* * * * *"),
        &TimeZone::UTC,
        Some(t("2027-01-01T00:00:00Z")),
        t("2027-01-01T00:01:00.008Z"),
        Missed::Skip,
    );
    assert_eq!(w.run, Some(t("2027-01-01T00:01:00Z")));
}

#[test]
fn row_16_delays_are_per_job_and_stable() {
    let window = Duration::from_secs(300);
    assert_eq!(
        stable_delay("backup", window),
        stable_delay("backup", window)
    );
    assert_ne!(
        stable_delay("backup", window),
        stable_delay("backups", window)
    );
}
