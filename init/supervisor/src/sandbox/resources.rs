//! `/run/cairn/resources.json`: the facts of the environment contract as one
//! file, for apps that prefer reading a file to reading variables.
//!
//! ```json
//! {"app":"web","instance":1,"uid":1127825,"ports":{"http":8081},
//!  "state_dir":"/var/lib/web","paths":{"/tmp":"tmpfs","/var/lib/web":"state"},
//!  "sockets":"bound","notify_socket":"/run/cairn/notify",
//!  "limits":{"memory":268435456,"processes":64,"cpu":0.5,"open_files":1024}}
//! ```
//!
//! (one line in the file). Unset limits, a missing state dir and a missing
//! notify socket are `null`.

use cairn_manifest::{App, PathGrant, Sockets};

use super::plan::state_dir;
use crate::json::quote;

fn number_or_null<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "null".to_string(), |v| v.to_string())
}

/// The file's content for instance `instance` of `app`, with ports offset.
pub fn resources_json(
    app: &App,
    instance: u32,
    offset: u16,
    uid: u32,
    notify_socket: Option<&str>,
) -> String {
    let ports: Vec<String> = app
        .ports
        .keys()
        .filter_map(|name| {
            app.port_for(name, offset, instance)
                .map(|port| format!("{}:{port}", quote(name)))
        })
        .collect();
    let paths: Vec<String> = app
        .paths
        .iter()
        .map(|(path, grant)| {
            let kind = match grant {
                PathGrant::State => "state",
                PathGrant::Tmpfs => "tmpfs",
                PathGrant::Bundle { .. } => "bundle",
            };
            format!("{}:{}", quote(path), quote(kind))
        })
        .collect();
    let limits = &app.limits;
    let sockets = match app.sockets {
        Sockets::Bound => "bound",
        Sockets::Passed => "passed",
    };
    format!(
        "{{\"app\":{},\"instance\":{instance},\"uid\":{uid},\"ports\":{{{}}},\
         \"state_dir\":{},\"paths\":{{{}}},\"sockets\":{},\"notify_socket\":{},\
         \"limits\":{{\"memory\":{},\"processes\":{},\"cpu\":{},\"open_files\":{}}}}}\n",
        quote(&app.name),
        ports.join(","),
        state_dir(app).map_or_else(|| "null".to_string(), quote),
        paths.join(","),
        quote(sockets),
        notify_socket.map_or_else(|| "null".to_string(), quote),
        number_or_null(limits.memory),
        number_or_null(limits.processes),
        number_or_null(limits.cpu),
        number_or_null(limits.open_files),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::app::tests::app;

    #[test]
    fn every_fact_of_the_contract_is_in_the_file() {
        let mut web = app("web", &["/bin/web"]);
        web.ports.insert("http".to_string(), 8080);
        web.ports.insert("admin".to_string(), 9000);
        web.paths
            .insert("/var/lib/web".to_string(), PathGrant::State);
        web.paths.insert("/tmp".to_string(), PathGrant::Tmpfs);
        web.limits.memory = Some(256 << 20);
        web.limits.cpu = Some(0.5);
        let json = resources_json(&web, 1, 100, 1127825, Some("/run/x/notify"));
        assert_eq!(
            json,
            "{\"app\":\"web\",\"instance\":1,\"uid\":1127825,\
             \"ports\":{\"admin\":9101,\"http\":8181},\"state_dir\":\"/var/lib/web\",\
             \"paths\":{\"/tmp\":\"tmpfs\",\"/var/lib/web\":\"state\"},\"sockets\":\"bound\",\
             \"notify_socket\":\"/run/x/notify\",\"limits\":{\"memory\":268435456,\
             \"processes\":null,\"cpu\":0.5,\"open_files\":null}}\n"
        );
    }

    #[test]
    fn an_app_without_grants_has_null_state_and_empty_maps() {
        let mut odd = app("odd", &["/bin/odd"]);
        odd.name = "we\"ird\n".to_string();
        let json = resources_json(&odd, 0, 0, 5, None);
        assert!(json.starts_with("{\"app\":\"we\\\"ird\\n\",\"instance\":0,\"uid\":5,\"ports\":{},\"state_dir\":null,\"paths\":{}"), "{json}");
    }
}
