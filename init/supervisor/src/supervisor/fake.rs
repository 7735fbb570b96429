//! A recording [`Processes`] for the supervisor's unit tests: nothing is
//! started; every start and signal is written down, and the test says when
//! a process ends. Processes end on SIGKILL, and on SIGTERM unless their
//! app is set to ignore it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::rc::Rc;

use cairn_manifest::App;
use cairn_sys::process::{ExitStatus, Reaped};
use nix::sys::signal::Signal;

use super::limits::Confinement;
use super::{Processes, Started, SupervisorConfig};

/// What the supervisor asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// Instance `index` of `app` was started as `pid`.
    Start { app: String, index: u32, pid: i32 },
    /// A health check of instance `index` of `app` was started as `pid`.
    Check { app: String, index: u32, pid: i32 },
    /// `signal` was sent to `pid`.
    Signal { pid: i32, signal: Signal },
}

#[derive(Debug, Default)]
struct World {
    calls: Vec<Call>,
    last_pid: i32,
    /// pid -> the app it belongs to, while it runs.
    running: BTreeMap<i32, String>,
    /// Ended, waiting to be reaped.
    ended: VecDeque<(i32, ExitStatus)>,
    /// Apps whose starts fail.
    failing: BTreeSet<String>,
    /// Apps whose processes outlive SIGTERM.
    stubborn: BTreeSet<String>,
}

/// The fake; clones share one world, so a test keeps one and gives the
/// supervisor another.
#[derive(Debug, Clone, Default)]
pub struct Fake(Rc<RefCell<World>>);

impl Fake {
    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.0.borrow().calls.clone()
    }

    /// Forgets the calls so far.
    pub fn clear(&self) {
        self.0.borrow_mut().calls.clear();
    }

    /// The pids started for `app` (instances and checks), in order.
    pub fn started(&self, app: &str) -> Vec<i32> {
        self.calls()
            .iter()
            .filter_map(|c| match c {
                Call::Start { app: a, pid, .. } if a == app => Some(*pid),
                _ => None,
            })
            .collect()
    }

    /// The signals sent, as (pid, signal).
    pub fn signals(&self) -> Vec<(i32, Signal)> {
        self.calls()
            .iter()
            .filter_map(|c| match c {
                Call::Signal { pid, signal } => Some((*pid, *signal)),
                _ => None,
            })
            .collect()
    }

    /// The running process of `app` started last.
    pub fn pid_of(&self, app: &str) -> Option<i32> {
        let world = self.0.borrow();
        world
            .running
            .iter()
            .filter(|(_, a)| *a == app)
            .map(|(pid, _)| *pid)
            .max()
    }

    /// `pid` ends with `status` (reaped at the supervisor's next round).
    pub fn exit(&self, pid: i32, status: ExitStatus) {
        let mut world = self.0.borrow_mut();
        if world.running.remove(&pid).is_some() {
            world.ended.push_back((pid, status));
        }
    }

    /// Starts of `app` fail from now on.
    pub fn fail_starts(&self, app: &str) {
        self.0.borrow_mut().failing.insert(app.to_string());
    }

    /// `app`'s processes ignore SIGTERM.
    pub fn ignore_term(&self, app: &str) {
        self.0.borrow_mut().stubborn.insert(app.to_string());
    }

    fn spawn(&self, app: &App, call: impl FnOnce(i32) -> Call) -> io::Result<Started> {
        let mut world = self.0.borrow_mut();
        if world.failing.contains(&app.name) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such program"));
        }
        world.last_pid += 1;
        let pid = world.last_pid + 100;
        world.running.insert(pid, app.name.clone());
        world.calls.push(call(pid));
        Ok(Started {
            pid,
            stdout: None,
            stderr: None,
            confinement: None,
            copies: None,
        })
    }
}

impl Processes for Fake {
    fn start(&mut self, app: &App, index: u32, _config: &SupervisorConfig) -> io::Result<Started> {
        let name = app.name.clone();
        self.spawn(app, |pid| Call::Start {
            app: name,
            index,
            pid,
        })
    }

    fn start_check(
        &mut self,
        checker: &App,
        index: u32,
        _config: &SupervisorConfig,
        _confinement: Option<&Confinement>,
    ) -> io::Result<Started> {
        let name = checker.name.clone();
        self.spawn(checker, |pid| Call::Check {
            app: name,
            index,
            pid,
        })
    }

    fn signal(&mut self, pid: i32, signal: Signal) {
        let ends = {
            let mut world = self.0.borrow_mut();
            world.calls.push(Call::Signal { pid, signal });
            match world.running.get(&pid) {
                Some(app) => signal == Signal::SIGKILL || !world.stubborn.contains(app),
                None => false,
            }
        };
        if ends {
            self.exit(pid, ExitStatus::Signal(signal as i32));
        }
    }

    fn reap(&mut self) -> io::Result<Reaped> {
        let mut world = self.0.borrow_mut();
        Ok(match world.ended.pop_front() {
            Some((pid, status)) => Reaped::Child { pid, status },
            None if world.running.is_empty() => Reaped::NoChildren,
            None => Reaped::NoneReady,
        })
    }
}
