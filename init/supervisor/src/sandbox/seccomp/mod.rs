//! The system call filter every app instance and job run gets: a seccomp
//! program installed by the app's process as its very last step before
//! `execve` (see [`crate::sys::sandbox_child`]), after its namespaces,
//! root and credentials are in place, so setting up the sandbox itself
//! (which needs mounts and, on a developer's host, a user namespace) is
//! not filtered. A denied call fails with `EPERM` (`ENOSYS` for `clone3`);
//! nothing is killed, so programs that probe for a feature go on without
//! it. [`policy`] says what is denied, [`bpf`] builds the program.

pub mod bpf;
pub mod policy;

use cairn_manifest::Security;

/// The most instructions the kernel takes in one filter (`BPF_MAXINSNS`).
const MAX_INSNS: usize = 4096;

/// The filter for an app whose manifest says `security`; the default one
/// (most apps') is built once. Even denying every call of the table stays
/// far below the kernel's limit; should that change, the app does not
/// start rather than run unfiltered.
pub fn program(security: &Security) -> std::io::Result<Vec<bpf::Insn>> {
    static DEFAULT: std::sync::OnceLock<Vec<bpf::Insn>> = std::sync::OnceLock::new();
    let program = if security.syscalls.is_empty() {
        DEFAULT
            .get_or_init(|| bpf::program(&policy::rules(security)))
            .clone()
    } else {
        bpf::program(&policy::rules(security))
    };
    if program.len() > MAX_INSNS {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "the system call filter has {} instructions, more than the kernel's {MAX_INSNS}",
                program.len()
            ),
        ));
    }
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_manifest::SyscallChange;

    /// Forks, installs `security`'s filter in the child (after
    /// no_new_privs, as the sandbox does) and returns the errno (0 for
    /// success) of each call `calls` makes there.
    fn errnos_under(security: &Security, calls: &[fn() -> libc::c_long]) -> Vec<i32> {
        let filter = program(security).unwrap();
        let (read, write) = nix::unistd::pipe().unwrap();
        // SAFETY: the child makes system calls only, then _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: plain system calls on locals, in the forked child.
            unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if crate::sys::sandbox_child::install_filter(&filter).is_err() {
                    libc::_exit(99);
                }
                for call in calls {
                    let code = if call() < 0 {
                        *libc::__errno_location()
                    } else {
                        0
                    };
                    libc::write(write.as_raw_fd(), (&raw const code).cast(), 4);
                }
                libc::_exit(0);
            }
        }
        drop(write);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(read), &mut out).unwrap();
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(status, 0, "the child installed its filter and exited");
        out.chunks(4)
            .map(|c| i32::from_ne_bytes(c.try_into().unwrap()))
            .collect()
    }

    use std::os::fd::AsRawFd;

    fn keyctl() -> libc::c_long {
        // SAFETY: KEYCTL_GET_KEYRING_ID of the session keyring, no pointers.
        unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) }
    }
    fn io_uring_setup() -> libc::c_long {
        // SAFETY: a null params pointer: EFAULT if it got to the kernel.
        unsafe { libc::syscall(libc::SYS_io_uring_setup, 1, 0) }
    }
    fn clone3() -> libc::c_long {
        // SAFETY: a null args pointer: EFAULT if it got to the kernel.
        unsafe { libc::syscall(libc::SYS_clone3, 0, 0) }
    }
    fn unshare_user() -> libc::c_long {
        // SAFETY: no pointers.
        unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER) }
    }
    fn getpid() -> libc::c_long {
        // SAFETY: no arguments.
        unsafe { libc::syscall(libc::SYS_getpid) }
    }
    fn no_aslr() -> libc::c_long {
        // SAFETY: ADDR_NO_RANDOMIZE, no pointers.
        unsafe { libc::syscall(libc::SYS_personality, 0x0040000) }
    }

    #[test]
    fn the_kernel_takes_the_filter_and_denies_with_errnos() {
        let calls = [
            keyctl,
            io_uring_setup,
            clone3,
            unshare_user,
            getpid,
            no_aslr,
        ];
        let got = errnos_under(&Security::default(), &calls);
        let (eperm, enosys) = (libc::EPERM, libc::ENOSYS);
        assert_eq!(got, vec![eperm, eperm, enosys, eperm, 0, eperm]);
    }

    #[test]
    fn an_app_may_allow_a_denied_call_and_deny_an_allowed_one() {
        let security = Security {
            syscalls: vec![
                SyscallChange::Allow("io_uring_setup".into()),
                SyscallChange::Deny("getpid".into()),
            ],
        };
        let got = errnos_under(&security, &[io_uring_setup, getpid]);
        assert_eq!(got, vec![libc::EFAULT, libc::EPERM]);
    }
}
