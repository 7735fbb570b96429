//! The manifest reference shows real files and real output; these tests keep
//! it that way.

use std::path::Path;

fn reference() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/manifest.md");
    std::fs::read_to_string(path).unwrap()
}

/// The body of the first fenced block of `language` after `marker`.
fn block_after<'d>(doc: &'d str, marker: &str, language: &str) -> &'d str {
    let from = doc
        .find(marker)
        .unwrap_or_else(|| panic!("docs/manifest.md has no `{marker}`"));
    let fence = format!("```{language}\n");
    let rest = &doc[from..];
    let start = rest.find(&fence).unwrap() + fence.len();
    let body = &rest[start..];
    &body[..body.find("```").unwrap()]
}

#[test]
fn the_complete_example_is_the_fixture() {
    let doc = reference();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/full.toml");
    let fixture = std::fs::read_to_string(fixture).unwrap();
    assert_eq!(block_after(&doc, "<!-- full-example -->", "toml"), fixture);
}

/// The manifest under `heading` prints exactly the text shown after it.
fn assert_errors_as_shown(heading: &str) {
    let doc = reference();
    let manifest = block_after(&doc, heading, "toml");
    let shown = block_after(&doc, heading, "text");
    let errors = cairn_manifest::parse(manifest, Path::new("system.toml")).unwrap_err();
    assert_eq!(format!("{errors}\n"), shown, "under {heading}");
}

#[test]
fn the_error_example_prints_what_the_reference_shows() {
    assert_errors_as_shown("## Errors you may see");
}

#[test]
fn the_services_error_example_prints_what_the_reference_shows() {
    assert_errors_as_shown("### Names and ports have one owner");
}

#[test]
fn every_section_example_parses() {
    let doc = reference();
    let mut checked = 0;
    for heading in [
        "## `[system]`",
        "## `[network.interfaces.NAME]`",
        "## `[logging]`",
        "## `[jobs.NAME]`",
        "## `[services.NAME]`",
    ] {
        let example = block_after(&doc, heading, "toml");
        let text = format!("version = 1\n{example}");
        if let Err(e) = cairn_manifest::parse(&text, Path::new("system.toml")) {
            panic!("the example under {heading} does not parse:\n{e}");
        }
        checked += 1;
    }
    assert_eq!(checked, 5);
}
