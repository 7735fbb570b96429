//! The layout contract is written once, in this crate: no string literal in
//! the code of PID 1's crates, the builder or the manifest spells a partition
//! label, a path in a bank, the initramfs, the ESP or the data partition, or
//! a kernel command line key of it. They take them from `cairn_layout`.
//!
//! The boot tests (`tests/boot`) are left out on purpose: they look at a
//! built image from the outside, as systemd-boot and an operator do, and
//! spell what they expect to find, so a change here that breaks the image
//! for the firmware or the boot loader fails them.

use std::path::{Path, PathBuf};

/// Text that only this crate may write in a string literal, with how it may
/// appear in one.
const CONTRACT: &[(&str, Match)] = &[
    ("esp", Match::Whole),
    ("cairn-a", Match::Word),
    ("cairn-b", Match::Word),
    ("cairn-data", Match::Word),
    ("/bank", Match::PathPrefix),
    ("/data", Match::PathPrefix),
    ("/run/cairn", Match::PathPrefix),
    ("/etc/cairn", Match::Anywhere),
    ("etc/cairn/", Match::Anywhere),
    ("cairn/system.toml", Match::Anywhere),
    ("cairn/version", Match::Anywhere),
    ("cairn/inventory.json", Match::Anywhere),
    ("cairn/keys", Match::Anywhere),
    ("cairn/logging/ca", Match::Anywhere),
    ("cairn/boot-count", Match::Anywhere),
    ("cairn/crashes", Match::Anywhere),
    ("cairn/jobs", Match::Anywhere),
    ("loader/entries", Match::Anywhere),
    ("loader/loader.conf", Match::Anywhere),
    ("EFI/BOOT", Match::Anywhere),
    ("cairn.bank", Match::Anywhere),
    ("cairn.version", Match::Anywhere),
    ("cairn.debug", Match::Anywhere),
];

#[derive(Debug, Clone, Copy)]
enum Match {
    /// The whole literal is the text.
    Whole,
    /// The text stands in the literal as a word of its own.
    Word,
    /// The literal is the path or starts with it and a `/`.
    PathPrefix,
    /// The text stands anywhere in the literal.
    Anywhere,
}

impl Match {
    fn hits(self, literal: &str, text: &str) -> bool {
        match self {
            Match::Whole => literal == text,
            Match::Word => literal.match_indices(text).any(|(at, _)| {
                let before = literal[..at].chars().next_back();
                let after = literal[at + text.len()..].chars().next();
                let word = |c: Option<char>| {
                    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                };
                !word(before) && !word(after)
            }),
            Match::PathPrefix => literal
                .split(|c: char| c.is_whitespace() || c == '=' || c == '"' || c == ',')
                .any(|part| part == text || part.starts_with(&format!("{text}/"))),
            Match::Anywhere => literal.contains(text),
        }
    }
}

/// The string literals of Rust source, without comments.
fn literals(source: &str) -> Vec<(usize, String)> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    if bytes[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 2;
            }
            b'\'' => {
                // A char literal ('"' among them) or a lifetime.
                if bytes.get(i + 2) == Some(&b'\'') {
                    i += 3;
                } else if bytes.get(i + 1) == Some(&b'\\') {
                    i += 2;
                    while i < bytes.len() && bytes[i] != b'\'' {
                        i += 1;
                    }
                    i += 1;
                } else {
                    i += 1;
                }
            }
            b'r' if matches!(bytes.get(i + 1), Some(b'"' | b'#'))
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while bytes.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if bytes.get(j) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let start = j + 1;
                let close: String = std::iter::once('"')
                    .chain("#".repeat(hashes).chars())
                    .collect();
                let end = source[start..]
                    .find(&close)
                    .map_or(bytes.len(), |e| start + e);
                out.push((line, source[start..end].to_string()));
                line += source[start..end].matches('\n').count();
                i = end + close.len();
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let text = &source[start..j.min(bytes.len())];
                out.push((line, text.to_string()));
                line += text.matches('\n').count();
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != ".git" {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_literal_of_the_contract_stands_outside_this_crate() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for dir in ["init", "image-builder", "manifest", "update"] {
        rust_files(&workspace.join(dir), &mut files);
    }
    assert!(files.len() > 150, "found only {} files", files.len());
    let mut found = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        for (line, literal) in literals(&source) {
            for (text, how) in CONTRACT {
                if how.hits(&literal, text) {
                    let shown = file.strip_prefix(workspace).unwrap_or(file);
                    found.push(format!(
                        "{}:{line}: {literal:?} spells {text:?}",
                        shown.display()
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "use cairn_layout instead of these {} literals:\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_scanner_finds_literals_and_skips_comments() {
    let source = "// \"/bank/x\" in a comment\nlet a = \"/bank/cairn\"; /* \"esp\" */\nlet c = '\"'; let b = r#\"cairn.bank=a\"#;\n";
    let got: Vec<(usize, String)> = literals(source);
    assert_eq!(
        got,
        [
            (2, "/bank/cairn".to_string()),
            (3, "cairn.bank=a".to_string())
        ]
    );
    assert!(Match::Word.hits("root=PARTLABEL=cairn-a x", "cairn-a"));
    assert!(!Match::Word.hits("cairn-apps", "cairn-a"));
    assert!(Match::PathPrefix.hits("/data/logs/web", "/data"));
    assert!(!Match::PathPrefix.hits("/database", "/data"));
    assert!(Match::Whole.hits("esp", "esp"));
    assert!(!Match::Whole.hits("esp32", "esp"));
}
