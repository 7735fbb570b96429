//! One update, in the order that keeps every disk state bootable:
//!
//! 1. verify the header and signatures, the policy and the length
//!    (nothing written yet);
//! 2. mount the ESP, plan, and check its free space;
//! 3. remove the target bank's entries and the directories only they use;
//! 4. stream the bank into its partition and the kernel and initramfs into
//!    the new version's directory (temporary names, sync, rename, sync);
//! 5. write the `pending` record;
//! 6. write the new entry (temporary name, sync, rename, sync) and check it
//!    is the one systemd-boot tries next;
//! 7. sync, unmount, answer `done`.
//!
//! Until step 6 renames the entry into place, only the running bank's
//! entries name anything, so a power cut boots the running version; after
//! it, every file the new entry names is complete and synced.

use std::fs::{self, File};
use std::io::Read;
use std::path::PathBuf;

use cairn_layout::esp::{INITRD, KERNEL};
use cairn_update::entries::{next_boot, render_entry, Bank, EntryName, DEFAULT_TRIES};
use cairn_update::record::{Record, Side, PENDING};
use cairn_update::{
    check_policy, Bundle, Keyring, PayloadName, PayloadStream, ReadError, Running, VerifiedManifest,
};

use crate::config::{Config, Writer as WriterConfig};
use crate::protocol::{Problem, UpdateRequest, WriterEvent};

use super::disk::Disk;
use super::esp::{sync_dir, write_durably, EspRoot, TEMP_SUFFIX};
use super::plan::{self, remove_file_if_there, Needs, Plan};
use super::progress::Progress;
use super::session::Events;

/// What an update writes to.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub config: &'a Config,
    pub writer: &'a WriterConfig,
    pub disk: &'a dyn Disk,
}

impl std::fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("bank", &self.config.target_bank())
            .finish_non_exhaustive()
    }
}

/// How an update ended early.
#[derive(Debug)]
enum Stop {
    Refused(Problem, String),
    Failed(Problem, String),
}

impl Stop {
    fn into_event(self) -> WriterEvent {
        match self {
            Stop::Refused(problem, error) => WriterEvent::Refused { error, problem },
            Stop::Failed(problem, error) => WriterEvent::Failed { error, problem },
        }
    }
}

fn refused(problem: Problem) -> impl FnOnce(String) -> Stop {
    move |error| Stop::Refused(problem, error)
}

fn failed(problem: Problem) -> impl FnOnce(String) -> Stop {
    move |error| Stop::Failed(problem, error)
}

/// Which side a read error is on.
fn read_problem(error: &ReadError) -> Problem {
    match error {
        ReadError::Io { .. } => Problem::Request,
        ReadError::Write { .. } => Problem::System,
        _ => Problem::Bundle,
    }
}

/// Takes one bundle from `input`; returns the final event (the caller
/// sends it). `events` receives `verified` and `progress`.
pub fn install<R: Read>(
    target: Target<'_>,
    request: UpdateRequest,
    input: &mut R,
    events: &mut dyn Events,
) -> WriterEvent {
    match run(target, request, input, events) {
        Ok(done) => done,
        Err(stop) => stop.into_event(),
    }
}

fn run<R: Read>(
    target: Target<'_>,
    request: UpdateRequest,
    input: &mut R,
    events: &mut dyn Events,
) -> Result<WriterEvent, Stop> {
    let Target {
        config,
        writer,
        disk,
    } = target;
    let bank = config.target_bank();

    // Step 1.
    let keyring = Keyring::load_dir(&writer.update_keys)
        .map_err(|e| Stop::Refused(Problem::System, format!("the trusted update keys: {e}")))?;
    let verified = Bundle::read_header(input, &keyring)
        .map_err(|e| Stop::Refused(read_problem(&e), e.to_string()))?;
    let manifest = verified.manifest();
    let running = Running {
        board: &config.board,
        build: config.build,
    };
    check_policy(manifest, &running, request.allow_downgrade)
        .map_err(|e| Stop::Refused(Problem::Policy, e.to_string()))?;
    if let Some(length) = request.length {
        verified
            .check_len(length)
            .map_err(|e| Stop::Refused(Problem::Bundle, e.to_string()))?;
    }
    let size_of = |name| manifest.payload(name).map_or(0, |p| p.size);
    let bank_len = size_of(PayloadName::Bank);
    if bank_len > writer.bank_size {
        return Err(Stop::Refused(
            Problem::Policy,
            format!(
                "the bank payload is {bank_len} bytes; bank {bank}'s partition holds {}",
                writer.bank_size
            ),
        ));
    }
    let name = EntryName::new(manifest.build, &manifest.version, DEFAULT_TRIES)
        .map_err(|e| Stop::Refused(Problem::Bundle, e.to_string()))?;
    let entry_text = render_entry(&name, bank, &manifest.kernel_options)
        .map_err(|e| Stop::Refused(Problem::Bundle, e.to_string()))?;
    events.send(&WriterEvent::Verified {
        version: manifest.version.clone(),
        build: manifest.build,
        board: manifest.board.clone(),
        signed_by: verified.signed_by().iter().map(|k| k.to_string()).collect(),
    });

    // Step 2.
    let mounted =
        Mounted::new(disk).map_err(|e| Stop::Refused(Problem::System, format!("the ESP: {e}")))?;
    let esp = mounted.root.clone();
    let system = |what: &'static str| move |e: std::io::Error| format!("{what}: {e}");
    let entries = esp
        .read_entries()
        .map_err(system("reading the ESP's entries"))
        .map_err(refused(Problem::System))?;
    let space = disk
        .esp_space(esp.path())
        .map_err(system("measuring the ESP's free space"))
        .map_err(refused(Problem::System))?;
    let needs = Needs {
        linux: size_of(PayloadName::Linux),
        initrd: size_of(PayloadName::Initrd),
        entry: entry_text.len() as u64,
    };
    let plan = plan::make(&esp, &entries, bank, &name, space, needs, &entry_text)
        .map_err(system("reading the ESP's version directories"))
        .map_err(refused(Problem::System))?
        .map_err(|e| {
            let problem = match e {
                plan::PlanError::Space { .. } => Problem::Space,
                _ => Problem::Policy,
            };
            Stop::Refused(problem, e.to_string())
        })?;

    // Step 3.
    plan.clear_target(&esp)
        .map_err(system("removing the old entries of the target bank"))
        .map_err(failed(Problem::System))?;

    // Steps 4 to 6; on any error nothing of the new version may remain.
    let new_dir = esp.version_dir(&plan.new_dir);
    let pending = writer.update_dir.join(PENDING);
    let written = write_version(
        target,
        &verified,
        input,
        events,
        &esp,
        &plan,
        &name,
        &entry_text,
    );
    if let Err(stop) = written {
        let _ = remove_file_if_there(&esp.entries_dir().join(name.file_name()));
        let _ = sync_dir(&esp.entries_dir());
        let _ = fs::remove_dir_all(&new_dir);
        let _ = sync_dir(&esp.versions_dir());
        let _ = remove_file_if_there(&pending);
        return Err(stop);
    }

    // Step 7.
    nix::unistd::sync();
    if let Err(e) = mounted.unmount() {
        // Everything is synced; a mount left behind is removed at the next
        // start of the writer.
        crate::log!("warning: unmounting the ESP: {e}");
    }
    Ok(WriterEvent::Done {
        version: manifest.version.clone(),
        build: manifest.build,
        entry: name.file_name(),
    })
}

#[allow(clippy::too_many_arguments)]
fn write_version<R: Read>(
    target: Target<'_>,
    verified: &VerifiedManifest,
    input: &mut R,
    events: &mut dyn Events,
    esp: &EspRoot,
    plan: &Plan,
    name: &EntryName,
    entry_text: &str,
) -> Result<(), Stop> {
    let bank = target.config.target_bank();
    let io = |what: String| {
        move |e: std::io::Error| Stop::Failed(Problem::System, format!("{what}: {e}"))
    };
    let read = |e: ReadError| Stop::Failed(read_problem(&e), e.to_string());

    // Step 4.
    let new_dir = esp.version_dir(&plan.new_dir);
    fs::create_dir_all(&new_dir).map_err(io(format!("creating {}", plan.new_dir)))?;
    sync_dir(&esp.versions_dir()).map_err(io("syncing the ESP".into()))?;
    let mut stream = PayloadStream::new(verified, &mut *input);
    while let Some(payload) = stream.next_payload() {
        match payload.name {
            PayloadName::Bank => {
                let mut device = target
                    .disk
                    .open_bank(bank)
                    .map_err(io(format!("opening bank {bank}'s partition")))?;
                let mut out = Progress::new(&mut device, "bank", payload.size, events);
                stream.copy_next(&mut out).map_err(read)?;
                out.finish();
                device
                    .sync_all()
                    .map_err(io(format!("syncing bank {bank}'s partition")))?;
            }
            PayloadName::Linux | PayloadName::Initrd => {
                let file_name = if payload.name == PayloadName::Linux {
                    KERNEL
                } else {
                    INITRD
                };
                let temporary = new_dir.join(format!("{file_name}{TEMP_SUFFIX}"));
                let what = format!("{}/{file_name}", plan.new_dir);
                let mut file = File::create(&temporary).map_err(io(format!("creating {what}")))?;
                let mut out = Progress::new(&mut file, payload.name.as_str(), payload.size, events);
                stream.copy_next(&mut out).map_err(read)?;
                out.finish();
                file.sync_all().map_err(io(format!("syncing {what}")))?;
                fs::rename(&temporary, new_dir.join(file_name))
                    .map_err(io(format!("renaming {what}")))?;
                sync_dir(&new_dir).map_err(io(format!("syncing {}", plan.new_dir)))?;
            }
        }
    }
    stream.finish().map_err(read)?;

    // Step 5.
    write_pending(target, verified, bank)?;

    // Step 6.
    let entries_dir = esp.entries_dir();
    let file_name = name.file_name();
    write_durably(&entries_dir, &file_name, entry_text.as_bytes())
        .map_err(io(format!("writing entry {file_name}")))?;
    let entries = esp
        .read_entries()
        .map_err(io("reading the ESP's entries".into()))?;
    let listed: Vec<_> = entries.iter().filter_map(|e| e.loader_entry()).collect();
    match next_boot(&listed) {
        Some(next) if next.file_name() == file_name => Ok(()),
        next => Err(Stop::Failed(
            Problem::System,
            format!(
                "systemd-boot would boot {} next, not the new entry {file_name}",
                next.map_or("nothing", |e| e.file_name())
            ),
        )),
    }
}

fn write_pending(target: Target<'_>, verified: &VerifiedManifest, bank: Bank) -> Result<(), Stop> {
    let config = target.config;
    let manifest = verified.manifest();
    let pending = Record {
        from: Side {
            version: config.version.clone(),
            build: Some(config.build),
            bank: config.bank.letter().to_string(),
        },
        to: Side {
            version: manifest.version.clone(),
            build: Some(manifest.build),
            bank: bank.letter().to_string(),
        },
        at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        ..Record::default()
    };
    let path = target.writer.update_dir.join(PENDING);
    cairn_sys::fs::write_atomically(&path, pending.render().as_bytes())
        .map_err(|e| Stop::Failed(Problem::System, format!("writing {}: {e}", path.display())))
}

/// The ESP while an update holds it; unmounted when dropped.
struct Mounted<'a> {
    disk: &'a dyn Disk,
    root: EspRoot,
    mounted: bool,
}

impl<'a> Mounted<'a> {
    fn new(disk: &'a dyn Disk) -> std::io::Result<Mounted<'a>> {
        let root: PathBuf = disk.mount_esp()?;
        Ok(Mounted {
            disk,
            root: EspRoot::new(root),
            mounted: true,
        })
    }

    fn unmount(mut self) -> std::io::Result<()> {
        self.mounted = false;
        self.disk.unmount_esp()
    }
}

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        if self.mounted {
            nix::unistd::sync();
            let _ = self.disk.unmount_esp();
        }
    }
}
