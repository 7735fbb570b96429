//! `/run/cairn/system.json`: what this boot is, for the control API: the
//! version, build, bank and board; whether the boot is blessed; what every
//! boot entry on the ESP says of the two banks; the last update's outcome.
//! Rewritten whole (atomically) when any of it changes.

use cairn_supervisor::json::{quote, quote_or_null};
use cairn_update::entries::EntryName;

use super::records::{Record, Side};
use crate::boot::entries::Listed;

/// Everything the file says.
#[derive(Debug)]
pub struct SystemFacts<'a> {
    pub hostname: &'a str,
    pub board: &'a str,
    pub me: &'a Side,
    pub boot: Option<u64>,
    pub blessed: bool,
    pub on_trial: bool,
    /// Unix seconds of this boot's start.
    pub booted_at: u64,
    pub entries: &'a [Listed],
    pub last_update: Option<&'a Record>,
    /// Log lines lost since boot, by source.
    pub log_drops: &'a std::collections::BTreeMap<String, u64>,
}

fn build(build: Option<u64>) -> String {
    build.map_or_else(|| "null".to_string(), |b| b.to_string())
}

/// A bank's state, from the entries that boot it: `running` for the booted
/// bank, then `good` (blessed), `trying` (tries left), `bad` (none left).
fn bank(letter: char, facts: &SystemFacts<'_>) -> String {
    let running = facts.me.bank.starts_with(letter);
    let entry = facts
        .entries
        .iter()
        .filter(|l| l.bank == Some(letter))
        .max_by_key(|l| l.name.build);
    let state = |name: &EntryName| {
        if running {
            "running"
        } else if name.is_blessed() {
            "good"
        } else if name.is_bad() {
            "bad"
        } else {
            "trying"
        }
    };
    match entry {
        Some(listed) => format!(
            "{{\"version\":{},\"build\":{},\"state\":\"{}\"}}",
            quote(&listed.name.version),
            build(listed.name.build),
            state(&listed.name)
        ),
        None if running => format!(
            "{{\"version\":{},\"build\":{},\"state\":\"running\"}}",
            quote(&facts.me.version),
            build(facts.me.build)
        ),
        None => "{\"version\":null,\"build\":null,\"state\":\"empty\"}".to_string(),
    }
}

fn side(side: &Side) -> String {
    format!(
        "{{\"version\":{},\"build\":{},\"bank\":{}}}",
        quote(&side.version),
        build(side.build),
        quote(&side.bank)
    )
}

fn last_update(record: Option<&Record>, on_trial: bool) -> String {
    let Some(record) = record else {
        return "null".to_string();
    };
    let text = |s: &str| quote_or_null((!s.is_empty()).then_some(s));
    let stderr: Vec<String> = record.stderr.iter().map(|l| quote(l)).collect();
    let outcome = if on_trial {
        "pending"
    } else {
        record.outcome.as_str()
    };
    format!(
        "{{\"outcome\":{},\"from\":{},\"to\":{},\"at\":{},\"reason\":{},\"app\":{},\"stderr\":[{}]}}",
        quote(outcome),
        side(&record.from),
        side(&record.to),
        quote(&cairn_logging::record::rfc3339(std::time::Duration::from_secs(record.at))),
        text(&record.reason),
        text(&record.app),
        stderr.join(",")
    )
}

/// The file's text.
pub fn render(facts: &SystemFacts<'_>) -> String {
    format!(
        "{{\"system\":{{\"hostname\":{},\"board\":{},\"version\":{},\"build\":{},\"bank\":{},\
         \"blessed\":{},\"boot\":{},\"booted_at\":{}}},\"banks\":{{\"a\":{},\"b\":{}}},\
         \"last_update\":{},\"log_drops\":{{{}}}}}\n",
        quote(facts.hostname),
        quote(facts.board),
        quote(&facts.me.version),
        build(facts.me.build),
        quote(&facts.me.bank),
        facts.blessed,
        facts
            .boot
            .map_or_else(|| "null".to_string(), |b| b.to_string()),
        facts.booted_at,
        bank('a', facts),
        bank('b', facts),
        last_update(facts.last_update, facts.on_trial),
        facts
            .log_drops
            .iter()
            .map(|(source, count)| format!("{}:{count}", quote(source)))
            .collect::<Vec<_>>()
            .join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_update::entries::Entry;

    fn listed(build: u64, version: &str, bank: char, blessed: bool) -> Listed {
        let mut name = EntryName::new(build, version, 3).unwrap();
        if blessed {
            name = name.blessed();
        }
        Listed {
            entry: Entry::named(&name.file_name()),
            name,
            bank: Some(bank),
        }
    }

    #[test]
    fn the_file_tells_both_banks_and_the_last_update() {
        let me = Side {
            version: "bbbb".into(),
            build: Some(8),
            bank: "b".into(),
        };
        let entries = [listed(7, "aaaa", 'a', true), listed(8, "bbbb", 'b', false)];
        let last = Record {
            from: Side {
                version: "aaaa".into(),
                build: Some(7),
                bank: "a".into(),
            },
            to: me.clone(),
            outcome: "blessed".into(),
            at: 5,
            ..Record::default()
        };
        let text = render(&SystemFacts {
            hostname: "edge-01",
            board: "qemu-x86_64",
            me: &me,
            boot: Some(3),
            blessed: true,
            on_trial: false,
            booted_at: 100,
            entries: &entries,
            last_update: Some(&last),
            log_drops: &[("web".to_string(), 12)].into_iter().collect(),
        });
        // The control API's tests read this very file: one contract.
        assert_eq!(
            text,
            include_str!("../../../control/tests/fixtures/system.json")
        );
    }

    #[test]
    fn an_empty_bank_and_no_update() {
        let me = Side {
            version: "aaaa".into(),
            build: None,
            bank: "a".into(),
        };
        let text = render(&SystemFacts {
            hostname: "h",
            board: "",
            me: &me,
            boot: None,
            blessed: false,
            on_trial: false,
            booted_at: 0,
            entries: &[],
            last_update: None,
            log_drops: &Default::default(),
        });
        assert!(
            text.contains("\"a\":{\"version\":\"aaaa\",\"build\":null,\"state\":\"running\"}"),
            "{text}"
        );
        assert!(
            text.contains("\"b\":{\"version\":null,\"build\":null,\"state\":\"empty\"}"),
            "{text}"
        );
        assert!(text.contains("\"last_update\":null"), "{text}");
    }
}
