//! Whether a device takes a verified bundle: the signature says who made
//! it, this says whether it belongs here.

use crate::manifest::Manifest;

/// What the device runs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Running<'a> {
    pub board: &'a str,
    pub build: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("bundle is for board {bundle:?}; this device is {running:?}")]
    Board { bundle: String, running: String },
    #[error(
        "bundle build {bundle} is older than the running build {running}; a downgrade must be \
         asked for explicitly"
    )]
    Downgrade { bundle: u64, running: u64 },
    #[error(
        "bundle build {build} is the running build: the running bank already holds it, and a \
         second copy would take the running entry's name"
    )]
    SameBuild { build: u64 },
}

/// Refuses a bundle for another board, one older than the running build
/// unless `allow_downgrade`, and one of the running build itself.
///
/// The running build is refused even with `allow_downgrade`: its entry name
/// and ESP directory are derived from the build, so writing it to the other
/// bank would leave two entries with one id (systemd-boot's choice between
/// them would then depend on directory order) and would gain nothing, since
/// the running bank holds the same bytes.
pub fn check_policy(
    manifest: &Manifest,
    running: &Running<'_>,
    allow_downgrade: bool,
) -> Result<(), PolicyError> {
    if manifest.board != running.board {
        return Err(PolicyError::Board {
            bundle: manifest.board.clone(),
            running: running.board.to_owned(),
        });
    }
    if manifest.build == running.build {
        return Err(PolicyError::SameBuild {
            build: manifest.build,
        });
    }
    if manifest.build < running.build && !allow_downgrade {
        return Err(PolicyError::Downgrade {
            bundle: manifest.build,
            running: running.build,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(board: &str, build: u64) -> Manifest {
        Manifest {
            board: board.into(),
            version: "1.0".into(),
            build,
            kernel_options: String::new(),
            verity_root_hash: None,
            payloads: Vec::new(),
        }
    }

    const RUNNING: Running<'static> = Running {
        board: "qemu-x86_64",
        build: 10,
    };

    #[test]
    fn a_newer_build_for_this_board_is_taken() {
        assert_eq!(
            check_policy(&manifest("qemu-x86_64", 11), &RUNNING, false),
            Ok(())
        );
        assert_eq!(
            check_policy(&manifest("qemu-x86_64", 11), &RUNNING, true),
            Ok(())
        );
    }

    #[test]
    fn another_board_is_refused_even_when_downgrades_are_allowed() {
        assert_eq!(
            check_policy(&manifest("rpi4", 11), &RUNNING, true),
            Err(PolicyError::Board {
                bundle: "rpi4".into(),
                running: "qemu-x86_64".into()
            })
        );
    }

    #[test]
    fn an_older_build_needs_allow_downgrade() {
        assert_eq!(
            check_policy(&manifest("qemu-x86_64", 9), &RUNNING, false),
            Err(PolicyError::Downgrade {
                bundle: 9,
                running: 10
            })
        );
        assert_eq!(
            check_policy(&manifest("qemu-x86_64", 9), &RUNNING, true),
            Ok(())
        );
    }

    #[test]
    fn the_running_build_is_always_refused() {
        for allow_downgrade in [false, true] {
            assert_eq!(
                check_policy(&manifest("qemu-x86_64", 10), &RUNNING, allow_downgrade),
                Err(PolicyError::SameBuild { build: 10 })
            );
        }
    }
}
