//! Cairn's part of the cgroup tree: `<root>/cairn/{init,apps}`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use cairn_manifest::Limits;

use super::instance::InstanceCgroup;
use super::make_dir;
use super::values::{check_component, lists_controller, Controller};
use super::CgroupError;

/// A controller Cairn wanted but could not enable, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    pub controller: Controller,
    pub reason: String,
}

/// `<root>/cairn`, set up for app instances.
#[derive(Debug)]
pub struct CgroupRoot {
    apps: PathBuf,
    enabled: Vec<Controller>,
    unavailable: Vec<Unavailable>,
}

impl CgroupRoot {
    /// Prepares `<root>/cairn` and moves the calling process (PID 1) into the
    /// leaf `<root>/cairn/init`, then enables `cpu`, `memory` and `pids` for
    /// the apps' subtree. Controllers that cannot be enabled are listed in
    /// [`CgroupRoot::unavailable`]; only a missing or unwritable hierarchy is
    /// an error.
    pub fn setup(root: &Path) -> Result<CgroupRoot, CgroupError> {
        let controllers_file = root.join("cgroup.controllers");
        let offered = match fs::read_to_string(&controllers_file) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(CgroupError::NotCgroup2 {
                    path: root.to_path_buf(),
                })
            }
            Err(err) => return Err(CgroupError::io("read", controllers_file, err)),
        };
        let cairn = root.join("cairn");
        let init = cairn.join("init");
        let apps = cairn.join("apps");
        for dir in [&cairn, &init, &apps] {
            make_dir(dir)?;
        }
        // Leave the root (and `cairn`) free of processes, so that they may
        // hand controllers down. The root cgroup itself is exempt from the
        // rule, but under `cairn dev` the root is a delegated subtree.
        let procs = init.join("cgroup.procs");
        fs::write(&procs, "0").map_err(|err| CgroupError::io("move PID 1 into", procs, err))?;

        let mut enabled = Vec::new();
        let mut unavailable = Vec::new();
        for controller in Controller::ALL {
            if !lists_controller(&offered, controller) {
                unavailable.push(Unavailable {
                    controller,
                    reason: format!("not offered in {}", controllers_file.display()),
                });
                continue;
            }
            match [root, &cairn, &apps]
                .into_iter()
                .try_for_each(|dir| enable(dir, controller))
            {
                Ok(()) => enabled.push(controller),
                Err(err) => unavailable.push(Unavailable {
                    controller,
                    reason: err.to_string(),
                }),
            }
        }
        Ok(CgroupRoot {
            apps,
            enabled,
            unavailable,
        })
    }

    /// The controllers app instances get.
    pub fn enabled(&self) -> &[Controller] {
        &self.enabled
    }

    /// The controllers that could not be enabled, with the reason.
    pub fn unavailable(&self) -> &[Unavailable] {
        &self.unavailable
    }

    /// The leaf of `app`'s instance number `instance`.
    pub fn instance_path(&self, app: &str, instance: u32) -> PathBuf {
        self.apps.join(app).join(instance.to_string())
    }

    /// Creates (or takes over a stale) leaf for one app instance and writes
    /// its limits. A leaf left over from an earlier run of the instance is
    /// emptied first, so the new instance starts alone and with fresh counters
    /// in the limits it sets.
    pub fn create_instance(
        &self,
        app: &str,
        instance: u32,
        limits: &Limits,
    ) -> Result<InstanceCgroup, CgroupError> {
        check_component(app).map_err(|why| CgroupError::InvalidName {
            app: app.to_string(),
            name: app.to_string(),
            why,
        })?;
        let app_dir = self.apps.join(app);
        make_dir(&app_dir)?;
        for &controller in &self.enabled {
            enable(&app_dir, controller)?;
        }
        let unenforced = Controller::ALL
            .into_iter()
            .filter(|c| limit_needs(limits, *c) && !self.enabled.contains(c))
            .collect();
        InstanceCgroup::create(
            app,
            &self.instance_path(app, instance),
            limits,
            &self.enabled,
            unenforced,
        )
    }
}

/// Whether `limits` sets a limit that `controller` enforces.
fn limit_needs(limits: &Limits, controller: Controller) -> bool {
    match controller {
        Controller::Cpu => limits.cpu.is_some(),
        Controller::Memory => limits.memory.is_some(),
        Controller::Pids => limits.processes.is_some(),
    }
}

/// Hands `controller` to the children of `dir`. Idempotent.
fn enable(dir: &Path, controller: Controller) -> Result<(), CgroupError> {
    let file = dir.join("cgroup.subtree_control");
    fs::write(&file, format!("+{}", controller.name())).map_err(|source| CgroupError::Enable {
        controller,
        path: file,
        source,
    })
}
