//! `[control]` and `[update]`: the control API's port, and how a new version
//! proves itself after an update.

use crate::model::{Control, Update};
use crate::reader::{Ctx, Section};

const CONTROL_KEYS: &[&str] = &["port"];
const UPDATE_KEYS: &[&str] = &["healthy_within", "lock_timeout"];

pub(crate) fn control(ctx: &mut Ctx<'_>, root: &Section<'_>) -> Control {
    let mut control = Control::default();
    let Some(section) = ctx.table(root, "control", CONTROL_KEYS) else {
        return control;
    };
    let help = "the control API listens on one TCP port, from 1 to 65535 (default 7443)";
    if let Some(port) = ctx.integer_in(&section, "port", 1..=65535, help) {
        control.port = u16::try_from(port.value).unwrap_or(control.port);
    }
    control
}

pub(crate) fn update(ctx: &mut Ctx<'_>, root: &Section<'_>) -> Update {
    let mut update = Update::default();
    let Some(section) = ctx.table(root, "update", UPDATE_KEYS) else {
        return update;
    };
    if let Some(within) = ctx.positive_duration(&section, "healthy_within") {
        update.healthy_within = within.value;
    }
    if let Some(lock) = ctx.duration(&section, "lock_timeout") {
        update.lock_timeout = lock.value;
    }
    update
}
