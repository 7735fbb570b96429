//! next_fire against the brute-force minute walker, across real tz
//! transitions: US, EU, southern hemisphere, a 30-minute shift, a zone
//! without DST, and zones that changed their rules.

mod common;

use cairn_schedule::jiff::tz::TimeZone;
use cairn_schedule::jiff::{SignedDuration, Timestamp};
use cairn_schedule::{next_fire, zone, Schedule};
use common::{chain, transitions, walk, ZONES};
use proptest::prelude::*;

const MINUTES: &[&str] = &[
    "*", "*/5", "*/15", "0", "30", "0,30", "45", "*/7", "5-20/5", "59",
];
const HOURS: &[&str] = &[
    "*", "*/2", "*/3", "0", "1", "2", "3", "0-3", "1,2", "23", "2-23/4",
];
const DAYS: &[&str] = &["*", "*", "*", "1", "*/2", "13", "29", "31", "1-7", "30"];
const MONTHS: &[&str] = &["*", "*", "*", "2", "3,10", "*/3", "mar-may", "9-12"];
const WEEKDAYS: &[&str] = &["*", "*", "*", "0", "5", "1-5", "*/2", "7", "sat,sun"];

fn schedule() -> impl Strategy<Value = Schedule> {
    let pick = |list: &'static [&'static str]| prop::sample::select(list);
    (
        pick(MINUTES),
        pick(HOURS),
        pick(DAYS),
        pick(MONTHS),
        pick(WEEKDAYS),
    )
        .prop_filter_map("a schedule that can run", |(mi, h, d, mo, w)| {
            Schedule::parse(&format!("{mi} {h} {d} {mo} {w}")).ok()
        })
}

fn assert_same(schedule: &Schedule, tz: &TimeZone, from: Timestamp, to: Timestamp) {
    let expected = walk(schedule, tz, from, to);
    let got = chain(schedule, tz, from, to);
    assert_eq!(
        got,
        expected,
        "`{schedule}` in {:?} from {from}",
        tz.iana_name()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Four days around a randomly chosen real transition of a zone.
    #[test]
    fn chained_next_fire_equals_the_walker_around_transitions(
        zone_index in 0..ZONES.len(),
        pick in any::<prop::sample::Index>(),
        lead_minutes in 0i64..3 * 24 * 60,
        lead_seconds in 0i64..60,
        schedule in schedule(),
    ) {
        let tz = zone(ZONES[zone_index]).unwrap();
        let all = transitions(&tz, 1990, 2037);
        let anchor = if all.is_empty() {
            Timestamp::from_second(1_800_000_000).unwrap()
        } else {
            all[pick.index(all.len())]
        };
        let from = anchor - SignedDuration::from_mins(lead_minutes) - SignedDuration::from_secs(lead_seconds);
        let to = from + SignedDuration::from_hours(96);
        assert_same(&schedule, &tz, from, to);
    }

    /// next_fire from an arbitrary instant (not a previous fire) near a
    /// transition is the walker's first fire after it.
    #[test]
    fn next_fire_from_any_instant(
        zone_index in 0..ZONES.len(),
        pick in any::<prop::sample::Index>(),
        offset_seconds in -3 * 3600i64..3 * 3600,
        schedule in schedule(),
    ) {
        let tz = zone(ZONES[zone_index]).unwrap();
        let all = transitions(&tz, 1990, 2037);
        prop_assume!(!all.is_empty());
        let after = all[pick.index(all.len())] + SignedDuration::from_secs(offset_seconds);
        let window_end = after + SignedDuration::from_hours(24 * 40);
        let expected = walk(&schedule, &tz, after, window_end).first().copied();
        let got = next_fire(&schedule, &tz, after).filter(|t| *t <= window_end);
        prop_assert_eq!(got, expected, "`{}` in {:?} after {}", schedule, tz.iana_name(), after);
    }
}

/// Whole years, minute by minute, for schedules that touch the hours where
/// transitions happen, in every zone of the list.
#[test]
fn years_of_minutes_in_every_zone() {
    let schedules = [
        "*/30 * * * *",
        "30 2 * * *",
        "0 0 * * *",
        "15 1 * * 0",
        "0 */2 * * *",
    ];
    let years: &[(&str, i16)] = &[
        ("America/New_York", 2027),
        ("Europe/Berlin", 2026),
        ("Australia/Sydney", 2027),
        ("Australia/Lord_Howe", 2027),
        ("Asia/Kolkata", 2027),
        ("Europe/Moscow", 2011),
        ("Europe/Moscow", 2014),
        ("America/Sao_Paulo", 2018),
        ("America/Sao_Paulo", 2019),
        ("Pacific/Apia", 2011),
    ];
    for (name, year) in years {
        let tz = zone(name).unwrap();
        let from = cairn_schedule::jiff::civil::date(*year, 1, 1)
            .at(0, 0, 0, 0)
            .to_zoned(TimeZone::UTC)
            .unwrap()
            .timestamp();
        let to = from + SignedDuration::from_hours(24 * 366);
        for text in schedules {
            assert_same(&Schedule::parse(text).unwrap(), &tz, from, to);
        }
    }
}

#[test]
fn rare_schedules_over_decades() {
    let tz = zone("Europe/Berlin").unwrap();
    let from: Timestamp = "1999-12-31T12:00:00Z".parse().unwrap();
    let to: Timestamp = "2041-01-01T00:00:00Z".parse().unwrap();
    let local_dates = |text: &str| -> Vec<String> {
        chain(&Schedule::parse(text).unwrap(), &tz, from, to)
            .iter()
            .map(|t| tz.to_datetime(*t).date().to_string())
            .collect()
    };
    let leap_days: Vec<String> = (2000..=2040)
        .step_by(4)
        .map(|year| format!("{year}-02-29"))
        .collect();
    assert_eq!(local_dates("0 0 29 2 *"), leap_days);
    // Seven months have a 31st, every year.
    assert_eq!(local_dates("0 12 31 * *").len(), 7 * 41);
    // Every 13th and every Friday (the OR rule), each day once.
    let fridays_and_13ths = local_dates("0 0 13 * fri");
    let mut day = cairn_schedule::jiff::civil::date(2000, 1, 1);
    let mut expected = Vec::new();
    while day.year() <= 2040 {
        if day.day() == 13 || day.weekday() == cairn_schedule::jiff::civil::Weekday::Friday {
            expected.push(day.to_string());
        }
        day = day.tomorrow().unwrap();
    }
    assert_eq!(fridays_and_13ths, expected);
}
