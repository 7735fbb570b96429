//! Loading the kernel modules the board needs (virtio, squashfs, vfat, ...).
//!
//! The image builder writes `/etc/cairn/modules`: one module file per line,
//! relative to `/lib/modules/<kernel release>/` or absolute, dependencies
//! first. PID 1 loads them in that order with finit_module. A module that is
//! already there (EEXIST: built in, or loaded as a dependency) is fine; one
//! that fails is logged and skipped, because the rest may still give a
//! working system (a missing sound driver must not stop the disk).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The module files named in `text`, in order. Blank lines and `#` comments
/// are skipped; relative paths are taken from `module_dir`.
pub fn parse_list(text: &str, module_dir: &Path) -> Vec<PathBuf> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let path = Path::new(line);
            if path.is_absolute() {
                path.to_path_buf()
            } else {
                module_dir.join(path)
            }
        })
        .collect()
}

/// What loading the list did.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub loaded: usize,
    pub already_present: usize,
    pub failed: Vec<(PathBuf, io::Error)>,
}

/// Loads every module with `load`, in order; never stops early.
pub fn load_all(modules: &[PathBuf], mut load: impl FnMut(&Path) -> io::Result<()>) -> LoadReport {
    let mut report = LoadReport::default();
    for module in modules {
        match load(module) {
            Ok(()) => report.loaded += 1,
            Err(err) if err.raw_os_error() == Some(libc::EEXIST) => report.already_present += 1,
            Err(err) => {
                tracing::warn!("module {} not loaded: {err}", module.display());
                report.failed.push((module.clone(), err));
            }
        }
    }
    report
}

/// Loads one module file into the running kernel.
pub fn load_file(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    crate::sys::kmod::load_module(&file)
}

/// Step 2 of boot: loads what `/etc/cairn/modules` lists. A missing list
/// means a kernel with everything built in.
pub fn load_listed(list: &Path, kernel_release: &str) -> LoadReport {
    let text = match std::fs::read_to_string(list) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return LoadReport::default(),
        Err(err) => {
            tracing::warn!("cannot read {}: {err}", list.display());
            return LoadReport::default();
        }
    };
    let module_dir = Path::new("/lib/modules").join(kernel_release);
    let modules = parse_list(&text, &module_dir);
    let started = std::time::Instant::now();
    let report = load_all(&modules, load_file);
    tracing::info!(
        "loaded {} modules in {} ms ({} already present, {} failed)",
        report.loaded,
        started.elapsed().as_millis(),
        report.already_present,
        report.failed.len()
    );
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_paths_and_skips_comments() {
        let text = "# virtio first\nkernel/drivers/virtio/virtio.ko\n\n  /opt/extra.ko  \n";
        let list = parse_list(text, Path::new("/lib/modules/6.1.0"));
        assert_eq!(
            list,
            vec![
                PathBuf::from("/lib/modules/6.1.0/kernel/drivers/virtio/virtio.ko"),
                PathBuf::from("/opt/extra.ko"),
            ]
        );
    }

    #[test]
    fn eexist_is_fine_and_failures_do_not_stop_the_rest() {
        let modules: Vec<PathBuf> = ["a.ko", "b.ko", "c.ko", "d.ko"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let mut tried = Vec::new();
        let report = load_all(&modules, |path| {
            tried.push(path.to_path_buf());
            match path.to_str() {
                Some("b.ko") => Err(io::Error::from_raw_os_error(libc::EEXIST)),
                Some("c.ko") => Err(io::Error::from_raw_os_error(libc::ENOEXEC)),
                _ => Ok(()),
            }
        });
        assert_eq!(tried, modules);
        assert_eq!(report.loaded, 2);
        assert_eq!(report.already_present, 1);
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].0, PathBuf::from("c.ko"));
    }

    #[test]
    fn a_missing_list_loads_nothing() {
        let report = load_listed(Path::new("/nonexistent/cairn/modules"), "x");
        assert_eq!(
            report.loaded + report.already_present + report.failed.len(),
            0
        );
    }
}
