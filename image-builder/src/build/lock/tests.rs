//! A build follows the lock: a fake archive stands in for apt, serving an
//! old version A and a newest version B of the kernel.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use super::*;
use crate::build::hash::sha256_hex;

const META: &str = "linux-image-cloud-amd64";
const KERNEL_A: (&str, &str) = ("linux-image-6.1.0-56-cloud-amd64", "6.1.180-1");
const KERNEL_B: (&str, &str) = ("linux-image-6.1.0-57-cloud-amd64", "6.1.192-3");
const BOOT: (&str, &str) = ("systemd-boot-efi", "252.39-1~deb12u2");

struct Served {
    name: &'static str,
    version: &'static str,
    bytes: Vec<u8>,
    /// What the archive's index says, when it differs from the bytes.
    listed_sha256: Option<String>,
}

/// An archive of a few packages in memory; the newest of a request is the
/// last one served under a name starting with the request's prefix.
#[derive(Default)]
struct FakeArchive {
    served: Vec<Served>,
    downloads: RefCell<Vec<String>>,
    resolved: RefCell<Vec<String>>,
}

impl FakeArchive {
    fn with(mut self, (name, version): (&'static str, &'static str)) -> FakeArchive {
        self.served.push(Served {
            name,
            version,
            bytes: deb_bytes(name, version),
            listed_sha256: None,
        });
        self
    }

    fn find(&self, name: &str, version: &str) -> Option<&Served> {
        self.served
            .iter()
            .find(|s| s.name == name && s.version == version)
    }

    fn downloads(&self) -> Vec<String> {
        self.downloads.borrow().clone()
    }
}

fn deb_bytes(name: &str, version: &str) -> Vec<u8> {
    format!("!<arch>\n{name} {version}\n").into_bytes()
}

fn sha(p: (&str, &str)) -> String {
    sha256_hex(&deb_bytes(p.0, p.1))
}

fn listed(s: &Served) -> Listed {
    Listed {
        name: s.name.into(),
        version: s.version.into(),
        sha256: s
            .listed_sha256
            .clone()
            .unwrap_or_else(|| sha256_hex(&s.bytes)),
    }
}

impl Archive for FakeArchive {
    fn newest(&self, request: &Request) -> Result<Listed, BuildError> {
        self.resolved.borrow_mut().push(request.name.clone());
        let prefix = request.follow.unwrap_or(&request.name);
        self.served
            .iter()
            .rev()
            .find(|s| s.name.starts_with(prefix))
            .map(listed)
            .ok_or(BuildError::PackageNotFound {
                package: request.name.clone(),
            })
    }

    fn lookup(&self, name: &str, version: &str) -> Result<Option<Listed>, BuildError> {
        Ok(self.find(name, version).map(listed))
    }

    fn download(&self, name: &str, version: &str, dir: &Path) -> Result<PathBuf, BuildError> {
        self.downloads
            .borrow_mut()
            .push(format!("{name}={version}"));
        let served = self
            .find(name, version)
            .expect("downloads only what it lists");
        let deb = dir.join(format!("{name}_{version}_amd64.deb"));
        std::fs::write(&deb, &served.bytes).unwrap();
        Ok(deb)
    }
}

fn requests(kernel: &str) -> Vec<Request> {
    vec![
        Request {
            what: "kernel",
            name: kernel.into(),
            follow: Some("linux-image-"),
        },
        Request {
            what: "bootloader",
            name: BOOT.0.into(),
            follow: None,
        },
    ]
}

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        Project {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn lock(&self) -> PathBuf {
        self.dir.path().join("cairn.lock")
    }
    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }
    fn pin(&self, request: &str, (name, version): (&str, &str), sha256: String) {
        let mut lock = Lock::read(&self.lock()).unwrap().unwrap_or_default();
        lock.pins.insert(
            request.into(),
            Pin {
                name: name.into(),
                version: version.into(),
                sha256,
            },
        );
        lock.write(&self.lock()).unwrap();
    }
    fn lock_text(&self) -> String {
        std::fs::read_to_string(self.lock()).unwrap()
    }
    fn build(
        &self,
        mode: Mode,
        archive: &FakeArchive,
    ) -> Result<(Outcome, Vec<Fetched>), BuildError> {
        self.build_for(META, mode, archive)
    }
    fn build_for(
        &self,
        kernel: &str,
        mode: Mode,
        archive: &FakeArchive,
    ) -> Result<(Outcome, Vec<Fetched>), BuildError> {
        fetch_all(
            &self.lock(),
            mode,
            &requests(kernel),
            archive,
            &self.cache(),
            &Progress::new(false),
        )
    }
    /// The message of a build that must fail.
    fn error(&self, mode: Mode, archive: &FakeArchive) -> String {
        self.build(mode, archive).unwrap_err().to_string()
    }
    fn report(&self, outcome: &Outcome, mode: Mode) -> String {
        report(outcome, &self.lock(), mode).join("\n")
    }
}

fn archive_a_and_b() -> FakeArchive {
    FakeArchive::default()
        .with(KERNEL_A)
        .with(BOOT)
        .with(KERNEL_B)
}

fn read_deb(fetched: &Fetched) -> Vec<u8> {
    std::fs::read(&fetched.deb).unwrap()
}

#[test]
fn first_build_resolves_the_newest_and_writes_the_lock() {
    let project = Project::new();
    let archive = archive_a_and_b();
    let (outcome, fetched) = project.build(Mode::Follow, &archive).unwrap();
    assert_eq!(read_deb(&fetched[0]), deb_bytes(KERNEL_B.0, KERNEL_B.1));
    assert_eq!(
        archive.downloads(),
        [
            "linux-image-6.1.0-57-cloud-amd64=6.1.192-3",
            "systemd-boot-efi=252.39-1~deb12u2"
        ]
    );
    let lock = Lock::read(&project.lock()).unwrap().unwrap();
    assert_eq!(lock.pins[META].version, KERNEL_B.1);
    assert_eq!(lock.pins[META].sha256, sha(KERNEL_B));
    assert_eq!(lock.pins[BOOT.0].sha256, sha(BOOT));
    let report = project.report(&outcome, Mode::Follow);
    assert!(report.starts_with("wrote "), "{report}");
    assert!(
        report.contains(
            "kernel linux-image-cloud-amd64 -> linux-image-6.1.0-57-cloud-amd64 6.1.192-3"
        ),
        "{report}"
    );
    assert!(report.contains("commit it"), "{report}");
}

#[test]
fn a_build_follows_the_lock_not_the_newest() {
    let project = Project::new();
    project.pin(META, KERNEL_A, sha(KERNEL_A));
    project.pin(BOOT.0, BOOT, sha(BOOT));
    let before = project.lock_text();
    let archive = archive_a_and_b();
    let (outcome, fetched) = project.build(Mode::Follow, &archive).unwrap();
    assert_eq!(read_deb(&fetched[0]), deb_bytes(KERNEL_A.0, KERNEL_A.1));
    assert_eq!(
        archive.downloads(),
        [
            "linux-image-6.1.0-56-cloud-amd64=6.1.180-1",
            "systemd-boot-efi=252.39-1~deb12u2"
        ]
    );
    assert!(
        archive.resolved.borrow().is_empty(),
        "nothing newer is resolved"
    );
    assert!(!outcome.changed);
    assert_eq!(project.lock_text(), before, "the lock is left as it was");
    let report = project.report(&outcome, Mode::Follow);
    assert!(report.contains("pins them"), "{report}");
    assert!(report.contains("6.1.180-1"), "{report}");

    // The second build finds A in the cache: no download, same bytes.
    let (_, again) = project.build(Mode::Follow, &archive).unwrap();
    assert_eq!(archive.downloads().len(), 2);
    assert_eq!(read_deb(&again[0]), read_deb(&fetched[0]));
}

#[test]
fn a_version_the_archive_dropped_is_a_clear_error() {
    let project = Project::new();
    project.pin(META, KERNEL_A, sha(KERNEL_A));
    let before = project.lock_text();
    let archive = FakeArchive::default().with(BOOT).with(KERNEL_B);
    let err = project.build(Mode::Follow, &archive).unwrap_err();
    assert!(
        matches!(&err, BuildError::Lock(e) if matches!(**e, LockError::NotServed { .. })),
        "{err:?}"
    );
    let text = err.to_string();
    for part in [
        "pins linux-image-6.1.0-56-cloud-amd64 6.1.180-1",
        "no longer serves",
        "cairn build --update-lock",
        "restore that directory",
        "linux-image-6.1.0-56-cloud-amd64_6.1.180-1",
    ] {
        assert!(text.contains(part), "{part:?} not in: {text}");
    }
    assert!(archive.downloads().is_empty());
    assert_eq!(
        project.lock_text(),
        before,
        "a failed build leaves the lock"
    );
}

#[test]
fn a_restored_cache_builds_what_the_archive_dropped() {
    let project = Project::new();
    project.pin(META, KERNEL_A, sha(KERNEL_A));
    project.build(Mode::Follow, &archive_a_and_b()).unwrap();
    let dropped = FakeArchive::default().with(BOOT).with(KERNEL_B);
    let (_, fetched) = project.build(Mode::Follow, &dropped).unwrap();
    assert_eq!(read_deb(&fetched[0]), deb_bytes(KERNEL_A.0, KERNEL_A.1));
}

#[test]
fn a_sha256_the_archive_does_not_list_is_refused_before_download() {
    let project = Project::new();
    project.pin(META, KERNEL_A, "0".repeat(64));
    let archive = archive_a_and_b();
    let err = project.error(Mode::Follow, &archive);
    for part in [
        "pins linux-image-6.1.0-56-cloud-amd64 6.1.180-1 with sha256 0000",
        &format!("package archive's listing has sha256 {}", sha(KERNEL_A)),
        "Nothing was unpacked",
        "cairn build --update-lock",
    ] {
        assert!(err.contains(part), "{part:?} not in: {err}");
    }
    assert!(archive.downloads().is_empty());
}

#[test]
fn a_download_that_differs_from_the_lock_is_not_cached() {
    let project = Project::new();
    project.pin(META, KERNEL_A, sha(KERNEL_A));
    let mut archive = archive_a_and_b();
    // The index agrees with the lock, the file served does not.
    archive.served[0].bytes = b"tampered".to_vec();
    archive.served[0].listed_sha256 = Some(sha(KERNEL_A));
    let err = project.error(Mode::Follow, &archive);
    assert!(
        err.contains(&format!(
            "downloaded .deb has sha256 {}",
            sha256_hex(b"tampered")
        )),
        "{err}"
    );
    let key = crate::build::cache::key(KERNEL_A.0, KERNEL_A.1);
    assert!(!project.cache().join("debs").join(key).exists());
}

#[test]
fn a_changed_cache_is_refused_and_named() {
    let project = Project::new();
    project.pin(META, KERNEL_A, sha(KERNEL_A));
    let archive = archive_a_and_b();
    let (_, fetched) = project.build(Mode::Follow, &archive).unwrap();
    std::fs::write(&fetched[0].deb, b"bit rot").unwrap();
    let err = project.error(Mode::Follow, &archive);
    assert!(
        err.contains(&format!("cached {} has sha256", fetched[0].deb.display())),
        "{err}"
    );
    assert!(err.contains("Remove "), "{err}");
    assert_eq!(archive.downloads().len(), 2, "no download the second time");
}

#[test]
fn update_lock_moves_to_the_newest_and_says_what_changed() {
    let project = Project::new();
    project.pin(META, KERNEL_A, sha(KERNEL_A));
    project.pin(BOOT.0, BOOT, sha(BOOT));
    let archive = archive_a_and_b();
    let (outcome, fetched) = project.build(Mode::Update, &archive).unwrap();
    assert_eq!(read_deb(&fetched[0]), deb_bytes(KERNEL_B.0, KERNEL_B.1));
    let lock = Lock::read(&project.lock()).unwrap().unwrap();
    assert_eq!(
        (
            lock.pins[META].name.as_str(),
            lock.pins[META].version.as_str()
        ),
        KERNEL_B
    );
    let report = project.report(&outcome, Mode::Update);
    assert!(report.starts_with("updated "), "{report}");
    assert!(
        report.contains(
            "kernel linux-image-cloud-amd64: linux-image-6.1.0-56-cloud-amd64 6.1.180-1 -> \
             linux-image-6.1.0-57-cloud-amd64 6.1.192-3"
        ),
        "{report}"
    );
    assert!(
        report.contains("bootloader systemd-boot-efi: unchanged (252.39-1~deb12u2)"),
        "{report}"
    );

    // Once more: nothing to move, nothing written.
    let before = project.lock_text();
    let (outcome, _) = project.build(Mode::Update, &archive).unwrap();
    assert!(!outcome.changed);
    assert_eq!(project.lock_text(), before);
    let report = project.report(&outcome, Mode::Update);
    assert!(report.starts_with("checked "), "{report}");
    assert!(
        report.contains("kernel linux-image-cloud-amd64: unchanged (6.1.192-3)"),
        "{report}"
    );
}

#[test]
fn another_boards_kernel_is_added_and_the_old_pin_kept() {
    let project = Project::new();
    project.pin(META, KERNEL_A, sha(KERNEL_A));
    project.pin(BOOT.0, BOOT, sha(BOOT));
    let source = ("linux-source-6.1", "6.1.192-3");
    let archive = archive_a_and_b().with(source);
    let mut requests = requests("linux-source-6.1");
    requests[0].follow = Some("linux-source-6.1");
    let (outcome, _) = fetch_all(
        &project.lock(),
        Mode::Follow,
        &requests,
        &archive,
        &project.cache(),
        &Progress::new(false),
    )
    .unwrap();
    let report = project.report(&outcome, Mode::Follow);
    assert!(
        report.contains("added to ") && report.contains("linux-source-6.1 6.1.192-3"),
        "{report}"
    );
    let lock = Lock::read(&project.lock()).unwrap().unwrap();
    assert_eq!(lock.pins["linux-source-6.1"].sha256, sha(source));
    assert_eq!(
        lock.pins[META].version, KERNEL_A.1,
        "the other board's kernel stays pinned"
    );
    assert_eq!(archive.resolved.borrow().as_slice(), ["linux-source-6.1"]);

    // Back on the first board, its kernel is the one pinned before.
    let (_, fetched) = project.build(Mode::Follow, &archive).unwrap();
    assert_eq!(read_deb(&fetched[0]), deb_bytes(KERNEL_A.0, KERNEL_A.1));

    // --update-lock on that board says it kept the other's pin.
    let (outcome, _) = project.build(Mode::Update, &archive).unwrap();
    let report = project.report(&outcome, Mode::Update);
    assert!(
        report.contains("linux-source-6.1: kept (linux-source-6.1 6.1.192-3)"),
        "{report}"
    );
}

#[test]
fn a_broken_lock_stops_a_build_and_update_lock_replaces_it() {
    let project = Project::new();
    std::fs::write(project.lock(), "format 1\nlinux-image-cloud-amd64 oops\n").unwrap();
    let archive = archive_a_and_b();
    let err = project.error(Mode::Follow, &archive);
    assert!(
        err.starts_with(&format!("{}:2: expected", project.lock().display())),
        "{err}"
    );
    assert!(archive.downloads().is_empty());

    let (outcome, _) = project.build(Mode::Update, &archive).unwrap();
    let report = project.report(&outcome, Mode::Update);
    assert!(report.starts_with("replaced an unreadable "), "{report}");
    assert!(report.contains("added linux-image-6.1.0-57"), "{report}");
    assert_eq!(
        Lock::read(&project.lock()).unwrap().unwrap().pins[META].version,
        KERNEL_B.1
    );
}

#[test]
fn locked_builds_only_what_the_lock_pins() {
    let project = Project::new();
    let archive = archive_a_and_b();
    let err = project.error(Mode::Locked, &archive);
    assert!(
        err.contains("there is no lock, so it pins no kernel package for linux-image-cloud-amd64"),
        "{err}"
    );
    assert!(err.contains("build once without --locked"), "{err}");
    assert!(!project.lock().exists(), "--locked writes no lock");

    project.pin(META, KERNEL_A, sha(KERNEL_A));
    let err = project.error(Mode::Locked, &archive);
    assert!(
        err.contains("it pins no bootloader package for systemd-boot-efi"),
        "{err}"
    );
    assert!(archive.resolved.borrow().is_empty() && archive.downloads().is_empty());

    project.pin(BOOT.0, BOOT, sha(BOOT));
    let before = project.lock_text();
    let (outcome, fetched) = project.build(Mode::Locked, &archive).unwrap();
    assert!(!outcome.changed);
    assert_eq!(read_deb(&fetched[0]), deb_bytes(KERNEL_A.0, KERNEL_A.1));
    assert_eq!(project.lock_text(), before);
    assert!(archive.resolved.borrow().is_empty(), "nothing resolved");
}
