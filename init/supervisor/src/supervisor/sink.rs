//! Where the supervisor's output goes.
//!
//! The supervisor reads every instance's pipes, but what becomes of a line is
//! the embedding program's business: PID 1 hands it to its logging hub and
//! its console, `cairn dev` prints it on the terminal, a test records it. The
//! supervisor's own messages ("app web started") are `tracing` events, which
//! each program routes with its own subscriber.

use cairn_logging::Stream;
use cairn_sys::process::ExitStatus;

/// Receives what the supervisor has to pass on.
pub trait Sink: std::fmt::Debug {
    /// One line an instance, a health check or a job run wrote. `label` names
    /// the writer as the console does: `web`, `web.1`, `web check`, `backup`.
    fn line(&mut self, label: &str, stream: Stream, line: String);

    /// A console line that continues a message (the indented stderr lines of
    /// a crash report, under its `app web crashed` header).
    fn console(&mut self, line: &str);

    /// A child ended that is none of the supervisor's: an orphan that
    /// reparented to this process, or a helper of the embedding program.
    fn reaped_unknown(&mut self, pid: i32, status: ExitStatus);

    /// Every instance became ready for the first time (once per supervisor).
    fn all_ready(&mut self);
}
