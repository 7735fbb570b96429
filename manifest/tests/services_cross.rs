//! Services against the rest of the manifest: backends that exist, names
//! and ports with one owner each, one way to start an app, and `uses`.

mod support;

use std::path::Path;
use std::time::Duration;

use cairn_manifest::{parse, Start};
use support::{error, errors, help, ok};

/// App `web` (ports `http` 8080 and `admin` 9000, lines 2-7) and
/// `[services.www]` in front of its `http` on line 8; `extra` starts on
/// line 12.
fn www(extra: &str) -> String {
    format!(
        "version = 1\n[apps.web]\nbundle = \"build/web\"\nexec = [\"/bin/web\"]\n[apps.web.ports]\nhttp = 8080\nadmin = 9000\n\
         [services.www]\napp = \"web\"\nport = \"http\"\nlisten = 80\n{extra}"
    )
}

/// `[services.NAME]` in front of `app`'s `port` on `listen`, in 4 lines.
fn service(name: &str, app: &str, port: &str, listen: u32) -> String {
    format!("[services.{name}]\napp = \"{app}\"\nport = \"{port}\"\nlisten = {listen}\n")
}

const DB: &str = "[apps.db]\nbundle = \"b\"\nexec = [\"/b\"]\n";
const JOB: &str = "[jobs.backup]\nschedule = \"@daily\"\nbundle = \"b\"\nexec = [\"/b\"]\n";

#[test]
fn the_backends_are_an_existing_app() {
    let text = www("").replace("app = \"web\"", "app = \"wbe\"");
    assert_eq!(
        error(&text),
        "9:7: service `www` is in front of app `wbe`, which is not an app in this manifest"
    );
    assert_eq!(help(&text), "did you mean `web`?");
    let text = www("").replace("app = \"web\"", "app = \"backup\"") + JOB;
    assert_eq!(
        error(&text),
        "9:7: `backup` is a job; a service's backends are an app's instances"
    );
}

#[test]
fn the_port_is_one_the_app_declares_by_name() {
    let text = www("").replace("port = \"http\"", "port = \"htp\"");
    assert_eq!(
        error(&text),
        "10:8: service `www` forwards to port `htp`, which app `web` does not declare"
    );
    assert_eq!(help(&text), "did you mean `http`?");
    let text = www("").replace("port = \"http\"", "port = \"8080\"");
    assert_eq!(
        help(&text),
        "name the port, not its number: port = \"http\""
    );
    let text = www("").replace("port = \"http\"", "port = \"grpc\"");
    assert_eq!(
        help(&text),
        "the ports app `web` declares are `admin`, `http`"
    );
    let text = format!("version = 1\n{DB}{}", service("sql", "db", "sql", 5432));
    assert_eq!(
        help(&text),
        "declare it under [apps.db.ports], like `sql = 8080`"
    );
}

#[test]
fn two_services_cannot_listen_on_one_port() {
    let text = www(&service("api", "web", "admin", 80));
    assert_eq!(
        error(&text),
        "15:10: port 80 is claimed twice: by service `www` and by service `api`"
    );
    assert_eq!(
        help(&text),
        "each service needs a `listen` port of its own: change one"
    );
}

#[test]
fn a_listen_port_is_no_apps_port() {
    let text = www("").replace("listen = 80", "listen = 9000");
    assert_eq!(
        error(&text),
        "11:10: port 9000 is claimed twice: by app `web` port `admin` and by service `www`"
    );
    assert!(help(&text).starts_with("the OS binds a service's `listen` on every interface"));
    // Every instance's port counts, its own backends' too.
    let text = www("").replace("listen = 80", "listen = 8081").replace(
        "exec = [\"/bin/web\"]\n",
        "exec = [\"/bin/web\"]\ninstances = 2\n",
    );
    assert_eq!(
        error(&text),
        "12:10: port 8081 is claimed twice: by app `web` port `http` (instance 1) and by service `www`"
    );
    // The claimant written later is blamed: here the app's port.
    let text = format!(
        "version = 1\n{}[apps.api]\nbundle = \"b\"\nexec = [\"/b\"]\n[apps.api.ports]\nhttp = 80\n{}",
        service("www", "web", "http", 80),
        "[apps.web]\nbundle = \"b\"\nexec = [\"/b\"]\n[apps.web.ports]\nhttp = 8080\n"
    );
    assert_eq!(
        error(&text),
        "10:8: port 80 is claimed twice: by service `www` and by app `api` port `http`"
    );
}

#[test]
fn a_listen_port_is_not_the_control_apis() {
    let text = www("").replace("listen = 80", "listen = 7443");
    assert_eq!(
        error(&text),
        "11:10: service `www` would listen on port 7443, the control API's ([control] port + port_offset)"
    );
    assert_eq!(
        help(&text),
        "choose another `listen`, or set another [control] port"
    );
    let moved = format!(
        "{}[control]\nport = 7444\n",
        www("").replace("listen = 80", "listen = 7443")
    );
    ok(&moved);
}

#[test]
fn port_offset_moves_listen_ports_too() {
    let text = www("").replace(
        "version = 1\n",
        "version = 1\n[system]\nport_offset = 100\n",
    );
    let m = ok(&text);
    assert_eq!(m.services["www"].listen_port(m.system.port_offset), 180);
    let text = www("").replace("listen = 80", "listen = 65500");
    let m = ok(&text);
    let err = m.with_port_offset(100).unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!(
        err.0[0].message,
        "service `www` would listen on port 65600 (65500 + port_offset 100), beyond 65535"
    );
    assert_eq!((err.0[0].line, err.0[0].column), (11, 10));
    assert_eq!(
        err.0[0].help.as_deref(),
        Some("lower `listen` or port_offset")
    );
}

#[test]
fn a_backend_port_is_behind_one_service() {
    let text = www(&service("api", "web", "http", 81));
    assert_eq!(
        error(&text),
        "14:8: app `web` port `http` is already behind service `www`"
    );
    // Another port of the same app is another backend.
    let m = ok(&www(&service("admin", "web", "admin", 81)));
    let names: Vec<_> = m.services_of("web").map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["admin", "www"]);
}

#[test]
fn an_app_is_started_one_way() {
    let text = www(&format!(
        "{}start = \"on-demand\"\n",
        service("admin", "web", "admin", 81)
    ));
    assert_eq!(
        error(&text),
        "16:9: app `web` would start at boot for service `www` but on demand (idle_stop 10m) for service `admin`"
    );
    assert!(help(&text).contains("the same `start` and `idle_stop`"));
    let text = www(&format!(
        "start = \"on-demand\"\n{}start = \"on-demand\"\nidle_stop = \"5m\"\n",
        service("admin", "web", "admin", 81)
    ));
    assert_eq!(
        error(&text),
        "17:9: app `web` would start on demand (idle_stop 10m) for service `www` but on demand (idle_stop 5m) for service `admin`"
    );
    let m = ok(&www(&format!(
        "start = \"on-demand\"\n{}start = \"on-demand\"\n",
        service("admin", "web", "admin", 81)
    )));
    let on_demand = Start::OnDemand {
        idle_stop: Duration::from_secs(600),
    };
    assert_eq!(m.app_start("web"), on_demand);
    assert_eq!(ok(&www("")).app_start("web"), Start::Always);
}

#[test]
fn a_service_shares_a_name_only_with_its_own_app() {
    // The usual case: `web` in front of `web`.
    let text = www("").replace("[services.www]", "[services.web]");
    ok(&text);
    let text = format!("{}{DB}", www("").replace("[services.www]", "[services.db]"));
    assert_eq!(
        error(&text),
        "8:11: service `db` has the name of app `db`, but its backends are app `web`"
    );
    assert!(help(&text).starts_with("a service may share its name only with the app it fronts"));
    let text = format!(
        "{}{JOB}",
        www("").replace("[services.www]", "[services.backup]")
    );
    assert_eq!(error(&text), "8:11: `backup` is both a service and a job");
}

#[test]
fn nothing_waits_at_boot_for_an_on_demand_app() {
    let db = "[apps.db]\nbundle = \"b\"\nexec = [\"/b\"]\nafter = [\"web\"]\n";
    let text = format!("{}{db}", www("start = \"on-demand\"\n"));
    assert_eq!(
        error(&text),
        "16:10: app `db` starts after `web`, which starts on demand (service `www`)"
    );
    assert!(help(&text).ends_with("reach it with uses = [\"www\"]"));
}

/// `www` and app `db`; db's table starts on line 12 and `uses` is line 15.
fn uses(list: &str) -> String {
    www(&format!("{DB}uses = {list}\n"))
}

#[test]
fn uses_names_apps_and_services() {
    let m = ok(&uses("[\"www\", \"web\"]"));
    assert_eq!(m.apps["db"].uses, ["www", "web"]);
    assert!(m.apps["web"].uses.is_empty());
    let text = uses("[\"wwx\"]");
    assert_eq!(
        error(&text),
        "15:9: app `db` uses `wwx`, which is not an app or a service in this manifest"
    );
    assert_eq!(help(&text), "did you mean `www`?");
    let text = uses("[\"zzz\"]");
    assert_eq!(
        help(&text),
        "`uses` lists apps and services of this manifest by name"
    );
    assert_eq!(error(&uses("[\"db\"]")), "15:9: app `db` cannot use itself");
    assert_eq!(
        error(&format!("{}{JOB}", uses("[\"backup\"]"))),
        "15:9: `backup` is a job; `uses` lists apps and services"
    );
    assert_eq!(
        error(&uses("[\"www\", \"www\"]")),
        "15:16: `www` is listed twice in `uses`"
    );
    assert_eq!(
        error(&uses("\"www\"")),
        "15:8: `uses` in [apps.db] must be an array of strings, not a string"
    );
}

#[test]
fn an_on_demand_app_is_used_through_its_service() {
    let text = www(&format!("start = \"on-demand\"\n{DB}uses = [\"web\"]\n"));
    assert_eq!(
        error(&text),
        "16:9: app `db` uses app `web` directly, but `web` starts on demand"
    );
    assert_eq!(
        help(&text),
        "connections to its service start it: write uses = [\"www\"]"
    );
    ok(&www(&format!(
        "start = \"on-demand\"\n{DB}uses = [\"www\"]\n"
    )));
}

#[test]
fn apps_find_the_services_they_use_in_their_environment() {
    let text = format!(
        "{}{}",
        uses("[\"web\", \"api-v2\", \"www\"]"),
        service("api-v2", "web", "admin", 81)
    );
    let m = ok(&text);
    assert_eq!(
        m.service_env("db"),
        [
            ("SERVICE_API_V2".to_owned(), "api-v2.service:81".to_owned()),
            ("SERVICE_WWW".to_owned(), "www.service:80".to_owned()),
        ]
    );
    // Apps that use no service, and unknown apps, get nothing.
    assert!(m.service_env("web").is_empty());
    assert!(m.service_env("nope").is_empty());
    // The port is the one the OS binds: with the system's offset.
    let shifted = m.with_port_offset(1000).unwrap();
    assert_eq!(
        shifted.service_env("db")[1],
        ("SERVICE_WWW".to_owned(), "www.service:1080".to_owned())
    );
}

#[test]
fn env_cannot_set_a_service_variable_the_os_sets() {
    let text = www(&format!(
        "{DB}uses = [\"www\"]\nenv = {{ SERVICE_WWW = \"x:1\" }}\n"
    ));
    assert_eq!(
        error(&text),
        "16:23: `SERVICE_WWW` is set by the OS for a service this app uses"
    );
    assert_eq!(
        help(&text),
        "remove it from `env`: the app finds the service at www.service:80"
    );
    // A service the app does not use sets nothing.
    ok(&www(&format!("{DB}env = {{ SERVICE_WWW = \"x:1\" }}\n")));
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = www(&format!("{DB}uses = [\"nope\"]\n"))
        .replace("port = \"http\"", "port = \"nope\"")
        .replace("listen = 80", "listen = 9000");
    let all = errors(&text);
    let at: Vec<_> = all.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(at, [(10, 8), (11, 10), (15, 9)], "{all:#?}");
    // Each carries the file name.
    let err = parse(&text, Path::new("dir/system.toml")).unwrap_err();
    assert!(
        err.to_string().starts_with("dir/system.toml:10:8: error: "),
        "{err}"
    );
}

#[test]
fn a_selector_runs_under_a_uid_of_its_own() {
    // Found by search: these two names hash to one uid (462749).
    assert_eq!(
        cairn_manifest::app_uid("a1901"),
        cairn_manifest::selector_uid("s60")
    );
    let text = "version = 1\n[apps.a1901]\nbundle = \"b\"\nexec = [\"/b\"]\n[apps.a1901.ports]\nhttp = 8080\n\
        [services.s60]\napp = \"a1901\"\nport = \"http\"\nlisten = 80\nbalance = \"program\"\n\
        [services.s60.selector]\nbundle = \"b\"\nexec = [\"/bin/pick\"]\n";
    assert_eq!(
        error(text),
        "12:15: app `a1901` and the selector of service `s60` would both run as uid 462749 (uids are derived from names)"
    );
}

#[test]
fn a_command_line_override_is_checked_like_the_file() {
    use cairn_manifest::overrides::{parse_with_overrides, Override};
    let text = www("");
    let moved = [Override::parse("services.www.listen=8443").unwrap()];
    let m = parse_with_overrides(&text, Path::new("system.toml"), &moved).unwrap();
    assert_eq!(m.services["www"].listen, 8443);
    let clash = [Override::parse("services.www.listen=8080").unwrap()];
    let err = parse_with_overrides(&text, Path::new("system.toml"), &clash).unwrap_err();
    assert_eq!(err.len(), 1, "{err}");
    assert!(
        err.0[0].message.starts_with("port 8080 is claimed twice"),
        "{err}"
    );
}

#[test]
fn a_missing_listen_is_reported_once() {
    let text = www(&service("api", "web", "admin", 81))
        .replace("listen = 80\n", "")
        .replace("listen = 81\n", "");
    let messages: Vec<_> = errors(&text).into_iter().map(|d| d.message).collect();
    assert_eq!(
        messages,
        [
            "[services.www] has no `listen`",
            "[services.api] has no `listen`"
        ]
    );
}
