//! Which exact packages a build takes: the lock's, or (for what it does not
//! pin yet, or with `--update-lock`) what the archive has today; and the
//! lock written back when that changed it.

use std::path::Path;

use super::archive::{Archive, Request};
use super::file::{Lock, Pin};
use super::LockError;
use crate::build::BuildError;

/// Whether the lock is followed or moved forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pinned packages as pinned; only what the lock lacks is resolved.
    Follow,
    /// Pinned packages as pinned, and a package the lock lacks is an
    /// error (`--locked`): a CI build never resolves anything itself.
    Locked,
    /// Everything this build needs resolved afresh (`--update-lock`).
    Update,
}

/// How one package's pin came about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// As the lock had it.
    Followed,
    /// The lock had nothing for it: resolved now and added.
    Added,
    /// Resolved afresh, and the archive's newest is what the lock had.
    Unchanged,
    /// Resolved afresh to something else.
    Moved { old: Pin },
}

#[derive(Debug, Clone)]
pub struct Settled {
    pub request: Request,
    pub pin: Pin,
    pub change: Change,
}

/// The build's packages and what happened to the lock.
#[derive(Debug)]
pub struct Outcome {
    /// In the order of the requests.
    pub packages: Vec<Settled>,
    /// Pins for packages this build does not use (another board's), kept as they are.
    pub kept: Vec<(String, Pin)>,
    /// There was no lock: this build wrote the first one.
    pub created: bool,
    /// The lock file is to be (re)written: something was added or moved.
    pub changed: bool,
    /// The lock as this build leaves it.
    pub lock: Lock,
    /// With `--update-lock`, a lock that could not be read was replaced; why.
    pub replaced_unreadable: Option<String>,
}

/// Settles `requests` against the lock at `lock_path`; the caller writes
/// `lock` back when `changed`, once the packages are fetched and checked.
pub fn settle(
    lock_path: &Path,
    mode: Mode,
    requests: &[Request],
    archive: &dyn Archive,
) -> Result<Outcome, BuildError> {
    let mut replaced_unreadable = None;
    let existing = match (Lock::read(lock_path), mode) {
        (Ok(lock), _) => lock,
        // A broken lock is what `--update-lock` is for: it says so and starts over.
        (Err(err @ LockError::Syntax { .. }), Mode::Update) => {
            replaced_unreadable = Some(err.to_string());
            None
        }
        (Err(err), _) => return Err(err.into()),
    };
    let created = existing.is_none();
    let old = existing.clone().unwrap_or_default();
    let mut lock = old.clone();
    let mut packages = Vec::new();
    for request in requests {
        let pinned = old.pins.get(&request.name);
        let (pin, change) = match (pinned, mode) {
            (Some(pin), Mode::Follow | Mode::Locked) => (pin.clone(), Change::Followed),
            (None, Mode::Locked) => {
                return Err(LockError::NotPinned {
                    what: request.what,
                    name: request.name.clone(),
                    lock: lock_path.to_path_buf(),
                    no_file: existing.is_none(),
                }
                .into())
            }
            _ => {
                let listed = archive.newest(request)?;
                let pin = Pin {
                    name: listed.name,
                    version: listed.version,
                    sha256: listed.sha256,
                };
                let change = match pinned {
                    None => Change::Added,
                    Some(old) if *old == pin => Change::Unchanged,
                    Some(old) => Change::Moved { old: old.clone() },
                };
                (pin, change)
            }
        };
        lock.pins.insert(request.name.clone(), pin.clone());
        packages.push(Settled {
            request: request.clone(),
            pin,
            change,
        });
    }
    let kept = lock
        .pins
        .iter()
        .filter(|(name, _)| !requests.iter().any(|r| &r.name == *name))
        .map(|(name, pin)| (name.clone(), pin.clone()))
        .collect();
    let changed = existing.as_ref() != Some(&lock) || replaced_unreadable.is_some();
    Ok(Outcome {
        packages,
        kept,
        created,
        changed,
        lock,
        replaced_unreadable,
    })
}

/// What the build prints about the lock.
pub fn report(outcome: &Outcome, lock_path: &Path, mode: Mode) -> Vec<String> {
    let lock = lock_path.display();
    let exact = |pin: &Pin| format!("{} {}", pin.name, pin.version);
    let asked = |s: &Settled| {
        if s.request.name == s.pin.name {
            format!("{} {}", s.request.what, s.request.name)
        } else {
            format!("{} {} -> {}", s.request.what, s.request.name, s.pin.name)
        }
    };
    let mut lines = Vec::new();
    if let Some(why) = &outcome.replaced_unreadable {
        lines.push(format!("replaced an unreadable {lock}: {why}"));
    }
    if mode == Mode::Update {
        lines.push(format!(
            "{} {lock}:",
            if outcome.changed {
                "updated"
            } else {
                "checked"
            }
        ));
        for s in &outcome.packages {
            let what = match &s.change {
                Change::Moved { old } => format!("{} -> {}", exact(old), exact(&s.pin)),
                Change::Added => format!("added {}", exact(&s.pin)),
                _ => format!("unchanged ({})", s.pin.version),
            };
            lines.push(format!("  {} {}: {what}", s.request.what, s.request.name));
        }
        for (name, pin) in &outcome.kept {
            lines.push(format!(
                "  {name}: kept ({}), this board does not use it",
                exact(pin)
            ));
        }
        return lines;
    }
    let list = |filter: &dyn Fn(&Change) -> bool| {
        outcome
            .packages
            .iter()
            .filter(|s| filter(&s.change))
            .map(|s| format!("{} {}", asked(s), s.pin.version))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if outcome.created {
        lines.push(format!(
            "wrote {lock}: {}; commit it, so later builds take exactly these packages",
            list(&|_| true)
        ));
        return lines;
    }
    let followed = list(&|c| *c == Change::Followed);
    if !followed.is_empty() {
        lines.push(format!("packages as {lock} pins them: {followed}"));
    }
    let added = list(&|c| *c == Change::Added);
    if !added.is_empty() {
        lines.push(format!(
            "added to {lock}, which had nothing for them: {added}; commit it"
        ));
    }
    lines
}
