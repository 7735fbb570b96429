//! The system's own services: supervised by PID 1 beside the apps, under
//! names no app may take (see `cairn_manifest::SERVICE_PREFIX`). Each name
//! is also its log source.

/// The control API (`cairn-control api`), as its own uid.
pub const CONTROL: &str = "cairn-control";
/// The update writer (`cairn-control writer`), as root: it writes the
/// inactive bank and the ESP.
pub const WRITER: &str = "cairn-update";
/// The load balancer, as its own uid.
pub const BALANCER: &str = "cairn-balancer";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_has_the_reserved_prefix() {
        for name in [CONTROL, WRITER, BALANCER] {
            assert!(name.starts_with("cairn-"), "{name}");
        }
    }
}
