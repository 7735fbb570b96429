//! Which system calls an app may not make: the groups Docker's and
//! Podman's default profiles deny, plus io_uring, and how an app's
//! `[security] syscalls` changes them (see docs/isolation.md, which lists
//! the same groups with the same reasons).

use std::collections::BTreeMap;

use cairn_manifest::syscalls::syscall_number;
use cairn_manifest::{Security, SyscallChange};

/// What the filter does with one system call it does not simply allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Fails with this errno, whatever the arguments.
    Fail(i32),
    /// Fails with `EPERM` when the first argument has any of these bits.
    FailWithFlags(u32),
    /// Fails with `EPERM` unless the first argument is one of these.
    AllowOnly(&'static [u32]),
}

/// One group of denied calls, with why.
#[derive(Debug)]
pub struct Group {
    pub name: &'static str,
    pub why: &'static str,
    pub calls: &'static [&'static str],
}

/// Every call each group denies with `EPERM`, whatever its arguments.
pub const DENIED: &[Group] = &[
    Group {
        name: "kernel keyring",
        why: "keys are not namespaced: an app could read or fill the keys of the whole system",
        calls: &["add_key", "keyctl", "request_key"],
    },
    Group {
        name: "kernel modules",
        why: "loading code into the kernel",
        calls: &[
            "create_module",
            "delete_module",
            "finit_module",
            "get_kernel_syms",
            "init_module",
            "query_module",
        ],
    },
    Group {
        name: "kexec and reboot",
        why: "replacing or stopping the running kernel",
        calls: &["kexec_file_load", "kexec_load", "reboot"],
    },
    Group {
        name: "swap",
        why: "the system's memory, not the app's",
        calls: &["swapoff", "swapon"],
    },
    Group {
        name: "mounts",
        why: "the app's tree is fixed by its manifest; the new mount API is a large, young surface",
        calls: &[
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "pivot_root",
            "umount2",
        ],
    },
    Group {
        name: "namespaces",
        why: "joining another namespace (new user namespaces are refused in clone and unshare)",
        calls: &["setns"],
    },
    Group {
        name: "bpf and perf",
        why: "kernel programs and performance counters: a frequent source of kernel bugs, and a window on other processes",
        calls: &["bpf", "perf_event_open"],
    },
    Group {
        name: "userfaultfd",
        why: "lets an app stall the kernel in the middle of a copy, the usual first step of exploiting a kernel race",
        calls: &["userfaultfd"],
    },
    Group {
        name: "io_uring",
        why: "a second system call interface that this filter cannot see into, with a long record of kernel bugs",
        calls: &["io_uring_enter", "io_uring_register", "io_uring_setup"],
    },
    Group {
        name: "tracing other processes",
        why: "reading and writing another process's memory and descriptors",
        calls: &[
            "kcmp",
            "pidfd_getfd",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    },
    Group {
        name: "clock",
        why: "the system's time is the OS's",
        calls: &["clock_settime", "settimeofday"],
    },
    Group {
        name: "accounting and quotas",
        why: "system-wide settings",
        calls: &["acct", "quotactl", "quotactl_fd"],
    },
    Group {
        name: "file handles",
        why: "opening a file by its handle bypasses the paths the app can reach",
        calls: &["name_to_handle_at", "open_by_handle_at"],
    },
    Group {
        name: "hardware and the kernel's log",
        why: "raw I/O ports and the kernel's messages",
        calls: &["ioperm", "iopl", "syslog", "vhangup"],
    },
    Group {
        name: "obsolete",
        why: "old interfaces nothing current uses",
        calls: &[
            "_sysctl",
            "afs_syscall",
            "getpmsg",
            "lookup_dcookie",
            "nfsservctl",
            "putpmsg",
            "security",
            "sysfs",
            "tuxcall",
            "uselib",
            "ustat",
        ],
    },
];

/// The personalities an app may set: Linux itself and the query
/// (0xffffffff). Docker also allows the 32-bit ones (`setarch i686`), but
/// the filter refuses 32-bit system calls outright, so they serve nothing
/// here; the rest, such as `ADDR_NO_RANDOMIZE` or `READ_IMPLIES_EXEC`,
/// weaken the process's own protections.
pub const PERSONALITIES: &[u32] = &[0, 0xffff_ffff];

/// The calls checked by argument, or refused with another errno.
fn special() -> [(&'static str, Rule); 4] {
    let newuser = u32::try_from(libc::CLONE_NEWUSER).unwrap_or(0x1000_0000);
    [
        // Its flags are behind a pointer the filter cannot read: ENOSYS
        // makes libc fall back to clone, whose flags it can.
        ("clone3", Rule::Fail(libc::ENOSYS)),
        ("clone", Rule::FailWithFlags(newuser)),
        ("unshare", Rule::FailWithFlags(newuser)),
        ("personality", Rule::AllowOnly(PERSONALITIES)),
    ]
}

/// The rules for an app with `security`, by x86_64 system call number:
/// the defaults, then its changes in order (`+name` drops a call's rule,
/// `-name` makes it fail with `EPERM`). Names were checked at build; one
/// this table does not know is left out.
pub fn rules(security: &Security) -> BTreeMap<u32, Rule> {
    let denied = DENIED
        .iter()
        .flat_map(|group| group.calls)
        .map(|name| (*name, Rule::Fail(libc::EPERM)));
    let mut rules: BTreeMap<u32, Rule> = denied
        .chain(special())
        .filter_map(|(name, rule)| Some((syscall_number(name)?, rule)))
        .collect();
    for change in &security.syscalls {
        let Some(nr) = syscall_number(change.name()) else {
            continue;
        };
        match change {
            SyscallChange::Allow(_) => rules.remove(&nr),
            SyscallChange::Deny(_) => rules.insert(nr, Rule::Fail(libc::EPERM)),
        };
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_name_is_a_system_call() {
        for name in DENIED.iter().flat_map(|g| g.calls) {
            assert!(syscall_number(name).is_some(), "{name}");
        }
        let count: usize = DENIED.iter().map(|g| g.calls.len()).sum();
        assert_eq!(rules(&Security::default()).len(), count + special().len());
    }

    #[test]
    fn changes_allow_and_deny_in_order() {
        let security = Security {
            syscalls: vec![
                SyscallChange::Allow("ptrace".into()),
                SyscallChange::Deny("getcpu".into()),
                SyscallChange::Allow("clone".into()),
            ],
        };
        let rules = rules(&security);
        assert!(!rules.contains_key(&101), "ptrace allowed");
        assert!(!rules.contains_key(&56), "clone unchecked");
        assert_eq!(rules.get(&309), Some(&Rule::Fail(libc::EPERM)), "getcpu");
        assert_eq!(rules.get(&435), Some(&Rule::Fail(libc::ENOSYS)), "clone3");
    }
}
