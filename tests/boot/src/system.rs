//! A test system: a manifest in a temporary directory, built into an image
//! with the builder library, booted as often as a test wants on one run disk.

use std::path::Path;
use std::sync::{Arc, Mutex};

use cairn_image_builder::board::Board;
use cairn_image_builder::build::{build, BuildOptions, BuildOutput, LockMode};
use cairn_image_builder::qemu::{
    self, prepare_run_disk, Qemu, QemuOptions, RunDisk, Serial, SerialLog,
};

use crate::disk::DiskSnapshot;
use crate::machine::Machine;
use crate::workspace;

/// A built image and its run disk. When a test panics, dropping this prints
/// the serial log of every boot it made.
#[derive(Debug)]
pub struct TestSystem {
    name: String,
    dir: tempfile::TempDir,
    board_path: std::path::PathBuf,
    output: BuildOutput,
    run: RunDisk,
    logs: Arc<Mutex<Vec<SerialLog>>>,
}

impl TestSystem {
    /// Writes `manifest` (TOML text) as `system.toml` in a fresh temporary
    /// directory whose `bin/` holds `cairn-init`, `hello` and `cairn-testapp`
    /// from the release build, so bundles are written `bundle = "bin/hello"`;
    /// builds the image and prepares its run disk. Panics with a useful
    /// message on any failure.
    pub fn build(name: &str, manifest: &str) -> TestSystem {
        TestSystem::build_for_board(name, manifest, &workspace::default_board())
    }

    /// [`TestSystem::build`] for another board config.
    pub fn build_for_board(name: &str, manifest: &str, board_path: &Path) -> TestSystem {
        TestSystem::build_with(name, manifest, board_path, |_| {})
    }

    /// [`TestSystem::build_for_board`], with `prepare` called on the
    /// manifest's directory before the build, to add bundles of its own.
    pub fn build_with(
        name: &str,
        manifest: &str,
        board_path: &Path,
        prepare: impl FnOnce(&Path),
    ) -> TestSystem {
        TestSystem::build_full(name, manifest, board_path, None, prepare)
    }

    /// [`TestSystem::build`] with an explicit build number, so a test can
    /// later make an older one.
    pub fn build_numbered(name: &str, manifest: &str, build_number: u64) -> TestSystem {
        let board = workspace::default_board();
        TestSystem::build_full(name, manifest, &board, Some(build_number), |_| {})
    }

    fn build_full(
        name: &str,
        manifest: &str,
        board_path: &Path,
        build_number: Option<u64>,
        prepare: impl FnOnce(&Path),
    ) -> TestSystem {
        let board_path = board_path.to_path_buf();
        let board = Board::load(&board_path).unwrap_or_else(|e| panic!("{e}"));
        require_host_tools(&board);

        let dir = tempfile::Builder::new()
            .prefix(&format!("cairn-boot-{name}-"))
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
        for binary in workspace::BINARIES {
            let from = workspace::release_binary(binary);
            std::fs::copy(&from, bin.join(binary))
                .unwrap_or_else(|e| panic!("cannot copy {}: {e}", from.display()));
        }
        prepare(dir.path());
        let manifest_path = dir.path().join("system.toml");
        std::fs::write(&manifest_path, manifest).unwrap_or_else(|e| panic!("{e}"));

        let output = build_in(
            name,
            dir.path(),
            &Next {
                board: Some(&board_path),
                build_number,
            },
            &manifest_path,
            "out",
            manifest,
        );
        let qemu_config = &output.board.qemu;
        let run = prepare_run_disk(
            &output.disk_image,
            &dir.path().join("run"),
            &qemu_config.run_disk_size,
            &qemu_config.firmware_vars,
        )
        .unwrap_or_else(|e| panic!("preparing the run disk: {e}"));
        TestSystem {
            name: name.to_string(),
            dir,
            board_path,
            output,
            run,
            logs: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Builds `manifest` as the next version of this system: in the same
    /// directory (so with the same keys and build numbers), into
    /// `<dir>/<out>`. Its `update.cairn` is what `cairn deploy` takes.
    pub fn build_next(&self, out: &str, manifest: &str) -> BuildOutput {
        self.build_next_with(out, manifest, &Next::default())
    }

    /// [`TestSystem::build_next`] for another board or at a given build
    /// number.
    pub fn build_next_with(&self, out: &str, manifest: &str, next: &Next<'_>) -> BuildOutput {
        let manifest_path = self.dir.path().join("system.toml");
        std::fs::write(&manifest_path, manifest).unwrap_or_else(|e| panic!("{e}"));
        let next = Next {
            board: Some(next.board.unwrap_or(&self.board_path)),
            build_number: next.build_number,
        };
        build_in(
            &self.name,
            self.dir.path(),
            &next,
            &manifest_path,
            out,
            manifest,
        )
    }

    /// What the first build made.
    pub fn output(&self) -> &BuildOutput {
        &self.output
    }

    /// The image's entry name without counter or `.conf`:
    /// `cairn-<build>-<version>`.
    pub fn entry_stem(&self) -> String {
        self.output
            .entry
            .split(['+', '.'])
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// A bank's idle entry file name.
    pub fn idle_entry(&self, bank: char) -> String {
        cairn_layout::esp::idle_entry(bank)
    }

    /// The image's version.
    pub fn version(&self) -> &str {
        &self.output.version
    }

    /// The run disk (qcow2 overlay) the machine boots from.
    pub fn run_disk(&self) -> &Path {
        &self.run.disk
    }

    /// The temporary directory holding the manifest, image and run disk.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts QEMU on the run disk, forwarding a free host port to each of
    /// `guest_ports`, with the console captured. Set `CAIRN_BOOT_ECHO=1` to
    /// also see the console on stderr as it happens.
    pub fn boot(&self, guest_ports: &[u16]) -> Machine {
        let forwards: Vec<(u16, u16)> = guest_ports
            .iter()
            .map(|guest| (free_port(), *guest))
            .collect();
        let mut opts = QemuOptions::for_board(
            &self.output.board.qemu,
            &self.run,
            self.dir.path().join("run").join("qmp.sock"),
        );
        opts.forwards = forwards.clone();
        opts.serial = if std::env::var_os("CAIRN_BOOT_ECHO").is_some() {
            Serial::CaptureAndEcho
        } else {
            Serial::Capture
        };
        let qemu = Qemu::start(&opts).unwrap_or_else(|e| panic!("starting qemu: {e}"));
        let log = qemu
            .log()
            .cloned()
            .unwrap_or_else(|| panic!("console not captured"));
        let boot_number = {
            let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
            logs.push(log);
            logs.len()
        };
        eprintln!(
            "boot test {}: qemu start #{boot_number}, forwards {forwards:?}",
            self.name
        );
        Machine::new(qemu, forwards)
    }

    /// Reads the run disk after the machine has stopped. Its ESP must pass
    /// `fsck.fat -n`, whatever the test did.
    pub fn snapshot_disk(&self) -> DiskSnapshot {
        let disk = DiskSnapshot::read(&self.run.disk)
            .unwrap_or_else(|e| panic!("reading the run disk: {e:#}"));
        disk.esp_fsck().unwrap_or_else(|e| panic!("{e:#}"));
        disk
    }

    /// Every QEMU start's console so far, rendered with time stamps.
    pub fn render_logs(&self) -> String {
        let logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for (i, log) in logs.iter().enumerate() {
            out.push_str(&format!(
                "===== serial console of qemu start #{} ({}) =====\n",
                i + 1,
                self.name
            ));
            out.push_str(&log.render());
        }
        out
    }
}

impl Drop for TestSystem {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.render_logs());
            eprintln!(
                "===== end of serial console; files were in {} =====",
                self.dir.path().display()
            );
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}

/// Boot tests cannot run without QEMU, qemu-img and OVMF: fail, loudly, with
/// how to get them.
fn require_host_tools(board: &Board) {
    let missing: Vec<String> = [
        qemu::require_program(qemu::QEMU_SYSTEM).err(),
        qemu::require_program(qemu::QEMU_IMG).err(),
        qemu::require_firmware(&board.qemu.firmware_code).err(),
        qemu::require_firmware(&board.qemu.firmware_vars).err(),
    ]
    .into_iter()
    .flatten()
    .map(|e| e.to_string())
    .collect();
    assert!(
        missing.is_empty(),
        "boot tests need QEMU and OVMF:\n  {}\nrun scripts/test (it installs the host packages \
         through scripts/host-deps.sh), or `apt-get install qemu-system-x86 qemu-utils ovmf`",
        missing.join("\n  ")
    );
}

/// What a later build changes: the board, the build number.
#[derive(Debug, Clone, Copy, Default)]
pub struct Next<'a> {
    /// Another board file (default: the system's own).
    pub board: Option<&'a Path>,
    /// An explicit build number (default: the project's next).
    pub build_number: Option<u64>,
}

/// Builds `manifest_path` (whose text is `manifest`) with the binaries in
/// `dir/bin` and the keys beside the manifest, into `dir/<out>`.
fn build_in(
    name: &str,
    dir: &Path,
    next: &Next<'_>,
    manifest_path: &Path,
    out: &str,
    manifest: &str,
) -> BuildOutput {
    let started = std::time::Instant::now();
    let output = build(&BuildOptions {
        manifest: manifest_path.to_path_buf(),
        out_dir: dir.join(out),
        board: next.board.map(Path::to_path_buf),
        init_binary: Some(dir.join("bin").join("cairn-init")),
        control_binary: Some(workspace::control_binary()),
        // The project's keys are made beside the manifest, in the
        // temporary directory.
        keys_dir: None,
        build_number: next.build_number,
        cache_dir: None,
        lock_file: None,
        lock_mode: LockMode::Follow,
        progress: false,
    })
    .unwrap_or_else(|e| {
        panic!(
            "building {}: {e}\nmanifest:\n{manifest}",
            manifest_path.display()
        )
    });
    eprintln!(
        "boot test {name}: built version {} (build {}) in {:.1}s",
        output.version,
        output.build,
        started.elapsed().as_secs_f64()
    );
    // Every image's ESP passes fsck.fat from the start.
    DiskSnapshot::read(&output.disk_image)
        .and_then(|disk| disk.esp_fsck())
        .unwrap_or_else(|e| panic!("the ESP of {}: {e:#}", output.disk_image.display()));
    output
}
