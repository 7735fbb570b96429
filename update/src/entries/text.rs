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

    fn char(self) -> char {
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
/// `version` is `<build, 10 digits>-<version>`: the build comes first, so
/// systemd-boot's version order is build order.
pub fn render_entry(
    name: &EntryName,
    bank: Bank,
    board_options: &str,
) -> Result<String, EntryError> {
    let Some(build) = name.build else {
        return Err(EntryError::NoBuild {
            name: name.file_name(),
        });
    };
    check_kernel_options(board_options).map_err(EntryError::BoardOptions)?;
    let dir = name.esp_dir();
    let version = &name.version;
    let mut options = cairn_layout::cmdline::entry_options(bank.char(), version);
    if !board_options.trim().is_empty() {
        options.push(' ');
        options.push_str(board_options.trim());
    }
    Ok(format!(
        "title      Cairn {version} (build {build}, bank {bank})\n\
         sort-key   {SORT_KEY}\n\
         version    {build:010}-{version}\n\
         linux      /{dir}/linux\n\
         initrd     /{dir}/initrd\n\
         options    {options}\n"
    ))
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
        let text = render_entry(&name, Bank::B, " console=ttyS0 quiet ").unwrap();
        let options = cairn_layout::cmdline::entry_options('b', "1.4.0");
        assert_eq!(
            text,
            format!(
                "title      Cairn 1.4.0 (build 42, bank b)\n\
                 sort-key   cairn\n\
                 version    0000000042-1.4.0\n\
                 linux      /cairn/0000000042-1.4.0/linux\n\
                 initrd     /cairn/0000000042-1.4.0/initrd\n\
                 options    {options} console=ttyS0 quiet\n"
            )
        );
        let keys: Vec<(&str, &str)> = key_values(&text).collect();
        assert_eq!(keys[1], ("sort-key", "cairn"));
        assert_eq!(keys[2], ("version", "0000000042-1.4.0"));
        let bare = render_entry(&name, Bank::A, "").unwrap();
        let version_option = format!("{}=1.4.0\n", cairn_layout::cmdline::VERSION);
        assert!(bare.ends_with(&version_option), "{bare}");
    }

    #[test]
    fn refuses_options_that_would_break_the_file_or_the_boot() {
        let name = EntryName::new(1, "1", 3).unwrap();
        assert!(matches!(
            render_entry(&name, Bank::A, "quiet\nlinux /evil"),
            Err(EntryError::BoardOptions(_))
        ));
        assert!(matches!(
            render_entry(&name, Bank::A, "root=/dev/sda"),
            Err(EntryError::BoardOptions(_))
        ));
        let legacy = EntryName::parse("cairn-8b89ea035ce7.conf").unwrap();
        assert!(matches!(
            render_entry(&legacy, Bank::A, ""),
            Err(EntryError::NoBuild { .. })
        ));
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
    fn banks() {
        assert_eq!(Bank::A.other(), Bank::B);
        assert_eq!(Bank::B.partlabel(), cairn_layout::partition::BANK_B);
    }
}
