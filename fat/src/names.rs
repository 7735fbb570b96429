//! File names: which long names FAT can hold, the 8.3 name each gets (the
//! name itself with Linux's lowercase flags when it is a plain 8.3 name, an
//! `NAME~1.EXT` alias otherwise), and the long-file-name (LFN) slots that
//! carry the long name, with the checksum that ties them to the 8.3 slot.
//!
//! The alias follows the basis-name and numeric-tail algorithms of
//! Microsoft's FAT specification, as Windows and Linux do, so an image reads
//! the same everywhere; fsck.fat only needs it to be a valid, unique 8.3 name.

use crate::dir_entry::{ATTR_LFN, SLOT};
use crate::error::{FatError, Result};

/// The NTRes flag that says the 8.3 base is shown in lowercase.
pub(crate) const LOWER_BASE: u8 = 0x08;
/// The NTRes flag that says the 8.3 extension is shown in lowercase.
pub(crate) const LOWER_EXT: u8 = 0x10;
/// The ordinal flag of the first LFN slot on disk (the last part of the name).
const LAST_PART: u8 = 0x40;
/// UTF-16 units in one LFN slot.
const UNITS_PER_SLOT: usize = 13;
/// A long name is at most 255 UTF-16 units, so at most 20 slots.
pub(crate) const MAX_UNITS: usize = 255;
const MAX_SLOTS: usize = 20;
/// Where the 13 units of an LFN slot sit in its 32 bytes.
const UNIT_OFFSETS: [usize; UNITS_PER_SLOT] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

/// Characters of an 8.3 name besides letters and digits.
const SHORT_SPECIALS: &[u8] = b"!#$%&'()-@^_`{}~";
/// Characters no long name may hold.
const LONG_FORBIDDEN: &[char] = &['"', '*', '/', ':', '<', '>', '?', '\\', '|'];

/// The names one directory entry is stored under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredName {
    /// The 8.3 name, space padded, uppercase.
    pub short: [u8; 11],
    /// `LOWER_BASE` and `LOWER_EXT`, for a plain 8.3 name shown in lowercase.
    pub case_flags: u8,
    /// The LFN slots in disk order (the one with `LAST_PART` first); empty
    /// when the 8.3 name says it all.
    pub lfn: Vec<[u8; SLOT]>,
}

impl StoredName {
    /// Slots the entry takes: its LFN slots and the 8.3 slot.
    pub fn slots(&self) -> usize {
        self.lfn.len() + 1
    }
}

/// Chooses how `name` is stored in a directory whose other 8.3 names are
/// those for which `taken` is true.
pub(crate) fn store(name: &str, taken: impl Fn(&[u8; 11]) -> bool) -> Result<StoredName> {
    let units = validate_long(name)?;
    if let Some((short, case_flags)) = short_form(name) {
        if !taken(&short) {
            return Ok(StoredName {
                short,
                case_flags,
                lfn: Vec::new(),
            });
        }
    }
    let short = alias(name, &taken).ok_or_else(|| FatError::NoAliasLeft {
        path: name.to_string(),
    })?;
    Ok(StoredName {
        short,
        case_flags: 0,
        lfn: lfn_slots(&units, checksum(&short)),
    })
}

/// Checks that FAT can hold `name` as a long name and returns its UTF-16
/// units. Trailing dots and spaces are refused: Windows and Linux strip them,
/// so such a name could never be looked up.
pub(crate) fn validate_long(name: &str) -> Result<Vec<u16>> {
    let bad = |why| FatError::InvalidName {
        name: name.to_string(),
        why,
    };
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name == "." || name == ".." {
        return Err(bad("reserved"));
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Err(bad("ends with a dot or a space"));
    }
    if name.chars().any(|c| (c as u32) < 0x20 || c == '\u{7f}') {
        return Err(bad("holds a control character"));
    }
    if name.contains(LONG_FORBIDDEN) {
        return Err(bad("holds one of \" * / : < > ? \\ |"));
    }
    let units: Vec<u16> = name.encode_utf16().collect();
    if units.len() > MAX_UNITS {
        return Err(bad("longer than 255 UTF-16 units"));
    }
    Ok(units)
}

fn short_char(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || SHORT_SPECIALS.contains(&c)
}

/// Splits an 8.3-shaped name (base of 1..=8, optional extension of 1..=3,
/// one dot) into its parts, whatever their case.
fn split_83(name: &str) -> Option<(&[u8], &[u8])> {
    let bytes = name.as_bytes();
    let (base, ext) = match name.split_once('.') {
        Some((b, e)) => (b.as_bytes(), e.as_bytes()),
        None => (bytes, &[][..]),
    };
    let fits = (1..=8).contains(&base.len())
        && ext.len() <= 3
        && !(name.contains('.') && ext.is_empty())
        && base
            .iter()
            .chain(ext)
            .all(|&c| short_char(c.to_ascii_uppercase()));
    fits.then_some((base, ext))
}

/// The 8.3 name of a name that is one already: a base and extension each of
/// one case, as Linux stores them without LFN slots (uppercase on disk,
/// lowercase flags for the parts shown in lowercase). `None` for mixed case
/// within a part, or anything that is no 8.3 name.
pub(crate) fn short_form(name: &str) -> Option<([u8; 11], u8)> {
    let (base, ext) = split_83(name)?;
    let case = |part: &[u8], flag: u8| -> Option<u8> {
        let lower = part.iter().any(u8::is_ascii_lowercase);
        let upper = part.iter().any(u8::is_ascii_uppercase);
        match (lower, upper) {
            (true, true) => None,
            (true, false) => Some(flag),
            _ => Some(0),
        }
    };
    let flags = case(base, LOWER_BASE)? | case(ext, LOWER_EXT)?;
    Some((pack(base, ext), flags))
}

/// Base and extension, uppercased and space padded into 11 bytes.
fn pack(base: &[u8], ext: &[u8]) -> [u8; 11] {
    let mut out = [b' '; 11];
    for (slot, &c) in out.iter_mut().zip(base.iter().take(8)) {
        *slot = c.to_ascii_uppercase();
    }
    for (slot, &c) in out.iter_mut().skip(8).zip(ext.iter().take(3)) {
        *slot = c.to_ascii_uppercase();
    }
    out
}

/// The basis name of the FAT specification: uppercase, invalid characters
/// as `_` (which makes the conversion lossy), spaces and leading dots
/// dropped, up to 8 characters before the first dot and up to 3 after the
/// last. Also says whether the conversion was lossy.
fn basis(name: &str) -> ([u8; 11], bool) {
    let mut lossy = false;
    let mut chars: Vec<u8> = Vec::new();
    for c in name.chars() {
        if c == ' ' {
            continue;
        }
        let u = c.to_ascii_uppercase();
        if u == '.' || (u.is_ascii() && short_char(u as u8)) {
            chars.push(u as u8);
        } else {
            lossy = true;
            chars.push(b'_');
        }
    }
    let start = chars.iter().position(|&c| c != b'.').unwrap_or(chars.len());
    let chars = chars.get(start..).unwrap_or(&[]);
    let primary: Vec<u8> = chars
        .iter()
        .copied()
        .take_while(|&c| c != b'.')
        .take(8)
        .collect();
    let ext: Vec<u8> = match chars.iter().rposition(|&c| c == b'.') {
        Some(dot) => chars
            .get(dot + 1..)
            .unwrap_or(&[])
            .iter()
            .copied()
            .take(3)
            .collect(),
        None => Vec::new(),
    };
    if primary.is_empty() {
        // Only dots and dropped characters: still give the alias a base.
        return (pack(b"_", &ext), true);
    }
    (pack(&primary, &ext), lossy)
}

/// An 8.3 alias for a long name: the basis name itself when nothing was lost
/// and it is free, else the basis with the first free `~N` tail (the base cut
/// so that base and tail are at most 8 characters).
pub(crate) fn alias(name: &str, taken: impl Fn(&[u8; 11]) -> bool) -> Option<[u8; 11]> {
    let (basis, lossy) = basis(name);
    if !lossy && split_83(name).is_some() && !taken(&basis) {
        return Some(basis);
    }
    let base_len = basis
        .iter()
        .take(8)
        .rposition(|&c| c != b' ')
        .map_or(0, |p| p + 1);
    // A bound on the search: a directory holds at most 65536 entries.
    for n in 1u32..=999_999 {
        let tail = format!("~{n}");
        let keep = base_len.min(8 - tail.len());
        let mut candidate = [b' '; 11];
        for (slot, &c) in candidate
            .iter_mut()
            .zip(basis.iter().take(keep).chain(tail.as_bytes()))
        {
            *slot = c;
        }
        for (slot, &c) in candidate.iter_mut().zip(basis.iter()).skip(8) {
            *slot = c;
        }
        if !taken(&candidate) {
            return Some(candidate);
        }
    }
    None
}

/// The checksum of an 8.3 name that each of its LFN slots carries.
pub(crate) fn checksum(short: &[u8; 11]) -> u8 {
    short
        .iter()
        .fold(0u8, |sum, &c| sum.rotate_right(1).wrapping_add(c))
}

/// The LFN slots of a long name, in disk order: the last part first, flagged
/// `LAST_PART`; the unit after the name is 0x0000 and the rest 0xFFFF.
pub(crate) fn lfn_slots(units: &[u16], checksum: u8) -> Vec<[u8; SLOT]> {
    let count = units.len().div_ceil(UNITS_PER_SLOT);
    let mut slots = Vec::with_capacity(count);
    for part in (0..count).rev() {
        let mut slot = [0u8; SLOT];
        // part < 20, so the ordinal fits a byte.
        slot[0] = (part as u8 + 1) | if part + 1 == count { LAST_PART } else { 0 };
        slot[11] = ATTR_LFN;
        slot[13] = checksum;
        for (i, &offset) in UNIT_OFFSETS.iter().enumerate() {
            let index = part * UNITS_PER_SLOT + i;
            let unit = match units.get(index) {
                Some(&u) => u,
                None if index == units.len() => 0x0000,
                None => 0xFFFF,
            };
            if let Some(bytes) = slot.get_mut(offset..offset + 2) {
                bytes.copy_from_slice(&unit.to_le_bytes());
            }
        }
        slots.push(slot);
    }
    slots
}

/// The name an 8.3 slot shows when it has no (valid) LFN slots: trimmed,
/// with a dot before a non-empty extension, lowercased as its flags say.
pub(crate) fn short_display(short: &[u8; 11], nt_res: u8) -> String {
    let mut raw = *short;
    // 0x05 stands for a first byte of 0xE5, which marks a free slot.
    if raw[0] == 0x05 {
        raw[0] = 0xE5;
    }
    let part = |bytes: &[u8], lower: bool| -> String {
        let trimmed = match bytes.iter().rposition(|&c| c != b' ') {
            Some(end) => bytes.get(..=end).unwrap_or(&[]),
            None => &[],
        };
        trimmed
            .iter()
            .map(|&c| {
                let c = char::from(c);
                if lower {
                    c.to_ascii_lowercase()
                } else {
                    c
                }
            })
            .collect()
    };
    let (base, ext) = raw.split_at(8);
    let base = part(base, nt_res & LOWER_BASE != 0);
    let ext = part(ext, nt_res & LOWER_EXT != 0);
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

/// Whether two names are the same name to FAT, which compares names without
/// regard to case.
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_uppercase)
        .eq(b.chars().flat_map(char::to_uppercase))
}

/// Collects the LFN slots before an 8.3 slot, checking the ordinals count
/// down to 1 and every slot carries the same checksum; anything else makes
/// the parts collected so far worthless, as fsck.fat and Linux treat them.
#[derive(Debug, Default)]
pub(crate) struct LongNameParts {
    units: Vec<u16>,
    /// The ordinal the next slot must have; 0 once slot 1 was seen.
    next: u8,
    checksum: u8,
    active: bool,
}

impl LongNameParts {
    /// Takes one LFN slot.
    pub fn push(&mut self, slot: &[u8; SLOT]) {
        let ordinal = slot[0] & 0x1F;
        if slot[0] & LAST_PART != 0 {
            if ordinal == 0 || usize::from(ordinal) > MAX_SLOTS {
                self.clear();
                return;
            }
            self.units = vec![0xFFFF; usize::from(ordinal) * UNITS_PER_SLOT];
            self.checksum = slot[13];
            self.next = ordinal;
            self.active = true;
        } else if !self.active || ordinal != self.next || ordinal == 0 || slot[13] != self.checksum
        {
            self.clear();
            return;
        }
        let base = usize::from(ordinal - 1) * UNITS_PER_SLOT;
        for (i, &offset) in UNIT_OFFSETS.iter().enumerate() {
            let unit = u16::from_le_bytes([
                slot.get(offset).copied().unwrap_or(0),
                slot.get(offset + 1).copied().unwrap_or(0),
            ]);
            if let Some(u) = self.units.get_mut(base + i) {
                *u = unit;
            }
        }
        self.next = ordinal - 1;
    }

    /// Forgets the parts collected (at a free slot, or after an 8.3 slot).
    pub fn clear(&mut self) {
        *self = LongNameParts::default();
    }

    /// The long name, if the parts collected are complete and belong to
    /// `short`; clears the parts either way.
    pub fn finish(&mut self, short: &[u8; 11]) -> Option<String> {
        let complete = self.active && self.next == 0 && self.checksum == checksum(short);
        let units = std::mem::take(&mut self.units);
        self.clear();
        if !complete {
            return None;
        }
        let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
        let name = String::from_utf16(units.get(..end)?).ok()?;
        (!name.is_empty()).then_some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn s(n: &[u8; 11]) -> String {
        String::from_utf8_lossy(n).into_owned()
    }

    #[test]
    fn plain_83_names_need_no_lfn() {
        assert_eq!(short_form("BOOTX64.EFI"), Some((*b"BOOTX64 EFI", 0)));
        assert_eq!(short_form("linux"), Some((*b"LINUX      ", LOWER_BASE)));
        assert_eq!(
            short_form("initrd.img"),
            Some((*b"INITRD  IMG", LOWER_BASE | LOWER_EXT))
        );
        assert_eq!(short_form("README.txt"), Some((*b"README  TXT", LOWER_EXT)));
        assert_eq!(
            short_form("a1.b"),
            Some((*b"A1      B  ", LOWER_BASE | LOWER_EXT))
        );
        // Mixed case inside a part, too long, bad characters, two dots.
        assert_eq!(short_form("ReadMe.txt"), None);
        assert_eq!(short_form("longername.txt"), None);
        assert_eq!(short_form("a.text"), None);
        assert_eq!(short_form("a+b"), None);
        assert_eq!(short_form("a.b.c"), None);
        assert_eq!(short_form("a b"), None);
        assert_eq!(short_form(".a"), None);
        assert_eq!(short_form("é"), None);
    }

    #[test]
    fn stored_names() {
        let none = |_: &[u8; 11]| false;
        let plain = store("loader.cfg", none).unwrap();
        assert_eq!(plain.short, *b"LOADER  CFG");
        assert_eq!(plain.case_flags, LOWER_BASE | LOWER_EXT);
        assert!(plain.lfn.is_empty());
        // A four-letter extension is no 8.3 name.
        let conf = store("loader.conf", none).unwrap();
        assert_eq!(s(&conf.short), "LOADER~1CON");
        assert_eq!(conf.lfn.len(), 1);
        let mixed = store("Foo.txt", none).unwrap();
        assert_eq!(s(&mixed.short), "FOO     TXT");
        assert_eq!(mixed.case_flags, 0);
        assert_eq!(mixed.lfn.len(), 1);
        let entry = store("cairn-0000000002-1.2.0+3-0.conf", none).unwrap();
        assert_eq!(s(&entry.short), "CAIRN-~1CON");
        assert_eq!(entry.lfn.len(), 3);
        assert_eq!(entry.slots(), 4);
    }

    #[test]
    fn plain_name_taken_falls_back_to_an_alias() {
        let taken = |n: &[u8; 11]| n == b"LINUX      ";
        let name = store("linux", taken).unwrap();
        assert_eq!(s(&name.short), "LINUX~1    ");
        assert_eq!(name.lfn.len(), 1);
    }

    #[test]
    fn alias_generation_and_collisions() {
        let mut taken: HashSet<[u8; 11]> = HashSet::new();
        let next = |name: &str, taken: &mut HashSet<[u8; 11]>| {
            let a = alias(name, |n| taken.contains(n)).unwrap();
            assert!(taken.insert(a));
            s(&a)
        };
        assert_eq!(next("longfilename.text", &mut taken), "LONGFI~1TEX");
        assert_eq!(next("longfilename.texts", &mut taken), "LONGFI~2TEX");
        for i in 3..=9 {
            assert_eq!(
                next("longfilename.tex", &mut taken),
                format!("LONGFI~{i}TEX")
            );
        }
        // The tenth alias has a two-digit tail: the base loses a character.
        assert_eq!(next("longfilename.tex", &mut taken), "LONGF~10TEX");
        // Another extension is another name.
        assert_eq!(next("longfilename.t", &mut taken), "LONGFI~1T  ");
        assert_eq!(next("longfilename", &mut taken), "LONGFI~1   ");
        // Leading dots and spaces go, bad characters become '_'.
        assert_eq!(next(".bash rc", &mut taken), "BASHRC~1   ");
        assert_eq!(next("a+b.c", &mut taken), "A_B~1   C  ");
        assert_eq!(next("x.y.z.tar.gz", &mut taken), "X~1     GZ ");
        assert_eq!(next("été", &mut taken), "_T_~1      ");
        assert_eq!(next("...", &mut taken), "_~1        ");
    }

    #[test]
    fn lossless_mixed_case_alias_is_the_basis() {
        assert_eq!(s(&alias("Makefile", |_| false).unwrap()), "MAKEFILE   ");
        let a = alias("Makefile", |n| n == b"MAKEFILE   ").unwrap();
        assert_eq!(s(&a), "MAKEFI~1   ");
    }

    #[test]
    fn checksum_matches_the_specification() {
        // Computed with the reference loop of Microsoft's specification.
        fn reference(name: &[u8; 11]) -> u8 {
            let mut sum: u8 = 0;
            for &c in name {
                sum = (if sum & 1 != 0 { 0x80u8 } else { 0 })
                    .wrapping_add(sum >> 1)
                    .wrapping_add(c);
            }
            sum
        }
        for name in [
            b"CAIRN-~1CON",
            b"FOO     TXT",
            b"           ",
            b"\xE5\xFF~~~~~~~~~",
        ] {
            assert_eq!(checksum(name), reference(name));
        }
    }

    #[test]
    fn lfn_split_and_reassembly() {
        for len in [1usize, 12, 13, 14, 26, 27, 200, 255] {
            let name: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let units: Vec<u16> = name.encode_utf16().collect();
            let slots = lfn_slots(&units, 0x5A);
            assert_eq!(slots.len(), len.div_ceil(13));
            assert_eq!(slots[0][0] & LAST_PART, LAST_PART);
            assert_eq!(usize::from(slots[0][0] & 0x1F), slots.len());
            assert_eq!(slots.last().unwrap()[0] & 0x1F, 1);
            // Padding: 0x0000 right after the name, 0xFFFF after that.
            let tail = len % 13;
            if tail != 0 {
                let first = &slots[0];
                let off = UNIT_OFFSETS[tail];
                assert_eq!(&first[off..off + 2], &[0, 0]);
                if tail + 1 < 13 {
                    let off = UNIT_OFFSETS[tail + 1];
                    assert_eq!(&first[off..off + 2], &[0xFF, 0xFF]);
                }
            }
            let mut parts = LongNameParts::default();
            let short = [b'X'; 11];
            let sum = checksum(&short);
            for slot in lfn_slots(&units, sum) {
                parts.push(&slot);
            }
            assert_eq!(parts.finish(&short).as_deref(), Some(name.as_str()));
        }
    }

    #[test]
    fn broken_lfn_sequences_are_ignored() {
        let units: Vec<u16> = "a name of some thirty units long".encode_utf16().collect();
        let short = *b"ANAME~1    ";
        let slots = lfn_slots(&units, checksum(&short));
        assert_eq!(slots.len(), 3);
        // A missing middle slot.
        let mut parts = LongNameParts::default();
        parts.push(&slots[0]);
        parts.push(&slots[2]);
        assert_eq!(parts.finish(&short), None);
        // The wrong 8.3 slot after them.
        let mut parts = LongNameParts::default();
        slots.iter().for_each(|s| parts.push(s));
        assert_eq!(parts.finish(b"OTHER      "), None);
        // No start.
        let mut parts = LongNameParts::default();
        slots[1..].iter().for_each(|s| parts.push(s));
        assert_eq!(parts.finish(&short), None);
        // A bad ordinal.
        let mut bad = slots[0];
        bad[0] = LAST_PART | 25;
        let mut parts = LongNameParts::default();
        parts.push(&bad);
        assert_eq!(parts.finish(&short), None);
    }

    #[test]
    fn long_name_validation() {
        assert!(validate_long("cairn-0000000002-1.2.0+3-0.conf").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:b",
            "a\u{1}",
            "trailing.",
            "trailing ",
            "a*",
        ] {
            assert!(validate_long(bad).is_err(), "{bad:?}");
        }
        assert!(validate_long(&"x".repeat(255)).is_ok());
        assert!(validate_long(&"x".repeat(256)).is_err());
    }

    #[test]
    fn short_names_displayed() {
        assert_eq!(short_display(b"BOOTX64 EFI", 0), "BOOTX64.EFI");
        assert_eq!(short_display(b"LINUX      ", LOWER_BASE), "linux");
        assert_eq!(short_display(b"INITRD  IMG", LOWER_EXT), "INITRD.img");
        assert_eq!(short_display(b"\x05BC        ", 0), "\u{e5}BC");
    }

    #[test]
    fn names_compare_without_case() {
        assert!(same_name("Loader.CONF", "loader.conf"));
        assert!(same_name("Été", "éTÉ"));
        assert!(!same_name("a", "b"));
    }
}
