//! `GET /metrics`: Prometheus text format 0.0.4, the table of
//! `docs/control-api.md`.

use std::fmt::Write as _;

use crate::config::Config;

use super::facts::Facts;
use super::sources;

/// The states an instance can be in; each instance gets one sample per
/// state, 1 for its current one, so a query can select on the label.
const STATES: [&str; 3] = ["green", "yellow", "red"];

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (key, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{key}=\"{}\"", escape_label(val));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }
}

fn number(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else if value.is_finite() {
        format!("{value}")
    } else {
        "NaN".into()
    }
}

/// Label values: backslash, double quote and line feed are escaped.
pub fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// HELP text: backslash and line feed are escaped.
fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

pub fn render(config: &Config, facts: &Facts) -> String {
    let mut out = Exposition {
        text: String::new(),
    };
    let instances = &facts.instances;
    let label = |i: &sources::Instance| i.instance.to_string();

    out.family(
        "cairn_app_state",
        "gauge",
        "1 for the instance's current state (green, yellow or red), 0 for the others.",
    );
    for i in instances {
        let n = label(i);
        for state in STATES {
            let value = if i.state == state { 1.0 } else { 0.0 };
            out.sample(
                "cairn_app_state",
                &[("app", &i.app), ("instance", &n), ("state", state)],
                value,
            );
        }
        if !STATES.contains(&i.state.as_str()) {
            out.sample(
                "cairn_app_state",
                &[("app", &i.app), ("instance", &n), ("state", &i.state)],
                1.0,
            );
        }
    }

    out.family(
        "cairn_app_restarts_total",
        "counter",
        "Restarts of the instance since boot.",
    );
    for i in instances {
        out.sample(
            "cairn_app_restarts_total",
            &[("app", &i.app), ("instance", &label(i))],
            i.restarts as f64,
        );
    }

    out.family(
        "cairn_app_uptime_seconds",
        "gauge",
        "Seconds since the instance's current process started.",
    );
    for i in instances {
        if let Some(uptime) = i
            .pid
            .and_then(|pid| sources::process_uptime(&config.paths.proc, pid))
        {
            out.sample(
                "cairn_app_uptime_seconds",
                &[("app", &i.app), ("instance", &label(i))],
                uptime.floor(),
            );
        }
    }

    let usage: Vec<_> = instances
        .iter()
        .map(|i| {
            (
                i,
                sources::read_usage(&config.paths.cgroup_apps, &i.app, i.instance),
            )
        })
        .collect();
    out.family(
        "cairn_app_memory_bytes",
        "gauge",
        "Memory the instance's cgroup uses (memory.current).",
    );
    for (i, u) in &usage {
        if let Some(bytes) = u.memory_bytes {
            out.sample(
                "cairn_app_memory_bytes",
                &[("app", &i.app), ("instance", &label(i))],
                bytes as f64,
            );
        }
    }
    out.family(
        "cairn_app_cpu_seconds_total",
        "counter",
        "CPU time of the instance's cgroup (cpu.stat usage_usec).",
    );
    for (i, u) in &usage {
        if let Some(seconds) = u.cpu_seconds {
            out.sample(
                "cairn_app_cpu_seconds_total",
                &[("app", &i.app), ("instance", &label(i))],
                seconds,
            );
        }
    }

    out.family(
        "cairn_log_dropped_lines_total",
        "counter",
        "Log lines of the source that were dropped since boot.",
    );
    for (source, dropped) in facts.system.log_drops.iter().flatten() {
        out.sample(
            "cairn_log_dropped_lines_total",
            &[("source", source)],
            *dropped as f64,
        );
    }

    out.family(
        "cairn_job_runs_total",
        "counter",
        "Runs of the job by outcome, over the runs its history keeps.",
    );
    for (job, runs) in &facts.jobs {
        for outcome in ["success", "failure", "timeout"] {
            let count = runs.iter().filter(|r| r.outcome() == outcome).count();
            out.sample(
                "cairn_job_runs_total",
                &[("job", job), ("outcome", outcome)],
                count as f64,
            );
        }
    }

    let pid1 = facts.system.pid1.as_ref();
    out.family(
        "cairn_pid1_resident_bytes",
        "gauge",
        "PID 1's resident memory.",
    );
    if let Some(kib) = pid1.and_then(|p| p.rss_kib) {
        out.sample(
            "cairn_pid1_resident_bytes",
            &[],
            kib.saturating_mul(1024) as f64,
        );
    }
    out.family(
        "cairn_pid1_uptime_seconds",
        "gauge",
        "Seconds since PID 1 started.",
    );
    if let Some(uptime) = pid1.and_then(|p| p.uptime_s) {
        out.sample("cairn_pid1_uptime_seconds", &[], uptime as f64);
    }

    let system = facts.system.system.as_ref();
    out.family(
        "cairn_boot_blessed",
        "gauge",
        "1 when this boot is blessed.",
    );
    if let Some(blessed) = system.and_then(|s| s.blessed) {
        out.sample("cairn_boot_blessed", &[], if blessed { 1.0 } else { 0.0 });
    }

    out.family("cairn_info", "gauge", "The running version; always 1.");
    let build = config.build.to_string();
    out.sample(
        "cairn_info",
        &[
            ("version", &config.version),
            ("build", &build),
            ("bank", config.bank.letter()),
            ("board", &config.board),
        ],
        1.0,
    );
    out.text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_labels_and_numbers() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(f64::NAN), "NaN");
    }
}
