//! Everything `GET /v1/status` and `GET /metrics` report, gathered in one
//! pass over the files. A file that is missing leaves its part unknown; one
//! that is malformed does too, and is named in `problems`.

use std::collections::BTreeMap;

use crate::config::Config;

use super::sources::{self, Instance, JobRun, SystemFile};

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
        facts
    }
}
