//! Errors inside `[apps.NAME]`, each at its exact place.

mod support;

use support::{error, errors, help, ok, WEB};

fn app(extra: &str) -> String {
    format!("version = 1\n{WEB}{extra}")
}

/// An app whose exec is the given TOML array, with an `http` port.
fn with_exec(exec: &str) -> String {
    format!("version = 1\n[apps.web]\nbundle = \"build/web\"\nexec = {exec}\n[apps.web.ports]\nhttp = 8080\n")
}

#[test]
fn bundle_and_exec_are_required() {
    let text = "version = 1\n[apps.web]\nexec = [\"/bin/web\"]\n";
    assert_eq!(error(text), "2:7: [apps.web] has no `bundle`");
    let text = "version = 1\n[apps.web]\nbundle = \"b\"\n";
    assert_eq!(error(text), "2:7: [apps.web] has no `exec`");
    let text = "version = 1\n[apps.web]\nbundle = \"\"\nexec = [\"/b\"]\n";
    assert_eq!(error(text), "3:10: `bundle` in [apps.web] is empty");
}

#[test]
fn exec_must_run_an_absolute_program() {
    assert_eq!(
        error(&with_exec("[]")),
        "4:8: `exec` in [apps.web] is empty"
    );
    assert_eq!(
        error(&with_exec("[\"web\"]")),
        "4:9: the program `web` is not an absolute path"
    );
    assert_eq!(
        help(&with_exec("[\"web\"]")),
        "write \"/bin/web\", a path inside the tree (a single-program bundle lands at /bin/<its file name>)"
    );
    assert!(help(&with_exec("[\"usr/bin/web\"]")).starts_with("write \"/usr/bin/web\""));
}

#[test]
fn exec_references_only_declared_ports() {
    let text = with_exec("[\"/bin/web\", \"--port=${ports.htp}\"]");
    assert_eq!(
        error(&text),
        "4:29: `${ports.htp}` refers to port `htp`, which this app does not declare"
    );
    assert_eq!(help(&text), "did you mean `http`?");
    let text = with_exec("[\"/bin/web\", \"${HOME}/x\"]");
    assert_eq!(
        error(&text),
        "4:22: `${HOME}` is not something the OS can fill in"
    );
    let text = with_exec("[\"/bin/web\", \"${ports.http\"]");
    assert_eq!(
        error(&text),
        "4:22: `${` without a closing `}` in `${ports.http`"
    );
    // A string with escapes still gets a location: the string's start.
    let text = with_exec("[\"/bin/web\", \"\\t${ports.x}\"]");
    assert_eq!(
        error(&text),
        "4:21: `${ports.x}` refers to port `x`, which this app does not declare"
    );
    ok(&with_exec(
        "[\"/bin/web\", \"${ports.http}\", \"$HOME\", \"50$\"]",
    ));
}

#[test]
fn instances_from_1_to_64() {
    assert_eq!(
        error(&app("instances = 0\n")),
        "5:13: `instances` in [apps.web] is 0, but must be from 1 to 64"
    );
    assert_eq!(
        error(&app("instances = 65\n")),
        "5:13: `instances` in [apps.web] is 65, but must be from 1 to 64"
    );
    assert_eq!(ok(&app("instances = 64\n")).apps["web"].instances, 64);
}

#[test]
fn after_names_other_existing_apps() {
    let db = "[apps.db]\nbundle = \"b\"\nexec = [\"/b\"]\n";
    let text = format!("{}{db}", app("after = [\"web\"]\n"));
    assert_eq!(error(&text), "5:10: app `web` cannot start after itself");
    let text = format!("{}{db}", app("after = [\"dv\"]\n"));
    assert_eq!(
        error(&text),
        "5:10: app `web` starts after `dv`, which is not an app in this manifest"
    );
    assert_eq!(help(&text), "did you mean `db`?");
    let text = format!("{}{db}", app("after = [\"db\", \"db\"]\n"));
    assert_eq!(error(&text), "5:16: `db` is listed twice in `after`");
    let job = "[jobs.nightly]\nschedule = \"@daily\"\nbundle = \"b\"\nexec = [\"/b\"]\n";
    let text = format!("{}{job}", app("after = [\"nightly\"]\n"));
    assert_eq!(error(&text), "5:10: `nightly` is a job; `after` lists apps");
    assert_eq!(
        ok(&format!("{}{db}", app("after = [\"db\"]\n"))).apps["web"].after,
        ["db"]
    );
}

#[test]
fn circles_in_after_are_reported_with_their_path() {
    let text = "version = 1\n\
        [apps.a]\nbundle = \"b\"\nexec = [\"/b\"]\nafter = [\"b\"]\n\
        [apps.b]\nbundle = \"b\"\nexec = [\"/b\"]\nafter = [\"c\"]\n\
        [apps.c]\nbundle = \"b\"\nexec = [\"/b\"]\nafter = [\"a\"]\n";
    assert_eq!(
        error(text),
        "13:10: apps wait for each other in a circle: a -> b -> c -> a"
    );
    assert_eq!(help(text), "remove one of these names from an `after` list");
}

#[test]
fn enums_list_their_values() {
    let text = app("restart = \"on-falure\"\n");
    assert_eq!(
        error(&text),
        "5:11: `restart` in [apps.web] must be \"always\", \"on-failure\" or \"never\", not \"on-falure\""
    );
    assert_eq!(help(&text), "did you mean \"on-failure\"?");
    assert_eq!(
        error(&app("sockets = \"activated\"\n")),
        "5:11: `sockets` in [apps.web] must be \"bound\" or \"passed\", not \"activated\""
    );
    assert_eq!(
        error(&app("sockets = \"passed\"\n")),
        "5:11: sockets = \"passed\" but the app declares no ports to pass"
    );
}

#[test]
fn durations_need_units_and_length() {
    assert_eq!(
        error(&app("stop_timeout = \"0s\"\n")),
        "5:16: `stop_timeout` in [apps.web] must be longer than zero"
    );
    let text = app("stop_timeout = \"10\"\n");
    assert_eq!(
        error(&text),
        "5:16: `stop_timeout` in [apps.web] is not a valid duration"
    );
    assert!(
        help(&text).starts_with("`10` has no unit"),
        "{}",
        help(&text)
    );
    assert_eq!(
        error(&app("stop_timeout = 10\n")),
        "5:16: `stop_timeout` in [apps.web] must be a string, not an integer"
    );
}

#[test]
fn limits_have_floors() {
    let limits = |body: &str| app(&format!("[apps.web.limits]\n{body}\n"));
    let text = limits("memory = \"256MB\"");
    assert_eq!(
        error(&text),
        "6:10: `memory` in [apps.web.limits] is not a valid size"
    );
    assert_eq!(
        help(&text),
        "`MB` is ambiguous in `256MB`: write MiB (1 MiB = 1048576 bytes)"
    );
    assert_eq!(
        error(&limits("memory = \"512KiB\"")),
        "6:10: `memory` in [apps.web.limits] must be at least 1MiB"
    );
    assert_eq!(
        error(&limits("cpu = 0")),
        "6:7: cpu limit 0 must be more than 0 and at most 1024"
    );
    assert_eq!(
        error(&limits("cpu = 2000.5")),
        "6:7: cpu limit 2000.5 must be more than 0 and at most 1024"
    );
    assert_eq!(
        error(&limits("processes = 0")),
        "6:13: `processes` in [apps.web.limits] is 0, but must be from 1 to 4194304"
    );
    assert_eq!(
        error(&limits("open_files = 15")),
        "6:14: `open_files` in [apps.web.limits] is 15, but must be from 16 to 1048576"
    );
    let m = ok(&limits(
        "cpu = 2\nmemory = \"1MiB\"\nprocesses = 1\nopen_files = 16",
    ));
    let l = &m.apps["web"].limits;
    assert_eq!(
        (l.cpu, l.memory, l.processes, l.open_files),
        (Some(2.0), Some(1 << 20), Some(1), Some(16))
    );
}

#[test]
fn granted_paths() {
    let paths = |body: &str| app(&format!("[apps.web.paths]\n{body}\n"));
    assert_eq!(
        error(&paths("\"var/lib\" = \"state\"")),
        "6:1: path `var/lib` is not absolute"
    );
    assert_eq!(
        error(&paths("\"/\" = \"state\"")),
        "6:1: path `/` is the whole tree"
    );
    assert_eq!(
        error(&paths("\"/a/../b\" = \"state\"")),
        "6:1: path `/a/../b` contains `..`"
    );
    assert_eq!(
        error(&paths("\"/var/lib/\" = \"state\"")),
        "6:1: path `/var/lib/` is not in normal form"
    );
    assert_eq!(
        help(&paths("\"/var/lib/\" = \"state\"")),
        "write \"/var/lib\""
    );
    assert_eq!(
        error(&paths("\"/dev/shm\" = \"tmpfs\"")),
        "6:1: path `/dev/shm` overlaps /dev, which the OS provides"
    );
    assert_eq!(
        error(&paths("\"/run\" = \"tmpfs\"")),
        format!(
            "6:1: path `/run` overlaps {}, which the OS provides",
            cairn_layout::run::DIR
        )
    );
    assert_eq!(
        error(&paths("\"/data\" = \"stat\"")),
        "6:11: unknown grant \"stat\" for path `/data`"
    );
    assert_eq!(
        help(&paths("\"/data\" = \"stat\"")),
        "did you mean \"state\"?"
    );
    assert_eq!(error(&paths("\"/data\" = 1")), "6:11: `\"/data\"` in [apps.web.paths] must be \"state\", \"tmpfs\" or a table, not an integer");
    assert_eq!(
        error(&paths("\"/etc/x\" = { readonly = true }")),
        "6:1: [apps.web.paths.\"/etc/x\"] has no `bundle`"
    );
    assert_eq!(
        error(&paths("\"/etc/x\" = { bundle = \"c\", mode = 1 }")),
        "6:28: unknown key `mode` in [apps.web.paths.\"/etc/x\"]"
    );
    let m = ok(&paths("\"/etc/x\" = { bundle = \"c\", readonly = false }"));
    assert_eq!(
        m.apps["web"].paths["/etc/x"],
        cairn_manifest::PathGrant::Bundle {
            source: "c".into(),
            readonly: false
        }
    );
    let m = ok(&paths("\"/etc/x\" = { bundle = \"c\" }"));
    assert_eq!(
        m.apps["web"].paths["/etc/x"],
        cairn_manifest::PathGrant::Bundle {
            source: "c".into(),
            readonly: true
        }
    );
}

#[test]
fn env_names_values_and_reserved_names() {
    let text = format!(
        "{}[apps.web.ports]\nhttp = 1\n",
        app("env = { PORT_HTTP = \"1\" }\n")
    );
    assert_eq!(
        error(&text),
        "5:9: `PORT_HTTP` is set by the OS and cannot be overridden"
    );
    assert_eq!(
        error(&app("env = { CAIRN_APP = \"x\" }\n")),
        "5:9: `CAIRN_APP` is set by the OS and cannot be overridden"
    );
    assert_eq!(
        error(&app("env = { \"A-B\" = \"x\" }\n")),
        "5:9: `A-B` is not a valid variable name"
    );
    let text = app("env = { DEBUG = true }\n");
    assert_eq!(
        error(&text),
        "5:17: `DEBUG` in [apps.web.env] must be a string, not a boolean"
    );
    assert_eq!(help(&text), "write it in quotes: DEBUG = \"true\"");
}

#[test]
fn health_checks() {
    let health = |body: &str, ports: &str| app(&format!("[apps.web.health]\n{body}\n{ports}"));
    let port = "[apps.web.ports]\nhttp = 8080\n";
    assert_eq!(
        error(&health("interval = \"5s\"", port)),
        "5:11: [apps.web.health] has no check"
    );
    assert_eq!(
        error(&health("http = \"/\"\ntcp = \"http\"", port)),
        "7:1: [apps.web.health] has more than one check (http, tcp)"
    );
    assert_eq!(
        error(&health("http = \"healthz\"", port)),
        "6:8: health check path `healthz` does not start with `/`"
    );
    assert_eq!(
        error(&health("http = \"/healthz\"", "")),
        "6:8: an http health check needs a port, but this app declares none"
    );
    assert_eq!(
        error(&health("tcp = \"htp\"", port)),
        "6:7: tcp health check names port `htp`, which this app does not declare"
    );
    assert_eq!(
        error(&health("exec = [\"check\"]", port)),
        "6:9: the program `check` is not an absolute path"
    );
    assert_eq!(
        error(&health("http = \"/\"\ntimeout = \"0ms\"", port)),
        "7:11: `timeout` in [apps.web.health] must be longer than zero"
    );
    let m = ok(&health(
        "exec = [\"/bin/check\", \"${ports.http}\"]\ngrace = \"1m\"",
        port,
    ));
    let h = m.apps["web"].health.clone().unwrap();
    assert_eq!(
        h.check,
        cairn_manifest::HealthCheck::Exec {
            argv: vec!["/bin/check".into(), "${ports.http}".into()]
        }
    );
    assert_eq!(
        m.apps["web"].expand_args(&["${ports.http}".to_owned()], 1, 1),
        ["8082"]
    );
    assert_eq!(h.grace, std::time::Duration::from_secs(60));
}

#[test]
fn one_app_can_have_many_errors() {
    let text =
        "version = 1\n[apps.web]\nexec = \"/bin/web\"\ninstances = 0\nrestart = \"sometimes\"\n";
    let lines: Vec<usize> = errors(text).iter().map(|d| d.line).collect();
    assert_eq!(lines, [2, 3, 4, 5]);
}

#[test]
fn security_names_known_system_calls_with_a_sign() {
    let text = app("[apps.web.security]\nsyscalls = [\"+ptrace\", \"-ptrac\"]\n");
    assert_eq!(
        error(&text),
        "6:24: `ptrac` is not a system call of x86_64 Linux"
    );
    assert_eq!(help(&text), "did you mean `ptrace`?");
    let text = app("[apps.web.security]\nsyscalls = [\"ptrace\"]\n");
    assert_eq!(
        error(&text),
        "6:13: `ptrace` in `syscalls` in [apps.web.security] needs a `+` or `-` before the call's name"
    );
    let text = app("[apps.web.security]\nsyscalls = [\"+ptrace\", \"-ptrace\"]\n");
    assert_eq!(error(&text), "6:24: `ptrace` is both allowed and denied");
    let text = app("[apps.web.security]\nsyscal = []\n");
    assert!(
        error(&text).starts_with("6:1: unknown key `syscal`"),
        "{}",
        error(&text)
    );
}

#[test]
fn security_changes_are_kept_in_order() {
    let text = app("[apps.web.security]\nsyscalls = [\"+ptrace\", \"-getcpu\"]\n");
    let manifest = ok(&text);
    assert_eq!(
        manifest.apps["web"].security.syscalls,
        vec![
            cairn_manifest::SyscallChange::Allow("ptrace".into()),
            cairn_manifest::SyscallChange::Deny("getcpu".into()),
        ]
    );
}
