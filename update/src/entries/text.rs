//! The text of an entry file: rendering Cairn's, and reading any entry's
//! keys the way systemd-boot 252 does (`line_get_key_value`).

use std::fmt;

use super::name::EntryName;
use super::EntryError;
use crate::manifest::check_kernel_options;

/// The `sort-key` of every Cairn entry.
///
/// systemd-boot 252 puts entries that have a sort key before entries that
/// have none, then orders them by `version`, newest first. With it, a new
/// entry is tried before an entry from an image that named entries by
/// content hash (`cairn-8b89ea035ce7.conf`, no sort key), whose id could
/// otherwise sort above a small build number.
pub const SORT_KEY: &str = "cairn";

/// One of the two root banks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bank {
    A,
    B,
}

impl Bank {
    pub fn letter(self) -> &'static str {
        match self {
            Bank::A => "a",
            Bank::B => "b",
        }
    }

    /// The GPT partition name of the bank.
    pub fn partlabel(self) -> &'static str {
        match self {
            Bank::A => cairn_layout::partition::BANK_A,
            Bank::B => cairn_layout::partition::BANK_B,
        }
    }

    pub fn char(self) -> char {
        match self {
            Bank::A => 'a',
            Bank::B => 'b',
        }
    }

    pub fn other(self) -> Bank {
        match self {
            Bank::A => Bank::B,
            Bank::B => Bank::A,
        }
    }
}

impl fmt::Display for Bank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.letter())
    }
}

/// The entry file for `name` booting `bank`, with the board's kernel
/// options after the ones the device sets.
///
/// `version` is `<generation>-<build>-<version>`, numbers padded to ten
/// digits. systemd-boot tries the newest `version` first, and the
/// generation counts the versions written to this device (one more than
/// the newest entry's, see [`next_generation`]): so the version written
/// last is tried first even when it is an allowed downgrade to an older
/// build. The kernel and initramfs are the bank's, in `cairn/<bank>/`.
pub fn render_entry(
    name: &EntryName,
    bank: Bank,
    generation: u64,
    board_options: &str,
) -> Result<String, EntryError> {
    let Some(build) = name.build else {
        return Err(EntryError::NoBuild {
            name: name.file_name(),
        });
    };
    if generation == 0 || generation > MAX_GENERATION {
        return Err(EntryError::Generation { generation });
    }
    check_kernel_options(board_options).map_err(EntryError::BoardOptions)?;
    let version = &name.version;
    let mut options = cairn_layout::cmdline::entry_options(bank.char(), version);
    if !board_options.trim().is_empty() {
        options.push(' ');
        options.push_str(board_options.trim());
    }
    let kernel = cairn_layout::esp::kernel(bank.char());
    let initrd = cairn_layout::esp::initrd(bank.char());
    Ok(format!(
        "title      Cairn {version} (build {build}, bank {bank})\n\
         sort-key   {SORT_KEY}\n\
         version    {generation:010}-{build:010}-{version}\n\
         linux      /{kernel}\n\
         initrd     /{initrd}\n\
         options    {options}\n"
    ))
}

/// The largest generation: ten digits.
pub const MAX_GENERATION: u64 = 9_999_999_999;

/// An entry's text as its file holds it: padded with newlines to
/// [`ENTRY_BYTES`](cairn_layout::esp::ENTRY_BYTES), so the file never
/// changes size (systemd-boot skips blank lines).
pub fn pad_entry(text: &str) -> Result<Vec<u8>, EntryError> {
    let size = cairn_layout::esp::ENTRY_BYTES;
    if text.len() > size {
        return Err(EntryError::TooLong {
            bytes: text.len(),
            size,
        });
    }
    let mut bytes = Vec::with_capacity(size);
    bytes.extend_from_slice(text.as_bytes());
    bytes.resize(size, b'\n');
    Ok(bytes)
}

/// The generation an entry's `version` starts with; 0 for an entry
/// without one (an image's from before generations).
pub fn generation_of(content: &str) -> u64 {
    let Some(version) = key_values(content)
        .filter(|(key, _)| *key == "version")
        .map(|(_, value)| value)
        .last()
    else {
        return 0;
    };
    match version.split_once('-') {
        Some((first, rest)) if first.len() == 10 && rest.contains('-') => {
            first.parse().unwrap_or(0)
        }
        _ => 0,
    }
}

/// The generation for the next entry written beside entries with these
/// contents: one more than the newest.
pub fn next_generation<'a>(contents: impl IntoIterator<Item = &'a str>) -> u64 {
    contents
        .into_iter()
        .map(generation_of)
        .max()
        .unwrap_or(0)
        .saturating_add(1)
        .min(MAX_GENERATION)
}

/// The bank an entry boots, from its `options` (`cairn.bank=`).
pub fn bank_of(content: &str) -> Option<Bank> {
    let prefix = format!("{}=", cairn_layout::cmdline::BANK);
    let options = key_values(content)
        .filter(|(key, _)| *key == "options")
        .map(|(_, value)| value)
        .last()?;
    options
        .split([' ', '\t'])
        .filter_map(|word| word.strip_prefix(&prefix))
        .next_back()
        .and_then(|letter| match letter {
            "a" => Some(Bank::A),
            "b" => Some(Bank::B),
            _ => None,
        })
}

/// The key/value pairs of an entry file, in order, as systemd-boot reads
/// them: lines split at `\n` or `\r`, blanks and tabs trimmed, `#` lines
/// skipped, the key ends at the first blank or tab, a line with no value is
/// skipped, and a value that starts with `"` loses that quote and the
/// line's last character if it is one too.
pub(crate) fn key_values(content: &str) -> impl Iterator<Item = (&str, &str)> {
    let blank = |c: char| c == ' ' || c == '\t';
    content.split(['\n', '\r']).filter_map(move |line| {
        let line = line.trim_matches(blank);
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let (key, value) = line.split_once(blank)?;
        let value = value.trim_start_matches(blank);
        let value = match value.strip_prefix('"') {
            Some(inner) if line.ends_with('"') => inner.strip_suffix('"').unwrap_or(inner),
            _ => value,
        };
        Some((key, value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_complete_entry() {
        let name = EntryName::new(42, "1.4.0", 3).unwrap();
        let text = render_entry(&name, Bank::B, 7, " console=ttyS0 quiet ").unwrap();
        let options = cairn_layout::cmdline::entry_options('b', "1.4.0");
        let kernel = cairn_layout::esp::kernel('b');
        let initrd = cairn_layout::esp::initrd('b');
        assert_eq!(
            text,
            format!(
                "title      Cairn 1.4.0 (build 42, bank b)\n\
                 sort-key   cairn\n\
                 version    0000000007-0000000042-1.4.0\n\
                 linux      /{kernel}\n\
                 initrd     /{initrd}\n\
                 options    {options} console=ttyS0 quiet\n"
            )
        );
        let keys: Vec<(&str, &str)> = key_values(&text).collect();
        assert_eq!(keys[1], ("sort-key", "cairn"));
        assert_eq!(keys[2], ("version", "0000000007-0000000042-1.4.0"));
        assert_eq!(generation_of(&text), 7);
        assert_eq!(bank_of(&text), Some(Bank::B));
        let bare = render_entry(&name, Bank::A, 1, "").unwrap();
        assert_eq!(bank_of(&bare), Some(Bank::A));
        let version_option = format!("{}=1.4.0\n", cairn_layout::cmdline::VERSION);
        assert!(bare.ends_with(&version_option), "{bare}");
    }

    #[test]
    fn refuses_options_that_would_break_the_file_or_the_boot() {
        let name = EntryName::new(1, "1", 3).unwrap();
        assert!(matches!(
            render_entry(&name, Bank::A, 1, "quiet\nlinux /evil"),
            Err(EntryError::BoardOptions(_))
        ));
        assert!(matches!(
            render_entry(&name, Bank::A, 1, "root=/dev/sda"),
            Err(EntryError::BoardOptions(_))
        ));
        assert!(matches!(
            render_entry(&name, Bank::A, 0, ""),
            Err(EntryError::Generation { generation: 0 })
        ));
        let legacy = EntryName::parse("cairn-8b89ea035ce7.conf").unwrap();
        assert!(matches!(
            render_entry(&legacy, Bank::A, 1, ""),
            Err(EntryError::NoBuild { .. })
        ));
        let long = "x".repeat(cairn_layout::esp::ENTRY_BYTES + 1);
        assert!(matches!(pad_entry(&long), Err(EntryError::TooLong { .. })));
    }

    #[test]
    fn reads_keys_like_systemd_boot() {
        let text =
            "# comment\n\n  title\tX Y  \r\nversion \"2\"\nsort-key \"\nlonely\noptions a  b\n";
        let keys: Vec<(&str, &str)> = key_values(text).collect();
        assert_eq!(
            keys,
            [
                ("title", "X Y"),
                ("version", "2"),
                ("sort-key", ""),
                ("options", "a  b")
            ]
        );
    }

    #[test]
    fn padding_keeps_the_keys_and_the_size() {
        let name = EntryName::new(3, "2.0", 3).unwrap();
        let text = render_entry(&name, Bank::A, 4, "").unwrap();
        let padded = pad_entry(&text).unwrap();
        assert_eq!(padded.len(), cairn_layout::esp::ENTRY_BYTES);
        let padded = String::from_utf8(padded).unwrap();
        assert_eq!(
            key_values(&padded).collect::<Vec<_>>(),
            key_values(&text).collect::<Vec<_>>()
        );
    }

    #[test]
    fn generations_count_up_from_the_newest_entry() {
        assert_eq!(next_generation([]), 1);
        let old = "version 0000000003-0000000009-1.0\n";
        let new = "version 0000000005-0000000002-0.9\n";
        assert_eq!(next_generation([old, new]), 6);
        // An entry from before generations counts as 0.
        assert_eq!(generation_of("version 0000000042-1.4.0\n"), 0);
        assert_eq!(generation_of("title x\n"), 0);
        assert_eq!(next_generation(["version 0000000042-1.4.0\n"]), 1);
    }

    #[test]
    fn the_bank_comes_from_the_last_options_line() {
        let key = cairn_layout::cmdline::BANK;
        assert_eq!(
            bank_of(&format!("options {key}=a\noptions x {key}=b\n")),
            Some(Bank::B)
        );
        assert_eq!(bank_of(&format!("options {key}=c\n")), None);
        assert_eq!(bank_of("linux /x\n"), None);
    }

    #[test]
    fn banks() {
        assert_eq!(Bank::A.other(), Bank::B);
        assert_eq!(Bank::B.partlabel(), cairn_layout::partition::BANK_B);
    }
}
