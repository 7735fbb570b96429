//! The boot tests' harness: build an image from a manifest, boot it under
//! QEMU (TCG), and assert on what the machine does — its console, its
//! forwarded ports, and what it leaves on its disk.
//!
//! ```no_run
//! use cairn_boot_tests::{TestSystem, STEP_TIMEOUT};
//!
//! let _serial = cairn_boot_tests::serial();
//! let system = TestSystem::build("demo", r#"
//!     version = 1
//!     [apps.hello]
//!     bundle = "bin/hello"
//!     exec = ["/bin/hello"]
//!     ports.http = 8080
//! "#);
//! let mut vm = system.boot(&[8080]);
//! vm.wait_for("cairn: all apps ready");
//! assert!(vm.http_get(8080, "/").body.contains("hello from hello"));
//! vm.powerdown();
//! assert!(vm.wait_exit(STEP_TIMEOUT).success());
//! ```
//!
//! On a failed assertion the whole serial console of every boot is printed.
//! `CAIRN_BOOT_ECHO=1` echoes the console live; `CAIRN_BOOT_NO_BUILD=1`
//! skips the `cargo build --release` of the binaries the images carry.

pub mod bench;
pub mod certs;
pub mod cli;
pub mod disk;
pub mod http;
pub mod machine;
pub mod syslog;
pub mod system;
pub mod workspace;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub use cli::{Cli, Ran};
pub use disk::{DiskSnapshot, PartitionInfo};
pub use http::Response;
pub use machine::{Found, Machine, BOOT_TIMEOUT, STEP_TIMEOUT};
pub use system::{free_port, Next, TestSystem};

/// The demo system (examples/hello) as the boot tests and the benchmark
/// build it, with the bundle taken from the harness's `bin/` directory.
pub const HELLO_MANIFEST: &str = r#"
version = 1

[system]
hostname = "hello"

[network.interfaces.eth0]
dhcp = true

[apps.hello]
bundle = "bin/hello"
exec = ["/bin/hello"]
ports.http = 8080
restart = "always"
"#;

/// Boot tests in one process run one at a time: the host has two cores and a
/// TCG guest wants both.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A test that panicked while holding the lock leaves nothing broken.
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Parses a duration as PID 1 prints it ("500ms", "1s", "1.5s", "2m").
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_printed() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5"), None);
    }
}
