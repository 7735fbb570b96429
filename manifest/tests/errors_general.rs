//! Syntax, version, unknown keys, types, names: each error at its exact place.

mod support;

use std::path::Path;

use cairn_manifest::parse;
use support::{error, errors, help, ok, WEB};

#[test]
fn toml_syntax_errors_are_located() {
    assert_eq!(
        error("version = 1\n[system\n"),
        "2:8: invalid TOML: invalid table header"
    );
    let all = errors("version = 1\nversion = 1\n");
    assert_eq!(all[0].line, 2);
    assert!(
        all[0].message.contains("duplicate key"),
        "{}",
        all[0].message
    );
}

#[test]
fn the_error_display_reads_like_a_compiler() {
    let text = "version = 1\n\n[system]\nports_offset = 3\n";
    let err = parse(text, Path::new("system.toml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "system.toml:4:1: error: unknown key `ports_offset` in [system]\n  help: did you mean `port_offset`?"
    );
}

#[test]
fn version_must_be_one() {
    assert_eq!(
        error("[system]\n"),
        "1:1: `version` is missing at the top level"
    );
    assert_eq!(help("[system]\n"), "start the file with version = 1");
    assert_eq!(
        error("version = 2\n"),
        "1:11: schema version 2 is not supported"
    );
    assert_eq!(
        error("version = \"1\"\n"),
        "1:11: `version` at the top level must be an integer, not a string"
    );
    assert_eq!(
        help("version = \"1\"\n"),
        "write it without quotes: version = 1"
    );
}

#[test]
fn unknown_keys_everywhere_with_suggestions() {
    assert_eq!(
        error("version = 1\napp = 1\n"),
        "2:1: unknown key `app` at the top level"
    );
    assert_eq!(help("version = 1\napp = 1\n"), "did you mean `apps`?");
    let text = format!("version = 1\n{WEB}instance = 2\n");
    assert_eq!(error(&text), "5:1: unknown key `instance` in [apps.web]");
    assert_eq!(help(&text), "did you mean `instances`?");
    let text = format!("version = 1\n{WEB}health = {{ http = \"/\", intervall = \"1s\" }}\n[apps.web.ports]\nhttp = 80\n");
    assert_eq!(
        error(&text),
        "5:24: unknown key `intervall` in [apps.web.health]"
    );
    let text = "version = 1\n[logging]\ncolour = 1\n";
    assert_eq!(error(text), "3:1: unknown key `colour` in [logging]");
    assert_eq!(
        help(text),
        "the keys allowed here are `console`, `file`, `remote`, `rate_limit`"
    );
}

#[test]
fn wrong_types_name_both_types() {
    assert_eq!(
        error("version = 1\n[system]\nhostname = 5\n"),
        "3:12: `hostname` in [system] must be a string, not an integer"
    );
    assert_eq!(
        error("version = 1\nsystem = \"x\"\n"),
        "2:10: `system` at the top level must be a table, not a string"
    );
    let text = format!("version = 1\n{WEB}after = \"db\"\n");
    assert_eq!(
        error(&text),
        "5:9: `after` in [apps.web] must be an array of strings, not a string"
    );
    assert_eq!(help(&text), "put it in brackets: [\"...\"]");
    let text = format!("version = 1\n{WEB}after = [1]\n");
    assert_eq!(
        error(&text),
        "5:10: `after[0]` in [apps.web] must be a string, not an integer"
    );
}

#[test]
fn names_of_apps_jobs_ports_hosts_and_interfaces() {
    let text = "version = 1\n[apps.Web]\nbundle = \"b\"\nexec = [\"/b\"]\n";
    assert_eq!(error(text), "2:7: `Web` is not a valid app name");
    let text = "version = 1\n[jobs.nightly_backup]\nschedule = \"@daily\"\nbundle = \"b\"\nexec = [\"/b\"]\n";
    assert_eq!(error(text), "2:7: `nightly_backup` is not a valid job name");
    let text = format!("version = 1\n{WEB}[apps.web.ports]\nhttp-alt = 8080\n");
    assert_eq!(error(&text), "6:1: `http-alt` is not a valid port name");
    assert_eq!(
        error("version = 1\n[system]\nhostname = \"edge_01\"\n"),
        "3:12: `edge_01` is not a valid host name"
    );
    assert_eq!(
        error("version = 1\n[network.interfaces.eth-0]\ndhcp = true\n"),
        "2:21: `eth-0` is not a valid interface name"
    );
    let text = format!(
        "version = 1\n{WEB}[jobs.web]\nschedule = \"@daily\"\nbundle = \"b\"\nexec = [\"/b\"]\n"
    );
    assert_eq!(error(&text), "5:7: `web` is both an app and a job");
}

#[test]
fn time_zones_are_iana_names() {
    let text = "version = 1\n[system]\ntimezone = \"Europe/Berln\"\n";
    assert_eq!(error(text), "3:12: unknown time zone `Europe/Berln`");
    assert_eq!(help(text), "did you mean `Europe/Berlin`?");
    assert_eq!(
        help("version = 1\n[system]\ntimezone = \"Berlin\"\n"),
        "did you mean `Europe/Berlin`?"
    );
    assert_eq!(
        help("version = 1\n[system]\ntimezone = \"CEST\"\n"),
        "did you mean `CET`?"
    );
    assert!(help("version = 1\n[system]\ntimezone = \"Mars/Base\"\n").contains("IANA names"));
    assert_eq!(
        ok("version = 1\n[system]\ntimezone = \"America/Argentina/Buenos_Aires\"\n")
            .system
            .timezone,
        "America/Argentina/Buenos_Aires"
    );
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let text = "version = 3\n[system]\nhostname = \"-x\"\ntimezone = \"Nowhere\"\nport_offset = -1\n[apps.A]\n";
    let all = errors(text);
    let places: Vec<(usize, usize)> = all.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(
        places,
        [(1, 11), (3, 12), (4, 12), (5, 15), (6, 7), (6, 7), (6, 7)],
        "{all:#?}"
    );
}
