//! `cairn-testapp escapes`: tries every known way out of the sandbox that
//! the system call filter and the masks of `/proc` close, prints each
//! outcome as `testapp: fact NAME VALUE` (`ok`, `error:ERRNO`, or what was
//! read), then checks that ordinary work still works (a thread, a fork)
//! and answers 200 on `$PORT_HTTP` until SIGTERM.

use std::fs;
use std::process::ExitCode;

use super::{http_status, say};

fn fact(name: &str, value: impl std::fmt::Display) {
    say(&format!("testapp: fact {name} {value}"));
}

/// `ok`, or `error:ERRNO` for a raw system call's result.
fn outcome(ret: libc::c_long) -> String {
    if ret < 0 {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        format!("error:{errno}")
    } else {
        "ok".to_string()
    }
}

/// How many bytes a file reads, or `error:ERRNO`.
fn read_len(path: &str) -> String {
    match fs::read(path) {
        Ok(bytes) => bytes.len().to_string(),
        Err(err) => format!("error:{}", err.raw_os_error().unwrap_or(0)),
    }
}

/// A clone into a new user namespace; a child that got there exits at once.
fn clone_new_user() -> String {
    let flags = libc::CLONE_NEWUSER | libc::SIGCHLD;
    // SAFETY: a fork-like clone (no CLONE_VM); the child only calls _exit.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
    if pid == 0 {
        // SAFETY: ends the child without running anything of the parent.
        unsafe { libc::_exit(0) };
    }
    if pid > 0 {
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(i32::try_from(pid).unwrap_or(-1), &mut status, 0) };
    }
    outcome(pid)
}

fn system_calls() {
    // SAFETY: each call passes integers, or pointers to locals that outlive
    // it; none of them can harm this process when it succeeds.
    unsafe {
        // KEYCTL_GET_KEYRING_ID of the session keyring.
        fact("keyctl", outcome(libc::syscall(libc::SYS_keyctl, 0, -3, 0)));
        let (kind, desc, data) = (c"user", c"escape", b"x");
        let add = libc::syscall(
            libc::SYS_add_key,
            kind.as_ptr(),
            desc.as_ptr(),
            data.as_ptr(),
            data.len(),
            -2, // KEY_SPEC_PROCESS_KEYRING
        );
        fact("add_key", outcome(add));
        let mut params = [0u8; 120];
        let ring = libc::syscall(libc::SYS_io_uring_setup, 1, params.as_mut_ptr());
        fact("io_uring_setup", outcome(ring));
        let uffd = libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC);
        fact("userfaultfd", outcome(uffd));
        // PER_LINUX32, then ADDR_NO_RANDOMIZE: both would change this
        // process if allowed, so the default is put back after.
        for (name, persona) in [
            ("personality_linux32", 0x0008),
            ("personality_no_aslr", 0x0040000),
        ] {
            let ret = libc::syscall(libc::SYS_personality, persona);
            fact(name, outcome(ret));
            if ret >= 0 {
                libc::syscall(libc::SYS_personality, 0);
            }
        }
        let unshare = libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER);
        fact("unshare_user", outcome(unshare));
        fact("clone_user", clone_new_user());
        // A null clone_args: EFAULT if it ever reached the kernel.
        fact("clone3", outcome(libc::syscall(libc::SYS_clone3, 0, 0)));
        let (none, tmp, tmpfs) = (c"none", c"/tmp", c"tmpfs");
        let mount = libc::mount(
            none.as_ptr(),
            tmp.as_ptr(),
            tmpfs.as_ptr(),
            0,
            std::ptr::null(),
        );
        fact("mount", outcome(libc::c_long::from(mount)));
        fact("ptrace", traceme_in_child());
        let mut cpu = 0u32;
        let getcpu = libc::syscall(libc::SYS_getcpu, &raw mut cpu, 0, 0);
        fact("getcpu", outcome(getcpu));
    }
}

/// PTRACE_TRACEME in a child that exits at once, so nothing stays traced:
/// `ok`, or `error:ERRNO` passed back as the child's exit code.
fn traceme_in_child() -> String {
    // SAFETY: a fork of a process whose other threads the child never
    // needs; the child only makes two system calls.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: plain system calls; _exit skips the parent's state.
        unsafe {
            let ret = libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            let code = if ret < 0 {
                *libc::__errno_location()
            } else {
                0
            };
            libc::_exit(code);
        }
    }
    if pid < 0 {
        return outcome(-1);
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    match libc::WEXITSTATUS(status) {
        0 => "ok".to_string(),
        errno => format!("error:{errno}"),
    }
}

fn proc_files() {
    fact("proc_keys", read_len("/proc/keys"));
    fact("proc_kcore", read_len("/proc/kcore"));
    fact("proc_timer_list", read_len("/proc/timer_list"));
    let acpi = fs::read_dir("/proc/acpi").map_or_else(
        |e| format!("error:{}", e.raw_os_error().unwrap_or(0)),
        |dir| dir.count().to_string(),
    );
    fact("proc_acpi_entries", acpi);
    // The value it has: should the write go through, nothing changes.
    let hostname = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let write = fs::write("/proc/sys/kernel/hostname", hostname.trim());
    let write = write.map_or_else(
        |e| format!("error:{}", e.raw_os_error().unwrap_or(0)),
        |()| "ok".to_string(),
    );
    fact("proc_sys_write", write);
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let sys_ro = mounts.lines().any(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        fields.get(4) == Some(&"/proc/sys")
            && fields
                .get(5)
                .is_some_and(|o| o.split(',').any(|f| f == "ro"))
    });
    fact("proc_sys_read_only", sys_ro);
    let userns = fs::read_to_string("/proc/sys/user/max_user_namespaces");
    fact("max_user_namespaces", userns.unwrap_or_default().trim());
    let pids = fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .count()
        })
        .unwrap_or(0);
    fact("processes", pids);
}

/// What an ordinary program does: a thread (glibc tries clone3 first and
/// must fall back to clone) and a fork that is waited for.
fn ordinary_work() {
    let thread = std::thread::spawn(|| 42).join();
    fact(
        "thread",
        if thread.ok() == Some(42) {
            "ok"
        } else {
            "failed"
        },
    );
    let child = std::process::Command::new("/bin/cairn-testapp")
        .arg("--no-such-mode")
        .stderr(std::process::Stdio::null())
        .status();
    let child = child.map_or_else(
        |e| format!("error:{e}"),
        |s| format!("exit:{}", s.code().unwrap_or(-1)),
    );
    fact("fork_exec", child);
}

pub fn escapes() -> Result<ExitCode, String> {
    system_calls();
    proc_files();
    ordinary_work();
    fact("done", "");
    http_status("200")
}
