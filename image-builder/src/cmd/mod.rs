//! One module per subcommand of `cairn`: its arguments and how its outcome
//! becomes an exit code. The work itself is in the library's modules.

pub mod build;
pub mod bundle;
pub mod control;
pub mod deploy;
pub mod dev;
pub mod keys;
pub mod logs;
pub mod provision;
pub mod remote;
pub mod run;
pub mod schedule;
pub mod status;

use std::process::ExitCode;

use cairn_image_builder::build::BuildError;

/// Exit 0 on success; 2 when the manifest is not valid, with its
/// diagnostics alone (they already say file:line:column, what and how to
/// fix it); 1 with the whole error chain for anything else.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    let Err(err) = result else {
        return ExitCode::SUCCESS;
    };
    let manifest_error = err
        .chain()
        .filter_map(|cause| cause.downcast_ref::<BuildError>())
        .find(|e| e.is_manifest_error());
    match manifest_error {
        Some(diagnostics) => {
            eprintln!("{diagnostics}");
            eprintln!("error: the manifest is not valid; nothing was built");
            ExitCode::from(2)
        }
        None => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
