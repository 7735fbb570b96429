//! The kernel modules a board asks for, with their dependencies, in load order.
//!
//! Debian's kernel package ships no `modules.dep`; each module's own
//! `.modinfo` section says what it depends on (`depends=a,b`), so that is
//! what is followed here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::BuildError;

/// One module file to put into the initramfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleFile {
    /// Canonical name (`-` written as `_`).
    pub name: String,
    /// Path relative to `lib/modules/<release>/`, e.g. `kernel/fs/squashfs/squashfs.ko`.
    pub relative: PathBuf,
    /// Where it is on the host.
    pub source: PathBuf,
}

/// Module names treat `-` and `_` as the same character.
pub fn canonical_name(name: &str) -> String {
    name.replace('-', "_")
}

/// The module name of a file name, if it is a module (`.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`).
fn module_stem(file_name: &str) -> Option<&str> {
    [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .find_map(|ext| file_name.strip_suffix(ext))
}

/// Every module file under a `lib/modules/<release>` directory, by canonical name.
#[derive(Debug, Default)]
pub struct ModuleIndex {
    root: PathBuf,
    files: BTreeMap<String, PathBuf>,
    builtin: BTreeSet<String>,
}

impl ModuleIndex {
    /// Scans `modules_dir` (and reads its `modules.builtin`, when present).
    pub fn scan(modules_dir: &Path) -> Result<ModuleIndex, BuildError> {
        let mut index = ModuleIndex {
            root: modules_dir.to_path_buf(),
            ..ModuleIndex::default()
        };
        index.walk(Path::new(""))?;
        if let Ok(text) = std::fs::read_to_string(modules_dir.join("modules.builtin")) {
            index.builtin = text
                .lines()
                .filter_map(|line| Path::new(line.trim()).file_name())
                .filter_map(|f| module_stem(&f.to_string_lossy()).map(canonical_name))
                .collect();
        }
        Ok(index)
    }

    fn walk(&mut self, relative: &Path) -> Result<(), BuildError> {
        let dir = self.root.join(relative);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(BuildError::io(format!("cannot read {}", dir.display())))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = relative.join(&name);
            let file_type = entry.file_type().map_err(BuildError::io(format!(
                "cannot stat {}",
                entry.path().display()
            )))?;
            if file_type.is_dir() {
                self.walk(&rel)?;
            } else if let Some(stem) = module_stem(&name) {
                // First one found in sorted order wins, so the choice is stable.
                self.files.entry(canonical_name(stem)).or_insert(rel);
            }
        }
        Ok(())
    }

    fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(name)
    }
}

/// Resolves `wanted` (board module names) into module files in load order:
/// every module after its dependencies, otherwise in the order asked for.
/// Built-in modules are skipped.
pub fn resolve(index: &ModuleIndex, wanted: &[String]) -> Result<Vec<ModuleFile>, BuildError> {
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    for name in wanted {
        visit(
            index,
            &canonical_name(name),
            &mut Vec::new(),
            &mut done,
            &mut order,
        )?;
    }
    Ok(order)
}

fn visit(
    index: &ModuleIndex,
    name: &str,
    stack: &mut Vec<String>,
    done: &mut BTreeSet<String>,
    order: &mut Vec<ModuleFile>,
) -> Result<(), BuildError> {
    if done.contains(name) {
        return Ok(());
    }
    if stack.iter().any(|n| n == name) {
        return Err(BuildError::Module(format!(
            "dependency cycle: {} -> {name}",
            stack.join(" -> ")
        )));
    }
    let Some(relative) = index.files.get(name) else {
        if index.is_builtin(name) {
            done.insert(name.to_string());
            return Ok(());
        }
        let wanted_by = stack
            .last()
            .map(|parent| format!(" (needed by {parent})"))
            .unwrap_or_default();
        return Err(BuildError::Module(format!(
            "no module {name}{wanted_by} under {} and it is not built in",
            index.root.display()
        )));
    };
    let source = index.root.join(relative);
    stack.push(name.to_string());
    for dep in read_depends(&source)? {
        visit(index, &canonical_name(&dep), stack, done, order)?;
    }
    stack.pop();
    done.insert(name.to_string());
    order.push(ModuleFile {
        name: name.to_string(),
        relative: relative.clone(),
        source,
    });
    Ok(())
}

/// The `depends=` list of a module file.
pub fn read_depends(path: &Path) -> Result<Vec<String>, BuildError> {
    let name = path.to_string_lossy();
    if !name.ends_with(".ko") {
        return Err(BuildError::Module(format!(
            "{name} is compressed; this kernel's modules must be uncompressed .ko files \
             (PID 1 loads them as they are)"
        )));
    }
    let bytes =
        std::fs::read(path).map_err(BuildError::io(format!("cannot read {}", path.display())))?;
    let info = modinfo(&bytes).map_err(|message| BuildError::Elf {
        path: path.to_path_buf(),
        message,
    })?;
    Ok(info
        .iter()
        .filter(|(k, _)| k == "depends")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect())
}

/// The `key=value` pairs of a module's `.modinfo` section, in file order.
pub fn modinfo(elf_bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let elf = goblin::elf::Elf::parse(elf_bytes).map_err(|e| format!("not an ELF module: {e}"))?;
    let section = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(".modinfo"))
        .ok_or("no .modinfo section")?;
    let start = usize::try_from(section.sh_offset).map_err(|e| e.to_string())?;
    let len = usize::try_from(section.sh_size).map_err(|e| e.to_string())?;
    let data = elf_bytes
        .get(start..start.saturating_add(len))
        .ok_or(".modinfo section lies outside the file")?;
    Ok(data
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .filter_map(|entry| {
            let text = String::from_utf8_lossy(entry);
            let (k, v) = text.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect())
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A minimal ELF64 relocatable file whose only content is a `.modinfo`
    /// section, like a kernel module as far as dependency lookup goes.
    pub fn fake_module(modinfo: &str) -> Vec<u8> {
        let data = modinfo.as_bytes();
        let shstrtab = b"\0.modinfo\0.shstrtab\0";
        let data_off = 64u64;
        let strtab_off = data_off + data.len() as u64;
        let sh_off = (strtab_off + shstrtab.len() as u64).div_ceil(8) * 8;
        let mut out = Vec::new();
        out.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        out.extend_from_slice(&1u16.to_le_bytes()); // ET_REL
        out.extend_from_slice(&62u16.to_le_bytes()); // x86_64
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // entry
        out.extend_from_slice(&0u64.to_le_bytes()); // phoff
        out.extend_from_slice(&sh_off.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // flags
        for v in [64u16, 0, 0, 64, 3, 2] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(data);
        out.extend_from_slice(shstrtab);
        out.resize(usize::try_from(sh_off).unwrap(), 0);
        let section = |name: u32, kind: u32, off: u64, size: u64| {
            let mut s = Vec::new();
            s.extend_from_slice(&name.to_le_bytes());
            s.extend_from_slice(&kind.to_le_bytes());
            s.extend_from_slice(&0u64.to_le_bytes()); // flags
            s.extend_from_slice(&0u64.to_le_bytes()); // addr
            s.extend_from_slice(&off.to_le_bytes());
            s.extend_from_slice(&size.to_le_bytes());
            s.extend_from_slice(&[0u8; 8]); // link, info
            s.extend_from_slice(&1u64.to_le_bytes()); // align
            s.extend_from_slice(&0u64.to_le_bytes()); // entsize
            s
        };
        out.extend(section(0, 0, 0, 0));
        out.extend(section(1, 1, data_off, data.len() as u64));
        out.extend(section(10, 3, strtab_off, shstrtab.len() as u64));
        out
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cairn-mod-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_module(root: &Path, rel: &str, depends: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let info = format!("license=GPL\0depends={depends}\0name=x\0");
        std::fs::write(path, fake_module(&info)).unwrap();
    }

    #[test]
    fn modinfo_parses_null_separated_pairs() {
        let info = modinfo(&fake_module("license=GPL\0depends=a,b-c\0\0alias=x=y\0")).unwrap();
        assert_eq!(
            info,
            vec![
                ("license".into(), "GPL".into()),
                ("depends".into(), "a,b-c".into()),
                ("alias".into(), "x=y".into()),
            ]
        );
    }

    #[test]
    fn not_elf_is_an_error() {
        assert!(modinfo(b"hello").is_err());
    }

    #[test]
    fn dependencies_come_first_in_stable_order() {
        let root = temp_dir("order");
        write_module(
            &root,
            "kernel/drivers/virtio/virtio_pci.ko",
            "virtio,virtio-pci-modern-dev",
        );
        write_module(&root, "kernel/drivers/virtio/virtio.ko", "");
        write_module(&root, "kernel/drivers/virtio/virtio_pci_modern_dev.ko", "");
        write_module(
            &root,
            "kernel/drivers/block/virtio_blk.ko",
            "virtio,virtio_ring",
        );
        write_module(&root, "kernel/drivers/virtio/virtio_ring.ko", "virtio");
        write_module(&root, "kernel/fs/fat/vfat.ko", "fat");
        std::fs::write(root.join("modules.builtin"), "kernel/fs/fat/fat.ko\n").unwrap();
        let index = ModuleIndex::scan(&root).unwrap();
        let order = resolve(
            &index,
            &[
                "virtio-pci".to_string(),
                "virtio_blk".into(),
                "vfat".into(),
                "fat".into(),
            ],
        )
        .unwrap();
        let names: Vec<_> = order.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "virtio",
                "virtio_pci_modern_dev",
                "virtio_pci",
                "virtio_ring",
                "virtio_blk",
                "vfat"
            ]
        );
        assert_eq!(
            order[0].relative,
            PathBuf::from("kernel/drivers/virtio/virtio.ko")
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn missing_module_names_who_needs_it() {
        let root = temp_dir("missing");
        write_module(&root, "kernel/a.ko", "b");
        let index = ModuleIndex::scan(&root).unwrap();
        let err = resolve(&index, &["a".to_string()]).unwrap_err().to_string();
        assert!(err.contains("no module b (needed by a)"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn cycles_are_reported() {
        let root = temp_dir("cycle");
        write_module(&root, "kernel/a.ko", "b");
        write_module(&root, "kernel/b.ko", "a");
        let index = ModuleIndex::scan(&root).unwrap();
        let err = resolve(&index, &["a".to_string()]).unwrap_err().to_string();
        assert!(err.contains("cycle"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn compressed_modules_are_refused_clearly() {
        let err = read_depends(Path::new("/nonexistent/x.ko.zst"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("compressed"), "{err}");
    }
}
