//! `cairn-control writer`: takes update bundles from the control API over a
//! unix socket and writes them into the inactive bank and the ESP. Runs as
//! root; everything it is given is verified before anything is written.

mod disk;
mod install;
mod progress;
mod session;
mod socket;
mod writeback;

use std::os::unix::net::UnixListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::config::{Config, ConfigError};
use crate::protocol::WriterEvent;

pub use disk::{Disk, SystemDisk};
pub use install::{install, Target};
pub use session::{handle, Callers, Events, Outcome, IDLE_TIMEOUT};
pub use socket::bind;

/// The writer as it runs: its configuration, its devices, and the lock
/// that keeps updates one at a time.
pub struct Writer {
    config: Config,
    disk: Box<dyn Disk>,
    callers: Callers,
    busy: Mutex<()>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("callers", &self.callers)
            .finish_non_exhaustive()
    }
}

impl Writer {
    pub fn new(
        config: Config,
        disk: Box<dyn Disk>,
        callers: Callers,
    ) -> Result<Writer, ConfigError> {
        config.writer()?;
        Ok(Writer {
            config,
            disk,
            callers,
            busy: Mutex::new(()),
        })
    }

    /// The writer of a booted system: the configured devices.
    pub fn from_config(config: Config) -> Result<Writer, ConfigError> {
        let writer = config.writer()?;
        let disk = SystemDisk::new(writer.banks.clone(), writer.esp()?);
        Writer::new(config, Box::new(disk), Callers::standard())
    }

    fn target(&self) -> Result<Target<'_>, ConfigError> {
        Ok(Target {
            config: &self.config,
            writer: self.config.writer()?,
            disk: self.disk.as_ref(),
        })
    }

    /// Serves connections until the listener fails; each on a thread of
    /// its own, so a caller told "busy" is told at once.
    pub fn serve(self: Arc<Self>, listener: UnixListener) -> std::io::Result<()> {
        loop {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) => {
                    crate::log!("accepting a connection: {e}");
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            let writer = Arc::clone(&self);
            let spawned = thread::Builder::new()
                .name("update".into())
                .spawn(move || writer.serve_one(stream));
            if let Err(e) = spawned {
                crate::log!("starting a thread: {e}");
            }
        }
    }

    /// One connection, logged.
    pub fn serve_one(&self, stream: std::os::unix::net::UnixStream) {
        let Ok(target) = self.target() else {
            return;
        };
        match handle(stream, &self.callers, &self.busy, target) {
            Outcome::NotAllowed { uid } => match uid {
                Some(uid) => crate::log!("refused a connection from uid {uid}"),
                None => crate::log!("refused a connection of unknown uid"),
            },
            Outcome::Busy => {
                crate::log!("update refused: another one is being written")
            }
            Outcome::Finished(event) => log_outcome(&event),
        }
    }
}

fn log_outcome(event: &WriterEvent) {
    match event {
        WriterEvent::Done {
            version,
            build,
            entry,
        } => crate::log!("update written: version {version} (build {build}), entry {entry}"),
        WriterEvent::Refused { error, .. } => crate::log!("update refused: {error}"),
        WriterEvent::Failed { error, .. } => crate::log!("update failed: {error}"),
        _ => {}
    }
}

/// `cairn-control writer`: clean up, bind, serve.
pub fn run(config: Config) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let socket = config.paths.update_socket.clone();
    let writer = Arc::new(Writer::from_config(config)?);
    let listener = bind(&socket, cairn_layout::users::CONTROL_UID)
        .with_context(|| format!("binding {}", socket.display()))?;
    crate::log!("listening on {}", socket.display());
    writer.serve(listener).context("serving the update socket")
}
