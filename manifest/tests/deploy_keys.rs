//! `[control]`, `[update]` and `[apps.X.secrets]`: the keys deploying adds.

mod support;

use std::time::Duration;

use support::{error, help, ok, WEB};

#[test]
fn control_and_update_have_defaults_and_take_their_keys() {
    let plain = ok(&format!("version = 1\n{WEB}"));
    assert_eq!(plain.control.port, 7443);
    assert_eq!(plain.update.healthy_within, Duration::from_secs(300));
    assert_eq!(plain.update.lock_timeout, Duration::from_secs(600));
    let set = ok(&format!(
        "version = 1\n{WEB}[control]\nport = 9443\n[update]\nhealthy_within = \"90s\"\nlock_timeout = \"0s\"\n"
    ));
    assert_eq!(set.control.port, 9443);
    assert_eq!(set.update.healthy_within, Duration::from_secs(90));
    assert_eq!(set.update.lock_timeout, Duration::ZERO);
}

#[test]
fn control_and_update_values_are_checked_where_they_are_written() {
    let text = "version = 1\n[control]\nport = 0\n";
    assert_eq!(error(text), "3:8: `port` in [control] is 0, but must be from 1 to 65535");
    let text = "version = 1\n[update]\nhealthy_within = \"0s\"\n";
    assert!(error(text).starts_with("3:18: "), "{}", error(text));
    let text = "version = 1\n[control]\nprot = 7443\n";
    assert_eq!(error(text), "3:1: unknown key `prot` in [control]");
    assert_eq!(help(text), "did you mean `port`?");
}

#[test]
fn secrets_map_paths_in_the_app_to_secret_names() {
    let m = ok(&format!(
        "version = 1\n{WEB}[apps.web.secrets]\n\"/run/secrets/db\" = \"db-password\"\n\"/etc/web/token\" = \"web.token\"\n"
    ));
    let secrets: Vec<(&str, &str)> = m.apps["web"]
        .secrets
        .iter()
        .map(|(p, n)| (p.as_str(), n.as_str()))
        .collect();
    assert_eq!(
        secrets,
        [("/etc/web/token", "web.token"), ("/run/secrets/db", "db-password")]
    );
}

#[test]
fn bad_secrets_are_refused_at_their_place() {
    let base = format!("version = 1\n{WEB}[apps.web.secrets]\n");
    let text = format!("{base}\"/run/secrets/db\" = \"DB Password\"\n");
    assert_eq!(error(&text), "6:21: `DB Password` is not a valid secret name");
    let text = format!("{base}\"run/secrets/db\" = \"db\"\n");
    assert_eq!(error(&text), "6:1: secret path `run/secrets/db` is not absolute");
    let text = format!("{base}\"/proc/x\" = \"db\"\n");
    assert!(error(&text).contains("overlaps /proc"), "{}", error(&text));
    let text = format!("{base}\"/run/secrets/db\" = 3\n");
    assert!(error(&text).starts_with("6:21: "), "{}", error(&text));
    let text = format!(
        "version = 1\n{WEB}[apps.web.paths]\n\"/var/lib/web\" = \"state\"\n[apps.web.secrets]\n\"/var/lib/web\" = \"db\"\n"
    );
    assert!(
        error(&text).ends_with("`/var/lib/web` is both a granted path and a secret"),
        "{}",
        error(&text)
    );
}
