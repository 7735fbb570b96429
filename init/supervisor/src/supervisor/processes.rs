//! What the supervisor does to processes: start an instance (or a health
//! check, or a job run), signal it, reap what ended.
//!
//! The decisions (when to start, restart, back off, give up, stop, in which
//! order) are the supervisor's; carrying them out is a [`Processes`]. PID 1
//! and `cairn dev` use [`System`], which creates each instance in its cgroup
//! and sandbox; the supervisor's unit tests use a recording fake, so every
//! decision is tested in parallel without a real process.

use std::fmt::Debug;
use std::io;
use std::os::fd::OwnedFd;

use cairn_manifest::App;
use cairn_sys::process::{self, Reaped};
use nix::sys::signal::Signal;

use super::limits::{self, Confinement};
use super::SupervisorConfig;
use crate::sandbox::writable::WritableCopies;

/// A started process: its pid (the process group to signal) and what the
/// supervisor keeps of it until it ends.
#[derive(Debug)]
pub struct Started {
    pub pid: i32,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// Its cgroup and port guard (None without cgroups, or in a fake).
    pub confinement: Option<Confinement>,
    /// Its writable copies, removed when they are dropped.
    pub copies: Option<WritableCopies>,
}

/// Starts, signals and reaps the supervisor's processes.
pub trait Processes: Debug {
    /// Starts instance `index` of `app` as `config` says: its command, its
    /// sandbox, its cgroup with the app's limits and its port guard. On
    /// failure nothing is left behind.
    fn start(&mut self, app: &App, index: u32, config: &SupervisorConfig) -> io::Result<Started>;

    /// Starts `checker` (the app with its `exec` check as the command) for
    /// instance `index`, inside that instance's `confinement`: a check
    /// counts against the instance's limits and binds no port it may not.
    fn start_check(
        &mut self,
        checker: &App,
        index: u32,
        config: &SupervisorConfig,
        confinement: Option<&Confinement>,
    ) -> io::Result<Started>;

    /// Sends `signal` to the process group `pid` leads, or to `pid` alone
    /// when the group is gone.
    fn signal(&mut self, pid: i32, signal: Signal);

    /// Reaps one ended child without waiting.
    fn reap(&mut self) -> io::Result<Reaped>;
}

/// The real thing.
#[derive(Debug, Default)]
pub struct System {
    /// A port guard that could not be attached has been warned about, so
    /// the warning is given once, not at every start.
    guard_warned: bool,
}

impl Processes for System {
    fn start(&mut self, app: &App, index: u32, config: &SupervisorConfig) -> io::Result<Started> {
        let (mut spawned, confinement) =
            limits::spawn_instance(app, index, config, &mut self.guard_warned)?;
        Ok(Started {
            pid: i32::try_from(spawned.id()).unwrap_or(i32::MAX),
            stdout: spawned.stdout.take(),
            stderr: spawned.stderr.take(),
            confinement,
            copies: spawned.copies.take(),
        })
    }

    fn start_check(
        &mut self,
        checker: &App,
        index: u32,
        config: &SupervisorConfig,
        confinement: Option<&Confinement>,
    ) -> io::Result<Started> {
        let mut command = super::app::command(checker, index, config)?;
        let rlimits = limits::rlimits(checker);
        match confinement {
            Some(confinement) => confinement.apply(&mut command, rlimits)?,
            None => command.confine(None, rlimits),
        }
        let mut spawned = command.spawn()?;
        Ok(Started {
            pid: i32::try_from(spawned.id()).unwrap_or(i32::MAX),
            stdout: spawned.stdout.take(),
            stderr: spawned.stderr.take(),
            confinement: None,
            copies: spawned.copies.take(),
        })
    }

    fn signal(&mut self, pid: i32, signal: Signal) {
        if process::signal_group(pid, signal).is_err() {
            let _ = process::signal_process(pid, signal);
        }
    }

    fn reap(&mut self) -> io::Result<Reaped> {
        process::reap_one()
    }
}
