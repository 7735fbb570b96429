//! Formatting, checked by the real fsck.fat and read back by mtools and by
//! this crate.

mod common;

use std::collections::BTreeSet;
use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::time::Instant;

use cairn_fat::{format, Contents, FatError, FileSpec, FormatOptions, Volume, Window};
use common::*;

#[test]
fn sample_volume_is_fsck_clean() {
    assert_fsck(&sample_image(SMALL), "formatted sample");
    assert_fsck(&sample_image(128 * MIB), "formatted sample, 128 MiB");
}

#[test]
fn empty_volume_is_fsck_clean() {
    let mut out = Cursor::new(Vec::new());
    let made = format(&mut out, &options(SMALL), &Contents::new()).unwrap();
    assert_eq!(made.cluster_size, 512);
    // The root directory's one cluster is all that is used.
    assert_eq!(made.free_clusters, made.clusters - 1);
    assert_fsck(&out.into_inner(), "empty volume");
    let mut out = Cursor::new(Vec::new());
    let no_label = FormatOptions::new(SMALL, 7, "", 0);
    format(&mut out, &no_label, &Contents::new()).unwrap();
    assert_fsck(&out.into_inner(), "empty volume without a label");
}

#[test]
fn mtools_reads_the_same_names_and_bytes() {
    let sample = Sample::new();
    let image = sample_image(SMALL);
    let file = temp_image(&image);
    let mut expected: BTreeSet<String> = BTreeSet::new();
    for (path, _, _, _) in &sample.files {
        let parts: Vec<&str> = path.split('/').collect();
        for depth in 1..parts.len() {
            expected.insert(format!("/{}/", parts[..depth].join("/")));
        }
        expected.insert(format!("/{path}"));
    }
    for dir in &sample.dirs {
        let parts: Vec<&str> = dir.split('/').collect();
        for depth in 1..=parts.len() {
            expected.insert(format!("/{}/", parts[..depth].join("/")));
        }
    }
    let seen: BTreeSet<String> = mtools_paths(file.path()).into_iter().collect();
    assert_eq!(seen, expected);
    for (path, _, _, _) in &sample.files {
        let want = sample.expected(path).unwrap();
        assert!(
            mtools_read(file.path(), &format!("/{path}")) == want,
            "mtype of {path} differs"
        );
    }
}

#[test]
fn volume_reads_back_the_contents() {
    let sample = Sample::new();
    let mut vol = open(sample_image(SMALL));
    for (path, _, _, _) in &sample.files {
        let want = sample.expected(path).unwrap();
        assert!(vol.read_file(path, u64::MAX).unwrap() == want, "{path}");
        let stat = vol.stat(path).unwrap();
        assert_eq!(u64::from(stat.size), want.len() as u64);
        // The same bytes through the extents.
        let extents = vol.extents(path).unwrap();
        assert_eq!(
            extents.iter().map(|e| e.len).sum::<u64>(),
            want.len() as u64
        );
    }
    // Preallocated files are contiguous: one extent.
    assert_eq!(vol.extents(KERNEL_1).unwrap().len(), 1);
    let root: Vec<String> = vol.list("/").unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(
        root,
        [
            "EFI",
            "ReadMe.TXT",
            "UPPER.TXT",
            "a name with spaces",
            "cairn",
            "deep",
            "empty",
            "empty-dir",
            "h\u{e9}llo w\u{f6}rld.txt",
            "loader",
            "many",
            "notes.txt",
            "same"
        ]
    );
    let same = vol.list("same").unwrap();
    let shorts: Vec<&str> = same.iter().map(|e| e.short_name.as_str()).collect();
    assert_eq!(shorts[0], "LONGFI~1.TXT");
    assert_eq!(shorts[9], "LONGF~10.TXT");
    let unique: BTreeSet<&str> = shorts.iter().copied().collect();
    assert_eq!(unique.len(), shorts.len());
    // Lookups ignore case and take 8.3 names too.
    assert!(vol.stat("LOADER/LOADER~1.CON").is_ok());
    assert!(vol.stat("efi/boot/bootx64.efi").is_ok());
    assert!(vol.list("empty-dir").unwrap().is_empty());
    let dirty = vol.dirty_state().unwrap();
    assert!(!dirty.is_dirty() && !dirty.fat_hard_error);
    assert_eq!(vol.geometry().label(), "CAIRN-ESP");
    assert_eq!(vol.geometry().volume_id(), 0xCA1B_0001);
}

#[test]
fn lowercase_83_names_use_flags_not_lfn() {
    let mut vol = open(sample_image(SMALL));
    let root = vol.list("/").unwrap();
    let notes = root.iter().find(|e| e.name == "notes.txt").unwrap();
    assert_eq!(notes.short_name, "NOTES.TXT");
    // The root holds the label, then each entry; 8.3-only names take one
    // slot, so the raw slot after "notes.txt"'s is not an LFN slot of it.
    let image = vol.into_inner().into_inner();
    let at = image.windows(11).position(|w| w == b"NOTES   TXT").unwrap();
    assert_eq!(image[at + 12], 0x18, "lowercase base and extension flags");
    assert_ne!(image[at - 32 + 11], 0x0F, "no LFN slot before NOTES.TXT");
}

#[test]
fn alone_files_own_their_sector() {
    let sample = Sample::new();
    let image = sample_image(SMALL);
    for (path, _, _, alone) in &sample.files {
        if !alone {
            continue;
        }
        let mut vol = open(image.clone());
        let name = path.rsplit('/').next().unwrap();
        let slots = name.encode_utf16().count().div_ceil(13) + 1;
        let stat = vol.stat(path).unwrap();
        let (base, ext) = stat
            .short_name
            .split_once('.')
            .unwrap_or((&stat.short_name, ""));
        let raw_name = format!("{base:8}{ext:3}");
        let raw = vol.into_inner().into_inner();
        let mut found = false;
        for sector in raw.chunks(512) {
            for (i, slot) in sector.chunks(32).enumerate() {
                if &slot[..11] == raw_name.as_bytes() && slot[11] & 0x3F != 0x0F {
                    assert!(!found, "{path}: two slots named {raw_name}");
                    assert_eq!(i + 1, slots, "{path}: its entries start the sector");
                    for other in sector.chunks(32).skip(slots) {
                        assert!(other[0] == 0xE5 || other[0] == 0, "{path}: sector shared");
                    }
                    found = true;
                }
            }
        }
        assert!(found, "{path}");
    }
}

#[test]
fn formatting_is_reproducible() {
    let a = sample_image(SMALL);
    let b = sample_image(SMALL);
    assert!(a == b, "two formats of the same input differ");
    // The order contents are given in does not matter.
    let sample = Sample::new();
    let mut reversed = Contents::new();
    for (path, data, reserve, alone) in sample.files.iter().rev() {
        let mut spec = FileSpec::new(path, data);
        if let Some(r) = reserve {
            spec = spec.reserve(*r);
        }
        if *alone {
            spec = spec.alone_in_sector();
        }
        reversed.add(spec);
    }
    for d in sample.dirs.iter().rev() {
        reversed.dir(d);
    }
    let mut out = Cursor::new(Vec::new());
    format(&mut out, &options(SMALL), &reversed).unwrap();
    assert!(
        out.into_inner() == a,
        "the order of the contents changed the bytes"
    );
}

#[test]
fn target_need_not_be_zeroed() {
    let sample = Sample::new();
    let mut dirty = Cursor::new(bytes(99, SMALL as usize));
    format(&mut dirty, &options(SMALL), &sample.contents()).unwrap();
    let dirty = dirty.into_inner();
    assert_fsck(&dirty, "formatted over garbage");
    let mut vol = open(dirty);
    for (path, _, _, _) in &sample.files {
        assert!(vol.read_file(path, u64::MAX).unwrap() == sample.expected(path).unwrap());
    }
}

#[test]
fn formats_into_a_partition_of_a_larger_disk() {
    let sample = Sample::new();
    let start = 2048 * 512;
    let disk = Cursor::new(vec![0xAAu8; (start + SMALL + MIB) as usize]);
    let mut window = Window::new(disk, start, SMALL);
    format(&mut window, &options(SMALL), &sample.contents()).unwrap();
    let mut disk = window.into_inner();
    // Nothing outside the partition was touched.
    let raw = disk.get_ref();
    assert!(raw[..start as usize].iter().all(|&b| b == 0xAA));
    assert!(raw[(start + SMALL) as usize..].iter().all(|&b| b == 0xAA));
    let mut esp = vec![0u8; SMALL as usize];
    disk.seek(SeekFrom::Start(start)).unwrap();
    disk.read_exact(&mut esp).unwrap();
    assert_fsck(&esp, "the partition");
    let mut vol = Volume::open(Window::new(disk, start, SMALL)).unwrap();
    assert!(vol.read_file(KERNEL_2, u64::MAX).unwrap() == sample.expected(KERNEL_2).unwrap());
}

#[test]
fn formatting_128_mib_with_80_mib_of_files_is_fast() {
    let big: Vec<Vec<u8>> = (0..4).map(|i| bytes(i, 20 * MIB as usize)).collect();
    let mut contents = Contents::new();
    for (i, data) in big.iter().enumerate() {
        contents.add(FileSpec::new(&format!("cairn/v{i}/linux"), data).reserve(21 * MIB));
    }
    let file = tempfile::tempfile().unwrap();
    let mut file = std::io::BufWriter::new(file);
    let started = Instant::now();
    let made = format(&mut file, &options(128 * MIB), &contents).unwrap();
    file.flush().unwrap();
    let took = started.elapsed();
    eprintln!("formatting 128 MiB with 80 MiB of files took {took:?}");
    assert_eq!(made.cluster_size, 1024);
    // Generous in a debug build; the release bound is the one that matters.
    let limit = if cfg!(debug_assertions) { 10.0 } else { 1.0 };
    assert!(took.as_secs_f64() < limit, "formatting took {took:?}");
    let mut file = file.into_inner().unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    let mut image = Vec::new();
    file.read_to_end(&mut image).unwrap();
    assert_eq!(image.len() as u64, 128 * MIB);
    assert_fsck(&image, "128 MiB volume");
}

#[test]
fn bad_contents_are_refused() {
    let data = b"x";
    let format_with =
        |c: &Contents<'_>, size: u64| format(&mut Cursor::new(Vec::new()), &options(size), c);
    let mut dup = Contents::new();
    dup.file("a/B.txt", data).file("A/b.TXT", data);
    assert!(matches!(
        format_with(&dup, SMALL),
        Err(FatError::BadContents { .. })
    ));
    let mut file_as_dir = Contents::new();
    file_as_dir.file("a", data).file("a/b", data);
    assert!(matches!(
        format_with(&file_as_dir, SMALL),
        Err(FatError::BadContents { .. })
    ));
    let mut bad_name = Contents::new();
    bad_name.file("a/b?c", data);
    let err = format_with(&bad_name, SMALL).unwrap_err();
    assert!(err.to_string().contains("/a/b?c"), "{err}");
    let mut small_reserve = Contents::new();
    small_reserve.add(FileSpec::new("k", b"four").reserve(3));
    assert!(matches!(
        format_with(&small_reserve, SMALL),
        Err(FatError::BadContents { .. })
    ));
    let long = "x".repeat(200);
    let mut too_long_alone = Contents::new();
    too_long_alone.add(FileSpec::new(&long, data).alone_in_sector());
    assert!(matches!(
        format_with(&too_long_alone, SMALL),
        Err(FatError::BadContents { .. })
    ));
    let big = vec![0u8; 40 * MIB as usize];
    let mut full = Contents::new();
    full.file("big", &big);
    assert!(matches!(
        format_with(&full, SMALL),
        Err(FatError::VolumeFull { .. })
    ));
    let err = format_with(&Contents::new(), 20 * MIB).unwrap_err();
    assert!(matches!(err, FatError::VolumeTooSmall { .. }), "{err}");
    assert!(err.to_string().contains("at least"), "{err}");
}
