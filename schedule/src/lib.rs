//! When Cairn's jobs run: the time core of the scheduler.
//!
//! A [`Schedule`] (five-field cron or an `@` shorthand, the grammar the
//! manifest checks) names wall-clock times; a zone from the compiled-in tz
//! database ([`zone`]) turns them into instants with the zone's real rules;
//! [`next_fire`] and [`upcoming`] give those instants; [`on_wake`] decides
//! what a wake-up does after downtime or a clock step. Everything here is
//! pure: no clock is read and no file is opened. The semantics are stated
//! in `docs/scheduling.md`.
#![forbid(unsafe_code)]

mod calendar;
mod cron;
mod fire;
mod runs;
mod wake;
mod zone;

pub use cron::{ParseError, Schedule};
pub use fire::{last_fire_between, next_fire, upcoming, Fire, FireKind};
pub use runs::{on_fire, reboot_due, stable_delay, OnFire, Overlap, RunState};
pub use wake::{on_wake, Clock, Missed, Wake, COUNT_LIMIT, ON_TIME};
pub use zone::{zone, UnknownZone};

/// The date-time library the API speaks (`Timestamp`, `TimeZone`, `Zoned`).
pub use jiff;
