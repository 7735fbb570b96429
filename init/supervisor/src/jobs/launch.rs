//! A job run is started as an app would be: a job becomes an [`App`] value
//! with one instance that is never restarted and has no ports, so it gets
//! the same tree, sandbox, user, limits, paths, environment and output
//! capture as an app (see `docs/isolation.md`).

use std::path::PathBuf;
use std::time::Duration;

use cairn_layout::{bank, data};
use cairn_manifest::{App, Job, Restart, Sockets};

/// Where the builder puts each job's tree in a bank: `/bank/jobs/<name>`
/// (see `docs/architecture.md`).
pub const JOB_TREES: &str = bank::JOBS_PATH;

/// Where a job's output ends up (the log directory of its name).
pub fn log_location(job: &str) -> String {
    data::log_dir(job)
}

/// The app a run of `job` is started as. `stop_grace` becomes its
/// `stop_timeout`: how long TERM is given before KILL.
pub fn app_for(job: &Job, stop_grace: Duration) -> App {
    App {
        name: job.name.clone(),
        bundle: job.bundle.clone(),
        exec: job.exec.clone(),
        env: job.env.clone(),
        instances: 1,
        after: Vec::new(),
        restart: Restart::Never,
        stop_timeout: stop_grace,
        sockets: Sockets::Bound,
        ports: Default::default(),
        paths: job.paths.clone(),
        limits: job.limits.clone(),
        health: None,
        secrets: Default::default(),
        security: job.security.clone(),
        uses: Vec::new(),
    }
}

/// The root under which job trees are found, for a supervisor whose apps
/// live under `apps_root`: the builder's layout puts `jobs/` beside `apps/`
/// (`/bank/apps` and `/bank/jobs` in an image, the same under a `cairn dev`
/// directory); a root of any other name holds both.
pub fn trees_root(apps_root: &std::path::Path) -> PathBuf {
    if apps_root == std::path::Path::new(bank::APPS_PATH) {
        return PathBuf::from(JOB_TREES);
    }
    match apps_root.parent() {
        Some(parent) if apps_root.file_name() == Some(std::ffi::OsStr::new("apps")) => {
            parent.join("jobs")
        }
        _ => apps_root.to_path_buf(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cairn_manifest::{Limits, Missed, Overlap, PathGrant};
    use std::collections::BTreeMap;

    pub fn job(name: &str, schedule: &str, exec: &[&str]) -> Job {
        Job {
            name: name.into(),
            schedule: schedule.into(),
            timezone: "UTC".into(),
            bundle: PathBuf::from("build").join(name),
            exec: exec.iter().map(|s| s.to_string()).collect(),
            env: BTreeMap::new(),
            overlap: Overlap::Skip,
            missed: Missed::Skip,
            timeout: None,
            paths: BTreeMap::new(),
            limits: Limits::default(),
            security: Default::default(),
        }
    }

    #[test]
    fn a_job_is_a_single_never_restarted_app_without_ports() {
        let mut backup = job("backup", "30 2 * * *", &["/bin/backup", "--all"]);
        backup.env.insert("MODE".into(), "full".into());
        backup
            .paths
            .insert("/var/lib/backup".into(), PathGrant::State);
        backup.limits.memory = Some(64 << 20);
        let app = app_for(&backup, Duration::from_secs(7));
        assert_eq!(app.name, "backup");
        assert_eq!(app.exec, ["/bin/backup", "--all"]);
        assert_eq!(app.env.get("MODE").map(String::as_str), Some("full"));
        assert_eq!((app.instances, app.restart), (1, Restart::Never));
        assert!(app.ports.is_empty() && app.after.is_empty() && app.health.is_none());
        assert_eq!(app.paths, backup.paths);
        assert_eq!(app.limits.memory, Some(64 << 20));
        assert_eq!(app.stop_timeout, Duration::from_secs(7));
        assert_eq!(app.bundle, backup.bundle);
    }

    #[test]
    fn job_trees_sit_beside_app_trees() {
        assert_eq!(
            trees_root(std::path::Path::new(bank::APPS_PATH)),
            PathBuf::from(bank::JOBS_PATH)
        );
        assert_eq!(
            trees_root(std::path::Path::new("/home/dev/.cairn/dev/bank/apps")),
            PathBuf::from("/home/dev/.cairn/dev/bank/jobs")
        );
        assert_eq!(trees_root(std::path::Path::new("/")), PathBuf::from("/"));
        assert_eq!(
            trees_root(std::path::Path::new("/tmp/trees")),
            PathBuf::from("/tmp/trees")
        );
        assert_eq!(log_location("backup"), data::log_dir("backup"));
    }
}
