//! The files the API reads its facts from, all written by PID 1 or the
//! kernel. Each is read within a size bound and parsed strictly by type;
//! a member that is missing is simply not known.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::names::is_app_name;

const MAX_FILE: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} is larger than {MAX_FILE} bytes")]
    TooLarge { path: String },
    #[error("{path}: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Reads a file of at most [`MAX_FILE`] bytes; `None` if it does not exist.
pub fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, SourceError> {
    let shown = || path.display().to_string();
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SourceError::Io {
                path: shown(),
                source,
            })
        }
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| SourceError::Io {
            path: shown(),
            source,
        })?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(SourceError::TooLarge { path: shown() });
    }
    Ok(Some(bytes))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, SourceError> {
    let Some(bytes) = read_bounded(path)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| SourceError::Json {
            path: path.display().to_string(),
            source,
        })
}

/// `status.json`: `{"instances": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct StatusFile {
    pub instances: Vec<Instance>,
}

/// One instance, as `GET /v1/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub app: String,
    pub instance: u32,
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub pid: Option<i32>,
    #[serde(default)]
    pub restarts: u64,
    #[serde(default)]
    pub last_exit: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

pub fn read_status(path: &Path) -> Result<Option<StatusFile>, SourceError> {
    read_json(path)
}

/// `system.json`: the members of `GET /v1/status` PID 1 knows, and its own
/// figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SystemFile {
    #[serde(default)]
    pub system: Option<SystemFacts>,
    #[serde(default)]
    pub banks: Option<BankStates>,
    #[serde(default)]
    pub last_update: Option<LastUpdate>,
    /// Read from `/proc`, never from the file.
    #[serde(skip)]
    pub pid1: Option<Pid1Facts>,
    #[serde(default)]
    pub log_drops: Option<BTreeMap<String, u64>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemFacts {
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub board: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub build: Option<u64>,
    #[serde(default)]
    pub bank: Option<String>,
    #[serde(default)]
    pub blessed: Option<bool>,
    /// Read from `/proc/uptime`, never from the file.
    #[serde(skip_deserializing)]
    pub uptime_s: Option<u64>,
    #[serde(default)]
    pub boot: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankStates {
    #[serde(default)]
    pub a: Option<BankState>,
    #[serde(default)]
    pub b: Option<BankState>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankState {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub build: Option<u64>,
    #[serde(default)]
    pub state: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRef {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub build: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUpdate {
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub from: Option<VersionRef>,
    #[serde(default)]
    pub to: Option<VersionRef>,
    #[serde(default)]
    pub at: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub stderr: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pid1Facts {
    pub rss_kib: Option<u64>,
    pub uptime_s: Option<u64>,
}

pub fn read_system(path: &Path) -> Result<Option<SystemFile>, SourceError> {
    read_json(path)
}

/// One line of a job's `history.jsonl`; only what the API shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRun {
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub exit: Option<String>,
    #[serde(default, skip_serializing)]
    pub code: Option<i64>,
    #[serde(default, skip_serializing)]
    pub timed_out: Option<bool>,
}

impl JobRun {
    /// `success`, `failure` or `timeout`, for the run counter.
    pub fn outcome(&self) -> &'static str {
        if self.timed_out == Some(true) {
            "timeout"
        } else if self.code == Some(0) {
            "success"
        } else {
            "failure"
        }
    }
}

/// Every job with a history, by name, its runs oldest first. A line that
/// does not parse is skipped: one bad line must not hide the others.
pub fn read_jobs(dir: &Path) -> Result<BTreeMap<String, Vec<JobRun>>, SourceError> {
    let mut jobs = BTreeMap::new();
    let items = match fs::read_dir(dir) {
        Ok(items) => items,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(jobs),
        Err(source) => {
            return Err(SourceError::Io {
                path: dir.display().to_string(),
                source,
            })
        }
    };
    for item in items.flatten() {
        let Ok(name) = item.file_name().into_string() else {
            continue;
        };
        if !is_app_name(&name) {
            continue;
        }
        let Some(bytes) = read_bounded(&item.path().join("history.jsonl"))? else {
            continue;
        };
        let runs = bytes
            .split(|&b| b == b'\n')
            .filter_map(|line| serde_json::from_slice::<JobRun>(line).ok())
            .collect();
        jobs.insert(name, runs);
    }
    Ok(jobs)
}

/// An instance's cgroup figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub memory_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
}

pub fn read_usage(cgroup_apps: &Path, app: &str, instance: u32) -> Usage {
    if !is_app_name(app) {
        return Usage::default();
    }
    let dir = cgroup_apps.join(app).join(instance.to_string());
    let small = |name: &str| -> Option<String> {
        let bytes = read_bounded(&dir.join(name)).ok()??;
        String::from_utf8(bytes).ok()
    };
    let memory_bytes = small("memory.current").and_then(|t| t.trim().parse().ok());
    let cpu_seconds = small("cpu.stat").and_then(|text| {
        text.lines()
            .find_map(|line| line.strip_prefix("usage_usec "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|usec| usec as f64 / 1e6)
    });
    Usage {
        memory_bytes,
        cpu_seconds,
    }
}

/// Seconds since process `pid` started, from `<proc>/<pid>/stat` and
/// `<proc>/uptime`.
pub fn process_uptime(proc: &Path, pid: i32) -> Option<f64> {
    if pid <= 0 {
        return None;
    }
    let stat =
        String::from_utf8(read_bounded(&proc.join(pid.to_string()).join("stat")).ok()??).ok()?;
    // The command name (field 2) may hold spaces and parentheses; the
    // fields after its last ')' start with field 3.
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let start_ticks: u64 = after.split_ascii_whitespace().nth(22 - 3)?.parse().ok()?;
    let uptime = String::from_utf8(read_bounded(&proc.join("uptime")).ok()??).ok()?;
    let uptime: f64 = uptime.split_ascii_whitespace().next()?.parse().ok()?;
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|&t| t > 0)
        .unwrap_or(100) as f64;
    Some((uptime - start_ticks as f64 / ticks).max(0.0))
}

/// Seconds since the kernel started (`<proc>/uptime`).
pub fn system_uptime(proc: &Path) -> Option<f64> {
    let uptime = String::from_utf8(read_bounded(&proc.join("uptime")).ok()??).ok()?;
    uptime.split_ascii_whitespace().next()?.parse().ok()
}

/// A process's resident memory in KiB (`VmRSS` of `<proc>/<pid>/status`).
pub fn process_rss_kib(proc: &Path, pid: i32) -> Option<u64> {
    let status =
        String::from_utf8(read_bounded(&proc.join(pid.to_string()).join("status")).ok()??).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_and_memory_come_from_proc() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("uptime"), "812.45 1600.00\n").unwrap();
        std::fs::create_dir_all(dir.path().join("1")).unwrap();
        std::fs::write(
            dir.path().join("1/status"),
            "Name:\tcairn-init\nVmRSS:\t    3416 kB\nThreads:\t2\n",
        )
        .unwrap();
        assert_eq!(system_uptime(dir.path()), Some(812.45));
        assert_eq!(process_rss_kib(dir.path(), 1), Some(3416));
        assert_eq!(process_rss_kib(dir.path(), 2), None);
    }

    #[test]
    fn types_are_strict_and_members_optional() {
        let system: SystemFile = serde_json::from_str(
            r#"{"system":{"blessed":true,"uptime_s":5},"pid1":{"rss_kib":900},"new_member":1}"#,
        )
        .unwrap();
        let facts = system.system.unwrap();
        assert_eq!(facts.blessed, Some(true));
        // Read from /proc, never taken from the file.
        assert_eq!(facts.uptime_s, None);
        assert_eq!(system.pid1, None);
        assert!(serde_json::from_str::<SystemFile>(r#"{"system":{"blessed":"yes"}}"#).is_err());
        assert!(serde_json::from_str::<SystemFile>(r#"{"log_drops":{"web":-1}}"#).is_err());
        assert!(serde_json::from_str::<StatusFile>(r#"{"instances":[{"app":"web"}]}"#).is_err());
    }

    #[test]
    fn reads_usage_and_uptime() {
        let dir = tempfile::tempdir().unwrap();
        let cg = dir.path().join("web/1");
        fs::create_dir_all(&cg).unwrap();
        fs::write(cg.join("memory.current"), "4096\n").unwrap();
        fs::write(cg.join("cpu.stat"), "usage_usec 2500000\nuser_usec 1\n").unwrap();
        let usage = read_usage(dir.path(), "web", 1);
        assert_eq!(usage.memory_bytes, Some(4096));
        assert_eq!(usage.cpu_seconds, Some(2.5));
        assert_eq!(read_usage(dir.path(), "../web", 1), Usage::default());

        let proc = dir.path().join("proc");
        fs::create_dir_all(proc.join("42")).unwrap();
        let mut fields = vec!["0"; 50];
        fields[18] = "1000";
        fs::write(
            proc.join("42/stat"),
            format!("42 (we b) S {}", fields[..].join(" ")),
        )
        .unwrap();
        fs::write(proc.join("uptime"), "30.50 10.00\n").unwrap();
        let uptime = process_uptime(&proc, 42).unwrap();
        assert!((uptime - 20.5).abs() < 1e-9, "{uptime}");
        assert_eq!(process_uptime(&proc, 43), None);
    }
}
