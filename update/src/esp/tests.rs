use std::fs;
use std::io::Write;

use super::*;
use crate::entries::{pad_entry, render_entry, DEFAULT_TRIES};

/// An ESP as `cairn build` makes it: bank a's entry (build 1, counted),
/// bank b idle, both banks' slots.
fn built_esp() -> (tempfile::TempDir, EntryName) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let entries = root.join(cairn_layout::esp::ENTRIES_DIR);
    fs::create_dir_all(&entries).unwrap();
    let name = EntryName::new(1, "aaaa", DEFAULT_TRIES).unwrap();
    let text = render_entry(&name, Bank::A, 1, "").unwrap();
    fs::write(entries.join(name.file_name()), pad_entry(&text).unwrap()).unwrap();
    fs::write(
        entries.join(cairn_layout::esp::idle_entry('b')),
        vec![b'\n'; cairn_layout::esp::ENTRY_BYTES],
    )
    .unwrap();
    for bank in ['a', 'b'] {
        fs::create_dir_all(root.join(cairn_layout::esp::bank_dir(bank))).unwrap();
        fs::write(
            root.join(cairn_layout::esp::kernel(bank)),
            vec![bank as u8; 100],
        )
        .unwrap();
        fs::write(
            root.join(cairn_layout::esp::initrd(bank)),
            vec![bank as u8; 50],
        )
        .unwrap();
    }
    (dir, name)
}

#[test]
fn entries_are_read_with_their_banks_and_the_idle_file_is_known() {
    let (dir, name) = built_esp();
    let mut esp = Esp::new(DirFiles::new(dir.path()));
    let entries = esp.entries().unwrap();
    assert_eq!(entries.len(), 2);
    let a = Esp::<DirFiles>::bank_file(&entries, Bank::A).unwrap();
    assert_eq!(a.name.as_ref(), Some(&name));
    assert!(a.entry.is_some() && !a.is_idle());
    assert!(
        !a.text.ends_with('\n'),
        "the padding is not part of the text"
    );
    let b = Esp::<DirFiles>::bank_file(&entries, Bank::B).unwrap();
    assert!(b.is_idle() && b.entry.is_none() && b.name.is_none());
    assert_eq!(esp.slot_sizes(Bank::B).unwrap(), (100, 50));
}

#[test]
fn an_update_disables_writes_in_place_and_enables() {
    let (dir, _) = built_esp();
    let root = dir.path().to_path_buf();
    let mut esp = Esp::new(DirFiles::new(&root));
    // A second version in bank b, written and enabled.
    let v2 = EntryName::new(2, "bbbb", DEFAULT_TRIES).unwrap();
    esp.disable(Bank::B).unwrap();
    {
        let mut kernel = esp.slot(Bank::B, false).unwrap();
        assert_eq!(kernel.capacity(), 100);
        kernel.write_all(b"new kernel").unwrap();
        kernel.finish().unwrap();
    }
    let mut expected = b"new kernel".to_vec();
    expected.resize(100, 0);
    assert_eq!(
        fs::read(root.join(cairn_layout::esp::kernel('b'))).unwrap(),
        expected
    );
    let text = render_entry(&v2, Bank::B, 2, "").unwrap();
    esp.enable(Bank::B, &v2, &pad_entry(&text).unwrap())
        .unwrap();
    let entries = esp.entries().unwrap();
    let b = Esp::<DirFiles>::bank_file(&entries, Bank::B).unwrap();
    assert_eq!(b.file_name, "cairn-0000000002-bbbb+3-0.conf");
    assert_eq!(b.text, text.trim_end());
    assert_eq!(
        fs::metadata(root.join(cairn_layout::esp::ENTRIES_DIR).join(&b.file_name))
            .unwrap()
            .len(),
        cairn_layout::esp::ENTRY_BYTES as u64,
        "the entry file keeps its size"
    );

    // The next update of bank b first makes that entry idle again.
    esp.disable(Bank::B).unwrap();
    let entries = esp.entries().unwrap();
    assert!(Esp::<DirFiles>::bank_file(&entries, Bank::B)
        .unwrap()
        .is_idle());
    // Bank a was never touched.
    assert!(Esp::<DirFiles>::bank_file(&entries, Bank::A)
        .unwrap()
        .entry
        .is_some());
    assert_eq!(
        fs::read(root.join(cairn_layout::esp::kernel('a'))).unwrap(),
        vec![b'a'; 100]
    );
}

#[test]
fn a_slot_refuses_more_than_it_holds() {
    let (dir, _) = built_esp();
    let mut esp = Esp::new(DirFiles::new(dir.path()));
    let mut initrd = esp.slot(Bank::B, true).unwrap();
    assert!(initrd.write_all(&[1u8; 51]).is_err());
}

#[test]
fn a_missing_or_doubled_entry_file_is_named() {
    let (dir, name) = built_esp();
    let entries_dir = dir.path().join(cairn_layout::esp::ENTRIES_DIR);
    let mut esp = Esp::new(DirFiles::new(dir.path()));
    fs::remove_file(entries_dir.join(cairn_layout::esp::idle_entry('b'))).unwrap();
    let err = esp.disable(Bank::B).unwrap_err().to_string();
    assert!(err.contains("no entry file for bank b"), "{err}");
    // Bank a's entry copied under bank b's idle name and as a second entry.
    let text = fs::read(entries_dir.join(name.file_name())).unwrap();
    fs::write(entries_dir.join("cairn-0000000001-aaaa.conf"), &text).unwrap();
    let err = esp.disable(Bank::A).unwrap_err().to_string();
    assert!(err.contains("2 entry files for bank a"), "{err}");
}

#[test]
fn blessing_is_a_rename_and_paths_cannot_escape() {
    let (dir, name) = built_esp();
    let mut esp = Esp::new(DirFiles::new(dir.path()));
    esp.rename_entry(&name.file_name(), &name.blessed().file_name())
        .unwrap();
    let entries = esp.entries().unwrap();
    assert_eq!(
        Esp::<DirFiles>::bank_file(&entries, Bank::A)
            .unwrap()
            .file_name,
        "cairn-0000000001-aaaa.conf"
    );
    assert!(esp
        .rename_entry("cairn-0000000001-aaaa.conf", "../x")
        .is_err());
    let mut files = esp.into_files();
    assert!(files.read("../etc/passwd", 10).is_err());
}
