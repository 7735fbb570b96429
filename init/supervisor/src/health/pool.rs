//! A small pool of worker threads that run network probes, so a slow or
//! hanging app never stalls PID 1's loop.
//!
//! Jobs go in over a channel; results come back over another, and each
//! result also writes one byte into a pipe whose read end the loop polls, so
//! a result wakes the loop at once. Workers block every signal but the
//! synchronous faults: a process-directed signal (SIGCHLD, SIGTERM) must
//! reach PID 1's signalfd, never a worker. A probe that panics is reported
//! as a failed check, and the worker goes on.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::fcntl::OFlag;

use super::probe::Probe;
use super::Outcome;
use cairn_sys::io_err;

/// How many workers the pool runs.
pub const WORKERS: usize = 2;

/// One probe to run, tagged so its result finds its way back.
#[derive(Debug, Clone)]
pub struct Job {
    /// Which instance, and which run of it, the probe is for.
    pub tag: (usize, u64),
    pub probe: Probe,
    pub timeout: Duration,
}

/// A finished probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub tag: (usize, u64),
    pub outcome: Outcome,
}

/// The worker pool.
#[derive(Debug)]
pub struct Pool {
    jobs: Sender<Job>,
    done: Receiver<Done>,
    wake_read: OwnedFd,
}

fn worker(jobs: &Mutex<Receiver<Job>>, done: &Sender<Done>, wake: &OwnedFd) {
    loop {
        let job = {
            let receiver = jobs.lock().unwrap_or_else(PoisonError::into_inner);
            match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| job.probe.run(job.timeout)))
            .unwrap_or_else(|_| Err("the check panicked".to_string()));
        if done
            .send(Done {
                tag: job.tag,
                outcome,
            })
            .is_err()
        {
            return;
        }
        // A full pipe already wakes the loop; nothing is lost.
        let _ = nix::unistd::write(wake, &[1u8]);
    }
}

impl Pool {
    /// Starts `workers` threads.
    pub fn start(workers: usize) -> io::Result<Pool> {
        let (wake_read, wake_write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(io_err)?;
        let wake_write = Arc::new(wake_write);
        let (jobs, job_rx) = channel::<Job>();
        let (done_tx, done) = channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        // Workers inherit a mask that blocks every signal but the faults.
        let result = cairn_sys::thread_signals::with_signals_blocked(|| {
            for n in 0..workers.max(1) {
                let (job_rx, done_tx, wake) = (job_rx.clone(), done_tx.clone(), wake_write.clone());
                std::thread::Builder::new()
                    .name(format!("health-{n}"))
                    .stack_size(256 * 1024)
                    .spawn(move || worker(&job_rx, &done_tx, &wake))?;
            }
            Ok::<(), io::Error>(())
        });
        result?;
        Ok(Pool {
            jobs,
            done,
            wake_read,
        })
    }

    /// Queues a probe; false if no worker is left to run it.
    pub fn submit(&self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }

    /// The descriptor that becomes readable when results wait.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake_read.as_fd()
    }

    /// Every result that has arrived.
    pub fn results(&self) -> Vec<Done> {
        let mut buf = [0u8; 64];
        while matches!(nix::unistd::read(self.wake_read.as_raw_fd(), &mut buf), Ok(n) if n > 0) {}
        self.done.try_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signal::{SigSet, Signal};
    use std::net::TcpListener;

    #[test]
    fn runs_probes_off_thread_and_wakes_the_poller() {
        let pool = Pool::start(2).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(pool.results().is_empty());
        for n in 0..3 {
            assert!(pool.submit(Job {
                tag: (n, 7),
                probe: Probe::Tcp {
                    port,
                    name: "http".into(),
                },
                timeout: Duration::from_secs(2),
            }));
        }
        let mut got = Vec::new();
        while got.len() < 3 {
            let mut fds = [PollFd::new(pool.fd(), PollFlags::POLLIN)];
            assert_eq!(poll(&mut fds, PollTimeout::from(5000u16)).unwrap(), 1);
            got.extend(pool.results());
        }
        got.sort_by_key(|d| d.tag);
        for (n, done) in got.iter().enumerate() {
            assert_eq!(done.tag, (n, 7));
            assert_eq!(done.outcome, Ok(format!("tcp http ({port}) accepts")));
        }
    }

    #[test]
    fn workers_do_not_take_process_signals() {
        let before = SigSet::thread_get_mask().unwrap();
        let _pool = Pool::start(1).unwrap();
        let after = SigSet::thread_get_mask().unwrap();
        assert!(Signal::iterator().all(|s| before.contains(s) == after.contains(s)));
        // The worker's own mask, from the kernel's view of its thread (which
        // names itself once it runs, so look until it has).
        let mut blocked = None;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while blocked.is_none() && std::time::Instant::now() < deadline {
            blocked = worker_sigblk();
            std::thread::sleep(Duration::from_millis(10));
        }
        let blocked = blocked.expect("no health-0 thread");
        let bit = |s: Signal| 1u64 << (s as i32 - 1);
        assert_ne!(blocked & bit(Signal::SIGCHLD), 0);
        assert_ne!(blocked & bit(Signal::SIGTERM), 0);
        assert_eq!(blocked & bit(Signal::SIGSEGV), 0);
    }

    fn worker_sigblk() -> Option<u64> {
        let mut blocked = None;
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let dir = task.unwrap().path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            // Another test's pool may be ending its own health-0 meanwhile.
            let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
            let mask = status.lines().find_map(|l| l.strip_prefix("SigBlk:"));
            if let (true, Some(mask)) = (comm.trim() == "health-0", mask) {
                blocked = Some(u64::from_str_radix(mask.trim(), 16).unwrap());
            }
        }
        blocked
    }
}
