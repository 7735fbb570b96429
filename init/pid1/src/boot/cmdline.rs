//! The kernel command line: which bank booted and which version it holds.
//!
//! The boot entry passes `cairn.bank=a|b` and `cairn.version=<v>`; the bank
//! decides what PID 1 mounts, the version which boot entry it blesses.
//! `cairn.debug` sends debug-level events to the kernel log. Parsing is pure so
//! it can be tested without a kernel.

use std::fmt;

use cairn_layout::cmdline::{BANK, DEBUG, VERSION};
use cairn_layout::partition;

/// One of the two system banks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bank {
    A,
    B,
}

impl Bank {
    /// The GPT partition name of this bank.
    pub fn partition_name(self) -> &'static str {
        match self {
            Bank::A => partition::BANK_A,
            Bank::B => partition::BANK_B,
        }
    }
}

impl fmt::Display for Bank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bank::A => "a",
            Bank::B => "b",
        })
    }
}

/// What PID 1 takes from the kernel command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cmdline {
    pub bank: Option<Bank>,
    pub version: Option<String>,
    pub debug: bool,
}

/// A command line PID 1 cannot boot from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdlineError {
    #[error("{BANK} must be a or b, not {0:?}")]
    BadBank(String),
    #[error("{VERSION} is empty")]
    EmptyVersion,
}

/// Splits a command line into words the way the kernel does: on whitespace,
/// except inside double quotes, which are removed.
pub fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut in_word = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Parses the parameters PID 1 cares about; unknown ones are ignored. When a
/// parameter repeats, the last one wins, as for the kernel's own parameters.
/// Without `cairn.bank`, `root=PARTLABEL=cairn-a|b` names the bank.
pub fn parse(text: &str) -> Result<Cmdline, CmdlineError> {
    let mut out = Cmdline::default();
    let mut root_bank = None;
    for word in split_words(text) {
        let (key, value) = match word.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (word.as_str(), None),
        };
        let root_label = value.and_then(|v| v.strip_prefix("PARTLABEL="));
        match (key, value) {
            (BANK, Some(value)) => {
                out.bank = Some(match value {
                    "a" | "A" => Bank::A,
                    "b" | "B" => Bank::B,
                    other => return Err(CmdlineError::BadBank(other.to_string())),
                });
            }
            (VERSION, Some(value)) => {
                if value.is_empty() {
                    return Err(CmdlineError::EmptyVersion);
                }
                out.version = Some(value.to_string());
            }
            (DEBUG, None | Some("1" | "yes" | "true")) => out.debug = true,
            ("root", Some(_)) if root_label == Some(partition::BANK_A) => root_bank = Some(Bank::A),
            ("root", Some(_)) if root_label == Some(partition::BANK_B) => root_bank = Some(Bank::B),
            _ => {}
        }
    }
    if out.bank.is_none() {
        out.bank = root_bank;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bank_and_version_among_other_parameters() {
        let text = format!(
            "{} console=ttyS0,115200 loglevel=4 printk.devkmsg=on panic=10\n",
            cairn_layout::cmdline::entry_options('b', "0123456789ab")
        );
        let text = text.as_str();
        let cmdline = parse(text).unwrap();
        assert_eq!(cmdline.bank, Some(Bank::B));
        assert_eq!(cmdline.version.as_deref(), Some("0123456789ab"));
        assert!(!cmdline.debug);
    }

    #[test]
    fn falls_back_to_the_root_partition_label() {
        let cmdline = parse(&format!("root=PARTLABEL={} quiet", partition::BANK_A)).unwrap();
        assert_eq!(cmdline.bank, Some(Bank::A));
        assert_eq!(cmdline.version, None);
    }

    #[test]
    fn missing_bank_is_none_and_bad_values_are_errors() {
        assert_eq!(parse("console=ttyS0").unwrap().bank, None);
        assert_eq!(
            parse(&format!("{BANK}=c")),
            Err(CmdlineError::BadBank("c".to_string()))
        );
        assert_eq!(
            parse(&format!("{VERSION}=")),
            Err(CmdlineError::EmptyVersion)
        );
        assert_eq!(
            CmdlineError::BadBank("c".into()).to_string(),
            format!("{BANK} must be a or b, not \"c\"")
        );
    }

    #[test]
    fn last_value_wins_and_debug_is_a_flag() {
        let cmdline = parse(&format!("{BANK}=a {BANK}=b {DEBUG}")).unwrap();
        assert_eq!(cmdline.bank, Some(Bank::B));
        assert!(cmdline.debug);
    }

    #[test]
    fn quotes_keep_spaces_inside_one_word() {
        assert_eq!(
            split_words(r#"a="b c" d  "e f"g"#),
            vec!["a=b c", "d", "e fg"]
        );
        assert_eq!(split_words("  \n"), Vec::<String>::new());
    }

    #[test]
    fn banks_name_their_partitions() {
        assert_eq!(Bank::A.partition_name(), partition::BANK_A);
        assert_eq!(Bank::B.to_string(), "b");
    }
}
