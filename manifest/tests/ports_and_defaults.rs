//! Port arithmetic and collisions, uid collisions, and the defaults.

mod support;

use std::time::Duration;

use cairn_manifest::{app_uid, job_uid, LogLevel, Restart, Sockets};
use support::{error, errors, help, ok, WEB};

fn app(name: &str, port: u32, instances: u32) -> String {
    format!("[apps.{name}]\nbundle = \"b\"\nexec = [\"/b\"]\ninstances = {instances}\n[apps.{name}.ports]\nhttp = {port}\n")
}

#[test]
fn defaults_are_filled_in() {
    let m = ok(&format!("version = 1\n{WEB}"));
    assert_eq!(m.system.hostname, "cairn");
    assert_eq!(m.system.timezone, "UTC");
    assert_eq!(m.system.port_offset, 0);
    assert!(m.network.interfaces.is_empty());
    assert!(m.jobs.is_empty());
    assert_eq!(m.logging.console, LogLevel::Info);
    assert_eq!(
        (m.logging.file.max_size, m.logging.file.keep),
        (10 << 20, 5)
    );
    assert!(m.logging.remote.is_empty());
    let web = &m.apps["web"];
    assert_eq!(web.instances, 1);
    assert!(
        web.after.is_empty() && web.env.is_empty() && web.ports.is_empty() && web.paths.is_empty()
    );
    assert_eq!(web.restart, Restart::OnFailure);
    assert_eq!(web.stop_timeout, Duration::from_secs(10));
    assert_eq!(web.sockets, Sockets::Bound);
    assert_eq!(web.limits, cairn_manifest::Limits::default());
    assert_eq!(web.health, None);
    let m = ok("version = 1\n[apps.web]\nbundle = \"b\"\nexec = [\"/b\"]\n[apps.web.ports]\nhttp = 80\n[apps.web.health]\nhttp = \"/\"\n");
    let h = m.apps["web"].health.clone().unwrap();
    assert_eq!(
        (h.interval, h.timeout, h.grace),
        (
            Duration::from_secs(5),
            Duration::from_secs(1),
            Duration::from_secs(30)
        )
    );
    assert_eq!(ok("version = 1\n").apps.len(), 0);
}

#[test]
fn instances_get_consecutive_ports_after_the_offset() {
    let m = ok(&format!(
        "version = 1\n[system]\nport_offset = 100\n{}",
        app("web", 8080, 3)
    ));
    let web = &m.apps["web"];
    let ports: Vec<_> = (0..3)
        .map(|i| web.port_for("http", m.system.port_offset, i))
        .collect();
    assert_eq!(ports, [Some(8180), Some(8181), Some(8182)]);
}

#[test]
fn ports_collide_across_instances_of_different_apps() {
    let text = format!(
        "version = 1\n{}{}",
        app("web", 8080, 3),
        app("api", 8082, 1)
    );
    assert_eq!(
        error(&text),
        "13:8: port 8082 is claimed twice: by app `web` port `http` (instance 2) and by app `api` port `http`"
    );
    assert!(help(&text).contains("+ port_offset + i"));
    // One report per pair of ports, not one per instance.
    let text = format!(
        "version = 1\n{}{}",
        app("web", 8080, 10),
        app("api", 8081, 10)
    );
    assert_eq!(errors(&text).len(), 1);
}

#[test]
fn ports_collide_within_one_app() {
    let text = "version = 1\n[apps.web]\nbundle = \"b\"\nexec = [\"/b\"]\ninstances = 2\n[apps.web.ports]\nhttp = 8080\nadmin = 8081\n";
    assert_eq!(
        error(text),
        "8:9: port 8081 is claimed twice: by app `web` port `http` (instance 1) and by app `web` port `admin` (instance 0)"
    );
    let text =
        "version = 1\n[apps.a]\nbundle = \"b\"\nexec = [\"/b\"]\n[apps.a.ports]\nx = 80\ny = 80\n";
    assert_eq!(
        error(text),
        "7:5: port 80 is claimed twice: by app `a` port `x` and by app `a` port `y`"
    );
}

#[test]
fn ports_stay_within_65535_after_offset_and_instances() {
    assert_eq!(
        error(&format!("version = 1\n{}", app("web", 70000, 1))),
        "7:8: `http` in [apps.web.ports] is 70000, but must be from 1 to 65535"
    );
    assert_eq!(
        error(&format!("version = 1\n{}", app("web", 0, 1))),
        "7:8: `http` in [apps.web.ports] is 0, but must be from 1 to 65535"
    );
    assert_eq!(
        error(&format!("version = 1\n{}", app("web", 65535, 2))),
        "7:8: app `web` port `http` (instance 1) would listen on port 65536 (65535 + port_offset 0 + instance 1), beyond 65535"
    );
    let text = format!(
        "version = 1\n[system]\nport_offset = 58000\n{}",
        app("web", 8080, 1)
    );
    assert_eq!(
        error(&text),
        "9:8: app `web` port `http` would listen on port 66080 (8080 + port_offset 58000 + instance 0), beyond 65535"
    );
    assert_eq!(
        error("version = 1\n[system]\nport_offset = 70000\n"),
        "3:15: `port_offset` in [system] is 70000, but must be from 0 to 65535"
    );
}

#[test]
fn a_port_offset_can_be_applied_later() {
    let m = ok(&format!("version = 1\n{}", app("web", 8080, 2)));
    let moved = m.clone().with_port_offset(1000).unwrap();
    assert_eq!(moved.system.port_offset, 1000);
    assert_eq!(moved.apps["web"].port_for("http", 1000, 1), Some(9081));
    let err = m.with_port_offset(57455).unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!((err.0[0].line, err.0[0].column), (7, 8));
    assert!(err.0[0].message.contains("65536"), "{}", err.0[0].message);
}

#[test]
fn uids_are_derived_from_names_and_must_not_collide() {
    // These pairs were found by search; their uids are equal by construction.
    assert_eq!(app_uid("app598"), app_uid("app9980"));
    assert_eq!(app_uid("app64314"), job_uid("job520"));
    let app = |name: &str| format!("[apps.{name}]\nbundle = \"b\"\nexec = [\"/b\"]\n");
    let text = format!("version = 1\n{}{}", app("app598"), app("app9980"));
    assert_eq!(
        error(&text),
        "5:7: app `app598` and app `app9980` would both run as uid 811418 (uids are derived from names)"
    );
    let text = format!(
        "version = 1\n{}[jobs.job520]\nschedule = \"@daily\"\nbundle = \"b\"\nexec = [\"/b\"]\n",
        app("app64314")
    );
    assert_eq!(
        error(&text),
        "5:7: app `app64314` and job `job520` would both run as uid 663650 (uids are derived from names)"
    );
}
