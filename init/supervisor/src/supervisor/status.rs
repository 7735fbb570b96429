//! `/run/cairn/status.json`: every instance's state, for tools to read.
//!
//! Rewritten atomically (`cairn_sys::fs::write_atomically`) whenever
//! anything in it changes, so a reader never sees half a file:
//!
//! ```json
//! {"instances":[{"app":"web","instance":0,"state":"green","pid":212,
//!   "restarts":0,"last_exit":null,"reason":"GET /healthz: 200","status":null}]}
//! ```
//!
//! `last_exit` is `"status 3"` or `"signal SIGKILL"`; `status` is the app's
//! own last `STATUS=` line on NOTIFY_SOCKET.

use crate::health::Light;
use crate::json::{quote, quote_or_null};

/// One instance's line in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    pub app: String,
    pub instance: u32,
    pub state: Light,
    pub pid: Option<i32>,
    pub restarts: u32,
    pub last_exit: Option<String>,
    pub reason: String,
    pub status: Option<String>,
}

fn optional(value: Option<&str>) -> String {
    quote_or_null(value)
}

/// The whole file.
pub fn render(instances: &[InstanceStatus]) -> String {
    let items: Vec<String> = instances
        .iter()
        .map(|i| {
            format!(
                "{{\"app\":{},\"instance\":{},\"state\":\"{}\",\"pid\":{},\"restarts\":{},\
                 \"last_exit\":{},\"reason\":{},\"status\":{}}}",
                quote(&i.app),
                i.instance,
                i.state,
                i.pid.map_or_else(|| "null".to_string(), |p| p.to_string()),
                i.restarts,
                optional(i.last_exit.as_deref()),
                quote(&i.reason),
                optional(i.status.as_deref()),
            )
        })
        .collect();
    format!("{{\"instances\":[{}]}}\n", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_valid_compact_json() {
        let list = [
            InstanceStatus {
                app: "web".into(),
                instance: 0,
                state: Light::Green,
                pid: Some(212),
                restarts: 2,
                last_exit: Some("status 3".into()),
                reason: "GET /healthz: 200".into(),
                status: Some("serving \"all\"\n".into()),
            },
            InstanceStatus {
                app: "db".into(),
                instance: 1,
                state: Light::Red,
                pid: None,
                restarts: 0,
                last_exit: None,
                reason: "crashed 5 times in 60s".into(),
                status: None,
            },
        ];
        assert_eq!(
            render(&list),
            "{\"instances\":[\
             {\"app\":\"web\",\"instance\":0,\"state\":\"green\",\"pid\":212,\"restarts\":2,\
             \"last_exit\":\"status 3\",\"reason\":\"GET /healthz: 200\",\
             \"status\":\"serving \\\"all\\\"\\n\"},\
             {\"app\":\"db\",\"instance\":1,\"state\":\"red\",\"pid\":null,\"restarts\":0,\
             \"last_exit\":null,\"reason\":\"crashed 5 times in 60s\",\"status\":null}]}\n"
        );
        assert_eq!(render(&[]), "{\"instances\":[]}\n");
        assert_eq!(quote("a\u{1}b\\"), "\"a\\u0001b\\\\\"");
    }
}
