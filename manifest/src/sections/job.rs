//! `[jobs.NAME]`: a program run on a schedule.

use std::path::PathBuf;

use crate::cron_syntax;
use crate::model::{Job, Missed, Overlap};
use crate::reader::{find, Ctx, Section};
use crate::sections::exec::Ports;
use crate::sections::{app, grants, security, system};

pub(crate) const KEYS: &[&str] = &[
    "schedule", "timezone", "bundle", "exec", "env", "overlap", "missed", "timeout", "paths",
    "limits", "security",
];

pub(crate) fn read(
    ctx: &mut Ctx<'_>,
    name: &str,
    table: &Section<'_>,
    system_timezone: &str,
) -> Job {
    super::check_name(ctx, name, table, "job");
    let schedule = schedule(ctx, table).unwrap_or_default();
    let timezone = system::timezone(ctx, table).unwrap_or_else(|| system_timezone.to_owned());
    let bundle = app::bundle(ctx, table);
    let exec = app::required_exec(ctx, table, Ports::None("jobs"));
    let overlap = [
        ("skip", Overlap::Skip),
        ("queue", Overlap::Queue),
        ("allow", Overlap::Allow),
    ];
    let missed = [("skip", Missed::Skip), ("run-once", Missed::RunOnce)];
    Job {
        name: name.to_owned(),
        schedule,
        timezone,
        bundle: bundle.map(PathBuf::from).unwrap_or_default(),
        exec: exec.unwrap_or_default(),
        env: grants::env(ctx, table, &[]),
        overlap: ctx
            .choice(table, "overlap", &overlap)
            .map_or(Overlap::Skip, |o| o.value),
        missed: ctx
            .choice(table, "missed", &missed)
            .map_or(Missed::Skip, |m| m.value),
        timeout: ctx.positive_duration(table, "timeout").map(|t| t.value),
        paths: grants::paths(ctx, table),
        limits: grants::limits(ctx, table),
        security: security::read(ctx, table),
    }
}

fn schedule(ctx: &mut Ctx<'_>, table: &Section<'_>) -> Option<String> {
    if find(table, "schedule").is_none() {
        let help = "add schedule = \"30 2 * * *\" (five-field cron) or \"@daily\"".to_owned();
        ctx.missing(table, "schedule", Some(help));
        return None;
    }
    let schedule = ctx.string(table, "schedule")?;
    match cron_syntax::check(schedule.value) {
        Ok(()) => Some(schedule.value.to_owned()),
        Err(problem) => {
            let span = ctx.span_in_string(schedule.node, problem.offset);
            ctx.error(&span, problem.message, Some(problem.help));
            None
        }
    }
}
