//! The services' own log: one line per event on standard output, which PID 1
//! files under the service's name. Writing never fails the caller: a log
//! that cannot be written must not take a request down with it.

use std::fmt;
use std::io::Write;

pub fn line(args: fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(args);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// `log!("...", args)`: one line on standard output.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}
