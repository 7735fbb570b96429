//! Each kind of change to an existing volume, checked by fsck.fat and read
//! back by mtools.

mod common;

use cairn_fat::{FatError, RenameOutcome};
use common::*;

fn image_of(vol: cairn_fat::Volume<std::io::Cursor<Vec<u8>>>) -> Vec<u8> {
    vol.into_inner().into_inner()
}

#[test]
fn overwrite_in_place() {
    let sample = Sample::new();
    let mut vol = open(sample_image(SMALL));
    let before = vol.extents(KERNEL_2).unwrap();
    let new = bytes(77, 700_000);
    vol.overwrite(KERNEL_2, &new).unwrap();
    assert_eq!(vol.extents(KERNEL_2).unwrap(), before, "the chain moved");
    let mut want = new.clone();
    want.resize(MIB as usize, 0);
    assert!(vol.read_file(KERNEL_2, u64::MAX).unwrap() == want);
    // Exactly as long as the file, and an odd size.
    let initrd = "cairn/0000000001-1.0.0/initrd";
    let exact = bytes(78, 200_000);
    vol.overwrite(initrd, &exact).unwrap();
    let image = image_of(vol);
    assert_fsck(&image, "after overwrites");
    let file = temp_image(&image);
    assert!(mtools_read(file.path(), &format!("/{KERNEL_2}")) == want);
    assert!(mtools_read(file.path(), &format!("/{initrd}")) == exact);
    // Other files are untouched.
    assert!(
        mtools_read(file.path(), &format!("/{KERNEL_1}")) == sample.expected(KERNEL_1).unwrap()
    );
}

#[test]
fn overwrite_longer_than_the_file_is_refused() {
    let mut vol = open(sample_image(SMALL));
    let err = vol
        .overwrite(KERNEL_2, &vec![1u8; MIB as usize + 1])
        .unwrap_err();
    assert!(matches!(err, FatError::DataTooLong { .. }));
    let text = err.to_string();
    assert!(
        text.contains("1048577") && text.contains("1048576"),
        "{text}"
    );
    assert!(matches!(
        vol.overwrite("cairn", b"x"),
        Err(FatError::NotAFile { .. })
    ));
    assert!(matches!(
        vol.overwrite("nothing/here", b"x"),
        Err(FatError::NotFound { .. })
    ));
}

#[test]
fn new_entry_text_then_rename_with_its_size() {
    let mut vol = open(sample_image(SMALL));
    let text = b"title Cairn 1.2.0 (build 2)\nversion 1.2.0\nlinux /cairn/0000000002-1.2.0/linux\ninitrd /cairn/0000000002-1.2.0/initrd\noptions quiet\n";
    let old_size = vol.stat(ENTRY_2).unwrap().size;
    vol.write_head(ENTRY_2, text).unwrap();
    // The size is still the old one until the rename sets it.
    assert_eq!(vol.stat(ENTRY_2).unwrap().size, old_size);
    let new = "cairn-0000000002-1.2.0+2-1.conf";
    let outcome = vol.rename(ENTRY_2, new, Some(text.len() as u64)).unwrap();
    assert!(outcome.is_atomic(), "{outcome:?}");
    let path = format!("loader/entries/{new}");
    assert_eq!(vol.read_file(&path, 4096).unwrap(), text);
    assert!(matches!(vol.stat(ENTRY_2), Err(FatError::NotFound { .. })));
    let image = image_of(vol);
    assert_fsck(&image, "after write_head and rename");
    let file = temp_image(&image);
    assert_eq!(mtools_read(file.path(), &format!("/{path}")), text);
    assert!(mtools_paths(file.path()).contains(&format!("/{path}")));

    // A head longer than the chain is refused.
    let mut vol = open(image);
    let err = vol.write_head(&path, &[b'x'; 513]).unwrap_err();
    assert!(
        matches!(
            err,
            FatError::DataTooLong {
                len: 513,
                size: 512,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn renames_of_every_shape() {
    let mut vol = open(sample_image(SMALL));
    let mut names: Vec<(String, String)> = Vec::new();
    let mut rename = |vol: &mut cairn_fat::Volume<_>, from: &str, to: &str| {
        let outcome = vol.rename(from, to, None).unwrap();
        assert!(outcome.is_atomic(), "{from} -> {to}: {outcome:?}");
        let dir = from.rsplit_once('/').map_or("", |(d, _)| d);
        let to_path = if dir.is_empty() {
            to.to_string()
        } else {
            format!("{dir}/{to}")
        };
        names.push((from.to_string(), to_path.clone()));
        to_path
    };
    // Longer, shorter, to a plain lowercase 8.3 name, to mixed case, to
    // a name another file's alias would have, in alone and packed sectors.
    let a = rename(
        &mut vol,
        ENTRY_1,
        &format!("cairn-0000000001-1.0.0-{}.conf", "x".repeat(120)),
    );
    let a = rename(&mut vol, &a, "e1.conf");
    let a = rename(&mut vol, &a, "e1.cfg");
    rename(&mut vol, &a, "Entry One.Conf");
    let m = rename(
        &mut vol,
        "many/file number 001 with a long name.bin",
        "f1.bin",
    );
    rename(&mut vol, &m, "file number 001, back again.bin");
    rename(&mut vol, "notes.txt", "NOTES.TXT");
    rename(&mut vol, "ReadMe.TXT", "readme.txt");
    rename(&mut vol, "same/longfilename-3.txt", "longfilename-99.txt");
    // The last entry of its directory: the new slots take end-of-directory
    // slots after it.
    rename(
        &mut vol,
        "loader/loader.conf",
        "the loader configuration, renamed.conf",
    );

    let listing = vol.list("loader/entries").unwrap();
    let one = listing.iter().find(|e| e.name == "Entry One.Conf").unwrap();
    assert_eq!(one.short_name, "ENTRYO~1.CON");
    let root = vol.list("/").unwrap();
    let readme = root.iter().find(|e| e.name == "readme.txt").unwrap();
    assert_eq!(readme.short_name, "README.TXT");
    let same = vol.list("same").unwrap();
    let shorts: std::collections::BTreeSet<&str> =
        same.iter().map(|e| e.short_name.as_str()).collect();
    assert_eq!(shorts.len(), same.len(), "8.3 aliases stay unique");

    let image = image_of(vol);
    assert_fsck(&image, "after renames");
    let file = temp_image(&image);
    let paths = mtools_paths(file.path());
    let sample = Sample::new();
    for (from, to) in [
        (
            "loader/entries/cairn-0000000001-1.0.0.conf",
            "loader/entries/Entry One.Conf",
        ),
        (
            "many/file number 001 with a long name.bin",
            "many/file number 001, back again.bin",
        ),
        ("notes.txt", "NOTES.TXT"),
        ("ReadMe.TXT", "readme.txt"),
        ("same/longfilename-3.txt", "same/longfilename-99.txt"),
        (
            "loader/loader.conf",
            "loader/the loader configuration, renamed.conf",
        ),
    ] {
        assert!(paths.contains(&format!("/{to}")), "{to} not in {paths:?}");
        assert!(!paths.contains(&format!("/{from}")) || from.eq_ignore_ascii_case(to));
        assert_eq!(
            mtools_read(file.path(), &format!("/{to}")),
            sample.expected(from).unwrap(),
            "{to}"
        );
    }
}

#[test]
fn rename_size_must_fit_the_chain() {
    let mut vol = open(sample_image(SMALL));
    // The entry's chain is one 512-byte cluster: sizes 1..=512 fit.
    for bad in [0u64, 513, 1 << 33] {
        let err = vol.rename(ENTRY_2, "x.conf", Some(bad)).unwrap_err();
        assert!(
            matches!(err, FatError::SizeDoesNotFitChain { .. }),
            "{bad}: {err}"
        );
    }
    vol.rename(ENTRY_2, "x.conf", Some(512)).unwrap();
    vol.rename("loader/entries/x.conf", "y.conf", Some(1))
        .unwrap();
    assert_eq!(vol.stat("loader/entries/y.conf").unwrap().size, 1);
    // The kernel's chain is 2048 clusters: more than 2047 * 512 bytes.
    assert!(vol.rename(KERNEL_1, "linux", Some(2047 * 512)).is_err());
    vol.rename(KERNEL_1, "linux", Some(2047 * 512 + 1)).unwrap();
    // An empty file has no chain: only size 0.
    assert!(vol.rename("empty", "empty2", Some(1)).is_err());
    vol.rename("empty", "empty2", Some(0)).unwrap();
    assert_fsck(&image_of(vol), "after size changes");
}

#[test]
fn bad_renames_are_refused_and_write_nothing() {
    let image = sample_image(SMALL);
    let mut vol = open(image.clone());
    let taken = vol
        .rename(ENTRY_2, "CAIRN-0000000001-1.0.0.CONF", None)
        .unwrap_err();
    assert!(matches!(taken, FatError::NameTaken { .. }), "{taken}");
    // Another file's 8.3 alias is taken too.
    let alias = vol
        .rename("same/longfilename-1.txt", "LONGFI~3.TXT", None)
        .unwrap_err();
    assert!(matches!(alias, FatError::NameTaken { .. }), "{alias}");
    assert!(matches!(
        vol.rename(ENTRY_2, "a/b", None),
        Err(FatError::InvalidName { .. })
    ));
    assert!(matches!(
        vol.rename("cairn", "x", None),
        Err(FatError::NotAFile { .. })
    ));
    assert!(matches!(
        vol.rename("nope", "x", None),
        Err(FatError::NotFound { .. })
    ));
    assert!(image_of(vol) == image);
}

#[test]
fn dirty_marks_are_reported_and_never_changed() {
    let mut image = sample_image(SMALL);
    image[0x41] |= 1;
    let mut vol = open(image.clone());
    let state = vol.dirty_state().unwrap();
    assert!(state.boot_sector_dirty && state.is_dirty() && !state.fat_not_clean);
    vol.rename(ENTRY_2, "z.conf", None).unwrap();
    assert_eq!(image_of(vol)[0x41] & 1, 1, "the dirty bit was changed");
    // FAT[1]'s clean-shutdown bit (27) and hard-error bit (26), in FAT 0
    // at sector 32.
    let mut image = sample_image(SMALL);
    let at = 32 * 512 + 4;
    image[at + 3] &= !0x0C;
    let state = open(image).dirty_state().unwrap();
    assert!(state.fat_not_clean && state.fat_hard_error && !state.boot_sector_dirty);
    assert!(state.is_dirty());
}

#[test]
fn rename_outcome_reports_one_sector() {
    let mut vol = open(sample_image(SMALL));
    match vol
        .rename(ENTRY_2, "cairn-0000000002-1.2.0+2-1.conf", None)
        .unwrap()
    {
        RenameOutcome::Atomic { sector } => assert!(sector > 0),
        other => panic!("{other:?}"),
    }
}
