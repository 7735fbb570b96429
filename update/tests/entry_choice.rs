//! Which entry systemd-boot 252 boots: the cases checked by booting the real
//! loader under QEMU with pairs of entries, every state of two
//! versions' counters, names from before build numbers, whole update
//! lifecycles, and a property over arbitrary directories.

use cairn_update::entries::{next_boot, render_entry, Bank, Entry, EntryName, Tries};
use proptest::prelude::*;

const KERNEL: &str = "title Cairn\nlinux /cairn/x/linux\ninitrd /cairn/x/initrd\n";

fn plain(file_name: &str) -> Entry {
    Entry::load(file_name, KERNEL).unwrap()
}

fn keyed(file_name: &str, version: &str) -> Entry {
    let content = format!("{KERNEL}sort-key cairn\nversion {version}\n");
    Entry::load(file_name, &content).unwrap()
}

/// What systemd-boot does with `entries`: the one it boots, and the name it
/// renames that one to first (None: left as it is).
fn boot(entries: &[Entry]) -> (String, Option<String>) {
    let chosen = next_boot(entries).unwrap();
    (
        chosen.file_name().to_owned(),
        chosen.name_after_boot_attempt(),
    )
}

/// The same choice whatever the directory order.
fn boot_both_orders(a: Entry, b: Entry) -> (String, Option<String>) {
    let forward = boot(&[a.clone(), b.clone()]);
    assert_eq!(forward, boot(&[b, a]), "directory order changed the choice");
    forward
}

// The cases checked on the real loader, one test each.

#[test]
fn row_1_a_blessed_hash_name_beats_a_new_one_starting_with_zeros() {
    let (chosen, renamed) = boot_both_orders(
        plain("cairn-8b89ea035ce7.conf"),
        plain("cairn-00000000aaaa+3-0.conf"),
    );
    assert_eq!(chosen, "cairn-8b89ea035ce7.conf");
    assert_eq!(renamed, None);
}

#[test]
fn row_2_a_blessed_hash_name_beats_a_new_one_starting_with_letters() {
    let (chosen, renamed) = boot_both_orders(
        plain("cairn-8b89ea035ce7.conf"),
        plain("cairn-ffffffffaaaa+3-0.conf"),
    );
    assert_eq!(chosen, "cairn-8b89ea035ce7.conf");
    assert_eq!(renamed, None);
}

#[test]
fn row_3_an_old_entry_with_tries_left_is_tried_and_counted_down() {
    let (chosen, renamed) = boot_both_orders(
        plain("cairn-8b89ea035ce7+1-2.conf"),
        plain("cairn-ffffffffaaaa+3-0.conf"),
    );
    assert_eq!(chosen, "cairn-8b89ea035ce7+1-2.conf");
    assert_eq!(renamed.as_deref(), Some("cairn-8b89ea035ce7+0-3.conf"));
}

#[test]
fn row_4_under_a_shared_sort_key_the_newer_version_is_tried() {
    // The names of row 1, where the old one won by id: the sort key and
    // version now decide.
    let (chosen, renamed) = boot_both_orders(
        keyed("cairn-8b89ea035ce7.conf", "1"),
        keyed("cairn-00000000aaaa+3-0.conf", "2"),
    );
    assert_eq!(chosen, "cairn-00000000aaaa+3-0.conf");
    assert_eq!(renamed.as_deref(), Some("cairn-00000000aaaa+2-1.conf"));
}

#[test]
fn row_5_a_higher_build_number_in_the_name_is_tried() {
    let (chosen, renamed) = boot_both_orders(
        plain("cairn-000001-8b89ea035ce7.conf"),
        plain("cairn-000002-ffffffffaaaa+3-0.conf"),
    );
    assert_eq!(chosen, "cairn-000002-ffffffffaaaa+3-0.conf");
    assert_eq!(
        renamed.as_deref(),
        Some("cairn-000002-ffffffffaaaa+2-1.conf")
    );
}

#[test]
fn row_6_a_newer_entry_with_no_tries_left_sorts_last() {
    let (chosen, renamed) = boot_both_orders(
        plain("cairn-000001-8b89ea035ce7.conf"),
        plain("cairn-000002-ffffffffaaaa+0-3.conf"),
    );
    assert_eq!(chosen, "cairn-000001-8b89ea035ce7.conf");
    assert_eq!(renamed, None);
}

#[test]
fn row_7_a_newer_entry_with_its_last_try_is_tried() {
    let (chosen, renamed) = boot_both_orders(
        plain("cairn-000001-8b89ea035ce7.conf"),
        plain("cairn-000002-ffffffffaaaa+1-2.conf"),
    );
    assert_eq!(chosen, "cairn-000002-ffffffffaaaa+1-2.conf");
    assert_eq!(
        renamed.as_deref(),
        Some("cairn-000002-ffffffffaaaa+0-3.conf")
    );
}

// Cairn's own entries.

/// Every state an entry passes through: new, tried once, twice, out of
/// tries, and blessed.
fn states(name: &EntryName) -> Vec<EntryName> {
    let mut out = vec![name.clone()];
    for _ in 0..3 {
        let last = out.last().unwrap().after_boot_attempt();
        out.push(last);
    }
    out.push(name.blessed());
    out
}

/// An entry as the writer makes it, written in build order (so its
/// generation is its build).
fn cairn_entry(name: &EntryName, bank: Bank) -> Entry {
    let generation = name.build.unwrap();
    written(name, bank, generation)
}

/// An entry written as the `generation`th version on its device.
fn written(name: &EntryName, bank: Bank, generation: u64) -> Entry {
    let text = render_entry(name, bank, generation, "console=ttyS0").unwrap();
    Entry::load(&name.file_name(), &text).unwrap()
}

#[test]
fn an_allowed_downgrade_is_tried_first_because_it_was_written_last() {
    // Build 42 runs, blessed, written second; build 41 comes back as the
    // third version written to the device.
    let running = EntryName::new(42, "1.4.0", 3).unwrap().blessed();
    let downgrade = EntryName::new(41, "1.3.0", 3).unwrap();
    for (a, b) in [(0, 1), (1, 0)] {
        let both = [
            written(&running, Bank::A, 2),
            written(&downgrade, Bank::B, 3),
        ];
        let dir = vec![both[a].clone(), both[b].clone()];
        assert_eq!(
            next_boot(&dir).unwrap().file_name(),
            "cairn-0000000041-1.3.0+3-0.conf"
        );
    }
    // Once it is out of tries, the running version boots again.
    let spent = EntryName::parse("cairn-0000000041-1.3.0+0-3.conf").unwrap();
    let dir = vec![written(&running, Bank::A, 2), written(&spent, Bank::B, 3)];
    assert_eq!(
        next_boot(&dir).unwrap().file_name(),
        "cairn-0000000042-1.4.0.conf"
    );
}

#[test]
fn the_newer_build_boots_unless_exactly_one_of_the_two_is_out_of_tries() {
    let old = EntryName::new(41, "1.3.0", 3).unwrap();
    let new = EntryName::new(42, "1.4.0", 3).unwrap();
    let mut combinations = 0;
    for old_state in states(&old) {
        for new_state in states(&new) {
            let (chosen, _) = boot_both_orders(
                cairn_entry(&old_state, Bank::A),
                cairn_entry(&new_state, Bank::B),
            );
            let expected = match (old_state.is_bad(), new_state.is_bad()) {
                (false, true) => &old_state,
                (true, false) => &new_state,
                _ => &new_state,
            };
            assert_eq!(chosen, expected.file_name(), "{old_state} / {new_state}");
            combinations += 1;
        }
    }
    assert_eq!(combinations, 25);
}

#[test]
fn builds_order_by_number_not_by_text() {
    // 9 < 10 although "9" > "1" as text; the padding makes both agree.
    let nine = EntryName::new(9, "z", 3).unwrap();
    let ten = EntryName::new(10, "a", 3).unwrap();
    let (chosen, _) = boot_both_orders(cairn_entry(&nine, Bank::A), cairn_entry(&ten, Bank::B));
    assert_eq!(chosen, ten.file_name());
    assert!(nine.file_name() < ten.file_name());
}

#[test]
fn a_new_entry_is_tried_before_one_named_by_content_hash() {
    // As an older image wrote it: no sort key, a hash whose leading digits
    // would otherwise outrank build 1 ("8" > "1").
    let legacy_text = "title Cairn 8b89ea035ce7 (bank a)\nversion 8b89ea035ce7\n\
                       linux /cairn/8b89ea035ce7/linux\ninitrd /cairn/8b89ea035ce7/initrd\n";
    for legacy_name in ["cairn-8b89ea035ce7.conf", "cairn-8b89ea035ce7+2-1.conf"] {
        let legacy = Entry::load(legacy_name, legacy_text).unwrap();
        let first = EntryName::new(1, "2.0.0", 3).unwrap();
        for state in states(&first) {
            let (chosen, _) = boot_both_orders(legacy.clone(), cairn_entry(&state, Bank::B));
            let expected = if state.is_bad() {
                legacy_name.to_owned()
            } else {
                state.file_name()
            };
            assert_eq!(chosen, expected, "{legacy_name} / {state}");
        }
    }
}

#[test]
fn without_the_sort_key_a_content_hash_name_would_win() {
    // The reason for the sort key: by id alone, build 1 loses to "8b89…".
    let (chosen, _) = boot_both_orders(
        plain("cairn-8b89ea035ce7.conf"),
        plain("cairn-0000000001-2.0.0+3-0.conf"),
    );
    assert_eq!(chosen, "cairn-8b89ea035ce7.conf");
}

/// Runs boots on a directory of entries: systemd-boot picks and renames,
/// then `healthy` says whether the booted system blesses itself.
fn run_boots(
    mut dir: Vec<Entry>,
    boots: usize,
    healthy: impl Fn(&str) -> bool,
) -> (Vec<String>, Vec<Entry>) {
    let mut booted = Vec::new();
    for _ in 0..boots {
        let chosen = next_boot(&dir).unwrap().clone();
        let mut name = chosen.file_name().to_owned();
        if let Some(renamed) = chosen.name_after_boot_attempt() {
            name = renamed;
        }
        let parsed = EntryName::parse(&name).unwrap();
        let final_name = if healthy(&parsed.version) && !parsed.is_blessed() {
            parsed.blessed().file_name()
        } else {
            name
        };
        let content = render_entry(&parsed, Bank::A, parsed.build.unwrap(), "").unwrap();
        dir.retain(|e| e.file_name() != chosen.file_name());
        dir.push(Entry::load(&final_name, &content).unwrap());
        booted.push(parsed.version.clone());
    }
    (booted, dir)
}

#[test]
fn a_new_version_that_never_comes_up_healthy_is_tried_three_times_then_abandoned() {
    let old = EntryName::new(41, "1.3.0", 3).unwrap().blessed();
    let new = EntryName::new(42, "1.4.0", 3).unwrap();
    let dir = vec![cairn_entry(&old, Bank::A), cairn_entry(&new, Bank::B)];
    let (booted, dir) = run_boots(dir, 6, |version| version == "1.3.0");
    assert_eq!(
        booted,
        ["1.4.0", "1.4.0", "1.4.0", "1.3.0", "1.3.0", "1.3.0"]
    );
    let names: Vec<&str> = dir.iter().map(Entry::file_name).collect();
    assert!(
        names.contains(&"cairn-0000000042-1.4.0+0-3.conf"),
        "{names:?}"
    );
    assert!(names.contains(&"cairn-0000000041-1.3.0.conf"), "{names:?}");
}

#[test]
fn a_new_version_blessed_on_its_first_try_keeps_booting() {
    let old = EntryName::new(41, "1.3.0", 3).unwrap().blessed();
    let new = EntryName::new(42, "1.4.0", 3).unwrap();
    let dir = vec![cairn_entry(&old, Bank::A), cairn_entry(&new, Bank::B)];
    let (booted, dir) = run_boots(dir, 4, |_| true);
    assert_eq!(booted, ["1.4.0"; 4]);
    assert!(dir
        .iter()
        .any(|e| e.file_name() == "cairn-0000000042-1.4.0.conf"));
}

#[test]
fn a_rename_cut_by_power_loss_still_boots_that_version() {
    // FAT may keep both names when power fails between the new name's
    // creation and the old one's removal.
    let new = EntryName::new(42, "1.4.0", 3).unwrap();
    let old = cairn_entry(&EntryName::new(41, "1.3.0", 3).unwrap().blessed(), Bank::A);
    for (a, b) in [
        (new.clone(), new.after_boot_attempt()),
        (new.after_boot_attempt(), new.after_boot_attempt().blessed()),
    ] {
        let dir = [
            old.clone(),
            cairn_entry(&a, Bank::B),
            cairn_entry(&b, Bank::B),
        ];
        let chosen = EntryName::parse(next_boot(&dir).unwrap().file_name()).unwrap();
        assert_eq!(chosen.stem(), new.stem());
    }
}

#[test]
fn when_every_entry_is_out_of_tries_the_newest_still_boots() {
    let (chosen, renamed) = boot_both_orders(
        plain("cairn-0000000041-1.3.0+0-3.conf"),
        plain("cairn-0000000042-1.4.0+0-3.conf"),
    );
    assert_eq!(chosen, "cairn-0000000042-1.4.0+0-3.conf");
    assert_eq!(renamed.as_deref(), Some("cairn-0000000042-1.4.0+0-4.conf"));
}

// Arbitrary directories.

/// A counter state: blessed, or tries left/done.
fn counter() -> impl Strategy<Value = Option<Tries>> {
    prop_oneof![
        Just(None),
        (0u32..=3, 0u32..=4).prop_map(|(left, done)| Some(Tries { left, done })),
    ]
}

fn cairn_entries() -> impl Strategy<Value = Vec<(u64, Option<Tries>)>> {
    prop::collection::btree_map(1u64..2000, counter(), 1..6)
        .prop_map(|m| m.into_iter().collect::<Vec<_>>())
}

fn legacy_entries() -> impl Strategy<Value = Vec<(String, Option<Tries>)>> {
    prop::collection::btree_map("[0-9a-f]{12}", counter(), 0..3)
        .prop_map(|m| m.into_iter().collect::<Vec<_>>())
}

fn directory() -> impl Strategy<Value = Vec<Entry>> {
    (cairn_entries(), legacy_entries())
        .prop_map(|(cairn, legacy)| {
            let mut dir: Vec<Entry> = cairn
                .into_iter()
                .map(|(build, tries)| {
                    let name = EntryName {
                        build: Some(build),
                        version: format!("v{build}"),
                        tries,
                    };
                    cairn_entry(&name, Bank::A)
                })
                .collect();
            dir.extend(legacy.into_iter().map(|(hash, tries)| {
                let name = EntryName {
                    build: None,
                    version: hash,
                    tries,
                };
                plain(&name.file_name())
            }));
            dir
        })
        .prop_shuffle()
}

fn has_tries_left(entry: &Entry) -> bool {
    entry.tries().is_none_or(|t| t.left > 0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_boots_an_entry_without_tries_while_another_has_some(dir in directory()) {
        let chosen = next_boot(&dir).unwrap();
        if dir.iter().any(has_tries_left) {
            prop_assert!(has_tries_left(chosen), "chose {} from {:?}", chosen.file_name(),
                dir.iter().map(Entry::file_name).collect::<Vec<_>>());
        }
    }

    #[test]
    fn boots_the_newest_build_that_has_tries_left(dir in directory()) {
        let chosen = EntryName::parse(next_boot(&dir).unwrap().file_name()).unwrap();
        let builds = |good: bool| {
            dir.iter()
                .filter(|e| has_tries_left(e) == good)
                .filter_map(|e| EntryName::parse(e.file_name()).unwrap().build)
                .max()
        };
        match (builds(true), builds(false)) {
            (Some(newest_good), _) => prop_assert_eq!(chosen.build, Some(newest_good)),
            // No Cairn entry with tries left: a legacy one with tries, if any.
            (None, Some(newest_bad)) => {
                if dir.iter().any(has_tries_left) {
                    prop_assert!(chosen.build.is_none());
                } else {
                    prop_assert_eq!(chosen.build, Some(newest_bad));
                }
            }
            (None, None) => unreachable!("every directory has a cairn entry"),
        }
    }
}
