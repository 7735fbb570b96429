//! One update, in the order that keeps every disk state bootable (see
//! `cairn_update::esp` for why each ESP step is one sector write):
//!
//! 1. verify the header and signatures, the policy and the length; read
//!    the ESP and plan: the target bank's entry file, its slots' sizes,
//!    the new entry, and that systemd-boot would try it next (nothing
//!    written yet: a refusal leaves every byte as it was);
//! 2. make the target bank's entry file idle;
//! 3. stream the bank into its partition and the kernel and initramfs
//!    into the bank's slots on the ESP, each hashed as it goes and synced;
//! 4. write the `pending` record;
//! 5. write the new entry into the idle file and rename it into place, and
//!    check it is the one systemd-boot tries next;
//! 6. answer `done`.
//!
//! Until step 5's rename, only the running bank's entry boots anything, so
//! a power cut boots the running version; after it, every byte the new
//! entry names is complete and synced.

use std::io::Read;

use cairn_update::entries::{
    next_boot, next_generation, pad_entry, render_entry, Bank, Entry, EntryName, DEFAULT_TRIES,
};
use cairn_update::esp::{EntryFile, Esp, EspFiles};
use cairn_update::record::{Record, Side, PENDING};
use cairn_update::{
    check_policy, Bundle, Keyring, PayloadName, PayloadStream, ReadError, Running, VerifiedManifest,
};

use crate::config::{Config, Writer as WriterConfig};
use crate::protocol::{Problem, UpdateRequest, WriterEvent};

use super::disk::Disk;
use super::progress::Progress;
use super::session::Events;
use super::writeback::Streaming;

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
            Problem::Space,
            format!(
                "the bank payload is {bank_len} bytes; bank {bank}'s partition holds {}",
                writer.bank_size
            ),
        ));
    }
    let name = EntryName::new(manifest.build, &manifest.version, DEFAULT_TRIES)
        .map_err(|e| Stop::Refused(Problem::Bundle, e.to_string()))?;

    let files = disk
        .open_esp()
        .map_err(|e| Stop::Refused(Problem::System, format!("opening the ESP: {e}")))?;
    let mut esp = Esp::new(files);
    let esp_error = |problem| move |e: cairn_update::esp::EspError| (problem, e.to_string());
    let plan = plan(
        &mut esp,
        config,
        bank,
        &name,
        manifest,
        size_of(PayloadName::Linux),
        size_of(PayloadName::Initrd),
    )
    .map_err(|(problem, error)| Stop::Refused(problem, error))?;
    events.send(&WriterEvent::Verified {
        version: manifest.version.clone(),
        build: manifest.build,
        board: manifest.board.clone(),
        signed_by: verified.signed_by().iter().map(|k| k.to_string()).collect(),
    });

    // Step 2.
    esp.disable(bank)
        .map_err(esp_error(Problem::System))
        .map_err(|(p, e)| Stop::Failed(p, e))?;

    // Steps 3 to 5; on an error the bank stays idle, and nothing boots it.
    let pending = writer.update_dir.join(PENDING);
    let written = write_version(target, &verified, input, events, &mut esp, &name, &plan);
    if let Err(stop) = written {
        if let Err(e) = std::fs::remove_file(&pending) {
            if e.kind() != std::io::ErrorKind::NotFound {
                crate::log!("warning: removing {}: {e}", pending.display());
            }
        }
        return Err(stop);
    }
    Ok(WriterEvent::Done {
        version: manifest.version.clone(),
        build: manifest.build,
        entry: name.file_name(),
    })
}

/// What step 1 decided.
struct Plan {
    /// The new entry's file, padded.
    entry: Vec<u8>,
}

/// Step 1's reading of the ESP: a refusal with its reason, or the plan.
fn plan<F: EspFiles>(
    esp: &mut Esp<F>,
    config: &Config,
    bank: Bank,
    name: &EntryName,
    manifest: &cairn_update::Manifest,
    linux_len: u64,
    initrd_len: u64,
) -> Result<Plan, (Problem, String)> {
    let system = |e: cairn_update::esp::EspError| (Problem::System, e.to_string());
    let entries = esp.entries().map_err(system)?;
    let running = config.bank;
    let target_file = Esp::<F>::bank_file(&entries, bank).map_err(system)?;
    if let Ok(own) = Esp::<F>::bank_file(&entries, running) {
        if let Some(own_name) = &own.name {
            if !own_name.is_blessed() && !own_name.is_bad() {
                return Err((
                    Problem::Busy,
                    format!(
                        "the running version {} is still on trial (its entry is {}); \
                         deploy again once it is blessed or rolled back",
                        config.version, own.file_name
                    ),
                ));
            }
        }
    }
    let (kernel_slot, initrd_slot) = esp.slot_sizes(bank).map_err(system)?;
    for (what, len, slot) in [
        ("the kernel", linux_len, kernel_slot),
        ("the initramfs", initrd_len, initrd_slot),
    ] {
        if len > slot {
            return Err((
                Problem::Space,
                format!("{what} is {len} bytes; bank {bank}'s slot on this device's ESP holds {slot} (set when its image was built)"),
            ));
        }
    }
    let generation = next_generation(
        entries
            .iter()
            .filter(|e| e.entry.is_some())
            .map(|e| e.text.as_str()),
    );
    let text = render_entry(name, bank, generation, &manifest.kernel_options)
        .map_err(|e| (Problem::Bundle, e.to_string()))?;
    let entry = pad_entry(&text).map_err(|e| (Problem::Bundle, e.to_string()))?;
    // The directory as it will be: the target bank's file replaced by the
    // new entry. systemd-boot must try the new entry first.
    let file_name = name.file_name();
    let mut after: Vec<Entry> = entries
        .iter()
        .filter(|e| e.file_name != target_file.file_name)
        .filter_map(|e| e.entry.clone())
        .collect();
    if let Some(new) = Entry::load(&file_name, &text) {
        after.push(new);
    }
    match next_boot(&after) {
        Some(next) if next.file_name() == file_name => Ok(Plan { entry }),
        next => Err((
            Problem::Policy,
            format!(
                "systemd-boot would boot {} next, not the new entry {file_name}",
                next.map_or("nothing", |e| e.file_name())
            ),
        )),
    }
}

fn write_version<R: Read, F: EspFiles>(
    target: Target<'_>,
    verified: &VerifiedManifest,
    input: &mut R,
    events: &mut dyn Events,
    esp: &mut Esp<F>,
    name: &EntryName,
    plan: &Plan,
) -> Result<(), Stop> {
    let bank = target.config.target_bank();
    let io = |what: String| {
        move |e: std::io::Error| Stop::Failed(Problem::System, format!("{what}: {e}"))
    };
    let esp_failed = |e: cairn_update::esp::EspError| Stop::Failed(Problem::System, e.to_string());
    let read = |e: ReadError| Stop::Failed(read_problem(&e), e.to_string());

    // Step 3.
    let mut stream = PayloadStream::new(verified, &mut *input);
    while let Some(payload) = stream.next_payload() {
        match payload.name {
            PayloadName::Bank => {
                let mut device = Streaming::new(
                    target
                        .disk
                        .open_bank(bank)
                        .map_err(io(format!("opening bank {bank}'s partition")))?,
                );
                let mut out = Progress::new(&mut device, "bank", payload.size, events);
                stream.copy_next(&mut out).map_err(read)?;
                out.finish();
                device
                    .sync_all()
                    .map_err(io(format!("syncing bank {bank}'s partition")))?;
            }
            PayloadName::Linux | PayloadName::Initrd => {
                let initrd = payload.name == PayloadName::Initrd;
                let mut slot = esp.slot(bank, initrd).map_err(esp_failed)?;
                let what = payload.name.as_str();
                {
                    let mut out = Progress::new(&mut slot, what, payload.size, events);
                    stream.copy_next(&mut out).map_err(read)?;
                    out.finish();
                }
                slot.finish()
                    .map_err(io(format!("syncing bank {bank}'s {what}")))?;
            }
        }
    }
    stream.finish().map_err(read)?;

    // Step 4.
    write_pending(target, verified, bank)?;

    // Step 5.
    esp.enable(bank, name, &plan.entry).map_err(esp_failed)?;
    let entries = esp.entries().map_err(esp_failed)?;
    let listed: Vec<Entry> = entries
        .iter()
        .filter_map(|e: &EntryFile| e.entry.clone())
        .collect();
    let file_name = name.file_name();
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
