//! A whole build follows `cairn.lock`: a fake archive serves kernel A and a
//! newer kernel B (real .debs, made with `dpkg-deb --build`), the lock pins
//! A, and the image boots A; `--update-lock` moves the image to B. The
//! cache, the keys and the lock all live in the test's temporary project.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;

use cairn_image_builder::build::lock::{Archive, Listed, Request};
use cairn_image_builder::build::{build_with, BuildError, BuildOptions, LockMode};
use serde_json::Value;
use sha2::{Digest, Sha256};

const META: &str = "linux-image-cloud-amd64";

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One package the fake archive serves: its .deb and the vmlinuz inside.
struct Served {
    name: String,
    version: String,
    deb: PathBuf,
}

/// Makes a .deb of `files` (path in the package -> content).
fn make_deb(dir: &Path, name: &str, version: &str, files: &[(&str, &[u8])]) -> Served {
    let tree = dir.join(format!("{name}-tree"));
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    std::fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: amd64\n\
             Maintainer: Cairn tests <tests@cairn.invalid>\nDescription: a test package\n"
        ),
    )
    .unwrap();
    for (path, content) in files {
        let file = tree.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }
    let deb = dir.join(format!("{name}_{version}_amd64.deb"));
    let out = Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&tree)
        .arg(&deb)
        .output()
        .expect("dpkg-deb is needed (apt-get install dpkg)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Served {
        name: name.into(),
        version: version.into(),
        deb,
    }
}

fn kernel(dir: &Path, abi: &str, version: &str) -> Served {
    let release = format!("6.1.0-{abi}-cloud-amd64");
    let vmlinuz = format!("boot/vmlinuz-{release}");
    let marker = format!("lib/modules/{release}/modules.builtin");
    make_deb(
        dir,
        &format!("linux-image-{release}"),
        version,
        &[
            (&vmlinuz, format!("kernel {version}").as_bytes()),
            (&marker, b""),
        ],
    )
}

struct FakeArchive {
    served: Vec<Served>,
    downloads: RefCell<Vec<String>>,
}

impl FakeArchive {
    fn listed(served: &Served) -> Listed {
        Listed {
            name: served.name.clone(),
            version: served.version.clone(),
            sha256: sha256(&std::fs::read(&served.deb).unwrap()),
        }
    }
}

impl Archive for FakeArchive {
    fn newest(&self, request: &Request) -> Result<Listed, BuildError> {
        let prefix = request.follow.unwrap_or(&request.name);
        Ok(Self::listed(
            self.served
                .iter()
                .rev()
                .find(|s| s.name.starts_with(prefix))
                .expect("the fake serves what the build asks"),
        ))
    }

    fn lookup(&self, name: &str, version: &str) -> Result<Option<Listed>, BuildError> {
        Ok(self
            .served
            .iter()
            .find(|s| s.name == name && s.version == version)
            .map(Self::listed))
    }

    fn download(&self, name: &str, version: &str, dir: &Path) -> Result<PathBuf, BuildError> {
        self.downloads
            .borrow_mut()
            .push(format!("{name}={version}"));
        let served = self
            .served
            .iter()
            .find(|s| s.name == name && s.version == version)
            .expect("downloads only what it lists");
        let deb = dir.join(served.deb.file_name().unwrap());
        std::fs::copy(&served.deb, &deb).unwrap();
        Ok(deb)
    }
}

/// The default board without modules: the fake kernels ship none.
fn board(dir: &Path) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(workspace.join("board-configs/qemu-x86_64.toml")).unwrap();
    let start = text.find("modules = [").unwrap();
    let end = start + text[start..].find(']').unwrap() + 1;
    let path = dir.join("board.toml");
    std::fs::write(
        &path,
        format!("{}modules = []{}", &text[..start], &text[end..]),
    )
    .unwrap();
    path
}

#[test]
fn the_image_takes_the_kernel_the_lock_pins() {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    let debs = dir.join("archive");
    std::fs::create_dir_all(&debs).unwrap();
    let efi: &[u8] = b"MZ a bootloader";
    let archive = FakeArchive {
        served: vec![
            kernel(&debs, "1", "6.1.1-1"),
            make_deb(
                &debs,
                "systemd-boot-efi",
                "252.1-1",
                &[("usr/lib/systemd/boot/efi/systemd-bootx64.efi", efi)],
            ),
            kernel(&debs, "2", "6.1.2-1"),
        ],
        downloads: RefCell::new(Vec::new()),
    };
    let [kernel_a, boot, kernel_b] = [0, 1, 2].map(|i| FakeArchive::listed(&archive.served[i]));
    let manifest = dir.join("system.toml");
    std::fs::write(
        &manifest,
        "version = 1\n\n[system]\nhostname = \"locked\"\n",
    )
    .unwrap();
    let lock = dir.join("cairn.lock");
    std::fs::write(
        &lock,
        format!(
            "format 1\n{META} {}={} sha256={}\nsystemd-boot-efi systemd-boot-efi={} sha256={}\n",
            kernel_a.name, kernel_a.version, kernel_a.sha256, boot.version, boot.sha256
        ),
    )
    .unwrap();
    let board = board(dir);
    // Any program stands in for PID 1 and the services' binary.
    let stand_in = PathBuf::from("/bin/true");
    let opts = |out: &str, lock_mode: LockMode| BuildOptions {
        manifest: manifest.clone(),
        out_dir: dir.join(out),
        board: Some(board.clone()),
        init_binary: Some(stand_in.clone()),
        control_binary: Some(stand_in.clone()),
        keys_dir: None,
        build_number: None,
        cache_dir: Some(dir.join("cache")),
        lock_file: None,
        lock_mode,
        progress: false,
    };
    let inventory = |out: &cairn_image_builder::build::BuildOutput| -> Value {
        serde_json::from_slice(&std::fs::read(&out.inventory).unwrap()).unwrap()
    };

    let pinned = build_with(&opts("a", LockMode::Locked), &archive).unwrap();
    assert_eq!(pinned.lock_file, lock);
    assert_eq!(
        archive.downloads.borrow().as_slice(),
        [
            format!("{}={}", kernel_a.name, kernel_a.version),
            "systemd-boot-efi=252.1-1".to_string()
        ],
        "kernel A, not the newest"
    );
    let a = inventory(&pinned);
    assert_eq!(a["kernel"]["requested"], META);
    assert_eq!(a["kernel"]["package"], kernel_a.name.as_str());
    assert_eq!(a["kernel"]["version"], "6.1.1-1");
    assert_eq!(a["kernel"]["deb_sha256"], kernel_a.sha256.as_str());
    assert_eq!(
        a["kernel"]["vmlinuz_sha256"],
        sha256(b"kernel 6.1.1-1").as_str()
    );
    assert_eq!(a["bootloader"]["deb_sha256"], boot.sha256.as_str());
    assert_eq!(a["bootloader"]["sha256"], sha256(efi).as_str());
    let before = std::fs::read_to_string(&lock).unwrap();
    assert!(
        before.starts_with("format 1\n"),
        "a followed lock is not rewritten"
    );

    let moved = build_with(&opts("b", LockMode::Update), &archive).unwrap();
    let b = inventory(&moved);
    assert_eq!(b["kernel"]["version"], "6.1.2-1");
    assert_eq!(
        b["kernel"]["vmlinuz_sha256"],
        sha256(b"kernel 6.1.2-1").as_str()
    );
    assert_ne!(
        pinned.version, moved.version,
        "another kernel, another image"
    );
    let after = std::fs::read_to_string(&lock).unwrap();
    assert!(after.starts_with("# cairn.lock: "), "{after}");
    assert!(
        after.contains(&format!(
            "{META} {}={} sha256={}\n",
            kernel_b.name, kernel_b.version, kernel_b.sha256
        )),
        "{after}"
    );

    // Without the lock's old version in the archive or the cache, a build
    // pinned to it stops and says how to go on.
    std::fs::write(&lock, &before).unwrap();
    std::fs::remove_dir_all(dir.join("cache")).unwrap();
    let dropped = FakeArchive {
        served: archive.served.into_iter().skip(1).collect(),
        downloads: RefCell::new(Vec::new()),
    };
    let err = build_with(&opts("c", LockMode::Follow), &dropped)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "pins {} 6.1.1-1, which the package archive no longer serves",
            kernel_a.name
        )),
        "{err}"
    );
    assert!(err.contains("cairn build --update-lock"), "{err}");
    assert!(!dir.join("c/disk.img").exists());
}
