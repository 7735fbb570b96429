//! A kernel built from Debian's `linux-source-6.1`: `make tinyconfig`, the
//! board's fragment merged on top, everything built in (no modules). The
//! result is cached under the hash of its inputs, so it is built once.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Kernel;
use crate::build::hash::{sha256_file, sha256_hex};
use crate::build::host::{self, Tool, MAKE, TAR};
use crate::build::packages::UnpackedPackage;
use crate::build::progress::Progress;
use crate::build::{cache, BuildError};

/// Bump when the recipe below changes, so cached kernels are rebuilt.
const RECIPE: &str = "tinyconfig+merge_config+olddefconfig+bzImage v1";

/// The header objtool's build looks for.
const LIBELF_HEADER: &str = "/usr/include/gelf.h";

/// Tools `make bzImage` needs beyond make and tar.
const BUILD_TOOLS: [Tool; 5] = [
    Tool {
        program: "gcc",
        package: "gcc",
    },
    Tool {
        program: "flex",
        package: "flex",
    },
    Tool {
        program: "bison",
        package: "bison",
    },
    Tool {
        program: "bc",
        package: "bc",
    },
    Tool {
        program: "xz",
        package: "xz-utils",
    },
];

/// The package this board's kernel is built from.
pub const SOURCE_PACKAGE: &str = "linux-source-6.1";

/// Says what is missing before a large source package is downloaded.
pub fn check_host() -> Result<(), BuildError> {
    host::require(MAKE)?;
    host::require(TAR)?;
    for tool in BUILD_TOOLS {
        host::require(tool)?;
    }
    // objtool, which x86_64 kernels build and run, needs libelf's headers.
    if !Path::new(LIBELF_HEADER).is_file() {
        return Err(BuildError::MissingTool {
            tool: LIBELF_HEADER.into(),
            package: "libelf-dev".into(),
        });
    }
    Ok(())
}

/// Builds (or finds built) the kernel of `unpacked`, the source package.
pub fn prepare(
    fragment: &Path,
    unpacked: UnpackedPackage,
    cache_root: &Path,
    progress: &Progress,
) -> Result<Kernel, BuildError> {
    let fragment_text = std::fs::read(fragment).map_err(BuildError::io(format!(
        "cannot read {}",
        fragment.display()
    )))?;
    let inputs = format!(
        "{RECIPE}\0{}\0{}\0{}",
        unpacked.name,
        unpacked.version,
        sha256_hex(&fragment_text)
    );
    let key = sha256_hex(inputs.as_bytes())[..16].to_string();
    let out_dir = cache_root.join("kernel-build").join(&key);
    cache::fill_once(&out_dir, |out| {
        compile(&unpacked.root, fragment, out, progress)
    })?;

    let vmlinuz = out_dir.join("bzImage");
    let release = std::fs::read_to_string(out_dir.join("kernel.release"))
        .map_err(BuildError::io(format!(
            "cannot read {}",
            out_dir.join("kernel.release").display()
        )))?
        .trim()
        .to_string();
    Ok(Kernel {
        requested: unpacked.requested,
        package: unpacked.name,
        package_version: unpacked.version,
        deb_sha256: unpacked.deb_sha256,
        release,
        vmlinuz_sha256: sha256_file(&vmlinuz)?,
        vmlinuz,
        modules_dir: None,
    })
}

/// Unpacks the source tarball into a scratch tree beside `out`, configures,
/// builds, and leaves `bzImage` and `kernel.release` in `out`.
fn compile(
    package_root: &Path,
    fragment: &Path,
    out: &Path,
    progress: &Progress,
) -> Result<(), BuildError> {
    let make = host::require(MAKE)?;
    let tar = host::require(TAR)?;
    let tarball = find_tarball(package_root)?;
    let scratch = out.with_extension("src");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).map_err(BuildError::io(format!(
            "cannot remove {}",
            scratch.display()
        )))?;
    }
    std::fs::create_dir_all(&scratch).map_err(BuildError::io(format!(
        "cannot create {}",
        scratch.display()
    )))?;

    let step = progress.step(format!("unpacking {}", tarball.display()));
    host::run(
        Command::new(&tar)
            .arg("-xf")
            .arg(&tarball)
            .arg("-C")
            .arg(&scratch)
            .arg("--strip-components=1"),
    )?;
    step.done("");

    let kmake = |args: &[&str]| {
        let mut cmd = Command::new(&make);
        cmd.current_dir(&scratch)
            .arg("ARCH=x86_64")
            .args(args)
            // Fixed build identity, so the same inputs give the same bzImage.
            .env("KBUILD_BUILD_TIMESTAMP", "1970-01-01")
            .env("KBUILD_BUILD_USER", "cairn")
            .env("KBUILD_BUILD_HOST", "cairn")
            .env("KBUILD_BUILD_VERSION", "1");
        cmd
    };

    let step = progress.step("configuring the kernel (tinyconfig + fragment)");
    host::run(&mut kmake(&["tinyconfig"]))?;
    let fragment = fragment.canonicalize().map_err(BuildError::io(format!(
        "cannot resolve {}",
        fragment.display()
    )))?;
    host::run(
        Command::new("sh")
            .current_dir(&scratch)
            .env("ARCH", "x86_64")
            .arg("scripts/kconfig/merge_config.sh")
            .arg("-m")
            .arg(".config")
            .arg(&fragment),
    )?;
    host::run(&mut kmake(&["olddefconfig"]))?;
    check_fragment_applied(&scratch.join(".config"), &fragment)?;
    step.done("");

    let jobs = std::thread::available_parallelism().map_or(1, usize::from);
    let step = progress.step(format!("building the kernel with {jobs} jobs (minutes)"));
    host::run(&mut kmake(&[&format!("-j{jobs}"), "bzImage"]))?;
    step.done("");

    let release = host::run(&mut kmake(&["-s", "kernelrelease"]))?;
    std::fs::write(out.join("kernel.release"), &release.stdout)
        .map_err(BuildError::io("cannot write kernel.release"))?;
    std::fs::copy(scratch.join("arch/x86/boot/bzImage"), out.join("bzImage"))
        .map_err(BuildError::io("cannot copy bzImage"))?;
    std::fs::copy(scratch.join(".config"), out.join("config"))
        .map_err(BuildError::io("cannot copy .config"))?;
    std::fs::remove_dir_all(&scratch).map_err(BuildError::io(format!(
        "cannot remove {}",
        scratch.display()
    )))?;
    Ok(())
}

fn find_tarball(package_root: &Path) -> Result<PathBuf, BuildError> {
    let dir = package_root.join("usr/src");
    std::fs::read_dir(&dir)
        .map_err(BuildError::io(format!("cannot read {}", dir.display())))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| n.starts_with("linux-source") && n.contains(".tar"))
        })
        .ok_or_else(|| BuildError::Invalid(format!("no linux-source tarball in {}", dir.display())))
}

/// Kconfig silently drops options whose dependencies are missing; say so
/// instead of producing a kernel that cannot boot.
fn check_fragment_applied(config: &Path, fragment: &Path) -> Result<(), BuildError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(BuildError::io(format!("cannot read {}", p.display())))
    };
    let missing = missing_options(&read(config)?, &read(fragment)?);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(BuildError::Invalid(format!(
            "kernel config {} asks for options the kernel did not take (missing dependencies?): {}",
            fragment.display(),
            missing.join(", ")
        )))
    }
}

/// The `CONFIG_X=y` lines of `fragment` that `config` does not have.
fn missing_options(config: &str, fragment: &str) -> Vec<String> {
    fragment
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("CONFIG_") && l.ends_with("=y"))
        .filter(|l| !config.lines().any(|c| c.trim() == *l))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_options_are_reported() {
        let config = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x\"\n";
        let fragment = "# comment\nCONFIG_A=y\nCONFIG_B=y\nCONFIG_C=\"x\"\n";
        assert_eq!(missing_options(config, fragment), vec!["CONFIG_B=y"]);
    }

    #[test]
    fn shipped_fragment_is_all_builtin() {
        let fragment =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel-config/qemu-x86_64.config");
        let text = std::fs::read_to_string(fragment).unwrap();
        assert!(text.contains("CONFIG_VIRTIO_BLK=y"));
        assert!(!text.lines().any(|l| l.ends_with("=m")), "no modules");
    }
}
