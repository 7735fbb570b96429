//! Crash consistency: every sector write of an update is recorded, and every
//! prefix of that log, applied to the volume as it was before, must be a
//! volume fsck.fat accepts, with each file present once under one of its
//! names with a size that agrees with its chain.

mod common;

use std::io::Cursor;

use cairn_fat::{format, Contents, FatError, FileSpec, RenameOutcome, RenameWindow, Volume};
use common::*;

const E1: &str = "cairn-0000000001-1.0.0.conf";
const E2_COUNTED: &str = "cairn-0000000002-1.2.0+3-0.conf";
const E2_TRIED: &str = "cairn-0000000002-1.2.0+2-1.conf";
const E2_GOOD: &str = "cairn-0000000002-1.2.0.conf";
const E1_LONGER: &str = "cairn-0000000001-1.0.0+3-0-with-a-much-longer-name-than-before.conf";
const E1_SHORTER: &str = "e1.conf";
const BX_LONGER: &str = "bx, now with a name too long for its sector.txt";
const ENTRIES: &str = "loader/entries";
const KERNEL_DIR: &str = "cairn/0000000002-1.2.0";

/// A file followed through the update: its directory, first cluster (which
/// never changes) and the (name, size) pairs it may show.
struct Tracked {
    dir: &'static str,
    first_cluster: u32,
    allowed: Vec<(String, u32)>,
}

fn original() -> Vec<u8> {
    let e1 = b"title Cairn 1.0.0\nlinux /cairn/0000000001-1.0.0/linux\n".to_vec();
    let e2 = b"title Cairn 1.2.0\nlinux /cairn/0000000002-1.2.0/linux\n".to_vec();
    let kernel = bytes(9, 3000);
    let fillers: Vec<(String, Vec<u8>)> = (1..=15)
        .map(|i| {
            (
                format!("p1/c{i:02}.txt"),
                format!("filler {i}").into_bytes(),
            )
        })
        .collect();
    let mut c = Contents::new();
    c.add(FileSpec::new(&format!("{ENTRIES}/{E1}"), &e1).alone_in_sector())
        .add(FileSpec::new(&format!("{ENTRIES}/{E2_COUNTED}"), &e2).alone_in_sector())
        .add(FileSpec::new(&format!("{KERNEL_DIR}/linux"), &kernel).reserve(8192))
        // p1: the directory's second sector holds this alone (4 slots, 12
        // free after it); its third is full: bx.txt and 15 fillers.
        .add(FileSpec::new("p1/a-first-alone-file-long-name.txt", b"a").alone_in_sector())
        .file("p1/bx.txt", b"bx");
    for (path, data) in &fillers {
        c.file(path, data);
    }
    let mut out = Cursor::new(Vec::new());
    format(&mut out, &options(SMALL), &c).unwrap();
    out.into_inner()
}

fn check(image: &[u8], tracked: &[Tracked], context: &str) {
    assert_fsck(image, context);
    let mut vol = open(image.to_vec());
    for t in tracked {
        let list = vol.list(t.dir).unwrap();
        let mine: Vec<_> = list
            .iter()
            .filter(|e| e.first_cluster == t.first_cluster)
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "{context}: {} entries for cluster {}",
            mine.len(),
            t.first_cluster
        );
        let e = mine[0];
        assert!(
            t.allowed.contains(&(e.name.clone(), e.size)),
            "{context}: {}/{} of {} bytes is none of {:?}",
            t.dir,
            e.name,
            e.size,
            t.allowed
        );
        let data = vol
            .read_file(&format!("{}/{}", t.dir, e.name), 1 << 20)
            .unwrap();
        assert_eq!(data.len() as u32, e.size);
    }
}

fn first_cluster(vol: &mut Volume<Recorder>, path: &str) -> u32 {
    vol.stat(path).unwrap().first_cluster
}

#[test]
fn every_prefix_of_an_update_is_fsck_clean() {
    let before = original();
    let mut vol = Volume::open(Recorder::new(before.clone())).unwrap();
    let e1_len = vol.stat(&format!("{ENTRIES}/{E1}")).unwrap().size;
    let e2_len = vol.stat(&format!("{ENTRIES}/{E2_COUNTED}")).unwrap().size;
    let mut tracked = vec![
        Tracked {
            dir: KERNEL_DIR,
            first_cluster: first_cluster(&mut vol, &format!("{KERNEL_DIR}/linux")),
            allowed: vec![("linux".into(), 8192)],
        },
        Tracked {
            dir: ENTRIES,
            first_cluster: first_cluster(&mut vol, &format!("{ENTRIES}/{E1}")),
            allowed: [E1, E1_LONGER, E1_SHORTER]
                .map(|n| (n.to_string(), e1_len))
                .to_vec(),
        },
        Tracked {
            dir: "p1",
            first_cluster: first_cluster(&mut vol, "p1/c05.txt"),
            allowed: vec![("c05.txt".into(), 8)],
        },
    ];
    let e2_cluster = first_cluster(&mut vol, &format!("{ENTRIES}/{E2_COUNTED}"));
    let bx_cluster = first_cluster(&mut vol, "p1/bx.txt");
    let mut marks: Vec<(usize, &str)> = Vec::new();

    // A new kernel over the old, in place.
    vol.overwrite(&format!("{KERNEL_DIR}/linux"), &bytes(10, 5000))
        .unwrap();
    marks.push((vol_log(&vol), "overwrite"));

    // The entry's new text, then boot counting's renames: the first sets the
    // size of the new text, the second keeps it.
    let text = b"title Cairn 1.2.0 (tried once)\nversion 1.2.0\nlinux /cairn/0000000002-1.2.0/linux\noptions quiet\n";
    vol.write_head(&format!("{ENTRIES}/{E2_COUNTED}"), text)
        .unwrap();
    marks.push((vol_log(&vol), "write_head"));
    let text_len = text.len() as u32;
    let outcome = vol
        .rename(
            &format!("{ENTRIES}/{E2_COUNTED}"),
            E2_TRIED,
            Some(u64::from(text_len)),
        )
        .unwrap();
    assert!(outcome.is_atomic(), "{outcome:?}");
    marks.push((vol_log(&vol), "rename +3-0 -> +2-1"));
    let outcome = vol
        .rename(&format!("{ENTRIES}/{E2_TRIED}"), E2_GOOD, None)
        .unwrap();
    assert!(outcome.is_atomic(), "{outcome:?}");
    marks.push((vol_log(&vol), "rename +2-1 -> blessed"));
    tracked.push(Tracked {
        dir: ENTRIES,
        first_cluster: e2_cluster,
        allowed: vec![
            (E2_COUNTED.into(), e2_len),
            (E2_TRIED.into(), text_len),
            (E2_GOOD.into(), text_len),
        ],
    });

    // Longer, then shorter.
    assert!(vol
        .rename(&format!("{ENTRIES}/{E1}"), E1_LONGER, None)
        .unwrap()
        .is_atomic());
    marks.push((vol_log(&vol), "rename longer"));
    assert!(vol
        .rename(&format!("{ENTRIES}/{E1_LONGER}"), E1_SHORTER, None)
        .unwrap()
        .is_atomic());
    marks.push((vol_log(&vol), "rename shorter"));

    // A rename that cannot fit its sector: two writes, short name first.
    let writes_before = vol_log(&vol);
    let outcome = vol.rename("p1/bx.txt", BX_LONGER, None).unwrap();
    let RenameOutcome::NotAtomic { writes, window } = &outcome else {
        panic!("expected a two-write rename, got {outcome:?}");
    };
    assert_eq!(*window, RenameWindow::ShortNameOnly);
    assert_eq!(writes.len(), 2);
    assert_eq!(
        writes[1] + 1,
        writes[0],
        "the LFN slots go in the sector before"
    );
    assert_eq!(vol_log(&vol), writes_before + 2);
    let alias = vol.stat(&format!("p1/{BX_LONGER}")).unwrap().short_name;
    tracked.push(Tracked {
        dir: "p1",
        first_cluster: bx_cluster,
        allowed: vec![
            ("bx.txt".into(), 2),
            (alias.clone(), 2),
            (BX_LONGER.into(), 2),
        ],
    });
    marks.push((vol_log(&vol), "rename that does not fit"));

    // One that fits neither way is refused, and writes nothing.
    let long = format!("c05 {}.txt", "y".repeat(40));
    let err = vol.rename("p1/c05.txt", &long, None).unwrap_err();
    assert!(
        matches!(err, FatError::RenameDoesNotFit { slots: 5, .. }),
        "{err}"
    );
    assert_eq!(vol_log(&vol), writes_before + 2);

    let log = vol.into_inner().log;
    assert_eq!(log.len(), 16 + 1 + 1 + 1 + 1 + 1 + 2);
    for n in 0..=log.len() {
        let step = marks
            .iter()
            .find(|(end, _)| n <= *end)
            .map_or("end", |(_, name)| *name);
        let image = apply(&before, &log, n);
        check(
            &image,
            &tracked,
            &format!("after {n} of {} writes ({step})", log.len()),
        );
        if n == writes_before + 1 {
            // Between the two writes: the 8.3 alias alone.
            let names: Vec<String> = open(image)
                .list("p1")
                .unwrap()
                .into_iter()
                .map(|e| e.name)
                .collect();
            assert!(names.contains(&alias), "{alias} not in {names:?}");
        }
    }
    // And the end state is the one asked for.
    let mut end = open(apply(&before, &log, log.len()));
    for path in [
        format!("{ENTRIES}/{E2_GOOD}"),
        format!("{ENTRIES}/{E1_SHORTER}"),
        format!("p1/{BX_LONGER}"),
    ] {
        end.stat(&path).unwrap();
    }
    assert_eq!(
        end.read_file(&format!("{ENTRIES}/{E2_GOOD}"), 4096)
            .unwrap(),
        text
    );
    let kernel = end
        .read_file(&format!("{KERNEL_DIR}/linux"), 1 << 20)
        .unwrap();
    assert_eq!(&kernel[..5000], &bytes(10, 5000)[..]);
    assert!(kernel[5000..].iter().all(|&b| b == 0));
}

fn vol_log(vol: &Volume<Recorder>) -> usize {
    vol.device().log.len()
}

/// After the two-write rename, the entry straddles two sectors (its LFN
/// slots end the sector before its 8.3 slot). Renaming it again frees those
/// LFN slots in a second write: between the two, the file is under its new
/// name and the old LFN slots are orphaned, as documented.
#[test]
fn renaming_a_straddling_entry_reports_its_window() {
    let before = original();
    let mut vol = Volume::open(Recorder::new(before)).unwrap();
    vol.rename("p1/bx.txt", BX_LONGER, None).unwrap();
    let straddled = vol.device().inner.get_ref().clone();
    let mark = vol.device().log.len();
    let outcome = vol
        .rename(&format!("p1/{BX_LONGER}"), "bx2.txt", Some(1))
        .unwrap();
    let RenameOutcome::NotAtomic { writes, window } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(*window, RenameWindow::OrphanedOldSlots);
    assert_eq!(writes.len(), 2);
    assert_eq!(writes[0], writes[1] + 1, "the 8.3 slot's sector first");
    let log: Vec<(u64, Vec<u8>)> = vol.into_inner().log.split_off(mark);
    assert_eq!(log.len(), 2);
    let between = apply(&straddled, &log, 1);
    assert!(fsck(&between).is_err(), "the orphaned slots went unseen");
    let mut mid = open(between);
    assert_eq!(mid.stat("p1/bx2.txt").unwrap().size, 1);
    assert!(mid.stat(&format!("p1/{BX_LONGER}")).is_err());
    let after = apply(&straddled, &log, 2);
    assert_fsck(&after, "after the straddling entry's rename");
    assert_eq!(open(after).read_file("p1/bx2.txt", 10).unwrap(), b"b");
}
