//! Everything `GET /v1/status` and `GET /metrics` report, gathered in one
//! pass over the files. A file that is missing leaves its part unknown; one
//! that is malformed does too, and is named in `problems`.

use std::collections::BTreeMap;

use crate::config::Config;

use super::sources::{self, Instance, JobRun, Pid1Facts, SystemFile};

#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub system: SystemFile,
    pub instances: Vec<Instance>,
    pub jobs: BTreeMap<String, Vec<JobRun>>,
    pub problems: Vec<String>,
}

impl Facts {
    pub fn gather(config: &Config) -> Facts {
        let mut facts = Facts::default();
        match sources::read_system(&config.paths.system) {
            Ok(system) => facts.system = system.unwrap_or_default(),
            Err(e) => facts.problems.push(e.to_string()),
        }
        match sources::read_status(&config.paths.status) {
            Ok(status) => facts.instances = status.unwrap_or_default().instances,
            Err(e) => facts.problems.push(e.to_string()),
        }
        match sources::read_jobs(&config.paths.jobs) {
            Ok(jobs) => facts.jobs = jobs,
            Err(e) => facts.problems.push(e.to_string()),
        }
        // What the kernel knows of the system and of PID 1 is read here,
        // fresh, rather than from a file PID 1 would have to keep current.
        let proc = &config.paths.proc;
        if let Some(system) = facts.system.system.as_mut() {
            system.uptime_s = sources::system_uptime(proc).map(|s| s as u64);
        }
        facts.system.pid1 = Some(Pid1Facts {
            rss_kib: sources::process_rss_kib(proc, 1),
            uptime_s: sources::process_uptime(proc, 1).map(|s| s as u64),
        });
        facts
    }
}
