//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;

use cairn_manifest::{parse, Diagnostic, Manifest};

/// A valid app to build manifests around.
pub const WEB: &str = "[apps.web]\nbundle = \"build/web\"\nexec = [\"/bin/web\"]\n";

pub fn ok(text: &str) -> Manifest {
    match parse(text, Path::new("system.toml")) {
        Ok(m) => m,
        Err(e) => panic!("expected a valid manifest, got:\n{e}"),
    }
}

pub fn errors(text: &str) -> Vec<Diagnostic> {
    match parse(text, Path::new("system.toml")) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.0,
    }
}

/// The only error for `text`, as "line:column: message".
pub fn error(text: &str) -> String {
    let all = errors(text);
    assert_eq!(all.len(), 1, "expected one error, got:\n{all:#?}");
    let d = &all[0];
    format!("{}:{}: {}", d.line, d.column, d.message)
}

/// The only error's help line.
pub fn help(text: &str) -> String {
    let all = errors(text);
    assert_eq!(all.len(), 1, "expected one error, got:\n{all:#?}");
    all[0].help.clone().unwrap_or_default()
}
