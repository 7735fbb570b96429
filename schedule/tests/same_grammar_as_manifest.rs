//! The manifest checks schedules at build time; this crate parses them at
//! run time. Both must accept exactly the same strings, or a manifest that
//! builds could carry a job that never runs.

use std::path::Path;

use cairn_schedule::Schedule;
use proptest::prelude::*;

fn manifest_accepts(schedule: &str) -> bool {
    let escaped = schedule.replace('\\', "\\\\").replace('"', "\\\"");
    let text = format!(
        "version = 1\n[jobs.j]\nschedule = \"{escaped}\"\nbundle = \"b\"\nexec = [\"/bin/j\"]\n"
    );
    cairn_manifest::parse(&text, Path::new("system.toml")).is_ok()
}

#[test]
fn known_cases_agree() {
    for text in [
        "30 2 * * *",
        "*/15 * * * *",
        "0 9-17/2 * * mon-fri",
        "0 0 * jan,JUL *",
        "0 0 * * 7",
        "0 0 29 2 *",
        "0 0 30 2 *",
        "0 0 30 2 mon",
        "0 0 31 4,6,9,11 *",
        "0 0 31 4,6,9,11 */2",
        "0 0 */31 2 *",
        "  0 0 * * *  ",
        "@daily",
        "@reboot",
        "@annually",
        "@Daily",
        "@every 5m",
        "30 2 * *",
        "0 30 2 * * *",
        "60 2 * * *",
        "5/15 * * * *",
        "*/0 * * * *",
        "*/60 * * * *",
        "*/61 * * * *",
        "0 0 * * fri-mon",
        "0 0 1,,2 * *",
        "0 0 * * 8",
        "0 0 0 * *",
        "+5 * * * *",
        "0 0 * * */8",
        "0 0 * * */9",
        "",
    ] {
        assert_eq!(
            Schedule::parse(text).is_ok(),
            manifest_accepts(text),
            "`{text}`"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Strings built from the grammar's own pieces, valid or not.
    #[test]
    fn generated_schedules_agree(
        fields in prop::collection::vec(
            prop::string::string_regex(
                "(\\*|[0-9]{1,2}|jan|FEB|sun|Mon|fri|xyz)(-([0-9]{1,2}|sat|dec))?(/[0-9]{1,2})?(,[0-9]{1,2})?"
            ).unwrap(),
            4..=6,
        )
    ) {
        let text = fields.join(" ");
        prop_assert_eq!(Schedule::parse(&text).is_ok(), manifest_accepts(&text), "`{}`", text);
    }
}
