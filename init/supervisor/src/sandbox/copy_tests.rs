use std::os::unix::fs::{symlink, PermissionsExt};

use super::*;

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

fn shipped(base: &Path) -> PathBuf {
    let from = base.join("from");
    fs::create_dir_all(from.join("sub/deeper")).unwrap();
    fs::write(from.join("web.conf"), b"port = 80\n").unwrap();
    fs::set_permissions(from.join("web.conf"), fs::Permissions::from_mode(0o4640)).unwrap();
    fs::write(from.join("sub/deeper/data"), b"12345").unwrap();
    fs::set_permissions(from.join("sub"), fs::Permissions::from_mode(0o555)).unwrap();
    symlink("web.conf", from.join("link")).unwrap();
    nix::unistd::mkfifo(
        &from.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    from
}

#[test]
fn a_tree_is_copied_with_its_modes_and_symlinks_and_without_special_files() {
    let base = tempfile::tempdir().unwrap();
    let from = shipped(base.path());
    let to = base.path().join("to");
    let mut budget = Budget::new(1 << 20, 100);
    copy_tree(&from, &to, None, &mut budget).unwrap();
    assert_eq!(fs::read(to.join("web.conf")).unwrap(), b"port = 80\n");
    assert_eq!(mode(&to.join("web.conf")), 0o640, "no set-uid bit");
    assert_eq!(fs::read(to.join("sub/deeper/data")).unwrap(), b"12345");
    assert_eq!(mode(&to.join("sub")), 0o555, "modes set after filling");
    assert_eq!(
        fs::read_link(to.join("link")).unwrap(),
        Path::new("web.conf")
    );
    assert!(!to.join("fifo").exists(), "special files are left out");
    // The root, web.conf, sub, deeper, data and link.
    assert_eq!(budget.entries, 100 - 6);
    assert_eq!(budget.bytes, (1 << 20) - 10 - 5 - "web.conf".len() as u64);
    fs::set_permissions(to.join("sub"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(from.join("sub"), fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_single_file_is_copied_alone() {
    let base = tempfile::tempdir().unwrap();
    let from = base.path().join("motd");
    fs::write(&from, b"hello\n").unwrap();
    let to = base.path().join("copy");
    let mut budget = Budget::new(100, 10);
    copy_tree(&from, &to, None, &mut budget).unwrap();
    assert_eq!(fs::read(&to).unwrap(), b"hello\n");
    assert_eq!((budget.bytes, budget.entries), (94, 9));
}

#[test]
fn a_copy_beyond_its_budget_is_refused() {
    let base = tempfile::tempdir().unwrap();
    let from = shipped(base.path());
    let err = copy_tree(
        &from,
        &base.path().join("a"),
        None,
        &mut Budget::new(12, 100),
    )
    .unwrap_err();
    assert!(matches!(err, CopyError::TooLarge { limit: 12 }), "{err}");
    assert_eq!(
        err.to_string(),
        "the shipped content is larger than 12 bytes, the most a writable copy holds"
    );
    let err = copy_tree(
        &from,
        &base.path().join("b"),
        None,
        &mut Budget::new(1 << 20, 3),
    )
    .unwrap_err();
    assert!(matches!(err, CopyError::TooMany { limit: 3 }), "{err}");
    fs::set_permissions(from.join("sub"), fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn the_source_is_found_in_the_tree_without_following_its_symlinks() {
    let base = tempfile::tempdir().unwrap();
    let tree = base.path().join("tree");
    fs::create_dir_all(tree.join("etc/web")).unwrap();
    symlink("/", tree.join("host")).unwrap();
    assert_eq!(
        source_in_tree(&tree, Path::new("/etc/web")).unwrap(),
        tree.join("etc/web")
    );
    assert!(matches!(
        source_in_tree(&tree, Path::new("/host/etc")),
        Err(CopyError::Symlink(path)) if path == tree.join("host")
    ));
    assert!(matches!(
        source_in_tree(&tree, Path::new("/etc/missing")),
        Err(CopyError::Missing(_))
    ));
}
