//! `GET /v1/status`: the system, its banks, every instance, every job's last
//! run and the last update, as `docs/control-api.md` shows them.

use serde::Serialize;

use crate::config::Config;

use super::facts::Facts;
use super::sources::{BankState, BankStates, Instance, JobRun, LastUpdate};

#[derive(Debug, Serialize)]
pub struct Status<'a> {
    pub system: System<'a>,
    pub banks: BankStates,
    pub apps: &'a [Instance],
    pub jobs: Vec<Job<'a>>,
    pub last_update: Option<&'a LastUpdate>,
    /// Files that could not be read, when there are any.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub problems: &'a [String],
}

#[derive(Debug, Serialize)]
pub struct System<'a> {
    pub hostname: &'a str,
    pub board: &'a str,
    pub version: &'a str,
    pub build: u64,
    pub bank: &'a str,
    pub blessed: Option<bool>,
    pub uptime_s: Option<u64>,
    pub boot: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Job<'a> {
    pub job: &'a str,
    pub last: Option<&'a JobRun>,
}

/// What PID 1 wrote, and for what it did not write, what this boot's
/// configuration says.
pub fn build<'a>(config: &'a Config, facts: &'a Facts) -> Status<'a> {
    let said = facts.system.system.as_ref();
    let pick = |from: Option<&'a String>, default: &'a str| from.map_or(default, String::as_str);
    let system = System {
        hostname: pick(said.and_then(|s| s.hostname.as_ref()), &config.hostname),
        board: pick(said.and_then(|s| s.board.as_ref()), &config.board),
        version: pick(said.and_then(|s| s.version.as_ref()), &config.version),
        build: said.and_then(|s| s.build).unwrap_or(config.build),
        bank: pick(said.and_then(|s| s.bank.as_ref()), config.bank.letter()),
        blessed: said.and_then(|s| s.blessed),
        uptime_s: said.and_then(|s| s.uptime_s),
        boot: said.and_then(|s| s.boot),
    };
    let banks = facts.system.banks.clone().unwrap_or_else(|| {
        // At least the running bank is known.
        let running = Some(BankState {
            version: Some(config.version.clone()),
            build: Some(config.build),
            state: Some("running".into()),
        });
        match config.bank {
            cairn_update::entries::Bank::A => BankStates {
                a: running,
                b: None,
            },
            cairn_update::entries::Bank::B => BankStates {
                a: None,
                b: running,
            },
        }
    });
    let jobs = facts
        .jobs
        .iter()
        .map(|(job, runs)| Job {
            job,
            last: runs.last(),
        })
        .collect();
    Status {
        system,
        banks,
        apps: &facts.instances,
        jobs,
        last_update: facts.system.last_update.as_ref(),
        problems: &facts.problems,
    }
}
