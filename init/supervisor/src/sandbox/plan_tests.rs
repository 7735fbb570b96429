use super::*;
use crate::supervisor::app::tests::app;
use cairn_layout::run::{NOTIFY, RESOURCES};

fn layout(entries: Vec<TreeEntry>) -> Layout {
    Layout {
        tree: PathBuf::from("/b/apps/web"),
        entries,
        root: PathBuf::from("/r"),
        state: PathBuf::from("/d/apps/web/0"),
        copies: PathBuf::from("/rt/apps/web/writable-7"),
        resources: PathBuf::from("/rt/apps/web/resources.json"),
        notify: Some(PathBuf::from("/rt/notify")),
        dev: PathBuf::from("/dev"),
        empty: PathBuf::from("/rt/apps/empty"),
        proc_masks: vec![
            ("keys", ProcMask::EmptyFile),
            ("acpi", ProcMask::EmptyDir),
            ("sys", ProcMask::ReadOnly),
        ],
    }
}

fn entry(name: &str, kind: EntryKind) -> TreeEntry {
    TreeEntry {
        name: name.into(),
        kind,
    }
}

/// One line per step, for readable comparisons.
fn lines(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|step| match step {
            Step::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => format!(
                "mount {} {} {} {} {}",
                source
                    .as_ref()
                    .map_or("-".into(), |s| s.display().to_string()),
                target.display(),
                fstype.as_deref().unwrap_or("-"),
                format!("{flags:?}")
                    .trim_start_matches("MsFlags(")
                    .trim_end_matches(')'),
                data.as_deref().unwrap_or("-"),
            ),
            Step::Mkdir { path, mode } => format!("mkdir {} {mode:o}", path.display()),
            Step::Touch { path } => format!("touch {}", path.display()),
            Step::Symlink { target, link } => {
                format!("symlink {} -> {}", link.display(), target.display())
            }
        })
        .collect()
}

#[test]
fn state_names_are_escaped_like_systemd_paths() {
    assert_eq!(state_dir_name("/var/lib/web"), "var-lib-web");
    assert_eq!(state_dir_name("/var/lib/my-app"), "var-lib-my\\x2dapp");
    assert_eq!(state_dir_name("/.cache/x y"), "\\x2ecache-x\\x20y");
    assert_ne!(state_dir_name("/a-b"), state_dir_name("/a/b"));
}

#[test]
fn the_whole_plan_for_a_typical_app_in_order() {
    let mut web = app("web", &["/bin/web"]);
    web.paths
        .insert("/var/lib/web".to_string(), PathGrant::State);
    web.paths.insert("/tmp".to_string(), PathGrant::Tmpfs);
    web.paths.insert("/run/web".to_string(), PathGrant::Tmpfs);
    web.paths.insert(
        "/etc/web".to_string(),
        PathGrant::Bundle {
            source: "conf".into(),
            readonly: true,
        },
    );
    web.limits.memory = Some(128 << 20);
    let layout = layout(vec![
        entry("bin", EntryKind::Dir),
        entry("dev", EntryKind::Dir),
        entry("lib64", EntryKind::Symlink("usr/lib64".into())),
        entry("run", EntryKind::Dir),
        entry("tmp", EntryKind::Dir),
        entry("var", EntryKind::Dir),
        entry("version", EntryKind::File),
    ]);
    let ro = "MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND";
    let ro_noexec = "MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REMOUNT | MS_BIND";
    let expected = [
        "mount - / - MS_REC | MS_PRIVATE -".to_string(),
        "mount tmpfs /r tmpfs MS_NOSUID | MS_NODEV mode=0755,size=1m".to_string(),
        "mkdir /r/bin 755".to_string(),
        "mount /b/apps/web/bin /r/bin - MS_BIND | MS_REC -".to_string(),
        format!("mount - /r/bin - {ro} -"),
        "symlink /r/lib64 -> usr/lib64".to_string(),
        "mkdir /r/tmp 755".to_string(),
        "mount /b/apps/web/tmp /r/tmp - MS_BIND | MS_REC -".to_string(),
        format!("mount - /r/tmp - {ro} -"),
        "mkdir /r/var 755".to_string(),
        "mount /b/apps/web/var /r/var - MS_BIND | MS_REC -".to_string(),
        format!("mount - /r/var - {ro} -"),
        "touch /r/version".to_string(),
        "mount /b/apps/web/version /r/version - MS_BIND | MS_REC -".to_string(),
        format!("mount - /r/version - {ro} -"),
        "mkdir /r/dev 755".to_string(),
        "mount tmpfs /r/dev tmpfs MS_NOSUID | MS_NOEXEC mode=0755,size=64k".to_string(),
        "touch /r/dev/null".to_string(),
        "mount /dev/null /r/dev/null - MS_BIND | MS_REC -".to_string(),
        "touch /r/dev/zero".to_string(),
        "mount /dev/zero /r/dev/zero - MS_BIND | MS_REC -".to_string(),
        "touch /r/dev/full".to_string(),
        "mount /dev/full /r/dev/full - MS_BIND | MS_REC -".to_string(),
        "touch /r/dev/random".to_string(),
        "mount /dev/random /r/dev/random - MS_BIND | MS_REC -".to_string(),
        "touch /r/dev/urandom".to_string(),
        "mount /dev/urandom /r/dev/urandom - MS_BIND | MS_REC -".to_string(),
        "touch /r/dev/tty".to_string(),
        "mount /dev/tty /r/dev/tty - MS_BIND | MS_REC -".to_string(),
        "mkdir /r/dev/pts 755".to_string(),
        "mount devpts /r/dev/pts devpts MS_NOSUID | MS_NOEXEC newinstance,ptmxmode=0666,mode=0620"
            .to_string(),
        "mkdir /r/dev/shm 1777".to_string(),
        "mount tmpfs /r/dev/shm tmpfs MS_NOSUID | MS_NODEV mode=1777,size=67108864".to_string(),
        "symlink /r/dev/ptmx -> pts/ptmx".to_string(),
        "symlink /r/dev/fd -> /proc/self/fd".to_string(),
        "symlink /r/dev/stdin -> /proc/self/fd/0".to_string(),
        "symlink /r/dev/stdout -> /proc/self/fd/1".to_string(),
        "symlink /r/dev/stderr -> /proc/self/fd/2".to_string(),
        "mkdir /r/proc 555".to_string(),
        "mount proc /r/proc proc MS_NOSUID | MS_NODEV | MS_NOEXEC ".to_string(),
        "mount /rt/apps/empty /r/proc/keys - MS_BIND | MS_REC -".to_string(),
        format!("mount - /r/proc/keys - {ro_noexec} -"),
        "mount tmpfs /r/proc/acpi tmpfs MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC mode=0555,size=4k".to_string(),
        "mount /r/proc/sys /r/proc/sys - MS_BIND | MS_REC -".to_string(),
        format!("mount - /r/proc/sys - {ro_noexec} -"),
        "mkdir /r/run 755".to_string(),
        "mount tmpfs /r/run tmpfs MS_NOSUID | MS_NODEV | MS_NOEXEC mode=0755,size=1m".to_string(),
        "mkdir /r/run/cairn 755".to_string(),
        format!("touch /r{RESOURCES}"),
        format!("mount /rt/apps/web/resources.json /r{RESOURCES} - MS_BIND | MS_REC -"),
        format!("mount - /r{RESOURCES} - {ro} -"),
        format!("touch /r{NOTIFY}"),
        format!("mount /rt/notify /r{NOTIFY} - MS_BIND | MS_REC -"),
        // Grants, sorted: /etc/web is bundled (already in the tree).
        "mkdir /r/run/web 755".to_string(),
        "mount tmpfs /r/run/web tmpfs MS_NOSUID | MS_NODEV mode=1777,size=134217728".to_string(),
        "mount tmpfs /r/tmp tmpfs MS_NOSUID | MS_NODEV mode=1777,size=134217728".to_string(),
        "mount /d/apps/web/0/var-lib-web /r/var/lib/web - MS_BIND | MS_REC -".to_string(),
        "mount - /r/var/lib/web - MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND -".to_string(),
        "mount - /r - MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT -".to_string(),
    ];
    assert_eq!(lines(&plan(&web, &layout)), expected);
}

#[test]
fn grants_outside_the_tree_get_their_directories_once() {
    let mut db = app("db", &["/bin/db"]);
    db.paths.insert("/srv/db".to_string(), PathGrant::State);
    db.paths.insert("/srv/db/wal".to_string(), PathGrant::Tmpfs);
    db.paths.insert("/srv/logs".to_string(), PathGrant::State);
    let mut layout = layout(vec![entry("bin", EntryKind::Dir)]);
    layout.notify = None;
    let steps = lines(&plan(&db, &layout));
    let mkdirs: Vec<&String> = steps
        .iter()
        .filter(|l| l.starts_with("mkdir /r/srv"))
        .collect();
    assert_eq!(
        mkdirs,
        [
            "mkdir /r/srv 755",
            "mkdir /r/srv/db 755",
            "mkdir /r/srv/db/wal 755",
            "mkdir /r/srv/logs 755"
        ]
    );
    // A nested grant is mounted after its parent, into it.
    let db_mount = steps
        .iter()
        .position(|l| l.contains("srv-db /r/srv/db "))
        .unwrap();
    let wal_dir = steps
        .iter()
        .position(|l| l == "mkdir /r/srv/db/wal 755")
        .unwrap();
    assert!(db_mount < wal_dir, "{steps:#?}");
    assert!(
        !steps.iter().any(|l| l.contains("notify")),
        "no socket, no bind"
    );
}

#[test]
fn state_dir_is_the_first_state_path() {
    let mut web = app("web", &["/bin/web"]);
    assert_eq!(state_dir(&web), None);
    web.paths.insert("/tmp".to_string(), PathGrant::Tmpfs);
    web.paths.insert("/var/lib/b".to_string(), PathGrant::State);
    web.paths.insert("/var/lib/a".to_string(), PathGrant::State);
    assert_eq!(state_dir(&web), Some("/var/lib/a"));
}

#[test]
fn remounts_of_binds_keep_the_flags_of_their_source() {
    let mut web = app("web", &["/bin/web"]);
    web.paths
        .insert("/var/lib/web".to_string(), PathGrant::State);
    let mut steps = plan(&web, &layout(vec![entry("bin", EntryKind::Dir)]));
    let before = steps.clone();
    keep_locked_flags(&mut steps, |source| {
        if source.starts_with("/d") {
            MsFlags::MS_NOEXEC | MsFlags::MS_NOATIME
        } else {
            MsFlags::MS_RELATIME
        }
    });
    let changed: Vec<String> = lines(&steps)
        .into_iter()
        .zip(lines(&before))
        .filter(|(after, before)| after != before)
        .map(|(after, _)| after)
        .collect();
    assert_eq!(
        changed,
        [
            "mount - /r/bin - MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND | MS_RELATIME -",
            "mount - /r/proc/keys - MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REMOUNT | MS_BIND | MS_RELATIME -",
            "mount - /r/proc/sys - MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REMOUNT | MS_BIND | MS_RELATIME -",
            &format!("mount - /r{RESOURCES} - MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND | MS_RELATIME -"),
            "mount - /r/var/lib/web - MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REMOUNT | MS_NOATIME | MS_BIND -",
        ]
    );
}

fn bundle(source: &str, readonly: bool) -> PathGrant {
    PathGrant::Bundle {
        source: source.into(),
        readonly,
    }
}

#[test]
fn a_writable_bundled_path_binds_the_instances_copy_read_write() {
    let mut web = app("web", &["/bin/web"]);
    web.paths
        .insert("/etc/web".to_string(), bundle("config/web", false));
    web.paths
        .insert("/etc/web/cache".to_string(), PathGrant::Tmpfs);
    web.paths
        .insert("/motd".to_string(), bundle("motd.txt", false));
    web.paths
        .insert("/usr/share/web".to_string(), bundle("assets", true));
    let layout = layout(vec![
        entry("bin", EntryKind::Dir),
        entry("etc", EntryKind::Dir),
        entry("motd", EntryKind::File),
        entry("usr", EntryKind::Dir),
    ]);
    let steps = lines(&plan(&web, &layout));
    let grants: Vec<&str> = steps
        .iter()
        .skip_while(|l| !l.starts_with("mount /rt/notify "))
        .skip(1)
        .map(String::as_str)
        .collect();
    assert_eq!(
        grants,
        [
            // Parents first: the copy, then the tmpfs inside it.
            "mount /rt/apps/web/writable-7/etc-web /r/etc/web - MS_BIND | MS_REC -",
            "mount - /r/etc/web - MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND -",
            "mount tmpfs /r/etc/web/cache tmpfs MS_NOSUID | MS_NODEV mode=1777,size=67108864",
            // A single file is bound over the shipped file, no directory made.
            "mount /rt/apps/web/writable-7/motd /r/motd - MS_BIND | MS_REC -",
            "mount - /r/motd - MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND -",
            // A read-only bundled path stays the tree's.
            "mount - /r - MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT -",
        ]
    );
    assert!(
        !steps.iter().any(|l| l.starts_with("mkdir /r/motd")),
        "{steps:#?}"
    );
}

#[test]
fn a_writable_copys_remount_keeps_the_flags_of_its_source() {
    let mut web = app("web", &["/bin/web"]);
    web.paths
        .insert("/etc/web".to_string(), bundle("config/web", false));
    let mut steps = plan(&web, &layout(vec![entry("etc", EntryKind::Dir)]));
    keep_locked_flags(&mut steps, |source| {
        if source.starts_with("/rt/apps") {
            MsFlags::MS_NOEXEC
        } else {
            MsFlags::empty()
        }
    });
    assert!(lines(&steps).contains(
        &"mount - /r/etc/web - MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REMOUNT | MS_BIND -"
            .to_string()
    ));
}

#[test]
fn secrets_bind_the_instances_copies_read_only_and_make_room_outside_the_tree() {
    let mut web = app("web", &["/bin/web"]);
    web.secrets
        .insert("/run/secrets/db".to_string(), "db-password".to_string());
    web.secrets
        .insert("/etc/web/token".to_string(), "api-token".to_string());
    web.paths.insert("/run/web".to_string(), PathGrant::Tmpfs);
    let layout = layout(vec![
        entry("bin", EntryKind::Dir),
        entry("etc", EntryKind::Dir),
    ]);
    let all = lines(&plan(&web, &layout));
    let from = all
        .iter()
        .position(|l| l.starts_with("mount tmpfs /r/run/web"))
        .unwrap();
    let ro = "MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REMOUNT | MS_BIND";
    let copies = "/rt/apps/web/writable-7/@secrets";
    assert_eq!(
        &all[from + 1..],
        [
            // Inside the shipped /etc: bound over the file the app ships.
            format!("mount {copies}/api-token /r/etc/web/token - MS_BIND | MS_REC -"),
            format!("mount - /r/etc/web/token - {ro} -"),
            // Under /run: its directory is made once, the file to cover too.
            "mkdir /r/run/secrets 755".to_string(),
            "touch /r/run/secrets/db".to_string(),
            format!("mount {copies}/db-password /r/run/secrets/db - MS_BIND | MS_REC -"),
            format!("mount - /r/run/secrets/db - {ro} -"),
            "mount - /r - MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT -".to_string(),
        ]
    );
}
