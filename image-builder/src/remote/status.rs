//! `GET /v1/status` as types, and the summary `cairn status` prints.
//!
//! Every field has a default: a device of a newer or older version that
//! adds or lacks a field is still shown (what `--json` prints is the
//! device's own text, untouched).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    pub system: SystemState,
    pub banks: BTreeMap<String, BankState>,
    pub apps: Vec<AppState>,
    pub jobs: Vec<JobState>,
    pub last_update: Option<LastUpdate>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SystemState {
    pub hostname: String,
    pub board: String,
    pub version: String,
    pub build: Option<u64>,
    pub bank: String,
    pub blessed: bool,
    pub uptime_s: Option<u64>,
    pub boot: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BankState {
    pub version: Option<String>,
    pub build: Option<u64>,
    pub state: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppState {
    pub app: String,
    pub instance: u32,
    pub state: String,
    pub reason: Option<String>,
    pub pid: Option<u32>,
    pub restarts: u64,
    pub last_exit: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobState {
    pub job: String,
    pub last: Option<JobRun>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRun {
    pub start: Option<String>,
    pub exit: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionRef {
    pub version: Option<String>,
    pub build: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LastUpdate {
    pub outcome: String,
    pub from: Option<VersionRef>,
    pub to: Option<VersionRef>,
    pub at: Option<String>,
    pub reason: Option<String>,
    pub app: Option<String>,
    pub stderr: Vec<String>,
}

fn paint(text: &str, style: Style, colour: bool) -> String {
    if colour {
        format!("{style}{text}{style:#}")
    } else {
        text.to_owned()
    }
}

/// The colour of a state word: good green, in-between yellow, bad red.
fn state_style(state: &str) -> Style {
    let colour = match state {
        "green" | "running" | "good" | "blessed" | "ready" => AnsiColor::Green,
        "red" | "bad" | "failed" | "rolled-back" | "did-not-boot" | "crashed" => AnsiColor::Red,
        "empty" => AnsiColor::BrightBlack,
        _ => AnsiColor::Yellow,
    };
    colour.on_default()
}

fn duration(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s:02}s"),
        (0, _, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h:02}h"),
    }
}

fn version_ref(v: &Option<VersionRef>) -> String {
    match v {
        Some(VersionRef {
            version: Some(version),
            build: Some(build),
        }) => format!("{version} (build {build})"),
        Some(VersionRef {
            version: Some(version),
            build: None,
        }) => version.clone(),
        _ => "?".to_owned(),
    }
}

/// The readable summary; `colour` for a terminal.
pub fn render_status(status: &Status, colour: bool) -> String {
    let bold = Style::new().bold();
    let s = &status.system;
    let mut out = String::new();
    let build = s.build.map_or(String::new(), |b| format!(" (build {b})"));
    let blessed = if s.blessed { "blessed" } else { "not blessed" };
    let _ = write!(
        out,
        "{}  {}  version {}{build}  bank {}  {}",
        paint(&s.hostname, bold, colour),
        s.board,
        s.version,
        s.bank,
        paint(
            blessed,
            state_style(if s.blessed { "good" } else { "trying" }),
            colour
        ),
    );
    if let Some(up) = s.uptime_s {
        let _ = write!(out, "  up {}", duration(up));
    }
    if let Some(boot) = s.boot {
        let _ = write!(out, "  boot #{boot}");
    }
    out.push('\n');

    if !status.banks.is_empty() {
        let _ = writeln!(out, "{}", paint("banks", bold, colour));
        for (name, bank) in &status.banks {
            let what = match (&bank.version, bank.build) {
                (Some(v), Some(b)) => format!("{v}  build {b}"),
                (Some(v), None) => v.clone(),
                _ => "-".to_owned(),
            };
            let _ = writeln!(
                out,
                "  {name}  {what:<28} {}",
                paint(&bank.state, state_style(&bank.state), colour)
            );
        }
    }

    let _ = writeln!(out, "{}", paint("apps", bold, colour));
    if status.apps.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    let width = status
        .apps
        .iter()
        .map(|a| a.app.len() + 2)
        .max()
        .unwrap_or(0);
    for app in &status.apps {
        let label = format!("{}.{}", app.app, app.instance);
        // Padding is applied before colour codes, which have no width.
        let state = format!("{:<8}", app.state);
        let pid = app.pid.map_or("-".to_owned(), |p| p.to_string());
        let _ = write!(
            out,
            "  {label:<width$}  {}  pid {pid:<7} restarts {}",
            paint(&state, state_style(&app.state), colour),
            app.restarts
        );
        if let Some(reason) = &app.reason {
            let _ = write!(out, "  {reason}");
        }
        out.push('\n');
    }

    if !status.jobs.is_empty() {
        let _ = writeln!(out, "{}", paint("jobs", bold, colour));
        for job in &status.jobs {
            let last = match &job.last {
                Some(run) => format!(
                    "last {} ({})",
                    run.start.as_deref().unwrap_or("?"),
                    run.exit.as_deref().unwrap_or("running")
                ),
                None => "not run yet".to_owned(),
            };
            let _ = writeln!(out, "  {}  {last}", job.job);
        }
    }

    if let Some(update) = &status.last_update {
        let _ = write!(
            out,
            "{}  {}  {} -> {}",
            paint("last update", bold, colour),
            paint(&update.outcome, state_style(&update.outcome), colour),
            version_ref(&update.from),
            version_ref(&update.to),
        );
        if let Some(at) = &update.at {
            let _ = write!(out, "  at {at}");
        }
        out.push('\n');
        if let Some(reason) = &update.reason {
            let _ = writeln!(out, "  reason: {reason}");
        }
        if let Some(app) = &update.app {
            let _ = writeln!(out, "  app: {app}");
        }
        for line in &update.stderr {
            let _ = writeln!(out, "  | {line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_easily() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(812), "13m32s");
        assert_eq!(duration(7322), "2h02m");
        assert_eq!(duration(90_000), "1d01h");
    }
}
