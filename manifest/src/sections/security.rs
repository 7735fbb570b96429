//! `[apps.NAME.security]` and `[jobs.NAME.security]`: changes to the
//! default system call filter (see docs/isolation.md).

use crate::model::{Security, SyscallChange};
use crate::reader::Ctx;
use crate::reader::Section;
use crate::suggest;
use crate::syscalls::{syscall_number, SYSCALLS};

const KEYS: &[&str] = &["syscalls"];

const HELP: &str = "write \"+name\" to allow a call the default filter denies, \
                    \"-name\" to deny one it allows";

pub(crate) fn read(ctx: &mut Ctx<'_>, section: &Section<'_>) -> Security {
    let mut security = Security::default();
    let Some(table) = ctx.table(section, "security", KEYS) else {
        return security;
    };
    let Some(list) = ctx.strings(&table, "syscalls") else {
        return security;
    };
    for item in list.value {
        let Some(change) = change(item.value) else {
            let message = format!(
                "`{}` in {} needs a `+` or `-` before the call's name",
                item.value,
                list.path.describe()
            );
            ctx.error(item.span(), message, Some(HELP.to_owned()));
            continue;
        };
        let name = change.name();
        if syscall_number(name).is_none() {
            let message = format!("`{name}` is not a system call of x86_64 Linux");
            let help = suggest::did_you_mean(name, SYSCALLS.iter().map(|(n, _)| *n));
            ctx.error(item.span(), message, help);
            continue;
        }
        if let Some(earlier) = security.syscalls.iter().find(|c| c.name() == name) {
            let message = if *earlier == change {
                format!("`{name}` is listed twice")
            } else {
                format!("`{name}` is both allowed and denied")
            };
            ctx.error(item.span(), message, Some("list each call once".to_owned()));
            continue;
        }
        security.syscalls.push(change);
    }
    security
}

fn change(item: &str) -> Option<SyscallChange> {
    if let Some(name) = item.strip_prefix('+') {
        Some(SyscallChange::Allow(name.to_owned()))
    } else {
        item.strip_prefix('-')
            .map(|name| SyscallChange::Deny(name.to_owned()))
    }
}
