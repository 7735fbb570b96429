//! What the supervisor's host tests share: a console file that collects the
//! supervisor's messages and every app's output, as a booted system's
//! console would show them. Each test binary uses what it needs of it.
#![allow(dead_code)]

pub mod harness;

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cairn_logging::console::Console as Queue;
use cairn_logging::text::{SharedConsole, TextSubscriber};
use cairn_supervisor::supervisor::ConsoleSink;
use cairn_supervisor::Sink;

/// Tests that need root are `#[ignore = "needs root"]`, and the suite runs
/// them as root with `--include-ignored`. One run by hand without root fails
/// here, so that a test that did not run never reads as a pass.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root: run it as root (scripts/test does)"
    );
}

/// The console of a test process, in a file.
pub struct Console {
    path: PathBuf,
    seen: usize,
    shared: SharedConsole,
}

impl Console {
    /// Opens `path` as the console and sends this process's log to it.
    pub fn install(path: PathBuf) -> Console {
        std::fs::write(&path, "").unwrap();
        let file = OpenOptions::new()
            .append(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        let mut queue = Queue::closed(1 << 20);
        queue.attach(file.into());
        let shared = Arc::new(Mutex::new(queue));
        let (subscriber, _level) =
            TextSubscriber::new(Arc::clone(&shared), cairn_manifest::LogLevel::Info);
        tracing::subscriber::set_global_default(subscriber).unwrap();
        Console {
            path,
            seen: 0,
            shared,
        }
    }

    /// A sink for a supervisor that writes to this console.
    pub fn sink(&self) -> Box<dyn Sink> {
        Box::new(ConsoleSink::new(Arc::clone(&self.shared)))
    }

    /// Everything written so far.
    pub fn all(&self) -> String {
        self.shared.lock().unwrap().flush();
        std::fs::read_to_string(&self.path).unwrap()
    }

    /// The console text written since the last call.
    pub fn take(&mut self) -> String {
        let text = self.all();
        let new = text[self.seen..].to_string();
        self.seen = text.len();
        new
    }

    /// What is unread, without marking it read.
    pub fn unread(&self) -> String {
        self.all()[self.seen..].to_string()
    }
}
