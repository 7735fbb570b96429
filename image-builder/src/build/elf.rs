//! ELF inspection for bundles: is a program static or dynamic, and which
//! interpreter and shared libraries does a dynamic one load. Libraries are
//! found the way ld.so finds them, so the app's tree holds exactly what its
//! loader will look for.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use goblin::elf::Elf;

use super::BuildError;

/// The default search directories of the x86_64 Debian loader, in its order.
pub const DEFAULT_LIBRARY_DIRS: [&str; 5] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/lib",
    "/usr/lib",
];

/// What the dynamic loader needs to know about one ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    pub is_64: bool,
    pub machine: u16,
    /// PT_INTERP, for a dynamic executable.
    pub interpreter: Option<String>,
    /// DT_NEEDED, in order.
    pub needed: Vec<String>,
    /// DT_RPATH entries (only honoured when there is no DT_RUNPATH).
    pub rpath: Vec<String>,
    /// DT_RUNPATH entries.
    pub runpath: Vec<String>,
}

impl ElfInfo {
    /// A program that needs a loader and libraries.
    pub fn is_dynamic(&self) -> bool {
        self.interpreter.is_some() || !self.needed.is_empty()
    }
}

/// Parses `bytes` as ELF; `None` when it is not ELF at all (a script).
pub fn inspect_bytes(bytes: &[u8]) -> Result<Option<ElfInfo>, String> {
    if !bytes.starts_with(b"\x7fELF") {
        return Ok(None);
    }
    let elf = Elf::parse(bytes).map_err(|e| format!("unreadable ELF file: {e}"))?;
    let split = |list: &[&str]| -> Vec<String> {
        list.iter()
            .flat_map(|entry| entry.split(':'))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    Ok(Some(ElfInfo {
        is_64: elf.is_64,
        machine: elf.header.e_machine,
        interpreter: elf.interpreter.map(str::to_string),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        rpath: split(&elf.rpaths),
        runpath: split(&elf.runpaths),
    }))
}

/// Reads and inspects a file.
pub fn inspect(path: &Path) -> Result<Option<ElfInfo>, BuildError> {
    let bytes =
        std::fs::read(path).map_err(BuildError::io(format!("cannot read {}", path.display())))?;
    inspect_bytes(&bytes).map_err(|message| BuildError::Elf {
        path: path.to_path_buf(),
        message,
    })
}

/// A file the loader will open: where it goes in the app's tree, and where
/// it is on the host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Placed {
    /// Absolute path inside the app's tree.
    pub tree_path: PathBuf,
    pub host_path: PathBuf,
}

/// The interpreter and every library a dynamic program loads, recursively.
/// `exe_host` is the program on the host, `exe_tree` where it will live in
/// the tree (its `$ORIGIN` there).
pub fn collect_runtime(
    exe_host: &Path,
    exe_tree: &Path,
    exe: &ElfInfo,
) -> Result<Vec<Placed>, BuildError> {
    let mut placed = BTreeSet::new();
    let mut interpreter_name = None;
    if let Some(interp) = &exe.interpreter {
        let host = PathBuf::from(interp);
        if !host.is_file() {
            return Err(BuildError::Elf {
                path: exe_host.to_path_buf(),
                message: format!("its interpreter {interp} is not on this host"),
            });
        }
        interpreter_name = host.file_name().map(|n| n.to_string_lossy().into_owned());
        placed.insert(Placed {
            tree_path: host.clone(),
            host_path: host,
        });
    }
    let compatible = |path: &Path| -> bool {
        path.is_file()
            && inspect(path)
                .ok()
                .flatten()
                .is_some_and(|lib| lib.is_64 == exe.is_64 && lib.machine == exe.machine)
    };
    let mut queue = vec![(exe_host.to_path_buf(), exe_tree.to_path_buf(), exe.clone())];
    while let Some((host, tree, info)) = queue.pop() {
        for name in &info.needed {
            // The loader satisfies a dependency on itself without opening a file.
            if interpreter_name.as_deref() == Some(name.as_str()) {
                continue;
            }
            let found = search(name, &host, &tree, &info, exe, &compatible).ok_or_else(|| {
                BuildError::Elf {
                    path: host.clone(),
                    message: format!(
                        "needs {name}, which is not in its run path nor in {}",
                        DEFAULT_LIBRARY_DIRS.join(", ")
                    ),
                }
            })?;
            if placed.insert(found.clone()) {
                let lib = inspect(&found.host_path)?.ok_or_else(|| BuildError::Elf {
                    path: found.host_path.clone(),
                    message: "not an ELF file".into(),
                })?;
                queue.push((found.host_path, found.tree_path, lib));
            }
        }
    }
    Ok(placed.into_iter().collect())
}

/// One library lookup, in ld.so's order: DT_RPATH of the object and then of
/// the executable (only where DT_RUNPATH is absent), DT_RUNPATH of the
/// object, then the default directories.
fn search(
    name: &str,
    object_host: &Path,
    object_tree: &Path,
    object: &ElfInfo,
    exe: &ElfInfo,
    compatible: &dyn Fn(&Path) -> bool,
) -> Option<Placed> {
    if name.contains('/') {
        let host = PathBuf::from(name);
        return compatible(&host).then(|| Placed {
            tree_path: normalize(&host),
            host_path: host,
        });
    }
    let mut dirs: Vec<&str> = Vec::new();
    if object.runpath.is_empty() {
        dirs.extend(object.rpath.iter().map(String::as_str));
        if exe.runpath.is_empty() {
            dirs.extend(exe.rpath.iter().map(String::as_str));
        }
    }
    dirs.extend(object.runpath.iter().map(String::as_str));
    dirs.extend(DEFAULT_LIBRARY_DIRS);
    let host_origin = object_host.parent().unwrap_or(Path::new("/"));
    let tree_origin = object_tree.parent().unwrap_or(Path::new("/"));
    dirs.iter().find_map(|dir| {
        let host = PathBuf::from(expand_origin(dir, host_origin)).join(name);
        let tree = normalize(&PathBuf::from(expand_origin(dir, tree_origin)).join(name));
        compatible(&host).then_some(Placed {
            tree_path: tree,
            host_path: host,
        })
    })
}

/// Replaces `$ORIGIN` / `${ORIGIN}` with the object's directory.
pub fn expand_origin(dir: &str, origin: &Path) -> String {
    let origin = origin.to_string_lossy();
    dir.replace("${ORIGIN}", &origin)
        .replace("$ORIGIN", &origin)
}

/// Resolves `.` and `..` lexically (inside the app's tree there is nothing to
/// follow), keeping the path absolute.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(needed: &[&str], rpath: &[&str], runpath: &[&str]) -> ElfInfo {
        ElfInfo {
            is_64: true,
            machine: 62,
            interpreter: None,
            needed: needed.iter().map(|s| s.to_string()).collect(),
            rpath: rpath.iter().map(|s| s.to_string()).collect(),
            runpath: runpath.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn origin_is_expanded_in_both_worlds() {
        let exe = info(&["libfoo.so"], &[], &["$ORIGIN/../lib"]);
        let wanted = PathBuf::from("/host/build/lib/libfoo.so");
        let found = search(
            "libfoo.so",
            Path::new("/host/build/bin/web"),
            Path::new("/bin/web"),
            &exe,
            &exe,
            &|p: &Path| p == Path::new("/host/build/bin/../lib/libfoo.so"),
        )
        .unwrap();
        assert_eq!(found.tree_path, PathBuf::from("/lib/libfoo.so"));
        assert_eq!(normalize(&found.host_path), wanted);
    }

    #[test]
    fn runpath_hides_rpath_and_defaults_come_last() {
        let object = info(&[], &["/rpath"], &["/runpath"]);
        let seen = std::cell::RefCell::new(Vec::new());
        let result = search(
            "libx.so",
            Path::new("/o/lib.so"),
            Path::new("/lib.so"),
            &object,
            &object,
            &|p: &Path| {
                seen.borrow_mut().push(p.to_path_buf());
                false
            },
        );
        assert!(result.is_none());
        let seen = seen.into_inner();
        assert_eq!(seen[0], PathBuf::from("/runpath/libx.so"));
        assert_eq!(seen[1], PathBuf::from("/lib/x86_64-linux-gnu/libx.so"));
        assert_eq!(seen.len(), 1 + DEFAULT_LIBRARY_DIRS.len());
    }

    #[test]
    fn rpath_is_used_without_runpath() {
        let object = info(&[], &["/opt/x/lib"], &[]);
        let found = search(
            "liby.so",
            Path::new("/o/bin"),
            Path::new("/bin/o"),
            &object,
            &object,
            &|p: &Path| p.starts_with("/opt"),
        )
        .unwrap();
        assert_eq!(found.tree_path, PathBuf::from("/opt/x/lib/liby.so"));
    }

    #[test]
    fn scripts_are_not_elf() {
        assert_eq!(inspect_bytes(b"#!/bin/sh\necho hi\n").unwrap(), None);
    }

    #[test]
    fn the_test_binary_itself_is_static() {
        // The workspace links every binary statically.
        let exe = std::env::current_exe().unwrap();
        let info = inspect(&exe).unwrap().unwrap();
        assert!(info.is_64);
        assert!(info.interpreter.is_none(), "{info:?}");
    }

    #[test]
    fn a_host_dynamic_program_gets_its_loader_and_libc() {
        let exe = Path::new("/bin/true");
        let info = inspect(exe).unwrap().unwrap();
        assert!(info.is_dynamic(), "{info:?}");
        let placed = collect_runtime(exe, Path::new("/bin/true"), &info).unwrap();
        let tree: Vec<_> = placed.iter().map(|p| p.tree_path.clone()).collect();
        let interp = PathBuf::from(info.interpreter.unwrap());
        assert!(tree.contains(&interp), "{tree:?}");
        assert!(
            tree.iter().any(|p| p.file_name().unwrap() == "libc.so.6"),
            "{tree:?}"
        );
        // Each library is named as the loader will ask for it.
        assert!(placed.iter().all(|p| p.host_path.is_file()));
    }

    #[test]
    fn normalize_stays_absolute() {
        assert_eq!(
            normalize(Path::new("/bin/../lib/./x")),
            PathBuf::from("/lib/x")
        );
        assert_eq!(normalize(Path::new("/../x")), PathBuf::from("/x"));
    }
}
