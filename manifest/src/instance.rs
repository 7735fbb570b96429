//! How an app instance is named wherever the OS shows it: the console
//! prefix (`[web.1]`), PID 1's messages, log sources and the status file.

/// `web` for instance 0, `web.2` for instance 2.
pub fn instance_label(app: &str, instance: u32) -> String {
    if instance == 0 {
        app.to_string()
    } else {
        format!("{app}.{instance}")
    }
}

/// The app and instance a label names: `web.1` -> (`web`, 1); `web` ->
/// (`web`, 0). A label whose last part is not a number is all app name.
pub fn split_instance_label(label: &str) -> (&str, u32) {
    match label.rsplit_once('.') {
        Some((name, n)) => match n.parse() {
            Ok(instance) => (name, instance),
            Err(_) => (label, 0),
        },
        None => (label, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_number_only_extra_instances_and_split_back() {
        assert_eq!(instance_label("web", 0), "web");
        assert_eq!(instance_label("web", 2), "web.2");
        assert_eq!(split_instance_label("web"), ("web", 0));
        assert_eq!(split_instance_label("web.2"), ("web", 2));
        assert_eq!(split_instance_label("odd.name"), ("odd.name", 0));
        for (app, n) in [("a", 0), ("b", 7)] {
            assert_eq!(split_instance_label(&instance_label(app, n)), (app, n));
        }
    }
}
